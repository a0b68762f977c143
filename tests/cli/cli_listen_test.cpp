// tether listen: port 0 and the listening event, one client then exit, -k, netcat-style -s/-p,
// address in use, Unix sockets, and escaping of a peer's control characters in events.
#include "cli_support.hpp"

#include <gtest/gtest.h>

#include <filesystem>

namespace {

using namespace tether;
using namespace tether::testing::cli;

std::string read_to_end(TcpStream& s) {
  std::string got;
  char buf[65536];
  for (;;) {
    auto n = s.read_some(std::span<char>(buf), 10s);
    if (!n || *n == 0) return got;
    got.append(buf, *n);
  }
}

/// Connects, sends `data`, sends FIN, returns everything the server sent until its FIN.
std::string exchange(const Endpoint& server, std::string_view data, Endpoint* local = nullptr) {
  auto s = TcpStream::connect(server, 10s);
  EXPECT_TRUE(s.has_value()) << (s ? "" : s.error().message());
  if (!s) return {};
  if (local != nullptr) *local = *s->local_endpoint();
  EXPECT_TRUE(s->write_all(data, 10s).has_value());
  (void)s->shutdown(Shutdown::write);
  return read_to_end(*s);
}

Endpoint parse_endpoint(const std::string& text) {
  auto ep = Endpoint::parse(text);
  EXPECT_TRUE(ep.has_value()) << text;
  return ep ? *ep : Endpoint{};
}

TEST(cli_listen, port_0_reports_the_real_port_serves_one_client_and_exits) {
  TempPath in("in");
  write_file(in.str(), "from server");
  Process p = Process::start_with_input_file({tether_path(), "listen", "--json", "127.0.0.1", "0"}, in.str());
  const std::string where = listening_endpoint(p);
  ASSERT_FALSE(where.empty()) << p.err();
  ASSERT_NE(port_of(where), 0) << where;
  Endpoint local;
  EXPECT_EQ(exchange(parse_endpoint(where), "from client", &local), "from server");
  EXPECT_EQ(p.wait(), 0) << p.err();
  EXPECT_EQ(p.out(), "from client");

  auto events = json_events(p.err());
  auto accepted = find_event(events, "accepted");
  ASSERT_TRUE(accepted.has_value()) << p.err();
  EXPECT_EQ(accepted->at("proto"), "tcp");
  EXPECT_EQ(accepted->at("local"), where);
  EXPECT_EQ(accepted->at("peer"), local.to_string());
  auto closed = find_event(events, "closed");
  ASSERT_TRUE(closed.has_value()) << p.err();
  EXPECT_EQ(closed->at("bytes_in"), "11");
  EXPECT_EQ(closed->at("bytes_out"), "11");
}

TEST(cli_listen, keep_open_serves_two_clients_in_turn) {
  Process p = Process::start({tether_path(), "listen", "-k", "--json", "127.0.0.1", "0"});
  const std::string where = listening_endpoint(p);
  ASSERT_FALSE(where.empty()) << p.err();
  Endpoint first, second;
  exchange(parse_endpoint(where), "one,", &first);
  exchange(parse_endpoint(where), "two", &second);
  ASSERT_TRUE(Process::wait_for_line(p.out_path(), "one,two", 5s).has_value()) << p.out();
  // Both sessions closed, and the server is still there for a third.
  ASSERT_TRUE(p.wait_for_err_line(second.to_string(), 5s).has_value());
  EXPECT_EQ(exchange(parse_endpoint(where), "three"), "");
  ASSERT_TRUE(Process::wait_for_line(p.out_path(), "one,twothree", 5s).has_value()) << p.out();
  int accepted = 0;
  for (const auto& e : json_events(p.err())) accepted += e.at("event") == "accepted" ? 1 : 0;
  EXPECT_EQ(accepted, 3);
  EXPECT_EQ(p.wait(200ms), -1) << "listen -k must keep running";
}

TEST(cli_listen, netcat_style_source_and_port_flags) {
  Process p = Process::start({tether_path(), "listen", "--json", "-s", "127.0.0.1", "-p", "0"});
  const std::string where = listening_endpoint(p);
  ASSERT_EQ(where.rfind("127.0.0.1:", 0), 0u) << p.err();
  exchange(parse_endpoint(where), "hi");
  EXPECT_EQ(p.wait(), 0) << p.err();
  EXPECT_EQ(p.out(), "hi");
}

TEST(cli_listen, address_in_use_exits_1_with_one_line) {
  auto taken = TcpListener::bind(Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(taken.has_value());
  RunResult r = run_tether({"listen", "127.0.0.1", std::to_string(taken->local_endpoint()->port())});
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
  EXPECT_NE(r.err.find("in use"), std::string::npos) << r.err;
}

TEST(cli_listen, unix_stream_both_ways_and_the_socket_file_is_removed) {
  TempPath path("sock");
  TempPath in("in");
  write_file(in.str(), "unix reply");
  Process p = Process::start_with_input_file({tether_path(), "listen", "--json", "--unix", path.str()}, in.str());
  const std::string where = listening_endpoint(p);
  ASSERT_EQ(where, "unix:" + path.str()) << p.err();
  auto server = Endpoint::unix_path(path.str());
  ASSERT_TRUE(server.has_value());
  EXPECT_EQ(exchange(*server, "unix request"), "unix reply");
  EXPECT_EQ(p.wait(), 0) << p.err();
  EXPECT_EQ(p.out(), "unix request");
  auto accepted = find_event(json_events(p.err()), "accepted");
  ASSERT_TRUE(accepted.has_value());
  EXPECT_EQ(accepted->at("proto"), "unix");
  EXPECT_FALSE(std::filesystem::exists(path.str())) << "the listener left its socket file behind";
}

TEST(cli_listen, unix_socket_file_is_removed_when_the_listener_is_terminated) {
  TempPath path("sock");
  Process p = Process::start({tether_path(), "listen", "--json", "--unix", path.str()});
  ASSERT_FALSE(listening_endpoint(p).empty()) << p.err();
  ASSERT_TRUE(std::filesystem::exists(path.str()));
  ::kill(p.pid(), SIGTERM);
  EXPECT_EQ(p.wait(), 128 + SIGTERM);
  EXPECT_FALSE(std::filesystem::exists(path.str()));
}

// A peer controls its own address: a Unix client may bind any abstract name, control characters
// included. Those bytes must never reach stderr raw (terminal escapes, forged event lines).
const std::string hostile_name = std::string("evil\x1b[31m\n{\"event\":\"forged\"}\r\x07", 30) + "\xff";

bool has_raw_control_bytes(const std::string& err) {
  for (unsigned char c : err) {
    if ((c < 0x20 && c != '\n') || c == 0x7f) return true;
  }
  return false;
}

void connect_with_hostile_name(const std::string& server_path) {
  ConnectOptions co;
  auto source = Endpoint::unix_abstract(hostile_name + std::to_string(::getpid()));
  ASSERT_TRUE(source.has_value());
  co.source = *source;
  co.deadline = 10s;
  auto server = Endpoint::unix_path(server_path);
  ASSERT_TRUE(server.has_value());
  auto s = TcpStream::connect(*server, co);
  ASSERT_TRUE(s.has_value()) << s.error().message();
  (void)s->shutdown(Shutdown::write);
  read_to_end(*s);
}

TEST(cli_listen, json_events_escape_control_characters_from_the_peer) {
  TempPath path("sock");
  Process p = Process::start({tether_path(), "listen", "--json", "--unix", path.str()});
  ASSERT_FALSE(listening_endpoint(p).empty()) << p.err();
  connect_with_hostile_name(path.str());
  EXPECT_EQ(p.wait(), 0) << p.err();
  const std::string err = p.err();
  EXPECT_FALSE(has_raw_control_bytes(err)) << err;
  auto events = json_events(err);  // every line must still be one JSON object
  EXPECT_FALSE(find_event(events, "forged").has_value());
  auto accepted = find_event(events, "accepted");
  ASSERT_TRUE(accepted.has_value()) << err;
  // The peer's name survives the escaping, except the invalid UTF-8 byte (shown as U+00FF).
  EXPECT_EQ(accepted->at("peer").rfind("unix:@evil\x1b[31m\n{\"event\":\"forged\"}\r\x07", 0), 0u)
      << accepted->at("peer");
}

TEST(cli_listen, verbose_events_escape_control_characters_from_the_peer) {
  TempPath path("sock");
  Process p = Process::start({tether_path(), "listen", "-v", "--unix", path.str()});
  ASSERT_TRUE(p.wait_for_err_line("listening", 5s).has_value()) << p.err();
  connect_with_hostile_name(path.str());
  EXPECT_EQ(p.wait(), 0) << p.err();
  const std::string err = p.err();
  EXPECT_FALSE(has_raw_control_bytes(err)) << err;
  EXPECT_NE(err.find("peer=unix:@evil\\x1b[31m\\x0a{\"event\":\"forged\"}\\x0d\\x07"), std::string::npos) << err;
  for (const auto& line : lines_of(err)) EXPECT_EQ(line.rfind("tether: ", 0), 0u) << line;
}

}  // namespace
