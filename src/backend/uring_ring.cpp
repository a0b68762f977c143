// src/backend/uring_ring.cpp: UringRing, the submission and completion queues of the io_uring
// backend (uring_ring.hpp).
#include "backend/uring_ring.hpp"

#include <tether/error.hpp>

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace tether::detail::uring {

namespace {

constexpr std::uint64_t ignore_tag = 0;  // cancel requests: their own CQE carries nothing
constexpr std::uint64_t wake_tag = 1;
constexpr unsigned sq_entries = 1024;
constexpr unsigned cq_entries = 8192;
constexpr unsigned max_io = 1U << 30;

unsigned clamp(std::size_t n) noexcept { return n > max_io ? max_io : static_cast<unsigned>(n); }
std::uint64_t tag(Slot* s) noexcept { return reinterpret_cast<std::uintptr_t>(s); }

// The kernel refused to take or finish a cancel: continuing could let it write into freed memory.
[[noreturn]] void fatal(const char* what, int err) noexcept {
  std::fprintf(stderr, "tether: io_uring backend: %s: %s\n", what, std::strerror(err));
  std::abort();
}

bool transient(int r) noexcept { return r == -EINTR || r == -EAGAIN || r == -EBUSY || r == -ETIME; }

}  // namespace

const char* UringRing::init(std::string& why) {
  // TETHER_URING_SETUP=defer: one submitter thread, and completions run only when that thread
  // enters (SINGLE_ISSUER | DEFER_TASKRUN, Linux 6.1). Created disabled: the loop's thread, often
  // not the one that builds the loop, enables it on its first enter (ensure_enabled). Opt-in:
  // such a ring cannot be entered by any other thread, so a loop destroyed by another thread than
  // the one that ran it (tether listen's worker loops, AsyncUdpSocket owners) could not cancel
  // its requests; and it measured no faster here (docs/design.md, bench/results/uring.md).
  io_uring_params p{};
  const char* setup = std::getenv("TETHER_URING_SETUP");
  int r = -EINVAL;
  if (setup != nullptr && std::strcmp(setup, "defer") == 0) {
    p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER |
              IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_R_DISABLED;
    p.cq_entries = cq_entries;
    r = io_uring_queue_init_params(sq_entries, &ring_, &p);
    if (r == 0) single_issuer_ = true, enabled_ = false;
  }
  if (r == -EINVAL) {  // the default, or a kernel before 6.1
    p = io_uring_params{};
    p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN;
    p.cq_entries = cq_entries;
    r = io_uring_queue_init_params(sq_entries, &ring_, &p);
  }
  if (r == -EINVAL) {  // a kernel before 5.19 lacks the last two flags
    p = io_uring_params{};
    p.flags = IORING_SETUP_CQSIZE;
    p.cq_entries = cq_entries;
    r = io_uring_queue_init_params(sq_entries, &ring_, &p);
  }
  if (r < 0) {
    why = std::strerror(-r);
    return "io_uring_queue_init";
  }
  have_ring_ = true;
  if (!(p.features & IORING_FEAT_NODROP) || !(p.features & IORING_FEAT_EXT_ARG)) {
    return "kernel too old (needs IORING_FEAT_NODROP and EXT_ARG, Linux 5.11)";
  }
  io_uring_probe* probe = io_uring_get_probe_ring(&ring_);
  if (probe == nullptr) return "kernel too old (no opcode probe, Linux 5.6)";
  bool all = true;
  for (int code :
       {IORING_OP_READ, IORING_OP_SEND, IORING_OP_ACCEPT, IORING_OP_CONNECT, IORING_OP_RECVMSG,
        IORING_OP_SENDMSG, IORING_OP_ASYNC_CANCEL, IORING_OP_POLL_ADD}) {
    all = all && io_uring_opcode_supported(probe, code);
  }
  io_uring_free_probe(probe);
  if (!all) return "kernel lacks an opcode (READ, SEND, ACCEPT, CONNECT, RECVMSG, SENDMSG...)";
  if (int e = buffers_.init(ring_); e < 0) {
    why = std::strerror(-e);
    return "provided buffer ring (Linux 5.19)";
  }
  wakefd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wakefd_ < 0) {
    why = std::strerror(errno);
    return "eventfd";
  }
  arm_wake();
  return nullptr;
}

bool UringRing::ensure_enabled() noexcept {
  if (enabled_) return !single_issuer_ || static_cast<int>(::gettid()) == issuer_tid_;
  // io_uring_enable_rings is declared by liburing 2.3 but not exported: the system call itself.
  if (::syscall(__NR_io_uring_register, ring_.ring_fd, IORING_REGISTER_ENABLE_RINGS, nullptr, 0) <
      0) {
    fatal("enabling the ring", errno);
  }
  enabled_ = true;
  issuer_tid_ = static_cast<int>(::gettid());
  // The ring fd registered in this thread: io_uring_enter skips the fd table lookup. Only for a
  // single-issuer ring: a registered index is valid in the registering thread alone.
  (void)io_uring_register_ring_fd(&ring_);
  return true;
}

int UringRing::enter_submit() noexcept {
  ++stats_.enters;
  return io_uring_submit(&ring_);
}

void UringRing::cancel_everything(Pool<Slot>& slots) noexcept {
  shutting_down_ = true;
  if (!have_ring_ || in_kernel_ == 0) return;
  // Another thread owns this ring (a loop run on a worker thread, destroyed by the main one):
  // this thread may not enter it. io_uring_queue_exit cancels what is left; the destructor keeps
  // the buffers mapped in case the kernel is slow to let go of them.
  if (!ensure_enabled()) return;
  cancel_request(wake_tag);
  slots.for_each([&](Slot& s) {
    if (s.used && !s.reaped) cancel_request(tag(&s));
  });
  for (int round = 0; in_kernel_ > 0 && round < 100; ++round) {
    __kernel_timespec ts{0, 10'000'000};
    io_uring_cqe* cqe = nullptr;
    buffers_.publish();
    ++stats_.enters;
    io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
    reap();
  }
}

UringRing::~UringRing() {
  if (!have_ring_) return;
  if (const char* e = std::getenv("TETHER_URING_STATS"); e != nullptr && *e == '1') print_stats();
  if (in_kernel_ == 0) {
    buffers_.unregister(ring_);
  } else {
    buffers_.leak();  // a request would not end: better a leak than writes into freed memory
  }
  io_uring_queue_exit(&ring_);
  if (wakefd_ >= 0) ::close(wakefd_);
}

io_uring_sqe* UringRing::next_sqe() noexcept {
  for (int attempt = 0;; ++attempt) {
    if (io_uring_sqe* sqe = io_uring_get_sqe(&ring_)) return sqe;
    (void)ensure_enabled();
    buffers_.publish();
    int r = enter_submit();  // the queue is full: hand it to the kernel
    if (r < 0 && !transient(r)) fatal("io_uring_submit", -r);
    if (r < 0) reap();
    if (attempt > 1000) fatal("no submission slot", EBUSY);
  }
}

void UringRing::cancel_request(std::uint64_t target) noexcept {
  io_uring_sqe* sqe = next_sqe();
  io_uring_prep_cancel64(sqe, target, 0);
  io_uring_sqe_set_data64(sqe, ignore_tag);
}

void UringRing::arm_wake() noexcept {
  rearm_wake_ = false;
  io_uring_sqe* sqe = next_sqe();
  if (wake_by_poll_) {
    io_uring_prep_poll_add(sqe, wakefd_, POLLIN);
  } else {
    io_uring_prep_read(sqe, wakefd_, &wake_value_, sizeof wake_value_, 0);
  }
  io_uring_sqe_set_data64(sqe, wake_tag);
  ++in_kernel_;
}

void UringRing::on_wake(int res) noexcept {
  if (res == -EAGAIN) {
    wake_by_poll_ = true;  // an old kernel that returns EAGAIN for a non-blocking eventfd
  } else if (wake_by_poll_) {
    ++stats_.other_syscalls;
    (void)::read(wakefd_, &wake_value_, sizeof wake_value_);
  }
  if (!shutting_down_) rearm_wake_ = true;  // armed again by the next wait
}

void UringRing::wake() noexcept {
  std::uint64_t one = 1;
  (void)::write(wakefd_, &one, sizeof one);  // any thread: not counted
}

void UringRing::issue(Slot& s) noexcept {
  IoOp& op = *s.op;
  const int fd = s.fd->fd;
  io_uring_sqe* sqe = next_sqe();
  if (s.polling) {
    io_uring_prep_poll_add(sqe, fd, s.dir == 0 ? POLLIN : POLLOUT);
  } else {
    switch (s.kind) {
      case OpKind::read_some:  // read(): also for signalfd and other non-sockets
        io_uring_prep_read(sqe, fd, op.data, clamp(op.size), 0);
        break;
      case OpKind::read_borrowed:
        io_uring_prep_read(sqe, fd, nullptr, static_cast<unsigned>(UringBuffers::size), 0);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = UringBuffers::group;
        break;
      case OpKind::write_some:
        io_uring_prep_send(sqe, fd, op.data, clamp(op.size), MSG_NOSIGNAL);
        break;
      case OpKind::write_all:
        io_uring_prep_send(sqe, fd, op.data + op.done, clamp(op.size - op.done), MSG_NOSIGNAL);
        break;
      case OpKind::accept:
        s.addr_len = sizeof(sockaddr_storage);
        io_uring_prep_accept(sqe, fd, static_cast<sockaddr*>(op.addr), &s.addr_len,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
        break;
      case OpKind::connect:
        io_uring_prep_connect(sqe, fd, static_cast<const sockaddr*>(op.addr), op.addr_len);
        break;
      case OpKind::recv_batch:  // always polled first (Slot::polling): recvmmsg has no opcode
        io_uring_prep_poll_add(sqe, fd, POLLIN);
        break;
      case OpKind::wait_readable:  // always polled (Slot::polling): no operation of their own
      case OpKind::wait_writable:
        io_uring_prep_poll_add(sqe, fd, s.kind == OpKind::wait_readable ? POLLIN : POLLOUT);
        break;
      case OpKind::recv_from:
      case OpKind::send_to:
        if (!s.parts) s.parts = std::make_unique<MsgParts>();
        s.parts->iov = {op.data, op.size};
        s.parts->msg = msghdr{};
        s.parts->msg.msg_name = op.addr;
        s.parts->msg.msg_iov = &s.parts->iov;
        s.parts->msg.msg_iovlen = 1;
        if (s.kind == OpKind::recv_from) {
          s.parts->msg.msg_namelen = sizeof(sockaddr_storage);
          io_uring_prep_recvmsg(sqe, fd, &s.parts->msg, MSG_TRUNC);  // the datagram's full size
        } else {
          s.parts->msg.msg_namelen = op.addr_len;
          io_uring_prep_sendmsg(sqe, fd, &s.parts->msg, MSG_NOSIGNAL);
        }
        break;
    }
  }
  io_uring_sqe_set_data64(sqe, tag(&s));
  s.sq_index = static_cast<std::uint16_t>(ring_.sq.sqe_tail - 1);  // io_uring_get_sqe advanced it
  s.reaped = false;
  s.nopped = false;
  ++in_kernel_;
}

void UringRing::issue_rx(Slot& s) noexcept {
  io_uring_sqe* sqe = next_sqe();
  io_uring_prep_recv_multishot(sqe, s.fd->fd, nullptr, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = UringBuffers::group;
  io_uring_sqe_set_data64(sqe, tag(&s));
  s.sq_index = static_cast<std::uint16_t>(ring_.sq.sqe_tail - 1);
  s.reaped = false;
  s.nopped = false;
  s.cancel_sent = false;
  ++stats_.rx_arms;
  ++in_kernel_;
}

void UringRing::cancel_async(Slot& s) noexcept {
  if (s.reaped || s.cancel_sent) return;
  s.cancel_sent = true;
  if (unsubmitted(s)) {  // the kernel has not seen it: a NOP ends it (-ECANCELED)
    io_uring_sqe* sqe = &ring_.sq.sqes[s.sq_index & ring_.sq.ring_mask];
    io_uring_prep_nop(sqe);
    io_uring_sqe_set_data64(sqe, tag(&s));
    s.nopped = true;
    return;
  }
  cancel_request(tag(&s));
}

// A CQE of a multishot RECV: its data joins the fd's queue (or goes straight back to the pool
// when the fd is closed); the last one (no F_MORE) ends the request.
void UringRing::reap_rx(Slot& s, const io_uring_cqe& cqe) noexcept {
  const int res = s.nopped ? -ECANCELED : cqe.res;
  const unsigned flags = s.nopped ? 0U : cqe.flags;
  UringFd& f = *s.fd;
  const bool buf = (flags & IORING_CQE_F_BUFFER) != 0;
  const auto id = static_cast<std::uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT);
  if (f.closed || s.awaited || (res < 0 && (res == -ENOBUFS || res == -ECANCELED))) {
    if (buf) buffers_.give_back(id);
    if (res == -ENOBUFS) ++stats_.enobufs;
  } else {
    if (res > 0) {
      ++stats_.rx_cqes;
      stats_.rx_bytes += static_cast<unsigned>(res);
    }
    rx_pool_.push(f, RxEntry{res, buf ? id : RxEntry::no_buffer, 0, 0});
  }
  if (!(flags & IORING_CQE_F_MORE)) {
    s.reaped = true;
    s.res = res;
    s.nopped = false;
    --in_kernel_;
  }
  if (!s.awaited && !s.queued) {
    s.queued = true;
    completed_.push_back(&s);
  }
}

bool UringRing::unsubmitted(const Slot& s) const noexcept {
  if (s.reaped) return false;
  const auto head = static_cast<std::uint16_t>(ring_.sq.sqe_head);
  const auto pending = static_cast<std::uint16_t>(ring_.sq.sqe_tail - ring_.sq.sqe_head);
  if (static_cast<std::uint16_t>(s.sq_index - head) >= pending) return false;
  const io_uring_sqe& sqe = ring_.sq.sqes[s.sq_index & ring_.sq.ring_mask];
  return sqe.user_data == tag(const_cast<Slot*>(&s));
}

void UringRing::submit_and_wait(std::chrono::nanoseconds timeout) {
  if (rearm_wake_) arm_wake();
  if (!ensure_enabled()) {
    throw std::system_error(errno_code(EEXIST), "io_uring: another thread owns the ring");
  }
  buffers_.publish();
  ++stats_.iterations;
  ++stats_.enters;
  int r;
  if (timeout.count() == 0) {
    r = io_uring_submit_and_get_events(&ring_);
  } else if (timeout.count() < 0) {
    r = io_uring_submit_and_wait(&ring_, 1);
  } else {
    auto s = std::chrono::duration_cast<std::chrono::seconds>(timeout);
    __kernel_timespec ts{};
    ts.tv_sec = s.count();
    ts.tv_nsec = (timeout - s).count();
    io_uring_cqe* cqe = nullptr;
    r = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);  // EXT_ARG: no SQE
  }
  if (r < 0 && !transient(r)) throw std::system_error(errno_code(-r), "io_uring_enter");
  reap();
}

void UringRing::cancel_and_wait(Slot* const* list, std::size_t n) noexcept {
  if (n == 0) return;
  for (std::size_t i = 0; i < n; ++i) {
    Slot& s = *list[i];
    s.awaited = true;
    if (unsubmitted(s)) {
      // The kernel has not seen it: it becomes a NOP, whose CQE reads as -ECANCELED. (Submitted
      // with a cancel behind it, a read on a busy socket would complete before its cancel
      // every time: an expired deadline would never end it.)
      io_uring_sqe* sqe = &ring_.sq.sqes[s.sq_index & ring_.sq.ring_mask];
      io_uring_prep_nop(sqe);
      io_uring_sqe_set_data64(sqe, tag(&s));
      s.nopped = true;
    } else {
      cancel_request(tag(&s));
    }
  }
  for (;;) {
    bool all = true;
    for (std::size_t i = 0; i < n; ++i) all = all && list[i]->reaped;
    if (all) break;
    if (!ensure_enabled()) fatal("cancel from a thread that does not own the ring", EEXIST);
    buffers_.publish();
    ++stats_.enters;
    int r = io_uring_submit_and_wait(&ring_, 1);
    if (r < 0 && !transient(r)) fatal("waiting for a cancelled request", -r);
    reap();
  }
  for (std::size_t i = 0; i < n; ++i) list[i]->awaited = false;
}

void UringRing::reap() noexcept {
  io_uring_cqe* cqe = nullptr;
  unsigned head = 0;
  unsigned n = 0;
  io_uring_for_each_cqe(&ring_, head, cqe) {
    ++n;
    const std::uint64_t t = cqe->user_data;
    if (t == ignore_tag || t == LIBURING_UDATA_TIMEOUT) continue;
    if (t == wake_tag) {
      --in_kernel_;
      on_wake(cqe->res);
      continue;
    }
    auto* s = reinterpret_cast<Slot*>(static_cast<std::uintptr_t>(t));
    ++stats_.completions;
    if (s->multishot) {
      reap_rx(*s, *cqe);
      continue;
    }
    s->reaped = true;
    s->res = s->nopped ? -ECANCELED : cqe->res;
    s->cqe_flags = s->nopped ? 0U : cqe->flags;
    s->nopped = false;
    --in_kernel_;
    if (!s->awaited) {
      s->queued = true;
      completed_.push_back(s);
    }
  }
  io_uring_cq_advance(&ring_, n);
}

void UringRing::print_stats() const noexcept {
  const UringStats& st = stats_;
  const double it = st.iterations == 0 ? 1.0 : static_cast<double>(st.iterations);
  const double done = st.completions == 0 ? 1.0 : static_cast<double>(st.completions);
  const unsigned long long calls = st.enters + st.sends + st.other_syscalls;
  std::fprintf(stderr,
               "tether: io_uring stats: setup=%s iterations=%llu enters=%llu (%.2f/iteration) "
               "completions=%llu (%.1f/iteration) enobufs=%llu inline_sends=%llu send_sqes=%llu "
               "other_syscalls=%llu syscalls_per_completion=%.3f rx_arms=%llu rx_stops=%llu "
               "rx_cqes=%llu bytes_per_rx=%.0f\n",
               single_issuer_ ? "single_issuer+defer_taskrun" : "plain", st.iterations, st.enters,
               static_cast<double>(st.enters) / it, st.completions,
               static_cast<double>(st.completions) / it, st.enobufs, st.sends, st.send_sqes,
               st.other_syscalls, static_cast<double>(calls) / done, st.rx_arms, st.rx_stops,
               st.rx_cqes,
               st.rx_cqes == 0 ? 0.0 : static_cast<double>(st.rx_bytes) / static_cast<double>(st.rx_cqes));
}

}  // namespace tether::detail::uring
