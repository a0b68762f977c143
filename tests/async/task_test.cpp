// Task<T>: laziness, exceptions, detached tasks, when_all / when_any / with_timeout.
#include <tether/event_loop.hpp>
#include <tether/task.hpp>
#include <tether/timer.hpp>
#include <tether/when.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using tether::EventLoop;
using tether::Result;
using tether::Status;
using tether::Task;

namespace {

Task<int> value_after(std::chrono::milliseconds d, int v) {
  (void)co_await tether::sleep_for(d);
  co_return v;
}

Task<int> throw_after(std::chrono::milliseconds d) {
  (void)co_await tether::sleep_for(d);
  throw std::runtime_error("boom");
}

Task<int> mark_started(bool& started) {
  started = true;
  co_return 7;
}

struct Guard {
  int* destroyed;
  ~Guard() { ++*destroyed; }
};

Task<void> sleep_forever(int* destroyed) {
  Guard g{destroyed};
  (void)co_await tether::sleep_for(1h);
}

Task<Status> sleep_status(std::chrono::milliseconds d) { co_return co_await tether::sleep_for(d); }

Task<int> add_one(int v) { co_return v + 1; }

}  // namespace

TEST(Task, a_task_does_nothing_until_awaited) {
  EventLoop loop;
  bool started = false;
  Task<int> t = mark_started(started);
  EXPECT_FALSE(started);
  EXPECT_EQ(loop.run(std::move(t)), 7);
  EXPECT_TRUE(started);
}

TEST(Task, an_exception_propagates_to_the_awaiter) {
  EventLoop loop;
  auto outer = []() -> Task<std::string> {
    try {
      (void)co_await throw_after(1ms);
    } catch (const std::runtime_error& e) {
      co_return e.what();
    }
    co_return "no exception";
  };
  EXPECT_EQ(loop.run(outer()), "boom");
}

TEST(Task, deep_chains_of_synchronous_awaits_do_not_grow_the_stack) {
  EventLoop loop;
  auto chain = []() -> Task<int> {
    int v = 0;
    for (int i = 0; i < 1'000'000; ++i) v = co_await add_one(v);
    co_return v;
  };
  EXPECT_EQ(loop.run(chain()), 1'000'000);
}

TEST(Task, suspended_detached_tasks_are_destroyed_with_the_loop) {
  int destroyed = 0;
  {
    EventLoop loop;
    for (int i = 0; i < 5; ++i) loop.spawn(sleep_forever(&destroyed));
    (void)loop.run(value_after(5ms, 0));  // lets them start and suspend
    EXPECT_EQ(loop.spawned_count(), 5u);
    EXPECT_EQ(destroyed, 0);
  }
  EXPECT_EQ(destroyed, 5);
}

TEST(Task, finished_detached_tasks_free_themselves) {
  EventLoop loop;
  int done = 0;
  auto job = [](int* d) -> Task<void> {
    (void)co_await tether::sleep_for(1ms);
    ++*d;
  };
  for (int i = 0; i < 100; ++i) loop.spawn(job(&done));
  (void)loop.run(value_after(20ms, 0));
  EXPECT_EQ(done, 100);
  EXPECT_EQ(loop.spawned_count(), 0u);
}

TEST(Task, an_exception_escaping_a_detached_task_is_rethrown_by_run) {
  EventLoop loop;
  loop.spawn(throw_after(1ms));
  EXPECT_THROW((void)loop.run(value_after(50ms, 0)), std::runtime_error);
}

TEST(When, when_all_returns_every_result_in_argument_order) {
  EventLoop loop;
  auto body = []() -> Task<std::tuple<int, int, int>> {
    co_return co_await tether::when_all(value_after(20ms, 1), value_after(1ms, 2),
                                        value_after(10ms, 3));
  };
  auto [a, b, c] = loop.run(body());
  EXPECT_EQ(a, 1);
  EXPECT_EQ(b, 2);
  EXPECT_EQ(c, 3);
}

TEST(When, when_all_of_a_vector) {
  EventLoop loop;
  auto body = []() -> Task<std::vector<int>> {
    std::vector<Task<int>> tasks;
    for (int i = 0; i < 50; ++i) tasks.push_back(value_after(std::chrono::milliseconds(i % 5), i));
    co_return co_await tether::when_all(std::move(tasks));
  };
  auto values = loop.run(body());
  ASSERT_EQ(values.size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(values[static_cast<std::size_t>(i)], i);
}

TEST(When, when_all_stops_the_others_and_rethrows_the_first_exception) {
  EventLoop loop;
  Status slow;
  auto body = [](Status* out) -> Task<void> {
    auto slow_task = [](Status* o) -> Task<int> {
      *o = co_await tether::sleep_for(10s);
      co_return 0;
    };
    (void)co_await tether::when_all(throw_after(5ms), slow_task(out));
  };
  auto start = EventLoop::clock::now();
  EXPECT_THROW(loop.run(body(&slow)), std::runtime_error);
  EXPECT_LT(EventLoop::clock::now() - start, 5s);
  ASSERT_FALSE(slow.has_value());
  EXPECT_EQ(slow.error(), tether::Errc::cancelled);
}

TEST(When, when_any_returns_the_first_and_cancels_the_rest) {
  EventLoop loop;
  auto body = []() -> Task<std::variant<int, Status>> {
    co_return co_await tether::when_any(value_after(5ms, 42), sleep_status(10s));
  };
  auto start = EventLoop::clock::now();
  auto r = loop.run(body());
  EXPECT_LT(EventLoop::clock::now() - start, 5s);
  ASSERT_EQ(r.index(), 0u);
  EXPECT_EQ(std::get<0>(r), 42);
}

TEST(When, when_any_of_a_vector_reports_the_winner_index) {
  EventLoop loop;
  auto body = []() -> Task<std::pair<std::size_t, int>> {
    std::vector<Task<int>> tasks;
    tasks.push_back(value_after(50ms, 0));
    tasks.push_back(value_after(2ms, 1));
    tasks.push_back(value_after(80ms, 2));
    co_return co_await tether::when_any(std::move(tasks));
  };
  auto [index, value] = loop.run(body());
  EXPECT_EQ(index, 1u);
  EXPECT_EQ(value, 1);
}

TEST(When, with_timeout_turns_a_stopped_task_into_timed_out) {
  EventLoop loop;
  auto body = []() -> Task<Status> { co_return co_await tether::with_timeout(sleep_status(10s), 20ms); };
  auto start = EventLoop::clock::now();
  auto r = loop.run(body());
  auto took = EventLoop::clock::now() - start;
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error(), std::errc::timed_out);
  EXPECT_GE(took, 20ms);
  EXPECT_LT(took, 5s);
}

TEST(When, with_timeout_passes_a_result_that_arrives_in_time) {
  EventLoop loop;
  auto body = []() -> Task<Status> { co_return co_await tether::with_timeout(sleep_status(1ms), 5s); };
  EXPECT_TRUE(loop.run(body()).has_value());
}

TEST(When, with_stop_token_stops_the_task_when_the_token_is_stopped) {
  EventLoop loop;
  std::stop_source source;
  tether::Timer t(loop);
  t.arm(10ms, [&] { source.request_stop(); });
  auto body = [](std::stop_token tok) -> Task<Status> {
    co_return co_await tether::with_stop_token(sleep_status(10s), tok);
  };
  auto r = loop.run(body(source.get_token()));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error(), tether::Errc::cancelled);
}
