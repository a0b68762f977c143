// Timers: order, never early, cancellation, and no starvation of I/O by a re-armed 0 ms timer.
#include "async_testing.hpp"

#include <tether/event_loop.hpp>
#include <tether/timer.hpp>

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <memory>
#include <vector>

using namespace std::chrono_literals;
using tether::Deadline;
using tether::EventLoop;
using tether::Timer;

TEST(Timer, timers_fire_in_deadline_order_and_ties_in_arming_order) {
  EventLoop loop;
  std::vector<int> order;
  auto base = EventLoop::clock::now() + 20ms;
  Timer t30(loop), t10a(loop), t20(loop), t10b(loop), stop(loop);
  t30.arm(Deadline::at(base + 20ms), [&] { order.push_back(30); });
  t10a.arm(Deadline::at(base), [&] { order.push_back(1); });
  t20.arm(Deadline::at(base + 10ms), [&] { order.push_back(20); });
  t10b.arm(Deadline::at(base), [&] { order.push_back(2); });
  stop.arm(Deadline::at(base + 30ms), [&] { loop.stop(); });
  loop.run();
  EXPECT_EQ(order, (std::vector<int>{1, 2, 20, 30}));
}

TEST(Timer, no_timer_fires_before_its_deadline) {
  EventLoop loop;
  std::vector<std::unique_ptr<Timer>> timers;
  int fired = 0;
  int early = 0;
  for (int i = 0; i < 60; ++i) {
    auto when = EventLoop::clock::now() + std::chrono::microseconds(137 * i + 50);
    timers.push_back(std::make_unique<Timer>(loop));
    timers.back()->arm(Deadline::at(when), [&, when] {
      if (EventLoop::clock::now() < when) ++early;
      if (++fired == 60) loop.stop();
    });
  }
  loop.run();
  EXPECT_EQ(fired, 60);
  EXPECT_EQ(early, 0);
}

TEST(Timer, cancelled_timer_never_fires_and_rearm_moves_it) {
  EventLoop loop;
  bool cancelled_fired = false;
  int moved_fired = 0;
  Timer cancelled(loop), moved(loop), stop(loop);
  cancelled.arm(5ms, [&] { cancelled_fired = true; });
  cancelled.cancel();
  moved.arm(5ms, [&] { ++moved_fired; });
  moved.arm(15ms);  // re-arm keeps the callback, replaces the deadline
  stop.arm(40ms, [&] { loop.stop(); });
  loop.run();
  EXPECT_FALSE(cancelled_fired);
  EXPECT_FALSE(cancelled.armed());
  EXPECT_EQ(moved_fired, 1);
}

TEST(Timer, destroying_a_timer_from_its_own_callback_is_safe) {
  EventLoop loop;
  auto t = std::make_unique<Timer>(loop);
  bool ran = false;
  t->arm(1ms, [&] {
    ran = true;
    t.reset();
    loop.stop();
  });
  loop.run();
  EXPECT_TRUE(ran);
  EXPECT_EQ(t, nullptr);
}

namespace {
tether::Task<void> read_one(tether::AsyncTcpStream& s, bool& got) {
  std::array<std::byte, 16> buf{};
  auto n = co_await s.read_some(buf);
  got = n.has_value() && *n == 3;
}
}  // namespace

// Re-armed for "now" (0 ms) or for a time already past: either way it waits for the next
// iteration, so the loop keeps polling and the read completes.
class RearmedTimer : public ::testing::TestWithParam<bool> {};

TEST_P(RearmedTimer, rearmed_from_its_own_callback_does_not_starve_io) {
  const bool past = GetParam();
  EventLoop loop;
  auto [stream, peer] = tether::testing::async_pair(loop);
  bool got = false;
  loop.spawn(read_one(stream, got));
  long fired = 0;
  Timer spin(loop);
  auto when = [past]() -> Deadline {
    return past ? Deadline::at(EventLoop::clock::now() - 1s) : Deadline(0ms);
  };
  spin.arm(when(), [&] {
    ++fired;
    if (fired == 10) (void)::send(peer.fd(), "abc", 3, MSG_NOSIGNAL);  // I/O arrives meanwhile
    if (!got && fired < 100000) spin.arm(when());
  });
  int iterations = 0;
  while (!got && iterations < 100000) {
    loop.run_once();
    ++iterations;
  }
  EXPECT_TRUE(got);
  EXPECT_LT(fired, 100);  // the read completed within a few iterations of the data arriving
  // One firing per iteration at most: a re-armed timer waits for the next iteration.
  EXPECT_LE(fired, iterations);
}

INSTANTIATE_TEST_SUITE_P(Timer, RearmedTimer, ::testing::Values(false, true),
                         [](const auto& p) { return p.param ? "past_deadline" : "zero_ms"; });

TEST(Timer, sleep_for_waits_at_least_the_duration) {
  EventLoop loop;
  auto body = []() -> tether::Task<EventLoop::clock::duration> {
    auto start = EventLoop::clock::now();
    auto r = co_await tether::sleep_for(30ms);
    EXPECT_TRUE(r.has_value());
    co_return EventLoop::clock::now() - start;
  };
  auto slept = loop.run(body());
  EXPECT_GE(slept, 30ms);
}
