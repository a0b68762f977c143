// Cross-thread posting: no lost wake-ups, and stop() from another thread. Runs under TSan
// (label `thread`).
#include <tether/event_loop.hpp>
#include <tether/timer.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using tether::EventLoop;

TEST(Post, eight_threads_posting_100k_each_lose_no_work_and_no_wakeup) {
  constexpr int threads = 8;
  constexpr int per_thread = 100000;
  EventLoop loop;
  long count = 0;  // touched only on the loop thread
  std::atomic<bool> go{false};
  std::vector<std::thread> posters;
  for (int t = 0; t < threads; ++t) {
    posters.emplace_back([&] {
      while (!go.load()) std::this_thread::yield();
      for (int i = 0; i < per_thread; ++i) {
        loop.post([&] {
          if (++count == long{threads} * per_thread) loop.stop();
        });
      }
    });
  }
  go = true;
  loop.run();  // returns only if every post ran: a lost wake-up would hang here (ctest timeout)
  for (auto& p : posters) p.join();
  EXPECT_EQ(count, long{threads} * per_thread);
}

TEST(Post, post_wakes_a_loop_blocked_without_timers) {
  EventLoop loop;
  std::atomic<bool> ran{false};
  std::thread poster([&] {
    std::this_thread::sleep_for(50ms);
    loop.post([&] {
      ran = true;
      loop.stop();
    });
  });
  loop.run();  // blocks in poll with no timeout until the post arrives
  poster.join();
  EXPECT_TRUE(ran);
}

TEST(Post, stop_from_another_thread_ends_run) {
  EventLoop loop;
  std::thread stopper([&] {
    std::this_thread::sleep_for(30ms);
    loop.stop();
  });
  loop.run();
  stopper.join();
  EXPECT_FALSE(loop.stop_requested());  // run() clears the request when it returns
}

TEST(Post, loop_on_a_worker_thread_runs_posts_from_main_in_order) {
  EventLoop loop;
  std::vector<int> seen;
  std::thread worker([&] { loop.run(); });
  for (int i = 0; i < 1000; ++i) loop.post([&seen, i] { seen.push_back(i); });
  loop.post([&] { loop.stop(); });
  worker.join();
  ASSERT_EQ(seen.size(), 1000u);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(seen[static_cast<std::size_t>(i)], i);
}

TEST(Post, functions_still_queued_at_destruction_are_destroyed_unrun) {
  auto alive = std::make_shared<int>(1);
  bool ran = false;
  {
    EventLoop loop;
    loop.post([alive, &ran] { ran = true; });
  }
  EXPECT_FALSE(ran);
  EXPECT_EQ(alive.use_count(), 1);
}
