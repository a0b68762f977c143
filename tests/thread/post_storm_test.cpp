// Fault scenario 18 (issue 5): cross-thread posting at scale. 8 threads x 1,000,000 posts to a loop
// running on its own thread, then shutdown: every post runs exactly once, the loop never sleeps
// through queued work (no lost wake-up), and TSan finds no race (label `thread`).
#include <tether/event_loop.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <random>
#include <thread>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using tether::EventLoop;

namespace {

constexpr int poster_threads = 8;
constexpr long posts_per_thread = 1'000'000;
constexpr long total_posts = poster_threads * posts_per_thread;

}  // namespace

// Each poster posts its million in bursts of 1 to 2,000 and then waits for its own burst to have run,
// so the loop keeps draining its queue and going back to sleep while other threads post: every
// burst must wake it. A lost wake-up leaves a burst queued while all posters wait: that poster
// times out (a stall) instead of the test hanging.
TEST(PostStorm, eight_threads_posting_a_million_each_then_shutdown_lose_nothing) {
  EventLoop loop;
  long ran = 0;  // loop thread only
  std::array<std::atomic<long>, poster_threads> done{};  // written on the loop thread
  std::atomic<int> stalls{0};
  std::atomic<bool> go{false};
  std::thread runner([&] { loop.run(); });

  std::vector<std::thread> posters;
  for (int t = 0; t < poster_threads; ++t) {
    posters.emplace_back([&, t] {
      std::minstd_rand rng(static_cast<unsigned>(t) + 1);
      auto& mine = done[static_cast<std::size_t>(t)];
      while (!go.load()) std::this_thread::yield();
      long posted = 0;
      while (posted < posts_per_thread) {
        const long burst = std::min<long>(1 + static_cast<long>(rng() % 2000), posts_per_thread - posted);
        for (long i = 0; i < burst; ++i) {
          loop.post([&ran, &mine] {
            ++ran;
            mine.store(mine.load(std::memory_order_relaxed) + 1, std::memory_order_release);
          });
        }
        posted += burst;
        const auto until = std::chrono::steady_clock::now() + 5s;
        while (mine.load(std::memory_order_acquire) < posted) {
          if (std::chrono::steady_clock::now() >= until) {
            stalls.fetch_add(1);
            return;  // a lost wake-up: the loop sleeps with this burst queued
          }
          std::this_thread::sleep_for(20us);
        }
      }
    });
  }
  go = true;
  for (auto& p : posters) p.join();
  loop.stop();  // shutdown from another thread
  runner.join();
  EXPECT_EQ(stalls.load(), 0) << "a burst waited 5 s in the queue: a wake-up was lost";
  EXPECT_EQ(ran, total_posts);
  EXPECT_FALSE(loop.stop_requested());
}

namespace {

/// A posted function that records whether it ran or was destroyed unrun.
struct Tally {
  std::atomic<long> ran{0};
  std::atomic<long> destroyed_unrun{0};
};

class Counted {
 public:
  explicit Counted(Tally* tally) noexcept : tally_(tally) {}
  Counted(Counted&& other) noexcept : tally_(std::exchange(other.tally_, nullptr)) {}
  Counted& operator=(Counted&&) = delete;
  ~Counted() {
    if (tally_ != nullptr) tally_->destroyed_unrun.fetch_add(1, std::memory_order_relaxed);
  }
  void operator()() {
    tally_->ran.fetch_add(1, std::memory_order_relaxed);
    tally_ = nullptr;
  }

 private:
  Tally* tally_;
};

}  // namespace

// Shutdown while posters are still posting: the loop stops mid-storm, the posters finish, and the
// loop is destroyed with work queued. Every post is accounted for: it ran, or it was destroyed
// unrun with the loop (none lost, none run twice, nothing leaked: LeakSanitizer in the asan preset).
TEST(PostStorm, stopping_and_destroying_the_loop_mid_storm_accounts_for_every_post) {
  constexpr long per_thread = posts_per_thread / 10;
  Tally tally;
  {
    EventLoop loop;
    std::atomic<bool> go{false};
    std::thread runner([&] { loop.run(); });
    std::vector<std::thread> posters;
    for (int t = 0; t < poster_threads; ++t) {
      posters.emplace_back([&] {
        while (!go.load()) std::this_thread::yield();
        for (long i = 0; i < per_thread; ++i) loop.post(Counted(&tally));
      });
    }
    go = true;
    // Stop as soon as some work has run, while the posters are still busy.
    while (tally.ran.load() == 0) std::this_thread::yield();
    loop.stop();
    runner.join();
    for (auto& p : posters) p.join();
  }  // destroyed here with whatever was posted after the stop
  EXPECT_EQ(tally.ran.load() + tally.destroyed_unrun.load(), poster_threads * per_thread);
  EXPECT_GT(tally.ran.load(), 0);
}
