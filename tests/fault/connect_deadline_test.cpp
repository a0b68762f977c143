// Fault scenario 10 (issue 5) at the issue's own bar: connecting to a listener that drops SYNs ends
// with std::errc::timed_out no earlier than the deadline and within 10 % after it (plus 10 ms for
// the scheduler), with the synchronous layer and with the event loop, and no fd is left behind.
// (net/tcp_connect_test checks the refused case and a looser 20 % window.)
#include "async_testing.hpp"

#include <tether/async_tcp.hpp>
#include <tether/event_loop.hpp>

#include <gtest/gtest.h>

#include <chrono>

using namespace std::chrono_literals;
using namespace tether;
namespace tt = tether::testing;

namespace {

constexpr auto deadline = 500ms;
constexpr auto bar = deadline + deadline / 10 + 10ms;

}  // namespace

TEST(FaultConnectDeadline, sync_connect_to_a_syn_dropping_listener_ends_within_10_percent_of_its_deadline) {
  auto hole = tt::black_hole(Endpoint::ipv4_loopback(0));
  ASSERT_FALSE(hole.fillers.empty());
  const int fds = tt::open_fd_count();
  for (int i = 0; i < 3; ++i) {
    tt::Stopwatch sw;
    auto c = TcpStream::connect(hole.endpoint, deadline);
    const auto took = sw.elapsed();
    ASSERT_FALSE(c) << "connected to a full accept queue";
    EXPECT_EQ(c.error(), std::errc::timed_out) << c.error().message();
    EXPECT_GE(took, deadline) << "gave up early";
    EXPECT_LE(took, bar) << "overran the deadline by more than 10 %";
  }
  EXPECT_EQ(tt::open_fd_count(), fds);
}

TEST(FaultConnectDeadline, async_connect_to_a_syn_dropping_listener_ends_within_10_percent_of_its_deadline) {
  auto hole = tt::black_hole(Endpoint::ipv4_loopback(0));
  ASSERT_FALSE(hole.fillers.empty());
  const int fds = tt::open_fd_count();
  {
    EventLoop loop;
    auto attempt = [](EventLoop& l, Endpoint to) -> Task<Result<AsyncTcpStream>> {
      co_return co_await AsyncTcpStream::connect(l, to, deadline);
    };
    for (int i = 0; i < 3; ++i) {
      tt::Stopwatch sw;
      auto c = loop.run(attempt(loop, hole.endpoint));
      const auto took = sw.elapsed();
      ASSERT_FALSE(c) << "connected to a full accept queue";
      EXPECT_EQ(c.error(), std::errc::timed_out) << c.error().message();
      EXPECT_GE(took, deadline) << "gave up early";
      EXPECT_LE(took, bar) << "overran the deadline by more than 10 %";
    }
  }
  EXPECT_EQ(tt::open_fd_count(), fds);
}
