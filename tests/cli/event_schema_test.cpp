// Every --json event the CLI prints, checked against docs/events.schema.json: each event type is
// produced for real (relay, datagrams, Unix sockets, a serve mode, bench, errors) and validated by
// tests/cli/validate_events.py. Also: the timestamp and the 5-tuple on every connection event, and
// one spelling of an unnamed Unix peer.
#include "cli_support.hpp"

#include <tether/tcp.hpp>
#include <tether/udp.hpp>

#include <gtest/gtest.h>

#include <signal.h>

#include <regex>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using namespace tether;
using namespace tether::testing::cli;

namespace {

const std::string schema = std::string(TETHER_SOURCE_DIR) + "/docs/events.schema.json";
const std::string validator = std::string(TETHER_SOURCE_DIR) + "/tests/cli/validate_events.py";

/// Runs the validator on `events` (JSON lines); its exit status and output.
RunResult validate(const std::string& events, const std::string& require) {
  TempPath file("events");
  write_file(file.str(), events);
  std::vector<std::string> argv = {"python3", validator, schema, file.str()};
  if (!require.empty()) {
    argv.push_back("--require");
    argv.push_back(require);
  }
  Process p = Process::start(argv);
  RunResult r;
  r.status = p.wait(20s);
  r.out = p.out();
  r.err = p.err();
  return r;
}

/// The JSON lines of `text` (stderr of a --json run).
std::string json_lines(const std::string& text) {
  std::string out;
  for (const auto& line : lines_of(text)) {
    if (!line.empty() && line.front() == '{') out += line + "\n";
  }
  return out;
}

std::string port_text(const std::string& endpoint) { return std::to_string(port_of(endpoint)); }

/// listen (relay) + connect over TCP: listening, accepted, connected, closed on both sides.
std::string tcp_relay_events() {
  Process server = Process::start({tether_path(), "listen", "--json", "127.0.0.1", "0"});
  const std::string where = listening_endpoint(server);
  EXPECT_FALSE(where.empty()) << server.err();
  RunResult client = run_tether({"connect", "--json", "127.0.0.1:" + port_text(where)}, "hello");
  EXPECT_EQ(client.status, 0) << client.err;
  EXPECT_EQ(server.wait(), 0) << server.err();
  auto listen_events = json_events(server.err());
  auto accepted = find_event(listen_events, "accepted");
  auto closed = find_event(listen_events, "closed");
  EXPECT_TRUE(accepted && closed) << server.err();
  if (accepted && closed) {
    // The full 5-tuple on both, the same one.
    EXPECT_EQ(closed->at("proto"), "tcp");
    EXPECT_EQ(closed->at("local"), accepted->at("local"));
    EXPECT_EQ(closed->at("peer"), accepted->at("peer"));
    EXPECT_EQ(closed->at("local"), where);
    auto connected = find_event(json_events(client.err), "connected");
    EXPECT_TRUE(connected && connected->at("local") == accepted->at("peer")) << client.err;
  }
  return json_lines(server.err()) + json_lines(client.err);
}

std::string refused_events() {
  std::string port;
  {
    auto l = TcpListener::bind(Endpoint::ipv4_loopback(0));
    port = std::to_string(l->local_endpoint()->port());
  }
  RunResult r = run_tether({"connect", "--json", "127.0.0.1", port});
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_TRUE(find_event(json_events(r.err), "error")) << r.err;
  return json_lines(r.err);
}

std::string udp_events() {
  Process server = Process::start({tether_path(), "listen", "-u", "-w", "0.5", "--json", "127.0.0.1", "0"});
  const std::string where = listening_endpoint(server);
  EXPECT_FALSE(where.empty()) << server.err();
  auto client = UdpSocket::open(Endpoint::ipv4_loopback(0));
  EXPECT_TRUE(client);
  if (client) (void)client->send_to("ping", *Endpoint::parse(where));
  EXPECT_EQ(server.wait(), 0) << server.err();
  auto closed = find_event(json_events(server.err()), "closed");
  EXPECT_TRUE(closed && !closed->at("peer").empty()) << server.err();
  return json_lines(server.err());
}

/// A Unix stream client is unnamed: "unix:" in the listener's accepted/closed and in the client's
/// connected/closed alike.
std::string unix_events() {
  TempPath path("events-sock");
  Process server = Process::start({tether_path(), "listen", "--json", "--unix", path.str()});
  EXPECT_FALSE(listening_endpoint(server).empty()) << server.err();
  RunResult client = run_tether({"connect", "--json", "--unix", path.str()}, "x");
  EXPECT_EQ(client.status, 0) << client.err;
  EXPECT_EQ(server.wait(), 0) << server.err();
  auto accepted = find_event(json_events(server.err()), "accepted");
  auto connected = find_event(json_events(client.err), "connected");
  EXPECT_TRUE(accepted && connected);
  if (accepted && connected) {
    EXPECT_EQ(accepted->at("peer"), "unix:");
    EXPECT_EQ(connected->at("local"), "unix:");
    EXPECT_EQ(connected->at("peer"), "unix:" + path.str());
  }
  return json_lines(server.err()) + json_lines(client.err);
}

/// A serve mode (--echo) with a denied client, a bench run against it (bench's interval events),
/// then SIGTERM: listening, rejected, accepted, closed, draining, summary, interval.
std::string serve_mode_events() {
  Process server = Process::start(
      {tether_path(), "listen", "--echo", "--threads", "1", "--deny", "127.0.0.2", "--json", "127.0.0.1", "0"});
  const std::string where = listening_endpoint(server);
  EXPECT_FALSE(where.empty()) << server.err();
  ConnectOptions o;
  o.deadline = 5s;
  o.source = Endpoint::ipv4({127, 0, 0, 2}, 0);
  auto denied = TcpStream::connect(*Endpoint::parse(where), o);
  EXPECT_TRUE(denied);
  EXPECT_TRUE(server.wait_for_err_line("\"rejected\""));
  RunResult bench = run_tether({"bench", "rr", "127.0.0.1", port_text(where), "-c", "1", "-s", "16", "-t", "0.3",
                                "--json", "-i", "0.1"});
  EXPECT_EQ(bench.status, 0) << bench.err;
  EXPECT_TRUE(server.wait_for_err_line("\"closed\""));
  ::kill(server.pid(), SIGTERM);
  EXPECT_EQ(server.wait(), 0) << server.err();
  auto events = json_events(server.err());
  auto accepted = find_event(events, "accepted");
  auto closed = find_event(events, "closed");
  EXPECT_TRUE(accepted && closed) << server.err();
  if (accepted && closed) {
    EXPECT_EQ(accepted->at("local"), where);
    EXPECT_EQ(closed->at("local"), where);
    EXPECT_EQ(closed->at("peer"), accepted->at("peer"));
    EXPECT_NE(closed->at("peer"), "");
  }
  return json_lines(server.err()) + json_lines(bench.err);
}

TEST(EventSchema, every_event_type_the_cli_prints_validates_against_the_schema) {
  std::string events = tcp_relay_events() + refused_events() + udp_events() + unix_events() + serve_mode_events();
  RunResult r = validate(events, "listening,connected,accepted,closed,error,rejected,draining,summary,interval");
  EXPECT_EQ(r.status, 0) << r.out << r.err << "\nevents:\n" << events;
}

TEST(EventSchema, every_event_has_an_rfc3339_timestamp_with_microseconds_also_in_text) {
  RunResult json = run_tether({"connect", "--json", "127.0.0.1", "1"});
  auto error = find_event(json_events(json.err), "error");
  ASSERT_TRUE(error) << json.err;
  const std::regex rfc3339(R"(^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$)");
  EXPECT_TRUE(std::regex_match(error->at("ts"), rfc3339)) << error->at("ts");

  Process server = Process::start({tether_path(), "listen", "-v", "127.0.0.1", "0"});
  auto line = server.wait_for_err_line("tether: listening");
  ASSERT_TRUE(line) << server.err();
  EXPECT_TRUE(std::regex_search(*line, std::regex(R"( ts=\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$)"))) << *line;
}

TEST(EventSchema, the_validator_rejects_what_the_schema_does_not_allow) {
  // The checker itself can fail: no ts, a bad endpoint, a field outside the schema, a missing type.
  RunResult r = validate(
      "{\"event\":\"closed\",\"proto\":\"tcp\",\"local\":\"nowhere\",\"peer\":\"\",\"bytes_in\":1,\"bytes_out\":0}\n"
      "{\"event\":\"connected\",\"ts\":\"2026-01-01T00:00:00.000000Z\",\"proto\":\"tcp\",\"local\":\"1.2.3.4:5\",\"peer\":\"1.2.3.4:6\",\"extra\":1}\n",
      "listening");
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("'ts' is missing"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("'nowhere' does not match"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("'extra' is not in the schema"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("no 'listening' event"), std::string::npos) << r.out;
}

}  // namespace
