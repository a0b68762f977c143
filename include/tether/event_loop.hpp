// tether/event_loop.hpp: one thread's event loop: I/O operations, timers, posted work, signals
// and the coroutines that use them.
//
// One iteration (run_once) runs these phases in order (docs/design.md, "Asynchronous layer"):
//   1. poll     wait for I/O: not at all when work is queued, else until the next timer is due
//   2. dispatch complete the operations that I/O made possible (resumes their coroutines)
//   3. timers   fire the timers that are due (never early; a timer armed while this phase runs,
//               even for "now", waits for the next iteration, so a 0 ms timer re-armed from its
//               own callback cannot starve I/O)
//   4. ready    deliver queued completions (cancellations, timeouts), start spawned tasks
//   5. posted   run the functions other threads post()ed
//   6. closes   free the records of fds closed during this iteration
//
// Threads: a loop belongs to the thread that runs it. post(), stop() and stop_requested() may be
// called from any thread; everything else, and every object attached to the loop (streams,
// timers, tasks), is used on the loop's thread only. A std::stop_source whose token tether tasks
// observe must be stopped on that thread too (post() the request_stop() from elsewhere).
// Ownership: the loop owns spawned tasks until they finish; destroying the loop destroys the ones
// still suspended (their pending operations are withdrawn). Objects attached to a loop (streams,
// listeners, timers) must be destroyed before it.
// Backend: epoll, or io_uring with TETHER_BACKEND=io_uring in the environment (epoll again, with a
// notice on stderr, where the kernel refuses io_uring); see backend_name().
// Errors: the constructor throws std::system_error when the kernel refuses an epoll instance or an
// eventfd (out of file descriptors); nothing else in the loop throws on an I/O error. An exception
// escaping a detached task, a timer callback or posted function is rethrown by run()/run_once().
#pragma once

#include <tether/error.hpp>
#include <tether/task.hpp>

#include <atomic>
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <utility>

#pragma GCC visibility push(default)  // the public API (the shared library hides the rest)

namespace tether {

namespace detail {
struct __attribute__((visibility("hidden"))) LoopImpl;  // private to the library
LoopImpl& impl_of(EventLoop& loop) noexcept;
}  // namespace detail

class EventLoop {
 public:
  using clock = std::chrono::steady_clock;

  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  /// Runs iterations until stop() is called (then clears the stop request and returns).
  void run();
  /// Runs iterations until `task` completes, and returns its value (or rethrows its exception).
  /// Throws std::runtime_error if stop() ends the run first (the task is then destroyed).
  template <class T>
  T run(Task<T> task);
  /// One iteration. `may_block` false: poll without waiting. Returns false once stop() was called.
  bool run_once(bool may_block = true);

  /// Any thread: the current or next iteration is the last of run().
  void stop() noexcept;
  bool stop_requested() const noexcept;

  /// Any thread: runs `fn` on the loop's thread in the posted phase. Never lost: a loop blocked
  /// in poll wakes up. Functions still queued when the loop is destroyed are destroyed unrun.
  void post(std::move_only_function<void()> fn);

  /// Loop thread: runs `task` detached; it starts in the ready phase of this or the next
  /// iteration. The loop destroys it when it finishes, or when the loop is destroyed.
  template <class T>
  void spawn(Task<T> task) {
    auto h = detail::TaskAccess::release(task);
    spawn_frame(h, h.promise());
  }
  /// Detached tasks not yet finished.
  std::size_t spawned_count() const noexcept;

  /// Delivers `signals` (e.g. SIGINT, SIGTERM) through the loop: blocks them in the calling
  /// thread (threads started afterwards inherit the mask) and calls `handler(signo)` in the
  /// dispatch phase. Call before starting other threads. A second call replaces the first.
  [[nodiscard]] Status handle_signals(std::initializer_list<int> signals,
                        std::move_only_function<void(int)> handler);

  /// The I/O mechanism under this loop: "epoll" (the default) or "io_uring" (chosen with the
  /// environment variable TETHER_BACKEND=io_uring where the kernel allows it).
  std::string_view backend_name() const noexcept;

  /// The time read at the start of this iteration's phases (cheap; use for activity stamps).
  clock::time_point now() const noexcept;
  bool in_loop_thread() const noexcept;
  /// The loop running on this thread, or nullptr.
  static EventLoop* current() noexcept;

 private:
  friend detail::LoopImpl& detail::impl_of(EventLoop& loop) noexcept;
  void spawn_frame(std::coroutine_handle<> h, detail::PromiseBase& p);
  void start_frame(std::coroutine_handle<> h, detail::PromiseBase& p);
  void clear_stop() noexcept;

  std::unique_ptr<detail::LoopImpl> impl_;
};

namespace detail {

template <class T>
struct BlockOnState {
  std::optional<Wrap<T>> value;
  std::exception_ptr error;
  bool done = false;
};

template <class T>
Task<void> block_on_root(Task<T> task, BlockOnState<T>& state) {
  try {
    if constexpr (std::is_void_v<T>) {
      co_await std::move(task);
      state.value.emplace();
    } else {
      state.value.emplace(co_await std::move(task));
    }
  } catch (...) {
    state.error = std::current_exception();
  }
  state.done = true;
}

}  // namespace detail

template <class T>
T EventLoop::run(Task<T> task) {
  detail::BlockOnState<T> state;
  Task<void> root = detail::block_on_root(std::move(task), state);
  auto h = detail::TaskAccess::handle(root);
  start_frame(h, h.promise());
  while (!state.done && run_once()) {
  }
  clear_stop();
  if (!state.done) {
    throw std::runtime_error("tether::EventLoop::run: stopped before the task completed");
  }
  if (state.error) std::rethrow_exception(state.error);
  if constexpr (!std::is_void_v<T>) return std::move(*state.value);
}

}  // namespace tether

#pragma GCC visibility pop
