// Deadline: never by default, durations convert, rounding for poll(), earliest().
#include "testing.hpp"

#include <thread>

using namespace std::chrono_literals;
using tether::Deadline;

TEST(Deadline, default_is_never) {
  Deadline d;
  EXPECT_TRUE(d.is_never());
  EXPECT_FALSE(d.expired());
  EXPECT_EQ(d.timeout_ms(), -1);
  EXPECT_EQ(d.remaining(), Deadline::clock::duration::max());
  EXPECT_EQ(d.time_point(), Deadline::clock::time_point::max());
  EXPECT_TRUE(Deadline::never().is_never());
}

TEST(Deadline, duration_converts_and_expires) {
  Deadline d = 50ms;
  EXPECT_FALSE(d.is_never());
  EXPECT_FALSE(d.expired());
  EXPECT_LE(d.remaining(), std::chrono::duration_cast<Deadline::clock::duration>(50ms));
  EXPECT_GT(d.remaining(), Deadline::clock::duration::zero());
  std::this_thread::sleep_for(60ms);
  EXPECT_TRUE(d.expired());
  EXPECT_EQ(d.remaining(), Deadline::clock::duration::zero());
  EXPECT_EQ(d.timeout_ms(), 0);
}

TEST(Deadline, zero_duration_is_already_expired) {
  Deadline d = 0ms;
  EXPECT_FALSE(d.is_never());
  EXPECT_TRUE(d.expired());
  EXPECT_EQ(d.timeout_ms(), 0);
}

TEST(Deadline, timeout_ms_rounds_up_so_waits_never_end_early) {
  Deadline d = 1500us;
  int ms = d.timeout_ms();
  EXPECT_GE(ms, 1);
  EXPECT_LE(ms, 2);
  Deadline tiny = 1ns;
  // Either already expired (0) or rounded up to 1 ms; never a negative "forever".
  EXPECT_GE(tiny.timeout_ms(), 0);
  Deadline huge = std::chrono::hours(24 * 365 * 100);
  EXPECT_EQ(huge.timeout_ms(), INT_MAX);
}

TEST(Deadline, at_time_point) {
  auto tp = Deadline::clock::now() + 1s;
  Deadline d = Deadline::at(tp);
  EXPECT_EQ(d.time_point(), tp);
  EXPECT_FALSE(d.expired());
  Deadline past = Deadline::at(Deadline::clock::now() - 1s);
  EXPECT_TRUE(past.expired());
  EXPECT_EQ(past.timeout_ms(), 0);
}

TEST(Deadline, earliest_picks_the_sooner_and_never_loses) {
  Deadline soon = 1s;
  Deadline later = 10s;
  EXPECT_EQ(earliest(soon, later).time_point(), soon.time_point());
  EXPECT_EQ(earliest(later, soon).time_point(), soon.time_point());
  EXPECT_EQ(earliest(Deadline::never(), later).time_point(), later.time_point());
  EXPECT_EQ(earliest(soon, Deadline::never()).time_point(), soon.time_point());
  EXPECT_TRUE(earliest(Deadline::never(), Deadline::never()).is_never());
}
