// tether ss from the outside: its JSON validates against tests/inspect/ss.schema.json (checked by a
// small validator of our own, validate_schema.py), the filters keep what they name, --watch turns
// two snapshots into rates, and bad flags are usage errors.
#include "../cli/cli_support.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace {

using namespace std::chrono_literals;
using namespace tether::testing::cli;
using tether::Endpoint;
using tether::testing::TempPath;

const std::string schema = std::string(TETHER_SOURCE_DIR) + "/tests/inspect/ss.schema.json";
const std::string validator = std::string(TETHER_SOURCE_DIR) + "/tests/inspect/validate_schema.py";

/// Debian's python3 (a version manager's shim in PATH can take a second to start).
std::string python() { return ::access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3"; }

/// Runs the schema validator on `json_lines`; returns its exit status and what it printed.
std::pair<int, std::string> validate(const std::string& json_lines) {
  TempPath file("ss-json");
  write_file(file.str(), json_lines);
  Process p = Process::start({python(), validator, schema, file.str()});
  int rc = p.wait(20s);
  return {rc, p.out() + p.err()};
}

/// python3 evaluates `expr` over the documents (list `docs`) in `json_lines` and prints the result.
std::string query(const std::string& json_lines, const std::string& expr) {
  TempPath file("ss-json");
  write_file(file.str(), json_lines);
  Process p = Process::start({python(), "-c",
                              "import json,sys\ndocs=[json.loads(l) for l in open(sys.argv[1]) if l.strip()]\n"
                              "print(" + expr + ")",
                              file.str()});
  EXPECT_EQ(p.wait(20s), 0) << p.err();
  auto out = p.out();
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

TEST(SsCli, json_of_sockets_in_every_state_validates_against_the_schema) {
  auto listener = tether::TcpListener::bind(Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(listener);
  const auto port = listener->local_endpoint()->port();
  auto pair = tether::testing::connected_pair();  // ESTAB both ways, then TIME-WAIT
  ASSERT_TRUE(pair.client.write_all("unread"));
  auto closing = tether::testing::connected_pair();
  closing.client.close();
  char buf[8];
  ASSERT_EQ(closing.server.read_some(std::span(buf), 2s).value_or(9), 0U);
  closing.server.close();
  auto udp = tether::UdpSocket::bind(Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(udp);

  auto r = run_tether({"ss", "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  auto [rc, why] = validate(r.out);
  EXPECT_EQ(rc, 0) << why;
  const std::string p = std::to_string(port);
  EXPECT_EQ(query(r.out, "[s['state'] for s in docs[0]['sockets'] if s['local']=='127.0.0.1:" + p + "']"),
            "['LISTEN']");
  EXPECT_EQ(query(r.out, "sorted({s['state'] for s in docs[0]['sockets']} & {'ESTAB','TIME-WAIT','UNCONN','LISTEN'})"),
            "['ESTAB', 'LISTEN', 'TIME-WAIT', 'UNCONN']");
  // This process owns the listener: its pid is resolved for the rows shown.
  EXPECT_EQ(query(r.out, "[s['owner']['pid'] for s in docs[0]['sockets'] if s['local']=='127.0.0.1:" + p + "']"),
            "[" + std::to_string(::getpid()) + "]");
}

TEST(SsCli, schema_validator_rejects_documents_that_break_the_schema) {
  const std::string good =
      R"({"time_ms":1,"sockets":[{"proto":"udp","state":"UNCONN","local":"127.0.0.1:1","peer":"0.0.0.0:0",)"
      R"("recv_q":0,"send_q":0,"uid":0,"inode":5,"timer":null,"owner":null}]})";
  EXPECT_EQ(validate(good).first, 0) << validate(good).second;
  std::string missing = good;
  missing.replace(missing.find("\"inode\":5,"), 10, "");
  EXPECT_EQ(validate(missing).first, 1);
  std::string wrong_type = good;
  wrong_type.replace(wrong_type.find("\"recv_q\":0"), 10, "\"recv_q\":\"0\"");
  EXPECT_EQ(validate(wrong_type).first, 1);
  std::string bad_state = good;
  bad_state.replace(bad_state.find("UNCONN"), 6, "SLEEPY");
  EXPECT_EQ(validate(bad_state).first, 1);
  EXPECT_EQ(validate("").first, 1) << "no document is not a valid output";
}

TEST(SsCli, filters_keep_only_the_named_port_and_state) {
  auto pair = tether::testing::connected_pair();
  const auto port = pair.listener.port();
  const std::string p = std::to_string(port);
  auto r = run_tether({"ss", "--json", "-t", "--port", p, "--state", "established"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(query(r.out, "sorted(s['state']+' '+s['proto'] for s in docs[0]['sockets'])"),
            "['ESTAB tcp', 'ESTAB tcp']");
  r = run_tether({"ss", "--json", "--port", p, "--address", "127.0.0.2/32"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(query(r.out, "len(docs[0]['sockets'])"), "0");
  r = run_tether({"ss", "-ti", "--port", p});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("Recv-Q"), std::string::npos);
  EXPECT_NE(r.out.find("rtt:"), std::string::npos) << "-i shows TCP_INFO:\n" << r.out;
  EXPECT_NE(r.out.find(std::to_string(::getpid()) + "/"), std::string::npos) << r.out;
}

TEST(SsCli, watch_computes_rates_from_the_difference_between_snapshots) {
  auto pair = tether::testing::connected_pair();
  const std::string p = std::to_string(pair.listener.port());
  std::atomic<bool> stop{false};
  // Bounded traffic: at most 30 s of 4 KiB writes every millisecond, read on the other side.
  std::thread traffic([&] {
    const std::string chunk(4096, 'x');
    char sink[65536];
    for (int i = 0; i < 30000 && !stop; ++i) {
      if (!pair.client.write_all(chunk, 1s)) break;
      (void)pair.server.read_some(std::span(sink), 1s);
      std::this_thread::sleep_for(1ms);
    }
  });
  auto r = run_tether({"ss", "--json", "-t", "--port", p, "--state", "established", "-w", "0.3", "-c", "3"}, {}, 20s);
  stop = true;
  traffic.join();
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(query(r.out, "len(docs)"), "3");
  auto [rc, why] = validate(r.out);
  EXPECT_EQ(rc, 0) << why;
  EXPECT_EQ(query(r.out, "[s['rate'] for s in docs[0]['sockets']]"), "[None, None]") << "no rate before a delta";
  // In the later snapshots every connection moved bytes: the client's out and the server's in.
  EXPECT_EQ(query(r.out, "all(s['rate']['in_bytes_per_s']+s['rate']['out_bytes_per_s']>0 "
                         "for d in docs[1:] for s in d['sockets'])"),
            "True");
}

TEST(SsCli, bad_filters_are_usage_errors_with_one_line) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"ss", "--state", "sleeping"}, {"ss", "--port", "70000"}, {"ss", "--address", "300.1.1.1/8"},
           {"ss", "-c", "2"}, {"ss", "-x", "--port", "80"}, {"top", "--sort", "colour"}, {"ss", "-w", "0"}}) {
    auto r = run_tether(args);
    EXPECT_EQ(r.status, 2) << args[1] << " " << args[2];
    EXPECT_EQ(lines_of(r.err).size(), 1U) << r.err;
  }
}

TEST(TopCli, frames_without_a_terminal_are_whole_ansi_frames) {
  auto pair = tether::testing::connected_pair();
  auto r = run_tether({"top", "-n", "2", "-d", "0.1", "-t", "--port", std::to_string(pair.listener.port())});
  ASSERT_EQ(r.status, 0) << r.err;
  std::size_t frames = 0;
  for (std::size_t at = r.out.find("\x1b[H\x1b[2J"); at != std::string::npos; at = r.out.find("\x1b[H\x1b[2J", at + 1)) {
    ++frames;
  }
  EXPECT_EQ(frames, 2U);
  EXPECT_NE(r.out.find("ESTAB"), std::string::npos) << r.out;
}

}  // namespace
