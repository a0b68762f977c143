// Datagrams: listen -u answers the last sender, connect -u prints replies until -w passes,
// refused reported, Unix datagram sockets.
#include "cli_support.hpp"

#include <gtest/gtest.h>

#include <future>
#include <thread>

namespace {

using namespace tether;
using namespace tether::testing::cli;

UdpSocket loopback_udp() {
  auto s = UdpSocket::bind(Endpoint::ipv4_loopback(0));
  EXPECT_TRUE(s.has_value());
  return s ? std::move(*s) : UdpSocket{};
}

std::string receive(UdpSocket& s, Endpoint* from = nullptr) {
  char buf[65536];
  auto d = s.recv_from(std::span<char>(buf), 5s);
  if (!d) return "<" + d.error().message() + ">";
  if (from != nullptr) *from = d->from;
  return std::string(buf, d->size);
}

TEST(cli_udp, listen_answers_the_last_sender) {
  Pipe in;
  Process p = Process::start({tether_path(), "listen", "-u", "--json", "127.0.0.1", "0"}, in.read_fd);
  in.close_read();
  const std::string where = listening_endpoint(p);
  ASSERT_FALSE(where.empty()) << p.err();
  auto server = Endpoint::parse(where);
  ASSERT_TRUE(server.has_value());

  UdpSocket a = loopback_udp();
  ASSERT_TRUE(a.send_to("ping from a", *server).has_value());
  ASSERT_TRUE(Process::wait_for_line(p.out_path(), "ping from a", 5s).has_value()) << p.out();
  ASSERT_TRUE(in.write("pong to a"));
  EXPECT_EQ(receive(a), "pong to a");

  UdpSocket b = loopback_udp();
  ASSERT_TRUE(b.send_to("ping from b", *server).has_value());
  ASSERT_TRUE(Process::wait_for_line(p.out_path(), "ping from b", 5s).has_value()) << p.out();
  ASSERT_TRUE(in.write("pong to b"));
  EXPECT_EQ(receive(b), "pong to b");

  int accepted = 0;
  for (const auto& e : json_events(p.err())) {
    if (e.at("event") != "accepted") continue;
    ++accepted;
    EXPECT_EQ(e.at("proto"), "udp");
    EXPECT_EQ(e.at("local"), where);
    EXPECT_EQ(e.at("peer"), (accepted == 1 ? a : b).local_endpoint()->to_string());
  }
  EXPECT_EQ(accepted, 2);
}

TEST(cli_udp, connect_sends_each_read_as_a_datagram_and_prints_replies_until_w_passes) {
  UdpSocket server = loopback_udp();
  auto echo = std::async(std::launch::async, [&] {
    Endpoint from;
    std::string got = receive(server, &from);
    std::string upper = got;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    (void)server.send_to(upper, from);
    (void)server.send_to(" and more", from);
    return got;
  });
  RunResult r = run_tether({"connect", "-u", "-w", "0.5", "--json", "127.0.0.1",
                            std::to_string(server.local_endpoint()->port())},
                           "hello");
  EXPECT_EQ(echo.get(), "hello");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "HELLO and more");
  auto closed = find_event(json_events(r.err), "closed");
  ASSERT_TRUE(closed.has_value()) << r.err;
  EXPECT_EQ(closed->at("datagrams_out"), "1");
  EXPECT_EQ(closed->at("datagrams_in"), "2");
}

TEST(cli_udp, connect_to_a_closed_port_reports_refused) {
  std::string port;
  {
    UdpSocket probe = loopback_udp();
    port = std::to_string(probe.local_endpoint()->port());
  }
  RunResult r = run_tether({"connect", "-u", "-w", "2", "127.0.0.1", port}, "anyone there?");
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
  EXPECT_NE(r.err.find("refused"), std::string::npos) << r.err;
}

TEST(cli_udp, tether_to_tether_both_ways) {
  Pipe server_in;
  Process server = Process::start({tether_path(), "listen", "-u", "--json", "127.0.0.1", "0"}, server_in.read_fd);
  server_in.close_read();
  const std::string where = listening_endpoint(server);
  ASSERT_FALSE(where.empty()) << server.err();
  Pipe client_in;
  Process client = Process::start(
      {tether_path(), "connect", "-u", "-w", "5", "127.0.0.1", std::to_string(port_of(where))}, client_in.read_fd);
  client_in.close_read();
  ASSERT_TRUE(client_in.write("question"));
  ASSERT_TRUE(Process::wait_for_line(server.out_path(), "question", 5s).has_value()) << server.err();
  ASSERT_TRUE(server_in.write("answer"));
  ASSERT_TRUE(Process::wait_for_line(client.out_path(), "answer", 5s).has_value()) << client.err();
  client_in.close_write();  // connect -u now waits for more replies for -w seconds; end it sooner
}

TEST(cli_udp, listen_with_w_ends_cleanly_after_silence) {
  RunResult r = run_tether({"listen", "-u", "-w", "0.3", "127.0.0.1", "0"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "");
}

TEST(cli_udp, unix_datagrams_both_ways) {
  TempPath path("dgram");
  Pipe server_in;
  Process server =
      Process::start({tether_path(), "listen", "-u", "--json", "--unix", path.str()}, server_in.read_fd);
  server_in.close_read();
  ASSERT_EQ(listening_endpoint(server), "unix:" + path.str()) << server.err();
  Pipe client_in;
  Process client = Process::start({tether_path(), "connect", "-u", "-w", "5", "--json", "--unix", path.str()},
                                  client_in.read_fd);
  client_in.close_read();
  ASSERT_TRUE(client_in.write("unix question"));
  ASSERT_TRUE(Process::wait_for_line(server.out_path(), "unix question", 5s).has_value()) << server.err();
  ASSERT_TRUE(server_in.write("unix answer"));
  ASSERT_TRUE(Process::wait_for_line(client.out_path(), "unix answer", 5s).has_value()) << client.err();
  auto accepted = find_event(json_events(server.err()), "accepted");
  ASSERT_TRUE(accepted.has_value());
  EXPECT_EQ(accepted->at("proto"), "unix-dgram");
  auto connected = find_event(json_events(client.err()), "connected");
  ASSERT_TRUE(connected.has_value());
  EXPECT_EQ(accepted->at("peer"), connected->at("local"));  // the client's autobound name
}

}  // namespace
