// Connecting with Happy Eyeballs (RFC 8305): the racing, the delay, the one deadline.
#include "async_testing.hpp"

#include <tether/async_tcp.hpp>
#include <tether/event_loop.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <vector>

using namespace std::chrono_literals;
using namespace tether;
namespace tt = tether::testing;

namespace {

Task<Result<AsyncTcpStream>> race(EventLoop& loop, std::vector<Endpoint> addrs,
                                  HappyEyeballsOptions o) {
  co_return co_await AsyncTcpStream::connect(loop, std::move(addrs), o);
}

Task<Result<AsyncTcpStream>> by_name(EventLoop& loop, std::string host, std::string service,
                                     HappyEyeballsOptions o) {
  co_return co_await AsyncTcpStream::connect(loop, std::move(host), std::move(service), o);
}

}  // namespace

TEST(HappyEyeballs, a_black_holed_ipv6_address_loses_to_ipv4_after_the_attempt_delay) {
  auto hole = tt::black_hole(Endpoint::ipv6_loopback(0));
  auto good = TcpListener::bind(Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(good);
  const auto good_ep = *good->local_endpoint();
  EventLoop loop;
  const int fds_before = tt::open_fd_count();
  HappyEyeballsOptions o;
  o.deadline = 5s;
  auto start = EventLoop::clock::now();
  auto r = loop.run(race(loop, {hole.endpoint, good_ep}, o));
  auto took = EventLoop::clock::now() - start;
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_EQ(*r->peer_endpoint(), good_ep);
  EXPECT_GE(took, 250ms);  // IPv6 had its head start
  EXPECT_LT(took, 2s);     // far sooner than the SYN retransmission would give up
  r->close();
  EXPECT_EQ(tt::open_fd_count(), fds_before);  // the losing IPv6 attempt was closed
}

TEST(HappyEyeballs, a_refused_attempt_starts_the_next_one_at_once) {
  auto closed = TcpListener::bind(Endpoint::ipv6_loopback(0));
  ASSERT_TRUE(closed);
  const auto refused_ep = *closed->local_endpoint();
  closed->close();
  auto good = TcpListener::bind(Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(good);
  EventLoop loop;
  HappyEyeballsOptions o;
  o.attempt_delay = 10s;  // longer than the deadline: only a failure can start IPv4 in time
  o.deadline = 3s;
  auto r = loop.run(race(loop, {refused_ep, *good->local_endpoint()}, o));
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_EQ(*r->peer_endpoint(), *good->local_endpoint());
}

TEST(HappyEyeballs, families_are_interleaved_starting_with_the_first_address_family) {
  // v6 hole, v6 hole, v4 good: interleaving tries the v4 address second, not third.
  auto hole1 = tt::black_hole(Endpoint::ipv6_loopback(0));
  auto hole2 = tt::black_hole(Endpoint::ipv6_loopback(0));
  auto good = TcpListener::bind(Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(good);
  EventLoop loop;
  HappyEyeballsOptions o;
  o.attempt_delay = 300ms;
  o.deadline = 550ms;  // room for two attempts' delays, not three
  auto r = loop.run(race(loop, {hole1.endpoint, hole2.endpoint, *good->local_endpoint()}, o));
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_EQ(*r->peer_endpoint(), *good->local_endpoint());
}

TEST(HappyEyeballs, every_address_black_holed_times_out_at_the_one_deadline) {
  auto hole4 = tt::black_hole(Endpoint::ipv4_loopback(0));
  auto hole6 = tt::black_hole(Endpoint::ipv6_loopback(0));
  EventLoop loop;
  const int fds_before = tt::open_fd_count();
  HappyEyeballsOptions o;
  o.deadline = 400ms;
  auto start = EventLoop::clock::now();
  auto r = loop.run(race(loop, {hole6.endpoint, hole4.endpoint}, o));
  auto took = EventLoop::clock::now() - start;
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error(), std::errc::timed_out);
  EXPECT_GE(took, 400ms);
  EXPECT_LT(took, 440ms + 60ms);  // within 10% (plus scheduling slack)
  EXPECT_EQ(tt::open_fd_count(), fds_before);
}

TEST(HappyEyeballs, connect_by_name_resolves_without_blocking_the_loop) {
  auto good = TcpListener::bind(Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(good);
  EventLoop loop;
  HappyEyeballsOptions o;
  o.deadline = 5s;
  o.family = IpFamily::ipv4;
  auto port = std::to_string(good->local_endpoint()->port());
  auto r = loop.run(by_name(loop, "localhost", port, o));
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_EQ(*r->peer_endpoint(), *good->local_endpoint());
}

TEST(HappyEyeballs, no_addresses_is_an_error_not_a_hang) {
  EventLoop loop;
  auto r = loop.run(race(loop, {}, {}));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error(), Errc::no_address);
}
