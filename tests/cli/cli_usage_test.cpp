// Usage errors exit with 2 and print exactly one line; --help and --version work.
#include "cli_support.hpp"

#include <gtest/gtest.h>

#include <sstream>

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
        UsageCase{"connect_unix_empty", {"connect", "--unix", ""}, "--unix: needs a PATH"},
        UsageCase{"listen_unix_empty", {"listen", "--unix", ""}, "--unix: needs a PATH"},
        UsageCase{"connect_unix_and_host", {"connect", "--unix", "/tmp/x", "127.0.0.1", "80"}, "--unix"},
        UsageCase{"listen_missing_port", {"listen"}, "PORT"},
        UsageCase{"listen_port_too_large", {"listen", "127.0.0.1", "70000"}, "70000"},
        UsageCase{"listen_bad_address", {"listen", "300.1.1.1", "0"}, "300.1.1.1"},
        UsageCase{"listen_two_ports", {"listen", "-p", "1", "2"}, "port"},
        UsageCase{"listen_flag_missing_value", {"listen", "0", "-w"}, "timeout"},
        // Issue 8 item 10: one validator for every numeric flag (finite, in a sane range).
        UsageCase{"timeout_nan", {"connect", "-w", "nan", "127.0.0.1", "80"}, "'nan'"},
        UsageCase{"timeout_inf", {"listen", "-w", "inf", "0"}, "'inf'"},
        UsageCase{"timeout_hex", {"listen", "-w", "0x10", "0"}, "'0x10'"},
        UsageCase{"timeout_absurd", {"listen", "-w", "1e300", "0"}, "'1e300'"},
        UsageCase{"bench_warmup_nan", {"bench", "rr", "--warmup", "nan", "127.0.0.1", "1"}, "--warmup"},
        UsageCase{"bench_warmup_inf", {"bench", "rr", "--warmup", "inf", "127.0.0.1", "1"}, "'inf'"},
        UsageCase{"bench_time_nan", {"bench", "rr", "-t", "nan", "127.0.0.1", "1"}, "--time"},
        UsageCase{"bench_interval_tiny", {"bench", "rr", "-i", "1e-9", "127.0.0.1", "1"}, "'1e-9'"},
        UsageCase{"bench_conns_fraction", {"bench", "rr", "-c", "1.5", "127.0.0.1", "1"}, "'1.5'"},
        UsageCase{"bench_conns_absurd", {"bench", "rr", "-c", "99999999999", "127.0.0.1", "1"}, "--conns"},
        UsageCase{"bench_rate_negative", {"bench", "udp", "-r", "-5", "127.0.0.1", "1"}, "'-5'"},
        UsageCase{"drain_nan", {"listen", "--echo", "--drain", "nan", "0"}, "--drain"},
        UsageCase{"idle_timeout_inf", {"listen", "--echo", "--idle-timeout", "inf", "0"}, "'inf'"},
        UsageCase{"idle_timeout_tiny", {"listen", "--echo", "--idle-timeout", "1e-9", "0"}, "'1e-9'"},
        UsageCase{"threads_absurd", {"listen", "--echo", "--threads", "100000", "0"}, "--threads"},
        UsageCase{"max_conns_nan", {"listen", "--echo", "--max-conns", "nan", "0"}, "--max-conns"},
        UsageCase{"ss_watch_nan", {"ss", "-w", "nan"}, "'nan'"},
        UsageCase{"top_delay_inf", {"top", "-d", "inf"}, "'inf'"},
        UsageCase{"trace_timeout_nan", {"trace", "-w", "nan", "80"}, "'nan'"},
        // Issue 13: one short line naming the bad flag and value.
        UsageCase{"unknown_flag_after_port", {"listen", "21150", "-Q"}, "unknown flag '-Q'"},
        UsageCase{"extra_argument", {"connect", "127.0.0.1", "80", "extra"}, "unexpected argument 'extra'"},
        UsageCase{"accept_mode_bogus", {"listen", "--echo", "--accept-mode", "bogus", "0"}, "--accept-mode 'bogus'"},
        UsageCase{"missing_value_named", {"connect", "-w"}, "--timeout needs a value (SECS)"},
        // Issue 8 item 3: flags that cannot mean anything in a mode are refused, never ignored.
        UsageCase{"unix_udp_echo_threads", {"listen", "--echo", "-u", "--unix", "/tmp/tether-x", "--threads", "3"}, "--threads"},
        UsageCase{"unix_accept_mode", {"listen", "--echo", "--unix", "/tmp/tether-x", "--accept-mode", "single"}, "--accept-mode"},
        UsageCase{"keep_open_trace", {"listen", "-k", "--trace", "0"}, "--trace"}),
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

// Issue 13: each usage error is one SHORT line (no CLI11 dump of ranges with DBL_MAX).
TEST(cli, usage_errors_are_short) {
  for (std::vector<std::string> args : {std::vector<std::string>{"listen", "--drain", "-1", "--echo", "0"},
                                        std::vector<std::string>{"bench", "rr", "-t", "-1", "h", "1"},
                                        std::vector<std::string>{"listen", "21150", "-q"}}) {
    RunResult r = run_tether(args);
    EXPECT_EQ(r.status, 2);
    EXPECT_LT(r.err.size(), 160u) << r.err;
    EXPECT_EQ(r.err.find("1.79769"), std::string::npos) << r.err;
  }
}

// Issue 13: --help shows human types (SECS, N, CIDR), never CLI11's FLOAT:NONNEGATIVE and kin.
TEST(cli, help_shows_human_types) {
  for (std::vector<std::string> args : {std::vector<std::string>{"listen", "--help"},
                                        std::vector<std::string>{"connect", "--help"},
                                        std::vector<std::string>{"bench", "rr", "--help"},
                                        std::vector<std::string>{"bench", "udp", "--help"}}) {
    RunResult r = run_tether(args);
    EXPECT_EQ(r.status, 0);
    for (const char* machine : {"FLOAT", "UINT", "INT ", "NONNEGATIVE", "POSITIVE", "TEXT"}) {
      EXPECT_EQ(r.out.find(machine), std::string::npos) << args[0] << ": " << machine << "\n" << r.out;
    }
  }
  RunResult listen = run_tether({"listen", "--help"});
  for (const char* human : {"--timeout SECS", "--max-conns N", "--allow CIDR", "--idle-timeout SECS"}) {
    EXPECT_NE(listen.out.find(human), std::string::npos) << human << "\n" << listen.out;
  }
}

// Issue 8 item 10: every numeric flag any --help lists (types SECS, N, BYTES, PID) refuses nan,
// inf and an absurd value with exit 2 and one line naming the flag. New flags are covered as soon
// as their help names one of these types.
TEST(cli, every_numeric_flag_refuses_nan_inf_and_absurd_values) {
  const std::vector<std::vector<std::string>> commands = {
      {"connect"}, {"listen"}, {"bench", "rr"}, {"bench", "stream"}, {"bench", "connect"},
      {"bench", "udp"}, {"ss"}, {"top"}, {"trace"}, {"relay"}};
  int checked = 0;
  for (const auto& command : commands) {
    auto help_args = command;
    help_args.push_back("--help");
    RunResult help = run_tether(help_args);
    ASSERT_EQ(help.status, 0) << help.err;
    for (const auto& line : lines_of(help.out)) {
      // "  -w,--timeout SECS   ..." or "  --threads N   ...": the long name and its type.
      std::istringstream words(line);
      std::string names, type;
      words >> names >> type;
      if (names.rfind("-", 0) != 0) continue;
      type = type.substr(0, type.find('='));  // "N=1": the type and its default
      if (type != "SECS" && type != "N" && type != "BYTES" && type != "PID") continue;
      const std::string flag = names.substr(names.find(",") == std::string::npos ? 0 : names.find(',') + 1);
      for (const char* bad : {"nan", "inf", "-inf", "1e300"}) {
        auto args = command;
        args.insert(args.end(), {flag, bad});
        if (command.front() == "bench") args.insert(args.end(), {"127.0.0.1", "9"});
        if (command.front() == "connect") args.insert(args.end(), {"127.0.0.1", "9"});
        if (command.front() == "listen") args.push_back("0");
        if (command.front() == "relay") args.insert(args.end(), {"stdio", "tcp:127.0.0.1:9"});
        RunResult r = run_tether(args, {}, 5s);
        EXPECT_EQ(r.status, 2) << flag << " " << bad << ": " << r.err;
        EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
        EXPECT_NE(r.err.find(flag), std::string::npos) << r.err;
        ++checked;
      }
    }
  }
  EXPECT_GE(checked, 4 * 40) << "fewer numeric flags found in --help than expected";
}

TEST(cli, version_prints_the_library_version) {
  RunResult r = run_tether({"--version"});
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out, std::string("tether ") + tether::version_string + "\n");
}

}  // namespace
