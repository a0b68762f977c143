// IPv6 loopback: TCP and UDP over ::1, dual-stack listeners and v4-mapped peers.
#include "testing.hpp"

using namespace std::chrono_literals;
using tether::Endpoint;
using tether::EndpointKind;
using tether::TcpListener;
using tether::TcpStream;
using tether::UdpSocket;

TEST(Ipv6, tcp_over_ipv6_loopback_exchanges_bytes_and_reports_endpoints) {
  auto p = tether::testing::connected_pair(Endpoint::ipv6_loopback(0));
  ASSERT_TRUE(p.client.is_open() && p.server.is_open());
  ASSERT_TRUE(p.client.write_all("over v6"));
  char buf[7];
  ASSERT_TRUE(p.server.read_exact(std::span(buf), 5s));
  EXPECT_EQ(std::string_view(buf, 7), "over v6");

  auto c_local = p.client.local_endpoint().value();
  auto s_peer = p.server.peer_endpoint().value();
  EXPECT_EQ(c_local.kind(), EndpointKind::ipv6);
  EXPECT_TRUE(c_local.is_loopback());
  EXPECT_EQ(c_local, s_peer);
  EXPECT_EQ(p.client.peer_endpoint().value(), p.listener);
  EXPECT_EQ(p.listener.to_string(), "[::1]:" + std::to_string(p.listener.port()));
}

TEST(Ipv6, udp_over_ipv6_loopback) {
  auto a = UdpSocket::bind(Endpoint::ipv6_loopback(0));
  auto b = UdpSocket::bind(Endpoint::ipv6_loopback(0));
  ASSERT_TRUE(a && b);
  auto b_at = b->local_endpoint().value();
  ASSERT_TRUE(a->send_to("datagram v6", b_at));
  char buf[32];
  auto d = b->recv_from(std::span(buf), 5s);
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(std::string_view(buf, d->size), "datagram v6");
  EXPECT_EQ(d->from, a->local_endpoint().value());
  EXPECT_EQ(d->from.kind(), EndpointKind::ipv6);

  // Truncation is reported over IPv6 too.
  ASSERT_TRUE(a->send_to(std::string(500, 'z'), b_at));
  auto t = b->recv_from(std::span(buf), 5s);
  ASSERT_TRUE(t) << t.error().message();
  EXPECT_TRUE(t->truncated);
  EXPECT_EQ(t->size, sizeof buf);
  EXPECT_EQ(t->full_size, 500u);
}

TEST(Ipv6, udp_connected_ipv6_icmp_port_unreachable_is_econnrefused) {
  Endpoint dead;
  {
    auto s = UdpSocket::bind(Endpoint::ipv6_loopback(0));
    ASSERT_TRUE(s) << s.error().message();
    dead = s->local_endpoint().value();
  }
  auto c = UdpSocket::open(Endpoint::ipv6_loopback(0));
  ASSERT_TRUE(c) << c.error().message();
  ASSERT_TRUE(c->connect(dead));
  ASSERT_TRUE(c->send("hello?", 1s));
  char buf[16];
  auto d = c->recv_from(std::span(buf), 2s);
  ASSERT_FALSE(d) << "received from a port nobody listens on";
  EXPECT_EQ(d.error(), std::errc::connection_refused) << d.error().message();
}

TEST(Ipv6, dual_stack_listener_accepts_ipv4_as_v4_mapped) {
  tether::ListenOptions o;
  o.v6_only = false;
  auto l = TcpListener::bind(Endpoint::ipv6_any(0), o);
  ASSERT_TRUE(l) << l.error().message();
  EXPECT_EQ(l->socket().v6_only().value_or(true), false);
  auto port = l->local_endpoint().value().port();
  auto c = TcpStream::connect(Endpoint::ipv4_loopback(port), 5s);
  ASSERT_TRUE(c) << c.error().message();
  auto a = l->accept(5s);
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_TRUE(a->peer.is_v4_mapped()) << a->peer.to_string();
  EXPECT_EQ(a->peer.unmapped(), c->local_endpoint().value());
}

TEST(Ipv6, v6_only_listener_refuses_ipv4) {
  tether::ListenOptions o;
  o.v6_only = true;
  auto l = TcpListener::bind(Endpoint::ipv6_any(0), o);
  ASSERT_TRUE(l) << l.error().message();
  EXPECT_EQ(l->socket().v6_only().value_or(false), true);
  auto port = l->local_endpoint().value().port();
  auto c = TcpStream::connect(Endpoint::ipv4_loopback(port), 5s);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error(), std::errc::connection_refused) << c.error().message();
}

TEST(Ipv6, scoped_link_local_bind_on_lo_keeps_scope_in_endpoint) {
  // fe80::/10 on lo is not configured, so bind reports EADDRNOTAVAIL; the endpoint still carries
  // the scope so the error is about the address, not the parse.
  auto e = Endpoint::parse("[fe80::1%lo]:0");
  ASSERT_TRUE(e) << e.error().message();
  auto l = TcpListener::bind(*e);
  ASSERT_FALSE(l);
  EXPECT_EQ(l.error(), std::errc::address_not_available) << l.error().message();
}
