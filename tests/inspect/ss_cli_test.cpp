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

/// A listener that stays open, with one accepted connection (connected_pair() closes its listener).
struct ListenerWithClient {
  tether::TcpListener listener;
  tether::TcpStream client;
  tether::TcpStream server;
  std::uint16_t port = 0;
};

ListenerWithClient listener_with_client() {
  auto listener = tether::TcpListener::bind(Endpoint::ipv4_loopback(0));
  EXPECT_TRUE(listener);
  auto port = listener->local_endpoint()->port();
  auto client = tether::TcpStream::connect(Endpoint::ipv4_loopback(port), 5s);
  EXPECT_TRUE(client);
  auto accepted = listener->accept(5s);
  EXPECT_TRUE(accepted);
  return {std::move(*listener), std::move(*client), std::move(accepted->stream), port};
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
  auto half_closed = tether::testing::connected_pair();  // CLOSE-WAIT here, FIN-WAIT-2 there
  ASSERT_TRUE(half_closed.client.shutdown(tether::Shutdown::write));
  ASSERT_EQ(half_closed.server.read_some(std::span(buf), 2s).value_or(9), 0U);
  auto udp = tether::UdpSocket::bind(Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(udp);

  auto r = run_tether({"ss", "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  auto [rc, why] = validate(r.out);
  EXPECT_EQ(rc, 0) << why;
  const std::string p = std::to_string(port);
  EXPECT_EQ(query(r.out, "[s['state'] for s in docs[0]['sockets'] if s['local']=='127.0.0.1:" + p + "']"),
            "['LISTEN']");
  EXPECT_EQ(query(r.out, "sorted({s['state'] for s in docs[0]['sockets']} & "
                         "{'ESTAB','TIME-WAIT','UNCONN','LISTEN','CLOSE-WAIT','FIN-WAIT-2'})"),
            "['CLOSE-WAIT', 'ESTAB', 'FIN-WAIT-2', 'LISTEN', 'TIME-WAIT', 'UNCONN']");
  // The half-closed pair, by its ports: the state on each side, TCP_INFO on both.
  const std::string a = half_closed.server.local_endpoint()->to_string();
  const std::string b = half_closed.client.local_endpoint()->to_string();
  EXPECT_EQ(query(r.out, "sorted(s['state']+' '+str('tcp' in s) for s in docs[0]['sockets'] "
                         "if {s['local'], s.get('peer')} == {'" + a + "', '" + b + "'})"),
            "['CLOSE-WAIT True', 'FIN-WAIT-2 True']");
  // TIME-WAIT: no file (inode 0), no owner, the timewait timer.
  EXPECT_EQ(query(r.out, "{(s['inode'], s['owner'], s['timer']['name']) for s in docs[0]['sockets'] "
                         "if s['state']=='TIME-WAIT'}"),
            "{(0, None, 'timewait')}");
  // Every field the issue names is there for an established connection.
  EXPECT_EQ(query(r.out, "sorted({k for s in docs[0]['sockets'] if s['state']=='ESTAB' and 'tcp' in s "
                         "for k in s['tcp']} & {'rtt_us','rttvar_us','min_rtt_us','cwnd','ssthresh','retransmits',"
                         "'bytes_acked','bytes_received','delivery_rate','congestion','limited_by'})"),
            "['bytes_acked', 'bytes_received', 'congestion', 'cwnd', 'delivery_rate', 'limited_by', 'min_rtt_us', "
            "'retransmits', 'rtt_us', 'rttvar_us', 'ssthresh']");
  // A listener does not pace: null, where the kernel says ~0 (no JSON number past 2^53).
  EXPECT_EQ(query(r.out, "[s['tcp']['pacing_rate'] for s in docs[0]['sockets'] if s['local']=='127.0.0.1:" + p + "']"),
            "[None]");
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
  auto conn = listener_with_client();
  const std::string p = std::to_string(conn.port);
  auto r = run_tether({"ss", "--json", "-t", "--port", p, "--state", "established"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(query(r.out, "sorted(s['state']+' '+s['proto'] for s in docs[0]['sockets'])"),
            "['ESTAB tcp', 'ESTAB tcp']");
  r = run_tether({"ss", "--json", "-t", "--port", p, "--state", "listen,established"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(query(r.out, "sorted(s['state'] for s in docs[0]['sockets'])"), "['ESTAB', 'ESTAB', 'LISTEN']");
  r = run_tether({"ss", "--json", "-t", "-l", "--port", p});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(query(r.out, "[s['state'] for s in docs[0]['sockets']]"), "['LISTEN']");
  r = run_tether({"ss", "--json", "--port", p, "--address", "127.0.0.2/32"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(query(r.out, "len(docs[0]['sockets'])"), "0");
  r = run_tether({"ss", "--json", "--port", p, "--address", "10.0.0.0/8", "--address", "127.0.0.0/8"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(query(r.out, "len(docs[0]['sockets'])"), "3") << "a block that holds the address keeps the socket";
  r = run_tether({"ss", "--json", "-6", "--port", p});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(query(r.out, "len(docs[0]['sockets'])"), "0") << "an IPv4 connection is not listed with -6";
  r = run_tether({"ss", "-ti", "--port", p});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("Recv-Q"), std::string::npos);
  for (const std::string field : {"rtt:", "min_rtt:", "rto:", "cwnd:", "ssthresh:", "retrans:", "bytes_acked:",
                                  "bytes_received:", "delivery_rate:", "limited:"}) {
    EXPECT_NE(r.out.find(field), std::string::npos) << "-i shows TCP_INFO's " << field << "\n" << r.out;
  }
  EXPECT_NE(r.out.find(std::to_string(::getpid()) + "/"), std::string::npos) << r.out;
}

TEST(SsCli, protocol_flags_keep_only_that_kind) {
  auto udp = tether::UdpSocket::bind(Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(udp);
  const std::string up = std::to_string(udp->local_endpoint()->port());
  auto name = Endpoint::unix_abstract("tether-ss-cli-" + std::to_string(::getpid()));
  ASSERT_TRUE(name);
  auto unix_listener = tether::TcpListener::bind(*name);
  ASSERT_TRUE(unix_listener);
  auto r = run_tether({"ss", "--json", "-u"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(query(r.out, "sorted({s['proto'] for s in docs[0]['sockets']})"), "['udp']");
  EXPECT_EQ(query(r.out, "[s['state'] for s in docs[0]['sockets'] if s['local']=='127.0.0.1:" + up + "']"), "['UNCONN']");
  r = run_tether({"ss", "--json", "-x"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(query(r.out, "sorted({s['proto'].split('-')[0] for s in docs[0]['sockets']})"), "['unix']");
  EXPECT_EQ(query(r.out, "[s['state'] for s in docs[0]['sockets'] if s['local']=='" + name->to_string() + "']"),
            "['LISTEN']");
  r = run_tether({"ss", "--json", "-t", "-u"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(query(r.out, "sorted({s['proto'] for s in docs[0]['sockets']} - {'tcp'})"), "['udp']");
}

TEST(SsCli, extended_shows_uid_inode_and_the_time_wait_timer) {
  auto conn = listener_with_client();
  const std::string p = std::to_string(conn.port);
  conn.client.close();  // the active close: the client's side stays in TIME-WAIT
  char buf[8];
  ASSERT_EQ(conn.server.read_some(std::span(buf), 2s).value_or(9), 0U);
  conn.server.close();
  auto r = run_tether({"ss", "-te", "--port", p});
  ASSERT_EQ(r.status, 0) << r.err;
  const auto lines = lines_of(r.out);
  bool listener = false, time_wait = false;
  for (std::size_t i = 0; i + 1 < lines.size(); ++i) {
    if (lines[i].find("LISTEN") != std::string::npos) {
      listener = true;
      EXPECT_NE(lines[i + 1].find("uid:" + std::to_string(::getuid()) + " ino:"), std::string::npos) << r.out;
      EXPECT_EQ(lines[i + 1].find("ino:0"), std::string::npos) << "a listener has a file: " << r.out;
    }
    if (lines[i].find("TIME-WAIT") != std::string::npos) {
      time_wait = true;
      EXPECT_NE(lines[i + 1].find("timer:(timewait,"), std::string::npos) << r.out;
      EXPECT_NE(lines[i + 1].find("ino:0"), std::string::npos) << r.out;
    }
  }
  EXPECT_TRUE(listener && time_wait) << r.out;
  EXPECT_EQ(r.out.find("rtt:"), std::string::npos) << "-e alone shows no TCP_INFO: " << r.out;
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
           {"ss", "-c", "2"}, {"ss", "-x", "--port", "80"}, {"top", "--sort", "colour"}, {"ss", "-w", "0"},
           {"ss", "--address", "10.0.0.0/33"}, {"ss", "--json", "-i"}, {"ss", "--json", "-e"}, {"ss", "-i", "-u"}, {"ss", "-i", "-x"}, {"ss", "-l", "--state", "listen"},
           {"ss", "-4", "-6"}, {"ss", "-x", "-4"}, {"ss", "stray"}, {"top", "-d", "0"}, {"top", "-n", "0"}}) {
    auto r = run_tether(args);
    EXPECT_EQ(r.status, 2) << args[0] << " " << args[1];
    EXPECT_EQ(lines_of(r.err).size(), 1U) << r.err;
  }
}

TEST(TopCli, frames_without_a_terminal_are_whole_ansi_frames) {
  auto conn = listener_with_client();
  auto r = run_tether({"top", "-n", "2", "-d", "0.1", "-t", "--port", std::to_string(conn.port)});
  ASSERT_EQ(r.status, 0) << r.err;
  std::size_t frames = 0;
  for (std::size_t at = r.out.find("\x1b[H\x1b[2J"); at != std::string::npos; at = r.out.find("\x1b[H\x1b[2J", at + 1)) {
    ++frames;
  }
  EXPECT_EQ(frames, 2U);
  EXPECT_NE(r.out.find("ESTAB"), std::string::npos) << r.out;
  // Without a terminal nothing is cut: the owner (this process) ends each of our rows.
  EXPECT_NE(r.out.find(std::to_string(::getpid()) + "/"), std::string::npos) << r.out;
  int listeners = 0;
  for (const auto& line : lines_of(r.out)) {
    if (line.find("LISTEN") != std::string::npos) {
      ++listeners;
      EXPECT_EQ(line.find("0.000ms"), std::string::npos) << "a listener has no round trip: " << line;
    }
  }
  EXPECT_EQ(listeners, 2) << "the listener, once per frame:\n" << r.out;
}

}  // namespace

namespace {

// In a terminal (a pseudo-terminal here), each key acts on the next frame: s sorts by the next
// key, r reverses, space pauses, q quits with status 0 (tests/inspect/top_keys.py drives it).
TEST(TopCli, keys_in_a_terminal_sort_reverse_pause_and_quit) {
  auto conn = listener_with_client();
  Process p = Process::start({python(), std::string(TETHER_SOURCE_DIR) + "/tests/inspect/top_keys.py", tether_path(),
                              std::to_string(conn.port)});
  EXPECT_EQ(p.wait(30s), 0) << p.out() << p.err();
  EXPECT_NE(p.out().find("top exited with 0"), std::string::npos) << p.out();
}

}  // namespace
