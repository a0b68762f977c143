// Usage errors exit with 2 and print exactly one line; --help and --version work.
#include "cli_support.hpp"

#include <gtest/gtest.h>

namespace {

using namespace tether::testing::cli;

struct UsageCase {
  const char* name;
  std::vector<std::string> args;
  const char* expect_in_message;  // a word the one-line message must contain
};

void PrintTo(const UsageCase& c, std::ostream* os) { *os << c.name; }

class UsageErrors : public ::testing::TestWithParam<UsageCase> {};

TEST_P(UsageErrors, exits_2_with_one_line_on_stderr) {
  const auto& c = GetParam();
  RunResult r = run_tether(c.args);
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_EQ(r.out, "");
  ASSERT_FALSE(r.err.empty());
  EXPECT_EQ(r.err.back(), '\n');
  EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
  EXPECT_NE(r.err.find(c.expect_in_message), std::string::npos) << r.err;
}

INSTANTIATE_TEST_SUITE_P(
    cli, UsageErrors,
    ::testing::Values(
        UsageCase{"no_command", {}, "subcommand"},
        UsageCase{"unknown_command", {"frobnicate"}, "frobnicate"},
        UsageCase{"unknown_flag", {"connect", "--bogus", "127.0.0.1", "80"}, "--bogus"},
        UsageCase{"connect_missing_host", {"connect"}, "HOST"},
        UsageCase{"connect_missing_port", {"connect", "127.0.0.1"}, "PORT"},
        UsageCase{"connect_port_too_large", {"connect", "127.0.0.1", "65536"}, "65536"},
        UsageCase{"connect_port_negative", {"connect", "127.0.0.1", "-1"}, "-1"},
        UsageCase{"connect_port_garbage", {"connect", "127.0.0.1", "80x"}, "80x"},
        UsageCase{"connect_bad_ipv4", {"connect", "1.2.3.4.5", "80"}, "1.2.3.4.5"},
        UsageCase{"connect_bad_ipv6", {"connect", "[::1", "80"}, "[::1"},
        UsageCase{"connect_bad_source", {"connect", "-s", "1.2.3.999", "127.0.0.1", "80"}, "1.2.3.999"},
        UsageCase{"connect_bad_source_port", {"connect", "-p", "99999", "127.0.0.1", "80"}, "99999"},
        UsageCase{"connect_zero_timeout", {"connect", "-w", "0", "127.0.0.1", "80"}, "timeout"},
        UsageCase{"connect_text_timeout", {"connect", "-w", "soon", "127.0.0.1", "80"}, "soon"},
        UsageCase{"connect_both_families", {"connect", "-4", "-6", "localhost", "80"}, "-6"},
        UsageCase{"connect_unix_and_host", {"connect", "--unix", "/tmp/x", "127.0.0.1", "80"}, "--unix"},
        UsageCase{"listen_missing_port", {"listen"}, "PORT"},
        UsageCase{"listen_port_too_large", {"listen", "127.0.0.1", "70000"}, "70000"},
        UsageCase{"listen_bad_address", {"listen", "300.1.1.1", "0"}, "300.1.1.1"},
        UsageCase{"listen_two_ports", {"listen", "-p", "1", "2"}, "port"},
        UsageCase{"listen_flag_missing_value", {"listen", "0", "-w"}, "timeout"}),
    [](const ::testing::TestParamInfo<UsageCase>& p) { return std::string(p.param.name); });

TEST(cli, help_lists_the_commands_and_exits_0) {
  RunResult r = run_tether({"--help"});
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("connect"), std::string::npos);
  EXPECT_NE(r.out.find("listen"), std::string::npos);
  EXPECT_EQ(r.err, "");
}

TEST(cli, command_help_lists_its_flags_and_exits_0) {
  for (const char* command : {"connect", "listen"}) {
    RunResult r = run_tether({command, "--help"});
    EXPECT_EQ(r.status, 0) << command;
    for (const char* flag : {"--udp", "--unix", "--timeout", "--source", "--source-port", "--json", "--verbose"}) {
      EXPECT_NE(r.out.find(flag), std::string::npos) << command << " lacks " << flag;
    }
  }
  RunResult listen = run_tether({"listen", "--help"});
  EXPECT_NE(listen.out.find("--keep-open"), std::string::npos);
}

TEST(cli, version_prints_the_library_version) {
  RunResult r = run_tether({"--version"});
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out, std::string("tether ") + tether::version_string + "\n");
}

}  // namespace
