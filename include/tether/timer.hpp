// tether/timer.hpp: waiting for time: a callback Timer, and sleep_for / sleep_until for coroutines.
//
// Timers never fire early: a timer for time T fires in the first timers phase that starts at or
// after T. A timer (re)armed while the timers phase runs, even for "now", waits until the next
// iteration, after the loop has polled for I/O.
// Threads: loop thread only. Ownership: a Timer is owned by its user and must not outlive its
// loop; destroying it (even from its own callback) cancels it. Arming allocates only when the
// callback does not fit std::move_only_function's small buffer.
#pragma once

#include <tether/deadline.hpp>
#include <tether/detail/io_op.hpp>
#include <tether/detail/promise.hpp>
#include <tether/error.hpp>

#include <chrono>
#include <coroutine>
#include <functional>
#include <optional>
#include <stop_token>

#pragma GCC visibility push(default)  // the public API (the shared library hides the rest)

namespace tether {

class EventLoop;

class Timer : private detail::TimerNode {
 public:
  explicit Timer(EventLoop& loop) noexcept;
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  /// Fires `callback` once at `when` (a Deadline: a duration from now, or Deadline::at(tp)).
  /// Re-arming an armed timer moves it and replaces the callback.
  void arm(Deadline when, std::move_only_function<void()> callback);
  /// Re-arms with the callback already set.
  void arm(Deadline when);
  void cancel() noexcept;
  bool armed() const noexcept { return TimerNode::armed(); }
  EventLoop& loop() const noexcept { return *loop_; }

 private:
  static void on_fire(TimerNode& node) noexcept;
  EventLoop* loop_;
  std::move_only_function<void()> callback_;
  bool* destroyed_ = nullptr;  // set while the callback runs, to notice `delete this` from it
};

namespace detail {

struct SleepStop {
  class SleepOp* op;
  void operator()() const noexcept;
};

/// Awaitable of sleep_for / sleep_until: Status, Errc::cancelled when the task's stop is requested.
class SleepOp : private TimerNode, private ReadyNode {
 public:
  SleepOp(EventLoop* loop, Deadline until) noexcept;
  SleepOp(const SleepOp& other) noexcept;
  SleepOp& operator=(const SleepOp&) = delete;
  ~SleepOp();

  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) noexcept {
    return suspend(h, token_of(h));
  }
  [[nodiscard]] Status await_resume() noexcept;

 private:
  friend struct SleepStop;
  bool suspend(std::coroutine_handle<> h, std::stop_token token) noexcept;
  static void on_fire(TimerNode& node) noexcept;
  static void on_ready(ReadyNode& node) noexcept;

  EventLoop* loop_;
  Deadline until_;
  std::coroutine_handle<> waiter_;
  std::error_code ec_;
  std::optional<std::stop_callback<SleepStop>> stop_;
};

}  // namespace detail

/// Suspends the current task for `d` on the loop running this thread.
template <class Rep, class Period>
detail::SleepOp sleep_for(std::chrono::duration<Rep, Period> d) noexcept;
/// Suspends the current task until `when`.
detail::SleepOp sleep_until(Deadline when) noexcept;

template <class Rep, class Period>
detail::SleepOp sleep_for(std::chrono::duration<Rep, Period> d) noexcept {
  return sleep_until(Deadline(d));
}

}  // namespace tether

#pragma GCC visibility pop
