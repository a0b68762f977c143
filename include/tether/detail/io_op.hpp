// tether/detail/io_op.hpp: the records that the event loop and its backend exchange.
//
// An operation is SUBMITTED to the loop (IoOp: what to do, on which fd, with which buffer) and later
// COMPLETED with a result; callers never see readiness. That shape fits a readiness backend (epoll:
// wait, then do the system call) and a completion backend (io_uring: the kernel does it) alike.
// The one exception is wait_readable / wait_writable, for callers that make system calls the loop
// has no operation for (splice(2)): readiness after their own call said EAGAIN (io_uring: POLL_ADD).
// All three records are embedded in the object that waits (usually a coroutine frame), so starting
// an operation never allocates. Loop-thread only.
#pragma once

#include <tether/detail/list.hpp>

#include <sys/socket.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <system_error>

#pragma GCC visibility push(default)  // the public API (the shared library hides the rest)

namespace tether::detail {

/// Work for the loop's "ready" phase: a completion to deliver, a task to start, a waiter to wake.
struct ReadyNode : ListHook {
  void (*run)(ReadyNode&) noexcept = nullptr;
};

/// One entry of the loop's timer heap. `fire` runs in the timers phase, never before `at`.
struct TimerNode {
  static constexpr std::size_t npos = std::numeric_limits<std::size_t>::max();
  std::chrono::steady_clock::time_point at{};
  std::uint64_t seq = 0;          ///< arming order: ties fire in that order
  std::size_t heap_index = npos;  ///< position in the heap; npos when not armed
  void (*fire)(TimerNode&) noexcept = nullptr;

  bool armed() const noexcept { return heap_index != npos; }
};

struct FdHandle;  ///< the backend's record for one registered fd (opaque above the backend)

enum class OpKind : std::uint8_t {
  read_some,      ///< recv into data/size
  read_borrowed,  ///< recv into a buffer the backend lends (data/size set on completion)
  write_some,     ///< send data/size once
  write_all,      ///< send data/size completely (progress in `done`)
  accept,         ///< accept4 into addr/addr_len; result is the new fd
  connect,        ///< connect to addr/addr_len
  recv_from,      ///< recvfrom(MSG_TRUNC) into data/size, sender in addr/addr_len
  send_to,        ///< sendto data/size to addr/addr_len
  recv_batch,     ///< recvmmsg into the DatagramBatch at `data` (size: its capacity); result: count
  wait_readable,  ///< no system call: completes (result 0) once the fd is readable again
  wait_writable,  ///< no system call: completes (result 0) once the fd is writable again
};

enum class OpState : std::uint8_t {
  idle,     ///< not submitted, or finished and delivered
  waiting,  ///< held by the backend
  ready,    ///< finished; its completion waits in the loop's ready queue
};

struct IoOp : ReadyNode {
  OpKind kind = OpKind::read_some;
  OpState state = OpState::idle;
  socklen_t addr_len = 0;
  FdHandle* handle = nullptr;
  std::byte* data = nullptr;
  std::size_t size = 0;
  std::size_t done = 0;
  void* addr = nullptr;  ///< sockaddr in (connect, send_to) or out (accept, recv_from), addr_len
  // Result: `ec` when it failed, else `result` (bytes moved, or the accepted fd).
  std::size_t result = 0;
  std::error_code ec;
};

}  // namespace tether::detail

#pragma GCC visibility pop
