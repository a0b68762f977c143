// tether/detail/task_set.hpp: a scope of child tasks that run concurrently under one stop source.
//
// The parent (a coroutine) owns the TaskSet as a local. start() runs a child until its first
// suspension; next() waits until some child has finished (or a deadline passes) and reports its
// index. The children's results go to Outcome slots that the parent declares BEFORE the set, so
// they outlive every child. Destroying the set destroys children still running (their pending
// operations are withdrawn): a child never outlives its parent. The set's stop source is linked to
// the parent's token. Loop-thread only. when_all, when_any, with_timeout and Happy Eyeballs use it.
#pragma once

#include <tether/deadline.hpp>
#include <tether/detail/io_op.hpp>
#include <tether/detail/promise.hpp>
#include <tether/task.hpp>

#include <coroutine>
#include <cstddef>
#include <exception>
#include <optional>
#include <stop_token>
#include <type_traits>
#include <utility>
#include <vector>

#pragma GCC visibility push(default)  // the public API (the shared library hides the rest)

namespace tether::detail {

template <class T>
struct Outcome {
  std::optional<Wrap<T>> value;
  std::exception_ptr error;
};

class TaskSet;
struct ChildPromise;

struct ChildTask {
  using promise_type = ChildPromise;
  std::coroutine_handle<ChildPromise> h;
};

struct ChildPromise : PromiseBase {
  TaskSet* set = nullptr;
  std::size_t index = 0;

  ChildTask get_return_object() noexcept {
    return {std::coroutine_handle<ChildPromise>::from_promise(*this)};
  }
  void return_void() const noexcept {}
  struct Final {
    bool await_ready() const noexcept { return false; }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<ChildPromise> h) noexcept;
    void await_resume() const noexcept {}
  };
  Final final_suspend() const noexcept { return {}; }
};

template <class T>
ChildTask run_child(Task<T> task, Outcome<T>& out) {
  try {
    if constexpr (std::is_void_v<T>) {
      co_await std::move(task);
      out.value.emplace();
    } else {
      out.value.emplace(co_await std::move(task));
    }
  } catch (...) {
    out.error = std::current_exception();
  }
}

struct StopLink {
  std::stop_source* source;
  void operator()() const noexcept { source->request_stop(); }
};

/// Awaitable of TaskSet::next(): the index of a finished child, nullopt when the deadline passed
/// first or no child is left.
class NextAwaiter : private TimerNode {
 public:
  NextAwaiter(TaskSet* set, Deadline deadline) noexcept;
  NextAwaiter(const NextAwaiter&) = delete;
  NextAwaiter& operator=(const NextAwaiter&) = delete;
  ~NextAwaiter();
  bool await_ready() const noexcept;
  bool await_suspend(std::coroutine_handle<> h) noexcept;
  std::optional<std::size_t> await_resume() noexcept;

 private:
  friend struct ChildPromise;
  friend class TaskSet;
  static void on_fire(TimerNode& node) noexcept;
  void disarm() noexcept;
  TaskSet* set_;
  Deadline deadline_;
  EventLoop* loop_ = nullptr;
  std::coroutine_handle<> waiter_;
  bool timed_out_ = false;
};

class TaskSet {
 public:
  explicit TaskSet(std::stop_token parent = {});
  ~TaskSet();
  TaskSet(const TaskSet&) = delete;
  TaskSet& operator=(const TaskSet&) = delete;

  /// Runs `task` as a child until its first suspension; its result goes to `out`.
  template <class T>
  std::size_t start(Task<T> task, Outcome<T>& out) {
    ChildTask child = run_child(std::move(task), out);
    return adopt(child.h);
  }
  NextAwaiter next(Deadline deadline = {}) noexcept { return NextAwaiter(this, deadline); }
  /// Children started and not yet reported by next().
  std::size_t running() const noexcept { return running_; }
  void request_stop() noexcept { source_.request_stop(); }
  bool stop_requested() const noexcept { return source_.stop_requested(); }

 private:
  friend struct ChildPromise;
  friend class NextAwaiter;
  std::size_t adopt(std::coroutine_handle<ChildPromise> h);
  std::size_t reap() noexcept;

  std::stop_source source_;
  std::optional<std::stop_callback<StopLink>> parent_link_;
  std::vector<std::coroutine_handle<ChildPromise>> children_;
  std::vector<std::size_t> finished_;
  std::size_t finished_head_ = 0;
  std::size_t running_ = 0;
  NextAwaiter* waiter_ = nullptr;
};

}  // namespace tether::detail

#pragma GCC visibility pop
