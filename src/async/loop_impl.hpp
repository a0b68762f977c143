// src/async/loop_impl.hpp (private): the state behind an EventLoop, shared by the async sources.
#pragma once

#include "async/timer_heap.hpp"
#include "backend/backend.hpp"

#include <tether/detail/io_op.hpp>
#include <tether/detail/list.hpp>
#include <tether/event_loop.hpp>

#include <atomic>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace tether::detail {

struct SignalState;

// Hidden although event_loop.hpp names it: its members stay out of libtether.so's exports.
struct __attribute__((visibility("hidden"))) LoopImpl final : ReadySink {
  explicit LoopImpl(EventLoop& owner);
  ~LoopImpl();
  /// Destroys detached tasks and stops signal delivery (idempotent); the destructor calls it.
  void shutdown() noexcept;

  void schedule(ReadyNode& node) noexcept override { ready.push_back(node); }

  // The phases of one iteration, in order.
  void run_due_timers();
  void poll_io(bool may_block);
  void dispatch_io();
  void run_ready();
  void run_posted();
  void release_closed() noexcept { backend->release_detached(); }

  /// Keeps the first exception of a callback for run()/run_once() to rethrow.
  void keep_exception(std::exception_ptr e) noexcept {
    if (!unhandled) unhandled = std::move(e);
  }

  EventLoop& owner;
  std::unique_ptr<Backend> backend;
  TimerHeap timers;
  HookList ready;
  EventLoop::clock::time_point now;
  std::atomic<std::thread::id> thread;

  std::mutex post_mutex;
  std::vector<std::move_only_function<void()>> posted;  // guarded by post_mutex
  std::vector<std::move_only_function<void()>> posted_running;
  std::atomic<bool> wake_pending{false};
  std::atomic<bool> stop{false};

  HookList spawned;
  std::size_t spawned_count = 0;
  std::exception_ptr unhandled;

  std::unique_ptr<SignalState> signals;
};

}  // namespace tether::detail
