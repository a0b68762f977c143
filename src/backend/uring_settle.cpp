// src/backend/uring_settle.cpp: the io_uring backend's results and inline calls
// (uring_settle.hpp says what each does; io_uring.cpp decides what follows).
#include "backend/uring_settle.hpp"

#include "datagram_batch_io.hpp"

#include <tether/error.hpp>

#include <sys/socket.h>

#include <cerrno>
#include <cstddef>

namespace tether::detail::uring {

// A write is tried at once with send(MSG_DONTWAIT), as epoll does: the socket nearly always has
// room, and a send() costs less than a trip through the ring (measured: docs/design.md). True:
// finished (result or ec set). False: the socket is full; what is left goes to the kernel.
bool write_now(UringRing& ring, UringFd& f, IoOp& op) noexcept {
  for (;;) {
    ssize_t n;
    ++ring.stats().sends;
    if (op.kind == OpKind::send_to) {
      n = ::sendto(f.fd, op.data, op.size, MSG_DONTWAIT | MSG_NOSIGNAL,
                   static_cast<const sockaddr*>(op.addr), op.addr_len);
    } else {
      n = ::send(f.fd, op.data + op.done, op.size - op.done, MSG_DONTWAIT | MSG_NOSIGNAL);
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
    if (n < 0) {
      op.ec = errno_code(errno);
    } else if (op.kind == OpKind::write_all) {
      op.done += static_cast<std::size_t>(n);
      if (op.done < op.size) return false;  // partial: the send buffer is full
      op.result = op.size;
    } else {
      op.result = static_cast<std::size_t>(n);
    }
    ++f.streak;
    op.unlink();
    op.state = OpState::idle;
    return true;
  }
}

// One recvmmsg(MSG_DONTWAIT) for a batch receive: at once in start(), and again each time its
// poll reports the socket readable. True: finished (result or ec set). False: nothing queued.
bool take_batch(UringRing& ring, int fd, IoOp& op) noexcept {
  ++ring.stats().other_syscalls;
  auto got = try_recv_batch(fd, *reinterpret_cast<DatagramBatch*>(op.data));
  if (got && *got == 0) return false;
  if (got) {
    op.result = *got;
  } else {
    op.ec = got.error();
  }
  return true;
}

// Turns the CQE in `s` into op's result or error; `again`/`poll_first`: not finished yet.
Outcome settle(UringRing& ring, Slot& s, IoOp& op) noexcept {
  const int res = s.res;
  if (s.polling && s.kind == OpKind::recv_batch && res >= 0) {
    // Nothing there after all (taken by someone else): poll again.
    return take_batch(ring, s.fd->fd, op) ? Outcome::done : Outcome::poll_first;
  }
  if (s.polling && is_wait(s.kind) && res >= 0) {
    op.result = 0;  // ready: the caller makes its own call
    return Outcome::done;
  }
  if (s.polling) {
    if (res >= 0) return Outcome::again;  // the fd is ready: now the operation itself
  } else if (res == -EAGAIN && s.kind != OpKind::connect) {
    return Outcome::poll_first;  // a kernel that honours O_NONBLOCK: wait for readiness
  } else if (res == -EINTR || (res == -ENOBUFS && s.kind == OpKind::read_borrowed)) {
    if (res == -ENOBUFS) ++ring.stats().enobufs;
    return Outcome::again;  // interrupted, or every lent buffer is in use (given back soon)
  }
  if (res < 0) {
    op.ec = errno_code(-res);
    return Outcome::done;
  }
  const auto n = static_cast<std::size_t>(res);
  switch (s.kind) {
    case OpKind::read_borrowed:
      op.data =
          (s.cqe_flags & IORING_CQE_F_BUFFER) ? ring.buffers().buffer(buffer_id(s)) : nullptr;
      op.size = UringBuffers::size;
      break;
    case OpKind::write_all:
      op.done += n;
      if (op.done < op.size) return Outcome::again;  // partial: the rest
      op.result = op.size;
      return Outcome::done;
    case OpKind::accept:
      op.addr_len = s.addr_len;
      break;
    case OpKind::connect:
      op.result = 0;
      return Outcome::done;
    case OpKind::recv_from:
      op.addr_len = s.parts->msg.msg_namelen;
      break;
    default:
      break;
  }
  op.result = n;
  return Outcome::done;
}

}  // namespace tether::detail::uring
