// src/backend/uring_settle.hpp (private): the io_uring backend's results (io_uring.cpp drives).
//
// settle() turns the CQE of a one-shot request (Slot: uring_ring.hpp) into its operation's result
// or error, or says that it is not finished; write_now() and take_batch() are the calls made
// outside the ring: an inline send() as epoll makes, and recvmmsg for a batch receive (no opcode
// does it). They touch only the op, the slot, the fd and the ring's buffers and counters: what
// the op does next (resume, issue again, queue) stays with the backend.
// Loop-thread only.
#pragma once

#include "backend/backend.hpp"
#include "backend/uring_ring.hpp"

namespace tether::detail::uring {

/// What a completion means for its operation: finished (result or ec set), not finished (issue
/// the operation itself again), or not ready (wait for readiness first).
enum class Outcome { done, again, poll_first };

/// Turns the CQE in `s` into op's result or error; `again`/`poll_first`: not finished yet.
Outcome settle(UringRing& ring, Slot& s, IoOp& op) noexcept;

/// A write tried at once with send(MSG_DONTWAIT). True: finished (result or ec set; op unlinked
/// and idle, the fd's streak counted). False: the socket is full; what is left goes to the kernel.
bool write_now(UringRing& ring, UringFd& f, IoOp& op) noexcept;

/// One recvmmsg(MSG_DONTWAIT) for a batch receive. True: finished (result or ec set). False:
/// nothing queued.
bool take_batch(UringRing& ring, int fd, IoOp& op) noexcept;

/// The provided buffer a completion names (valid when IORING_CQE_F_BUFFER is set).
inline unsigned buffer_id(const Slot& s) noexcept { return s.cqe_flags >> IORING_CQE_BUFFER_SHIFT; }

/// True when the completion of `s` still holds a provided buffer that must go back.
inline bool has_buffer(const Slot& s) noexcept {
  return !s.spent && !s.polling && (s.cqe_flags & IORING_CQE_F_BUFFER);
}

}  // namespace tether::detail::uring
