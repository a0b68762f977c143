// tether/task.hpp: Task<T>, a lazy coroutine that produces a T.
//
// A Task does nothing until it is awaited (`co_await std::move(task)` or `co_await f()`), then runs
// on the awaiting coroutine's thread and resumes it when done. A Task is move-only and owns its
// frame: destroying a Task that never ran, or one that is suspended, destroys the frame and
// everything in it (pending operations are withdrawn, streams closed). An exception thrown in the
// task propagates to the awaiter. To run a task without awaiting it, give it to
// EventLoop::spawn(); to run several at once, use when_all / when_any (when.hpp).
//
// Cancellation: each task runs under a std::stop_token, inherited from the task that awaits it
// (or given by with_stop_token, when_all, when_any, with_timeout: when.hpp). Every tether operation awaited inside it
// ends with Errc::cancelled once a stop is requested. Request stops on the loop's thread.
//
// Lifetimes: pass coroutine parameters by value. A lambda that is a coroutine must not capture
// (its captures die with the lambda object while the frame lives on); give it parameters instead.
#pragma once

#include <tether/detail/promise.hpp>

#include <coroutine>
#include <exception>
#include <optional>
#include <stop_token>
#include <type_traits>
#include <utility>
#include <variant>

#pragma GCC visibility push(default)  // the public API (the shared library hides the rest)

namespace tether {

template <class T = void>
class Task;

namespace detail {

template <class T>
struct Promise : PromiseBase {
  std::optional<T> value;

  Task<T> get_return_object() noexcept;
  template <class U = T>
    requires std::is_convertible_v<U&&, T>
  void return_value(U&& v) noexcept(std::is_nothrow_constructible_v<T, U&&>) {
    value.emplace(std::forward<U>(v));
  }
  T take() {
    if (exception) std::rethrow_exception(exception);
    return std::move(*value);
  }
};

template <>
struct Promise<void> : PromiseBase {
  Task<void> get_return_object() noexcept;
  void return_void() const noexcept {}
  void take() const {
    if (exception) std::rethrow_exception(exception);
  }
};

struct TaskAccess;

}  // namespace detail

template <class T>
class [[nodiscard]] Task {
 public:
  using promise_type = detail::Promise<T>;
  using value_type = T;

  Task() noexcept = default;
  Task(Task&& other) noexcept : h_(std::exchange(other.h_, {})) {}
  Task& operator=(Task&& other) noexcept {
    if (this != &other) {
      if (h_) h_.destroy();
      h_ = std::exchange(other.h_, {});
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() {
    if (h_) h_.destroy();
  }

  bool valid() const noexcept { return static_cast<bool>(h_); }

  struct Awaiter {
    std::coroutine_handle<promise_type> h;
    bool await_ready() const noexcept { return false; }
    // Runs the task right here; if it finishes without suspending, the awaiter continues without
    // suspending either (no resume-inside-resume), so long chains of synchronous awaits never
    // deepen the stack, even where the compiler does not turn symmetric transfer into tail calls.
    template <class P>
    bool await_suspend(std::coroutine_handle<P> parent) {
      auto& p = h.promise();
      p.continuation = parent;
      if (!p.token_set) p.stop_token = detail::token_of(parent);
      p.starting = true;
      h.resume();
      if (p.finished_while_starting) return false;
      p.starting = false;
      return true;
    }
    T await_resume() { return h.promise().take(); }
  };
  Awaiter operator co_await() && noexcept { return Awaiter{h_}; }

 private:
  friend struct detail::Promise<T>;
  friend struct detail::TaskAccess;
  explicit Task(std::coroutine_handle<promise_type> h) noexcept : h_(h) {}
  std::coroutine_handle<promise_type> h_;
};

namespace detail {

template <class T>
Task<T> Promise<T>::get_return_object() noexcept {
  return Task<T>(std::coroutine_handle<Promise<T>>::from_promise(*this));
}
inline Task<void> Promise<void>::get_return_object() noexcept {
  return Task<void>(std::coroutine_handle<Promise<void>>::from_promise(*this));
}

/// For the loop and the combinators: the frame behind a Task.
struct TaskAccess {
  template <class T>
  static std::coroutine_handle<Promise<T>> handle(const Task<T>& t) noexcept {
    return t.h_;
  }
  template <class T>
  static std::coroutine_handle<Promise<T>> release(Task<T>& t) noexcept {
    return std::exchange(t.h_, {});
  }
};

/// `void` as a value, for results of Task<void> inside tuples and variants.
template <class T>
using Wrap = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

}  // namespace detail

/// Awaiting this yields the current task's stop token without suspending.
struct current_stop_token {
  std::stop_token token;
  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) noexcept {
    token = detail::token_of(h);
    return false;
  }
  std::stop_token await_resume() noexcept { return std::move(token); }
};

}  // namespace tether

#pragma GCC visibility pop
