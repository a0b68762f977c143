// tether/detail/op.hpp: the common part of every awaitable I/O operation.
//
// OpBase submits its IoOp when the awaiting coroutine suspends (it never suspends when the
// operation can finish at once), arms a timer for its Deadline, registers with the awaiting task's
// stop token, and undoes all three when it completes or when its frame is destroyed while it
// waits. Derived awaiters only fill the IoOp's arguments and turn its result into a Result<T>.
// Loop-thread only. An OpBase may be moved before it is awaited (with_timeout does), not after.
#pragma once

#include <tether/deadline.hpp>
#include <tether/detail/io_op.hpp>
#include <tether/detail/promise.hpp>

#include <coroutine>
#include <optional>
#include <stop_token>
#include <system_error>

#pragma GCC visibility push(default)  // the public API (the shared library hides the rest)

namespace tether {
class EventLoop;
}

namespace tether::detail {

class OpBase;

struct OpStop {
  OpBase* op;
  void operator()() const noexcept;
};

class OpBase : protected IoOp, protected TimerNode {
 public:
  OpBase(const OpBase& other) noexcept;
  OpBase& operator=(const OpBase&) = delete;
  ~OpBase();

  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) noexcept {
    return suspend(h, token_of(h));
  }

 protected:
  OpBase(EventLoop* loop, FdHandle* handle, OpKind kind, Deadline deadline) noexcept;
  /// Releases the timer and the stop registration; call first in await_resume.
  void finish() noexcept;
  /// Sets an error before the operation starts: await_suspend then completes at once with it.
  void preset_error(std::error_code e) noexcept { ec = e; }
  EventLoop* loop() const noexcept { return loop_; }
  /// Starts the operation for `h`; false when it finished at once (h is not suspended).
  bool suspend(std::coroutine_handle<> h, std::stop_token token) noexcept;
  /// The completion (IoOp::run) every operation uses: resumes the waiter.
  static void on_complete(ReadyNode& node) noexcept;

 private:
  friend struct OpStop;
  void cancel_with(std::error_code e) noexcept;
  static void on_deadline(TimerNode& node) noexcept;

  EventLoop* loop_;
  std::coroutine_handle<> waiter_;
  std::optional<std::stop_callback<OpStop>> stop_;
};

}  // namespace tether::detail

#pragma GCC visibility pop
