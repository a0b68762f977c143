// Fault scenario 19 (issue 5), beyond tests/async/timer_test.cpp (which checks that a 0 ms or
// past-deadline timer re-armed from its own callback does not starve I/O, and that no timer fires
// early): such a timer must not starve the OTHER timers nor posted work either, and those still
// fire no earlier than their deadlines.
#include <tether/event_loop.hpp>
#include <tether/timer.hpp>

#include <gtest/gtest.h>

#include <chrono>

using namespace std::chrono_literals;
using tether::Deadline;
using tether::EventLoop;
using tether::Timer;

class FaultTimerRearm : public ::testing::TestWithParam<bool> {};

TEST_P(FaultTimerRearm, a_timer_rearmed_from_its_callback_starves_no_other_timer_and_no_post) {
  const bool past = GetParam();
  EventLoop loop;
  long spins = 0;
  Timer spinner(loop);
  auto when = [past]() -> Deadline {
    return past ? Deadline::at(EventLoop::clock::now() - 1s) : Deadline(0ms);
  };
  spinner.arm(when(), [&] {
    ++spins;
    spinner.arm(when());
  });

  const auto due = EventLoop::clock::now() + 30ms;
  EventLoop::clock::time_point fired_at{};
  Timer other(loop);
  other.arm(Deadline::at(due), [&] { fired_at = EventLoop::clock::now(); });
  bool posted_ran = false;
  loop.post([&] { posted_ran = true; });

  const auto give_up = EventLoop::clock::now() + 2s;
  long iterations = 0;
  while ((fired_at == EventLoop::clock::time_point{} || !posted_ran) &&
         EventLoop::clock::now() < give_up) {
    loop.run_once();
    ++iterations;
  }
  EXPECT_TRUE(posted_ran) << "posted work starved";
  ASSERT_NE(fired_at, EventLoop::clock::time_point{}) << "the other timer starved (" << iterations
                                                      << " iterations, " << spins << " spins)";
  EXPECT_GE(fired_at, due) << "fired early";
  EXPECT_LT(fired_at - due, 500ms) << "fired far too late";
  EXPECT_LE(spins, iterations) << "the re-armed timer fired twice in one iteration";
}

INSTANTIATE_TEST_SUITE_P(Fault, FaultTimerRearm, ::testing::Values(false, true),
                         [](const auto& p) { return p.param ? "past_deadline" : "zero_ms"; });
