// tether/detail/promise.hpp: what every tether coroutine's promise carries.
//
// A promise knows who awaits it (continuation), the stop token it runs under (inherited from the
// awaiting task unless set explicitly), and the exception it ended with. A task spawned on a loop
// is also linked into that loop's list of detached tasks (SpawnLink), so the loop can destroy the
// ones still suspended when it is destroyed: none leaks.
#pragma once

#include <tether/detail/io_op.hpp>
#include <tether/detail/list.hpp>

#include <coroutine>
#include <exception>
#include <stop_token>
#include <type_traits>

#pragma GCC visibility push(default)  // the public API (the shared library hides the rest)

namespace tether {
class EventLoop;
}

namespace tether::detail {

struct SpawnLink : ListHook {};

struct PromiseBase : ReadyNode, SpawnLink {
  std::coroutine_handle<> continuation;
  std::coroutine_handle<> self;   ///< set when spawned: the loop destroys the frame through it
  EventLoop* detached_in = nullptr;
  std::stop_token stop_token;
  std::exception_ptr exception;
  bool token_set = false;         ///< stop_token was given explicitly: do not inherit one
  bool starting = false;          ///< the awaiter is still inside its first resume() of this task
  bool finished_while_starting = false;

  std::suspend_always initial_suspend() const noexcept { return {}; }
  void unhandled_exception() noexcept { exception = std::current_exception(); }

  struct FinalAwaiter {
    bool await_ready() const noexcept { return false; }
    template <class P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) noexcept {
      PromiseBase& p = h.promise();
      if (p.continuation) {
        if (p.starting) {  // finished synchronously: the awaiter simply continues
          p.finished_while_starting = true;
          return std::noop_coroutine();
        }
        return p.continuation;
      }
      if (p.detached_in != nullptr) finish_detached(p);  // destroys the frame
      return std::noop_coroutine();
    }
    void await_resume() const noexcept {}
  };
  FinalAwaiter final_suspend() const noexcept { return {}; }

  /// Unlinks a finished detached task from its loop, hands its exception to the loop (run()
  /// rethrows it) and destroys its frame.
  static void finish_detached(PromiseBase& p) noexcept;
};

/// The stop token of the awaiting coroutine, or none if it is not a tether task.
template <class P>
std::stop_token token_of(std::coroutine_handle<P> h) noexcept {
  if constexpr (std::is_base_of_v<PromiseBase, P>) {
    return h.promise().stop_token;
  } else {
    return {};
  }
}

}  // namespace tether::detail

#pragma GCC visibility pop
