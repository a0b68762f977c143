// Signals delivered through the loop (signalfd).
#include <tether/event_loop.hpp>
#include <tether/timer.hpp>

#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <vector>

using namespace std::chrono_literals;
using tether::EventLoop;

TEST(Signals, signals_arrive_as_loop_callbacks_in_order_of_handling) {
  EventLoop loop;
  std::vector<int> seen;
  ASSERT_TRUE(loop.handle_signals({SIGUSR1, SIGUSR2}, [&](int sig) {
    seen.push_back(sig);
    if (seen.size() == 2) loop.stop();
  }));
  ASSERT_EQ(::kill(::getpid(), SIGUSR1), 0);  // blocked now: waits in the signalfd, no handler runs
  tether::Timer later(loop);
  later.arm(10ms, [] { ::kill(::getpid(), SIGUSR2); });
  tether::Timer guard(loop);
  guard.arm(5s, [&] { loop.stop(); });
  loop.run();
  EXPECT_EQ(seen, (std::vector<int>{SIGUSR1, SIGUSR2}));
}

TEST(Signals, destroying_the_loop_restores_the_signal_mask) {
  sigset_t before;
  ASSERT_EQ(::pthread_sigmask(SIG_SETMASK, nullptr, &before), 0);
  ASSERT_FALSE(sigismember(&before, SIGUSR1));
  {
    EventLoop loop;
    ASSERT_TRUE(loop.handle_signals({SIGUSR1}, [](int) {}));
    sigset_t during;
    ::pthread_sigmask(SIG_SETMASK, nullptr, &during);
    EXPECT_TRUE(sigismember(&during, SIGUSR1));
  }
  sigset_t after;
  ::pthread_sigmask(SIG_SETMASK, nullptr, &after);
  EXPECT_FALSE(sigismember(&after, SIGUSR1));
}
