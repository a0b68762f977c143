// src/backend/backend.hpp (private): the interface every I/O mechanism implements.
//
// The loop submits operations (IoOp) and receives completions; it never sees readiness. A backend
// for epoll does the system call when the fd is ready; the io_uring backend hands the same IoOp to
// the kernel. One file per mechanism (epoll.cpp, io_uring.cpp); make_backend() chooses, in one
// place (select.cpp).
// Threads: everything runs on the loop thread except wake().
#pragma once

#include <tether/detail/io_op.hpp>
#include <tether/error.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <span>

namespace tether::detail {

/// Where a backend puts completions it cannot deliver inline (cancellations): the loop's ready
/// queue, drained in the ready phase of the same iteration.
class ReadySink {
 public:
  virtual void schedule(ReadyNode& node) noexcept = 0;

  /// Ends `op` with `ec` through the ready queue (a cancellation, a close).
  void complete_later(IoOp& op, std::error_code ec) noexcept {
    op.ec = ec;
    op.state = OpState::ready;
    schedule(op);
  }

 protected:
  ~ReadySink() = default;
};

class Backend {
 public:
  virtual ~Backend() = default;

  /// "epoll" or "io_uring".
  virtual const char* name() const noexcept = 0;

  /// Registers an fd (any socket or eventfd-like fd). The handle lives until release_detached()
  /// runs after detach().
  virtual Result<FdHandle*> attach(int fd) = 0;
  /// Ends every operation on the handle with `ec` (delivered through the ready queue) and
  /// unregisters the fd. The caller closes the fd afterwards.
  virtual void detach(FdHandle* handle, std::error_code ec) noexcept = 0;
  /// Ends every operation on the handle with `ec`; the fd stays registered.
  virtual void cancel_all(FdHandle* handle, std::error_code ec) noexcept = 0;

  /// Starts `op`. True: it finished at once (result or ec set, no completion follows). False: it
  /// is waiting; its completion (op.run) comes later from dispatch() or the ready queue.
  virtual bool start(IoOp& op) noexcept = 0;
  /// Ends a waiting op with `ec`; the completion goes through the ready queue.
  virtual void cancel(IoOp& op, std::error_code ec) noexcept = 0;
  /// Forgets a waiting op without completing it (its owner is being destroyed, or stops it). When
  /// it returns nothing touches the op or its buffer any more; a write_all's `done` still counts
  /// the bytes written before.
  virtual void abandon(IoOp& op) noexcept = 0;

  /// Waits for events for at most `timeout` (negative: without limit) or until wake().
  virtual void poll(std::chrono::nanoseconds timeout) = 0;
  /// Completes the operations that the last poll() made possible, calling op.run inline.
  virtual void dispatch() = 0;
  /// True when some operations must be retried without waiting (poll() must not block).
  virtual bool has_deferred() const noexcept = 0;
  /// Any thread: makes a blocked poll() return.
  virtual void wake() noexcept = 0;
  /// Frees the handles detached so far: after dispatch() no stale event can name them.
  virtual void release_detached() noexcept = 0;

  /// The buffer lent to read_borrowed operations: valid until the reader's next suspension.
  virtual std::span<std::byte> borrow_buffer() noexcept = 0;

  /// True when stream writes (write_some, write_all) go to the kernel with the next poll()
  /// instead of being tried at once: their start() returns false and they complete later, so a
  /// caller must not hold one on its stack (Connection::send buffers the bytes instead).
  virtual bool writes_complete_later() const noexcept { return false; }
};

/// The backend for this process: epoll, or io_uring when TETHER_BACKEND=io_uring asks for it and
/// the kernel allows it (else epoll, with a one-line notice on stderr).
std::unique_ptr<Backend> make_backend(ReadySink& sink);

/// Operations that wait for the fd to become readable (the others wait for it to be writable).
inline bool is_read(OpKind k) noexcept {
  return k == OpKind::read_some || k == OpKind::read_borrowed || k == OpKind::accept ||
         k == OpKind::recv_from || k == OpKind::recv_batch || k == OpKind::wait_readable;
}

/// Readiness waits (a caller that does its own system calls, e.g. splice(2), and saw EAGAIN).
inline bool is_wait(OpKind k) noexcept { return k == OpKind::wait_readable || k == OpKind::wait_writable; }

/// The operation whose list hook this is (backends keep waiting operations in HookLists).
inline IoOp& op_of(ListHook* h) noexcept {
  return static_cast<IoOp&>(static_cast<ReadyNode&>(*h));
}

}  // namespace tether::detail
