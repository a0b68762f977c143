// src/backend/uring_rx.hpp (private): the io_uring backend's multishot receive.
//
// Once a borrowed read starts on an fd, its reads (borrowed, and plain ones after them, so bytes
// keep their order) are served by ONE multishot IORING_OP_RECV with buffer select from the
// provided buffer ring: the request stays in the kernel and posts a completion per receive, with
// no submission per message. Completions that arrive while no reader waits queue on the fd
// (in the ring's RxPool, linked from the UringFd) and a later read takes them at once. The request is armed when a reader waits
// and the queue is empty, and again after a completion without IORING_CQE_F_MORE (the kernel
// ended it: no buffer left, an error, end of stream). Memory stays bounded: when a fd holds
// `stop_at` unread completions (a slow reader, or one parked by backpressure) the request is
// cancelled, so it holds at most that many buffers plus what was in flight; it is armed again
// once a reader has emptied the queue. The kernel writes only into provided buffers, so a
// reader that is cancelled or abandoned leaves the request alone: nothing waits for the kernel
// except detach (the fd closes).
// TETHER_URING_RECV=single turns it off (one READ per borrowed read, as before); so does a kernel
// that refuses the request (EINVAL, before Linux 6.0).
// Loop-thread only.
#pragma once

#include "backend/backend.hpp"
#include "backend/uring_ring.hpp"

#include <vector>

namespace tether::detail::uring {

class Receiver {
 public:
  /// Unread completions per fd at which its request is stopped.
  static constexpr std::size_t stop_at = 8;
  /// Reads one fd may finish inside start() in a row from its queue before one goes through the
  /// loop (as the backends' inline writes).
  static constexpr std::uint8_t inline_budget = 16;

  Receiver(UringRing& ring, Pool<Slot>& slots) noexcept;

  bool enabled() const noexcept { return enabled_; }
  /// True when `op` (a read on `f`) goes through the multishot receive.
  bool handles(const UringFd& f, const IoOp& op) const noexcept {
    return enabled_ && f.inflight[0] == nullptr &&
           (op.kind == OpKind::read_borrowed || (f.rx_mode && op.kind == OpKind::read_some));
  }
  /// Starts a read that handles() accepted: true when it finished at once from the queue.
  bool start(UringFd& f, IoOp& op) noexcept;
  /// A completion of a multishot request (reaped by the ring): hands queued data to waiting
  /// readers (op.run inline), ends the request after its last CQE, arms a new one for readers
  /// that still wait, stops it when the queue is full.
  void complete(Slot& s) noexcept;
  /// Delivers to fds whose readers waited while their queue held data (the inline budget ran out).
  void dispatch() noexcept;
  bool has_ready() const noexcept { return !ready_.empty(); }
  /// The fd is being detached: stops its request and waits for it, drops its queue.
  void detach(UringFd& f) noexcept;
  /// Drops the fd's queue (the loop goes away, or the fd was reused).
  void reset(UringFd& f) noexcept;

 private:
  void arm(UringFd& f) noexcept;
  /// Hands the front queued completion (or part of it) to `op`; the buffer goes back once the
  /// reader has suspended again (at once for a plain read, which copies).
  void take(UringFd& f, IoOp& op, int& lent) noexcept;
  void deliver(UringFd& f) noexcept;
  void release(Slot& s) noexcept;
  static bool queued(const UringFd& f) noexcept { return f.rx_count > 0; }

  UringRing& ring_;
  Pool<Slot>& slots_;
  bool enabled_ = true;
  std::vector<UringFd*> ready_;    ///< fds with queued data and a waiting reader
  std::vector<UringFd*> spare_;
  std::vector<unsigned> lent_;     ///< buffers taken inline: given back at the next dispatch
};

}  // namespace tether::detail::uring
