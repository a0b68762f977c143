// UdpSocket on loopback: send_to/recv_from, truncation reported, deadlines, connected sockets and
// ICMP port unreachable, broadcast on 127.255.255.255, multicast join/leave on lo.
#include "testing.hpp"

#include <arpa/inet.h>
#include <net/if.h>
#include <unistd.h>

#include <cstring>
#include <thread>

using namespace std::chrono_literals;
using tether::Endpoint;
using tether::UdpSocket;
using tether::testing::Stopwatch;

namespace {

UdpSocket bound(const Endpoint& where) {
  auto s = UdpSocket::bind(where);
  EXPECT_TRUE(s) << where.to_string() << ": " << s.error().message();
  return s ? std::move(*s) : UdpSocket{};
}

Endpoint local_of(const UdpSocket& s) {
  auto e = s.local_endpoint();
  EXPECT_TRUE(e) << e.error().message();
  return e.value_or(Endpoint{});
}

/// A UDP port on `where` with nothing bound (bound once, then closed).
Endpoint dead_udp_port(const Endpoint& where) {
  auto s = bound(where);
  auto e = local_of(s);
  s.close();
  return e;
}

}  // namespace

TEST(Udp, udp_send_to_and_recv_from_report_sender) {
  auto a = bound(Endpoint::ipv4_loopback(0));
  auto b = bound(Endpoint::ipv4_loopback(0));
  auto sent = a.send_to("hello", local_of(b), 1s);
  ASSERT_TRUE(sent) << sent.error().message();
  EXPECT_EQ(*sent, 5u);
  char buf[64];
  auto d = b.recv_from(std::span(buf), 5s);
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(d->size, 5u);
  EXPECT_EQ(d->full_size, 5u);
  EXPECT_FALSE(d->truncated);
  EXPECT_EQ(d->from, local_of(a));
  EXPECT_EQ(std::string_view(buf, d->size), "hello");
}

TEST(Udp, udp_datagram_boundaries_and_order_kept) {
  auto a = bound(Endpoint::ipv4_loopback(0));
  auto b = bound(Endpoint::ipv4_loopback(0));
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(a.send_to(std::to_string(i), local_of(b)));
  char buf[64];
  for (int i = 0; i < 20; ++i) {
    auto d = b.recv_from(std::span(buf), 5s);
    ASSERT_TRUE(d) << d.error().message();
    EXPECT_EQ(std::string_view(buf, d->size), std::to_string(i));
  }
}

TEST(Udp, udp_truncation_reported_with_full_size) {
  auto a = bound(Endpoint::ipv4_loopback(0));
  auto b = bound(Endpoint::ipv4_loopback(0));
  const auto big = tether::testing::pattern_bytes(1000, 3);
  ASSERT_TRUE(a.send_to(big, local_of(b)));
  ASSERT_TRUE(a.send_to("next", local_of(b)));
  std::array<std::byte, 100> small{};
  auto d = b.recv_from(small, 5s);
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_TRUE(d->truncated);
  EXPECT_EQ(d->size, 100u);
  EXPECT_EQ(d->full_size, 1000u);
  EXPECT_EQ(d->from, local_of(a));
  EXPECT_TRUE(std::equal(small.begin(), small.end(), big.begin()));
  // The rest of the truncated datagram is gone; the next one arrives whole.
  auto next = b.recv_from(small, 5s);
  ASSERT_TRUE(next) << next.error().message();
  EXPECT_FALSE(next->truncated);
  EXPECT_EQ(next->size, 4u);
  EXPECT_EQ(next->full_size, 4u);
}

TEST(Udp, udp_exact_fit_is_not_truncated_and_empty_datagram_is_received) {
  auto a = bound(Endpoint::ipv4_loopback(0));
  auto b = bound(Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(a.send_to("12345678", local_of(b)));
  ASSERT_TRUE(a.send_to("", local_of(b)));
  char buf[8];
  auto d = b.recv_from(std::span(buf), 5s);
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_FALSE(d->truncated);
  EXPECT_EQ(d->size, 8u);
  EXPECT_EQ(d->full_size, 8u);
  auto empty = b.recv_from(std::span(buf), 5s);
  ASSERT_TRUE(empty) << empty.error().message();
  EXPECT_EQ(empty->size, 0u);
  EXPECT_EQ(empty->full_size, 0u);
  EXPECT_FALSE(empty->truncated);
}

TEST(Udp, udp_large_datagram_truncated_into_zero_byte_buffer) {
  auto a = bound(Endpoint::ipv4_loopback(0));
  auto b = bound(Endpoint::ipv4_loopback(0));
  const auto big = tether::testing::pattern_bytes(60000, 5);
  auto sent = a.send_to(big, local_of(b));
  ASSERT_TRUE(sent) << sent.error().message();
  EXPECT_EQ(*sent, big.size());
  auto d = b.recv_from(std::span<std::byte>{}, 5s);
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_TRUE(d->truncated);
  EXPECT_EQ(d->size, 0u);
  EXPECT_EQ(d->full_size, 60000u);
}

TEST(Udp, udp_recv_deadline_times_out) {
  auto b = bound(Endpoint::ipv4_loopback(0));
  char buf[8];
  Stopwatch sw;
  auto d = b.recv_from(std::span(buf), 300ms);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error(), std::errc::timed_out) << d.error().message();
  EXPECT_GE(sw.elapsed(), 290ms);
  EXPECT_LE(sw.elapsed(), 1300ms);
}

TEST(Udp, udp_unbound_open_socket_gets_a_port_at_first_send) {
  auto a = UdpSocket::open(Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(a) << a.error().message();
  auto b = bound(Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(a->send_to("x", local_of(b)));
  char buf[4];
  auto d = b.recv_from(std::span(buf), 5s);
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_NE(d->from.port(), 0);
  EXPECT_EQ(d->from.port(), local_of(*a).port());
  // And it can receive the reply.
  ASSERT_TRUE(b.send_to("y", d->from));
  auto r = a->recv_from(std::span(buf), 5s);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(std::string_view(buf, r->size), "y");
}

TEST(Udp, udp_connected_socket_icmp_port_unreachable_is_econnrefused_and_socket_survives) {
  auto dead = dead_udp_port(Endpoint::ipv4_loopback(0));
  auto c = UdpSocket::open(Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(c) << c.error().message();
  ASSERT_TRUE(c->connect(dead));
  ASSERT_TRUE(c->send("anyone there?", 1s));
  char buf[64];
  // The ICMP error arrives asynchronously; the next call that sees it reports it.
  auto d = c->recv_from(std::span(buf), 2s);
  ASSERT_FALSE(d) << "received from a port nobody listens on";
  EXPECT_EQ(d.error(), std::errc::connection_refused) << d.error().message();

  // The socket keeps working: reconnect to a live peer and exchange datagrams.
  auto server = bound(Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(c->connect(local_of(server)));
  EXPECT_EQ(c->peer_endpoint().value_or(Endpoint{}), local_of(server));
  ASSERT_TRUE(c->send("ping", 1s));
  auto got = server.recv_from(std::span(buf), 5s);
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(std::string_view(buf, got->size), "ping");
  ASSERT_TRUE(server.send_to("pong", got->from));
  auto reply = c->recv_from(std::span(buf), 5s);
  ASSERT_TRUE(reply) << reply.error().message();
  EXPECT_EQ(std::string_view(buf, reply->size), "pong");
  EXPECT_EQ(reply->from, local_of(server));
}

TEST(Udp, udp_connected_socket_send_reports_econnrefused) {
  auto dead = dead_udp_port(Endpoint::ipv4_loopback(0));
  auto c = UdpSocket::open(Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->connect(dead));
  ASSERT_TRUE(c->send("one", 1s));
  // Wait for the ICMP to land: SO_ERROR becomes ECONNREFUSED (bounded wait).
  tether::Result<std::size_t> s = std::size_t{0};
  for (int i = 0; i < 200 && s; ++i) {
    std::this_thread::sleep_for(5ms);
    s = c->send("again", 1s);
  }
  ASSERT_FALSE(s) << "no ICMP port unreachable reported after 200 sends";
  EXPECT_EQ(s.error(), std::errc::connection_refused) << s.error().message();
}

TEST(Udp, udp_connected_socket_ignores_other_senders) {
  auto c = bound(Endpoint::ipv4_loopback(0));
  auto peer = bound(Endpoint::ipv4_loopback(0));
  auto stranger = bound(Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(c.connect(local_of(peer)));
  ASSERT_TRUE(stranger.send_to("stranger", local_of(c)));
  ASSERT_TRUE(peer.send_to("peer", local_of(c)));
  char buf[16];
  auto d = c.recv_from(std::span(buf), 5s);
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(std::string_view(buf, d->size), "peer");
}

TEST(Udp, udp_broadcast_needs_the_option_and_then_delivers_on_loopback) {
  auto r = bound(Endpoint::ipv4_any(0));
  auto to = Endpoint::ipv4({127, 255, 255, 255}, local_of(r).port());
  auto s = UdpSocket::open(Endpoint::ipv4_any(0));
  ASSERT_TRUE(s);
  auto refused = s->send_to("no", to);
  ASSERT_FALSE(refused) << "broadcast sent without SO_BROADCAST";
  EXPECT_EQ(refused.error(), std::errc::permission_denied) << refused.error().message();
  ASSERT_TRUE(s->set_broadcast(true));
  auto sent = s->send_to("yes", to);
  ASSERT_TRUE(sent) << sent.error().message();
  char buf[8];
  auto d = r.recv_from(std::span(buf), 5s);
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(std::string_view(buf, d->size), "yes");
}

TEST(Udp, udp_ipv4_multicast_join_receive_and_leave_on_loopback) {
  unsigned lo = if_nametoindex("lo");
  ASSERT_NE(lo, 0u);
  auto r = bound(Endpoint::ipv4_any(0));
  auto group = Endpoint::ipv4({239, 255, 42, static_cast<std::uint8_t>(getpid() % 250 + 1)},
                              local_of(r).port());
  auto joined = r.join_group(group, lo);
  ASSERT_TRUE(joined) << joined.error().message();
  auto twice = r.join_group(group, lo);
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error(), std::errc::address_in_use) << twice.error().message();

  auto s = UdpSocket::open(Endpoint::ipv4_any(0));
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->set_multicast_interface(lo));
  ASSERT_TRUE(s->set_multicast_loop(true));
  ASSERT_TRUE(s->set_multicast_ttl(0));  // never leave the host
  ASSERT_TRUE(s->send_to("to the group", group));
  char buf[32];
  auto d = r.recv_from(std::span(buf), 5s);
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(std::string_view(buf, d->size), "to the group");

  ASSERT_TRUE(r.leave_group(group, lo));
  auto again = r.leave_group(group, lo);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error(), std::errc::address_not_available) << again.error().message();
  ASSERT_TRUE(s->send_to("after leave", group));
  auto none = r.recv_from(std::span(buf), 300ms);
  ASSERT_FALSE(none) << "received a group datagram after leaving the group";
  EXPECT_EQ(none.error(), std::errc::timed_out);
}

TEST(Udp, udp_ipv6_multicast_join_and_leave_on_loopback) {
  unsigned lo = if_nametoindex("lo");
  ASSERT_NE(lo, 0u);
  auto r = bound(Endpoint::ipv6_any(0));
  auto group = Endpoint::parse("[ff02::1:4242]:1").value().with_port(local_of(r).port());
  auto joined = r.join_group(group, lo);
  ASSERT_TRUE(joined) << joined.error().message();
  ASSERT_TRUE(r.leave_group(group, lo));
  auto again = r.leave_group(group, lo);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error(), std::errc::address_not_available) << again.error().message();
}

TEST(Udp, udp_join_non_multicast_address_is_an_error) {
  auto r = bound(Endpoint::ipv4_any(0));
  auto j = r.join_group(Endpoint::ipv4_loopback(5000));
  ASSERT_FALSE(j);
  EXPECT_EQ(j.error(), tether::Errc::bad_address) << j.error().message();
}

TEST(Udp, udp_bind_in_use_reports_eaddrinuse_and_leaks_no_fd) {
  auto a = bound(Endpoint::ipv4_loopback(0));
  int before = tether::testing::open_fd_count();
  for (int i = 0; i < 50; ++i) {
    auto again = UdpSocket::bind(local_of(a));
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error(), std::errc::address_in_use);
  }
  EXPECT_EQ(tether::testing::open_fd_count(), before);
}
