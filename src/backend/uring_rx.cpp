// src/backend/uring_rx.cpp: the io_uring backend's multishot receive (uring_rx.hpp).
#include "backend/uring_rx.hpp"

#include <tether/error.hpp>

#include <sys/utsname.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace tether::detail::uring {

static_assert(sizeof(UringFd) <= 80, "a UringFd per connection counts in the idle memory");

namespace {
// Multishot RECV came with Linux 6.0: older kernels refuse the flag (EINVAL), so they keep the
// one-READ-per-read path instead of failing every read.
bool kernel_has_multishot_recv() noexcept {
  utsname u{};
  if (::uname(&u) != 0) return false;
  int major = 0, minor = 0;
  if (std::sscanf(u.release, "%d.%d", &major, &minor) != 2) return false;
  return major > 6 || (major == 6 && minor >= 0);
}
}  // namespace

Receiver::Receiver(UringRing& ring, Pool<Slot>& slots) noexcept : ring_(ring), slots_(slots) {
  const char* e = std::getenv("TETHER_URING_RECV");
  enabled_ = !(e != nullptr && std::strcmp(e, "single") == 0) && kernel_has_multishot_recv();
  ready_.reserve(256);
  spare_.reserve(256);
  lent_.reserve(256);
}

bool Receiver::start(UringFd& f, IoOp& op) noexcept {
  f.rx_mode = true;
  if (queued(f) && f.waiters[0].empty() && f.streak < inline_budget) {
    int lent = -1;
    take(f, op, lent);
    if (lent >= 0) lent_.push_back(static_cast<unsigned>(lent));
    ++f.streak;
    op.state = OpState::idle;
    return true;
  }
  op.state = OpState::waiting;
  f.waiters[0].push_back(op);
  if (queued(f)) {
    if (!f.rx_listed) {
      f.rx_listed = true;
      ++f.slots;  // keeps the record alive while listed
      ready_.push_back(&f);
    }
  } else if (f.rx == nullptr) {
    arm(f);
  }
  return false;
}

void Receiver::arm(UringFd& f) noexcept {
  Slot* s = slots_.get();
  s->op = nullptr;
  s->fd = &f;
  s->kind = OpKind::read_borrowed;
  s->dir = 0;
  s->used = true;
  s->awaited = s->spent = s->queued = s->polling = false;
  s->cqe_flags = 0;
  s->multishot = true;
  ++f.slots;
  f.rx = s;
  ring_.issue_rx(*s);
}

void Receiver::take(UringFd& f, IoOp& op, int& lent) noexcept {
  RxPool& pool = ring_.rx_pool();
  RxEntry& e = pool.front(f);
  bool pop = true;
  if (e.res < 0) {
    op.ec = errno_code(-e.res);
  } else if (e.res == 0) {  // end of stream
    op.result = 0;
    if (op.kind == OpKind::read_borrowed) op.data = nullptr;
  } else if (op.kind == OpKind::read_borrowed) {
    op.data = ring_.buffers().buffer(e.id) + e.off;
    op.size = UringBuffers::size;
    op.result = static_cast<std::size_t>(e.res);
    lent = e.id;
  } else {  // a plain read copies, and may take part of the entry
    const std::size_t n = std::min(static_cast<std::size_t>(e.res), op.size);
    std::memcpy(op.data, ring_.buffers().buffer(e.id) + e.off, n);
    op.result = n;
    e.off = static_cast<std::uint16_t>(e.off + n);
    e.res -= static_cast<int>(n);
    pop = e.res == 0;
    if (pop) ring_.buffers().give_back(e.id);
  }
  if (pop) pool.pop(f);
}

void Receiver::deliver(UringFd& f) noexcept {
  while (!f.closed && queued(f) && !f.waiters[0].empty()) {
    IoOp& op = op_of(f.waiters[0].front());
    op.unlink();
    int lent = -1;
    take(f, op, lent);
    op.state = OpState::idle;
    f.streak = 0;  // it went through the loop: the fd had its turn
    op.run(op);
    if (lent >= 0) ring_.buffers().give_back(static_cast<unsigned>(lent));  // reader suspended
  }
  if (f.closed) return;
  if (!queued(f) && !f.waiters[0].empty() && f.rx == nullptr) arm(f);
  if (f.rx != nullptr && !f.rx->cancel_sent && f.rx_count >= stop_at) {
    ++ring_.stats().rx_stops;  // nobody reads: stop receiving until the queue is empty
    ring_.cancel_async(*f.rx);
  }
}

void Receiver::complete(Slot& s) noexcept {
  s.queued = false;
  UringFd& f = *s.fd;
  if (s.reaped) {  // the kernel ended the request (ENOBUFS, end of stream, error, our cancel)
    if (f.rx == &s) f.rx = nullptr;
    release(s);
  }
  if (f.closed) {
    reset(f);
    return;
  }
  deliver(f);
}

void Receiver::dispatch() noexcept {
  for (unsigned id : lent_) ring_.buffers().give_back(id);
  lent_.clear();
  if (ready_.empty()) return;
  spare_.swap(ready_);
  for (UringFd* f : spare_) {
    f->rx_listed = false;
    --f->slots;
    if (!f->closed) deliver(*f);
  }
  spare_.clear();
}

void Receiver::detach(UringFd& f) noexcept {
  if (Slot* s = f.rx) {
    if (!s->reaped) ring_.cancel_and_wait(&s, 1);
    f.rx = nullptr;
    if (!s->queued) release(*s);  // else complete() meets it and releases it
  }
  reset(f);
}

void Receiver::reset(UringFd& f) noexcept {
  RxPool& pool = ring_.rx_pool();
  while (f.rx_count > 0) {
    if (pool.front(f).id != RxEntry::no_buffer) ring_.buffers().give_back(pool.front(f).id);
    pool.pop(f);
  }
}

void Receiver::release(Slot& s) noexcept {
  --s.fd->slots;
  s.used = false;
  s.multishot = false;
  s.op = nullptr;
  slots_.put(&s);
}

}  // namespace tether::detail::uring
