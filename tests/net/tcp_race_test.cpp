// TcpStream::race(): Happy Eyeballs without an event loop (what `tether connect` uses).
#include "async_testing.hpp"

#include <tether/tcp.hpp>

#include <gtest/gtest.h>

using namespace std::chrono_literals;
using namespace tether;

namespace {

/// A port on which nothing listens on ::1 nor 127.0.0.1 (at the time of the call).
std::uint16_t closed_on_both() {
  for (int i = 0; i < 20; ++i) {
    auto v6 = TcpListener::bind(Endpoint::ipv6_loopback(0));
    if (!v6) return 0;
    const auto port = v6->local_endpoint()->port();
    if (TcpListener::bind(Endpoint::ipv4_loopback(port))) return port;
  }
  return 0;
}

TEST(TcpRace, a_black_holed_first_address_loses_to_the_next_one_without_waiting_for_it) {
  auto hole = tether::testing::black_hole(Endpoint::ipv6_loopback(0));
  ASSERT_FALSE(hole.fillers.empty());
  auto good = TcpListener::bind(Endpoint::ipv4_loopback(hole.endpoint.port()));
  ASSERT_TRUE(good) << good.error().message();
  const std::vector<Endpoint> addresses = {hole.endpoint, *good->local_endpoint()};
  ConnectOptions o;
  o.deadline = 20s;
  std::vector<ConnectFailure> failures;
  auto s = TcpStream::race(addresses, o, &failures);
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->peer_endpoint().value_or(Endpoint{}), *good->local_endpoint());
  // The black-holed attempt did not fail: it was still running (its share of a deadline was not
  // waited out, as sequential tries would) when the second one won, and was closed.
  EXPECT_TRUE(failures.empty()) << failures.front().address.to_string() << ": " << failures.front().error.message();
}

TEST(TcpRace, every_failed_attempt_is_reported_in_the_interleaved_order) {
  const auto port = closed_on_both();
  ASSERT_NE(port, 0);
  auto v6b = Endpoint::parse("[::1]:" + std::to_string(port)).value();
  // Two IPv6 addresses first, then IPv4: the race alternates the families (RFC 8305 section 4).
  auto other_port = closed_on_both();
  ASSERT_NE(other_port, 0);
  const std::vector<Endpoint> addresses = {Endpoint::ipv6_loopback(port), Endpoint::ipv6_loopback(other_port),
                                           Endpoint::ipv4_loopback(port)};
  std::vector<ConnectFailure> failures;
  auto s = TcpStream::race(addresses, ConnectOptions{}, &failures);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error(), std::errc::connection_refused) << s.error().message();
  ASSERT_EQ(failures.size(), 3u);
  EXPECT_EQ(failures[0].address, v6b);
  EXPECT_EQ(failures[1].address, Endpoint::ipv4_loopback(port));
  EXPECT_EQ(failures[2].address, Endpoint::ipv6_loopback(other_port));
  for (const auto& f : failures) {
    EXPECT_EQ(f.error, std::errc::connection_refused) << f.address.to_string();
    EXPECT_FALSE(f.bind);
  }
}

TEST(TcpRace, a_source_that_cannot_be_bound_is_reported_as_a_bind_failure) {
  auto l = TcpListener::bind(Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(l);
  ConnectOptions o;
  o.source = Endpoint::ipv4({192, 0, 2, 1}, 0);  // TEST-NET-1: not an address of this host
  const std::vector<Endpoint> addresses = {*l->local_endpoint()};
  std::vector<ConnectFailure> failures;
  auto s = TcpStream::race(addresses, o, &failures);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error(), std::errc::address_not_available) << s.error().message();
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_TRUE(failures[0].bind);
  EXPECT_EQ(failures[0].address, *o.source);
}

TEST(TcpRace, the_deadline_ends_the_race_with_timed_out_for_each_running_attempt) {
  auto hole = tether::testing::black_hole(Endpoint::ipv4_loopback(0));
  ASSERT_FALSE(hole.fillers.empty());
  ConnectOptions o;
  o.deadline = 300ms;
  std::vector<ConnectFailure> failures;
  const std::vector<Endpoint> addresses = {hole.endpoint};
  auto s = TcpStream::race(addresses, o, &failures);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error(), make_error_code(std::errc::timed_out));  // same code, same category
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_EQ(failures[0].error, std::errc::timed_out);
}

TEST(TcpRace, no_address_of_the_source_family_is_no_address) {
  ConnectOptions o;
  o.source = Endpoint::ipv6_loopback(0);
  const std::vector<Endpoint> addresses = {Endpoint::ipv4_loopback(9)};
  auto s = TcpStream::race(addresses, o);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error(), Errc::no_address);
}

}  // namespace
