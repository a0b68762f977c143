// TcpStream::connect on loopback: refused, one deadline honoured (a listener whose accept queue is
// full drops SYNs), every resolved address tried within one deadline, source binding, and no fd
// leaked on failure.
#include "testing.hpp"

#include <algorithm>

using namespace std::chrono_literals;
using tether::ConnectOptions;
using tether::Endpoint;
using tether::Socket;
using tether::SocketType;
using tether::TcpListener;
using tether::TcpStream;
using tether::testing::Stopwatch;

namespace {

/// A loopback port where nothing listens: bound but not listening, so the kernel answers a SYN
/// with a reset (and no other test can take the port while the socket lives).
struct ClosedPort {
  Socket holder;
  Endpoint endpoint;
};

ClosedPort closed_port(const Endpoint& where = Endpoint::ipv4_loopback(0)) {
  ClosedPort p;
  auto s = Socket::open(where.family(), SocketType::stream);
  EXPECT_TRUE(s) << s.error().message();
  if (!s) return p;
  EXPECT_TRUE(s->bind(where));
  auto local = s->local_endpoint();
  EXPECT_TRUE(local);
  p.holder = std::move(*s);
  if (local) p.endpoint = *local;
  return p;
}

/// A listener with backlog 0 whose queue is full: SYNs to it are dropped.
struct BlackHole {
  TcpListener listener;
  std::vector<TcpStream> fillers;
  Endpoint endpoint;
};

BlackHole black_hole(const Endpoint& where) {
  BlackHole b;
  auto l = TcpListener::bind(where, 0);
  EXPECT_TRUE(l) << where.to_string() << ": " << l.error().message();
  if (!l) return b;
  b.endpoint = l->local_endpoint().value_or(Endpoint{});
  b.listener = std::move(*l);
  b.fillers = tether::testing::fill_accept_queue(b.endpoint);
  return b;
}

}  // namespace

TEST(TcpConnect, tcp_connect_refused_reports_econnrefused) {
  auto port = closed_port();
  auto c = TcpStream::connect(port.endpoint, 5s);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error(), std::errc::connection_refused) << c.error().message();
}

TEST(TcpConnect, tcp_connect_refused_on_ipv6_reports_econnrefused) {
  auto port = closed_port(Endpoint::ipv6_loopback(0));
  auto c = TcpStream::connect(port.endpoint, 5s);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error(), std::errc::connection_refused) << c.error().message();
}

TEST(TcpConnect, tcp_connect_deadline_honoured_within_20_percent) {
  auto hole = black_hole(Endpoint::ipv4_loopback(0));
  ASSERT_FALSE(hole.fillers.empty());
  // The bar: within 20% of the deadline (plus 10 ms for the scheduler).
  for (auto deadline : {300ms, 500ms}) {
    Stopwatch sw;
    auto c = TcpStream::connect(hole.endpoint, deadline);
    auto took = sw.elapsed();
    ASSERT_FALSE(c) << "connected to a full accept queue";
    EXPECT_EQ(c.error(), std::errc::timed_out) << c.error().message();
    EXPECT_GE(took, deadline * 8 / 10) << "gave up early";
    EXPECT_LE(took, deadline * 12 / 10 + 10ms) << "overran the deadline";
  }
}

TEST(TcpConnect, tcp_connect_with_options_deadline_honoured) {
  auto hole = black_hole(Endpoint::ipv4_loopback(0));
  ConnectOptions o;
  o.deadline = 400ms;
  Stopwatch sw;
  auto c = TcpStream::connect(hole.endpoint, o);
  auto took = sw.elapsed();
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error(), std::errc::timed_out) << c.error().message();
  EXPECT_GE(took, 320ms);
  EXPECT_LE(took, 490ms);
}

TEST(TcpConnect, tcp_connect_expired_deadline_fails_with_timed_out_at_once) {
  auto hole = black_hole(Endpoint::ipv4_loopback(0));
  Stopwatch sw;
  auto c = TcpStream::connect(hole.endpoint, 0ms);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error(), std::errc::timed_out) << c.error().message();
  EXPECT_LE(sw.elapsed(), 100ms);
}

TEST(TcpConnect, tcp_connect_host_service_tries_every_address_within_one_deadline) {
  // The empty host resolves to both loopbacks (::1 and 127.0.0.1). Black-hole the first address
  // and listen on the second with the same port: connect must move on, inside one deadline.
  auto hole_port = closed_port();  // pick a port number, then free it for the two listeners
  std::uint16_t port = hole_port.endpoint.port();
  hole_port.holder.close();
  auto addrs = tether::resolve("", std::to_string(port));
  ASSERT_TRUE(addrs) << addrs.error().message();
  ASSERT_GE(addrs->size(), 2u) << "the empty host should resolve to ::1 and 127.0.0.1";

  auto hole = black_hole(addrs->at(0));
  ASSERT_FALSE(hole.fillers.empty());
  auto good = TcpListener::bind(addrs->at(1));
  ASSERT_TRUE(good) << addrs->at(1).to_string() << ": " << good.error().message();

  ConnectOptions o;
  o.deadline = 1000ms;
  Stopwatch sw;
  auto c = TcpStream::connect("", std::to_string(port), o);
  auto took = sw.elapsed();
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->peer_endpoint().value_or(Endpoint{}), addrs->at(1));
  // The first attempt had its share of the deadline (1/n of it), not all of it.
  auto share = 1000ms / static_cast<int>(addrs->size());
  EXPECT_GE(took, share * 8 / 10) << "the black-holed address was not tried first";
  EXPECT_LT(took, 1000ms) << "the first attempt ate the whole deadline";
  auto accepted = good->accept(1s);
  EXPECT_TRUE(accepted) << accepted.error().message();
}

TEST(TcpConnect, tcp_connect_host_service_all_black_holed_times_out_once) {
  auto pick = closed_port();
  std::uint16_t port = pick.endpoint.port();
  pick.holder.close();
  auto addrs = tether::resolve("", std::to_string(port));
  ASSERT_TRUE(addrs) << addrs.error().message();
  ASSERT_GE(addrs->size(), 2u);
  std::vector<BlackHole> holes;
  for (const auto& a : *addrs) holes.push_back(black_hole(a));

  ConnectOptions o;
  o.deadline = 500ms;
  Stopwatch sw;
  auto c = TcpStream::connect("", std::to_string(port), o);
  auto took = sw.elapsed();
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error(), std::errc::timed_out) << c.error().message();
  EXPECT_GE(took, 400ms);
  EXPECT_LE(took, 610ms) << "each address got the whole deadline";
}

TEST(TcpConnect, tcp_connect_host_service_error_is_that_of_the_last_attempt) {
  auto port = closed_port();
  auto c = TcpStream::connect("localhost", std::to_string(port.endpoint.port()));
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error(), std::errc::connection_refused) << c.error().message();
}

TEST(TcpConnect, tcp_connect_host_service_family_filter) {
  auto l = TcpListener::bind(Endpoint::ipv6_loopback(0));
  ASSERT_TRUE(l) << l.error().message();
  auto port = std::to_string(l->local_endpoint().value_or(Endpoint{}).port());
  ConnectOptions o;
  o.family = tether::IpFamily::ipv6;
  o.deadline = 5s;
  auto c = TcpStream::connect("", port, o);
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->peer_endpoint().value_or(Endpoint{}).kind(), tether::EndpointKind::ipv6);
}

TEST(TcpConnect, tcp_connect_bad_service_reports_unknown_service) {
  auto c = TcpStream::connect("localhost", "no-such-service-xyz");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error(), tether::Errc::unknown_service) << c.error().message();
}

TEST(TcpConnect, tcp_connect_from_source_address) {
  auto l = TcpListener::bind(Endpoint::ipv4_any(0));
  ASSERT_TRUE(l) << l.error().message();
  auto target = Endpoint::ipv4_loopback(l->local_endpoint().value_or(Endpoint{}).port());
  ConnectOptions o;
  o.deadline = 5s;
  o.source = Endpoint::ipv4({127, 0, 0, 2}, 0);
  auto c = TcpStream::connect(target, o);
  ASSERT_TRUE(c) << c.error().message();
  auto accepted = l->accept(5s);
  ASSERT_TRUE(accepted) << accepted.error().message();
  EXPECT_EQ(accepted->peer.address_string(), "127.0.0.2");
  EXPECT_EQ(accepted->peer, c->local_endpoint().value_or(Endpoint{}));
}

TEST(TcpConnect, tcp_connect_family_mismatch_is_an_error) {
  auto l = TcpListener::bind(Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(l);
  ConnectOptions o;
  o.deadline = 1s;
  o.source = Endpoint::ipv6_loopback(0);
  auto c = TcpStream::connect(l->local_endpoint().value_or(Endpoint{}), o);
  EXPECT_FALSE(c) << "connected an IPv4 target from an IPv6 source";
}

TEST(TcpConnect, tcp_1000_failed_connects_leak_no_fd) {
  auto port = closed_port();
  int before = tether::testing::open_fd_count();
  int refused = 0;
  for (int i = 0; i < 1000; ++i) {
    auto c = TcpStream::connect(port.endpoint, 5s);
    if (!c && c.error() == std::errc::connection_refused) ++refused;
  }
  EXPECT_EQ(refused, 1000);
  EXPECT_EQ(tether::testing::open_fd_count(), before);
}

TEST(TcpConnect, tcp_timed_out_and_resolve_failures_leak_no_fd) {
  auto hole = black_hole(Endpoint::ipv4_loopback(0));
  int before = tether::testing::open_fd_count();
  for (int i = 0; i < 5; ++i) {
    auto c = TcpStream::connect(hole.endpoint, 20ms);
    EXPECT_FALSE(c);
  }
  for (int i = 0; i < 20; ++i) {
    EXPECT_FALSE(TcpStream::connect("localhost", "no-such-service-xyz"));
    ConnectOptions o;
    o.source = Endpoint::ipv4({192, 0, 2, 123}, 0);  // not ours: bind fails
    EXPECT_FALSE(TcpStream::connect(hole.endpoint, o));
  }
  EXPECT_EQ(tether::testing::open_fd_count(), before);
}

TEST(TcpConnect, tcp_listener_bind_in_use_reports_eaddrinuse_and_leaks_no_fd) {
  auto first = TcpListener::bind(Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(first);
  auto where = first->local_endpoint().value_or(Endpoint{});
  int before = tether::testing::open_fd_count();
  for (int i = 0; i < 50; ++i) {
    auto again = TcpListener::bind(where);
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error(), std::errc::address_in_use) << again.error().message();
  }
  EXPECT_EQ(tether::testing::open_fd_count(), before);
}
