// src/backend/io_uring.cpp: the io_uring backend (TETHER_BACKEND=io_uring; select.cpp chooses).
//
// Completion-based: start() turns an IoOp into one submission (READ, SEND, ACCEPT, CONNECT,
// RECVMSG, SENDMSG), poll() submits what was queued and waits for completions, dispatch() turns
// each completion into the op's result (settle(), uring_settle.hpp) and resumes its coroutine
// inline. Nothing is tried before
// the kernel says so, and no fd is ever registered: attach() only allocates a record.
//
// Memory: the kernel may write into an operation's buffer, its IoOp and its Slot (uring_ring.hpp)
// until the operation's completion (CQE) has been read. So every call that lets the owner go on
// without that completion — cancel, cancel_all, detach, abandon — cancels the request and WAITS
// for its CQE (one io_uring_enter, usually) before it returns. Afterwards the owner may free its
// buffer, its frame or its stream at once, as with epoll; the cancelled completion comes through
// the ready queue. A request that completed before the cancel keeps its real result (no byte read
// is dropped), except on a detached fd.
// Order: at most one request per fd and direction is in the kernel; the others wait in the
// handle's FIFO list, so two write_all never interleave and reads keep their order (as epoll).
// Stream writes go to the ring as SENDs, submitted with the next poll's io_uring_enter, and
// complete later (writes_complete_later); with TETHER_URING_SEND=inline, and for datagrams, they
// are tried at once with send() as epoll's are (write_now), at most 16 in a row per fd.
// Borrowed reads (and the plain reads after them on that fd) go through one multishot RECV per
// fd (uring_rx.hpp) with provided buffers (uring_buffers.hpp); other reads, accepts and connects
// are one request each. Fairness: a completion resumes one operation; the next one goes to the
// kernel with the next poll, so one busy fd cannot hold the loop.
// Threads: as for every backend, the loop thread only, except wake().
#include "backend/backend.hpp"
#include "backend/uring_ring.hpp"
#include "backend/uring_rx.hpp"
#include "backend/uring_settle.hpp"

#include <tether/error.hpp>

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

namespace tether::detail {
namespace {

using uring::buffer_id;
using uring::dir_of;
using uring::has_buffer;
using uring::Outcome;
using uring::Pool;
using uring::Slot;
using uring::UringFd;
using uring::Receiver;
using uring::UringRing;

UringFd& rec(FdHandle* h) noexcept { return *reinterpret_cast<UringFd*>(h); }

// Writes one fd may finish inside start() in a row before one goes through the loop (as epoll).
constexpr std::uint8_t inline_budget = 16;

class UringBackend final : public Backend {
 public:
  /// The backend, or nullptr with `why` set when this kernel (or a seccomp filter) refuses it.
  static std::unique_ptr<Backend> create(ReadySink& sink, std::string& why) {
    auto b = std::unique_ptr<UringBackend>(new UringBackend(sink));
    if (const char* failed = b->ring_.init(why)) {
      why = std::string(failed) + (why.empty() ? "" : ": " + why);
      return nullptr;
    }
    return b;
  }

  ~UringBackend() override {
    // Owners withdrew their operations before the loop died (the loop's contract); what is left
    // in the kernel is the wake-up read, or the ops of an owner that broke it: cancel and wait.
    ring_.cancel_everything(slots_);
    for (Slot* s : ring_.completed()) drop(*s);
  }

  const char* name() const noexcept override { return "io_uring"; }

  Result<FdHandle*> attach(int fd) override {
    UringFd* f = fds_.get();
    f->fd = fd;
    f->closed = false;
    f->slots = 0;
    f->streak = 0;
    f->inflight[0] = f->inflight[1] = nullptr;
    f->rx = nullptr;
    f->rx_mode = f->rx_listed = false;  // its queue was emptied by detach
    return reinterpret_cast<FdHandle*>(f);
  }

  void detach(FdHandle* h, std::error_code ec) noexcept override {
    UringFd& f = rec(h);
    f.closed = true;
    rx_.detach(f);
    cancel_all(h, ec);
    detached_.push_back(&f);
  }

  void cancel_all(FdHandle* h, std::error_code ec) noexcept override {
    UringFd& f = rec(h);
    Slot* wait[2];
    std::size_t n = 0;
    for (Slot* s : f.inflight) {
      if (s != nullptr && !s->queued) wait[n++] = s;
    }
    ring_.cancel_and_wait(wait, n);
    for (unsigned d = 0; d < 2; ++d) {
      if (Slot* s = f.inflight[d]) withdraw(*s, ec);
      while (ListHook* node = f.waiters[d].pop_front()) sink_.complete_later(op_of(node), ec);
    }
  }

  bool start(IoOp& op) noexcept override {
    UringFd& f = rec(op.handle);
    if (f.closed) {
      op.ec = make_error_code(Errc::closed);
      return true;
    }
    if ((op.kind == OpKind::read_some && op.size == 0) ||
        (op.kind == OpKind::write_all && op.done == op.size)) {
      op.result = op.kind == OpKind::write_all ? op.size : 0;
      return true;
    }
    if (rx_.handles(f, op)) return rx_.start(f, op);  // multishot receive (uring_rx.hpp)
    const unsigned d = dir_of(op.kind);
    op.state = OpState::waiting;
    f.waiters[d].push_back(op);
    if (f.inflight[d] != nullptr) return false;  // queued behind the one in the kernel
    const bool to_ring = ring_sends_ && (op.kind == OpKind::write_all || op.kind == OpKind::write_some);
    if (d == 1 && op.kind != OpKind::connect && !is_wait(op.kind) && !to_ring && f.streak < inline_budget &&
        write_now(ring_, f, op)) {
      return true;
    }
    if (op.kind == OpKind::recv_batch && f.streak < inline_budget && batch_now(f, op)) return true;
    issue_new(f, d);
    return false;
  }

  void cancel(IoOp& op, std::error_code ec) noexcept override {
    if (op.state != OpState::waiting) return;
    Slot* s = slot_of(op);
    if (s == nullptr) {  // still queued behind another operation: the kernel never saw it
      op.unlink();
      sink_.complete_later(op, ec);
      return;
    }
    if (!s->queued) ring_.cancel_and_wait(&s, 1);
    UringFd& f = *s->fd;
    const unsigned d = s->dir;
    withdraw(*s, ec);
    start_next(f, d);
  }

  void abandon(IoOp& op) noexcept override {
    if (op.state == OpState::waiting) {
      if (Slot* s = slot_of(op)) {
        UringFd& f = *s->fd;
        const unsigned d = s->dir;
        f.inflight[d] = nullptr;
        s->op = nullptr;
        const bool queued = s->queued;  // then its CQE waits in the completed queue
        if (!queued) ring_.cancel_and_wait(&s, 1);
        if (s->kind == OpKind::write_all && !s->polling && s->res > 0) {
          op.done += static_cast<std::size_t>(s->res);  // what was written stays counted
        }
        if (!queued) {
          drop(*s);
          release(*s);
        }  // else dispatch() drops it
        op.unlink();
        op.state = OpState::idle;
        start_next(f, d);
        return;
      }
    }
    op.unlink();
    op.state = OpState::idle;
  }

  void poll(std::chrono::nanoseconds timeout) override {
    if (has_deferred()) timeout = std::chrono::nanoseconds::zero();
    ring_.submit_and_wait(timeout);
  }

  void dispatch() override {
    // Buffers lent through the ready queue in the last iteration: their readers have suspended.
    for (unsigned id : lent_) ring_.buffers().give_back(id);
    lent_.clear();
    std::vector<Slot*> batch = std::move(spare_);
    batch.swap(
        ring_.completed());  // completions reaped while this batch runs wait for the next one
    for (Slot* s : batch) s->multishot ? rx_.complete(*s) : complete(*s);
    batch.clear();
    spare_ = std::move(batch);
    rx_.dispatch();
  }

  bool has_deferred() const noexcept override { return ring_.has_completed() || rx_.has_ready(); }

  void wake() noexcept override { ring_.wake(); }

  void release_detached() noexcept override {
    std::size_t kept = 0;
    for (UringFd* f : detached_) {
      if (f->slots > 0) {
        detached_[kept++] = f;  // a completion still names it
      } else {
        f->fd = -1;
        fds_.put(f);
      }
    }
    detached_.resize(kept);
  }

  /// Each borrowed read gets its own buffer from the provided ring (see op.data); nothing else
  /// is lent.
  std::span<std::byte> borrow_buffer() noexcept override { return {}; }

  bool writes_complete_later() const noexcept override { return ring_sends_; }

 private:
  explicit UringBackend(ReadySink& sink) : sink_(sink) {
    spare_.reserve(256);
    const char* e = std::getenv("TETHER_URING_SEND");
    ring_sends_ = !(e != nullptr && std::strcmp(e, "inline") == 0);
  }

  void issue_new(UringFd& f, unsigned d) noexcept {
    IoOp& op = op_of(f.waiters[d].front());
    Slot* s = slots_.get();
    s->op = &op;
    s->fd = &f;
    s->kind = op.kind;
    s->dir = d & 1U;
    s->used = true;
    s->awaited = s->spent = s->queued = false;
    // No opcode does recvmmsg: a batch waits for POLLIN, then makes the call (batch_now).
    s->polling = op.kind == OpKind::recv_batch || is_wait(op.kind);
    s->cqe_flags = 0;
    f.inflight[d] = s;
    ++f.slots;
    if (d == 1 && op.kind != OpKind::connect) ++ring_.stats().send_sqes;
    ring_.issue(*s);
  }

  bool batch_now(UringFd& f, IoOp& op) noexcept {
    if (!take_batch(ring_, f.fd, op)) return false;
    ++f.streak;
    op.unlink();
    op.state = OpState::idle;
    return true;
  }

  void start_next(UringFd& f, unsigned d) noexcept {
    if (!f.closed && f.inflight[d] == nullptr && !f.waiters[d].empty()) issue_new(f, d);
  }

  // Releases what an unwanted completion holds: an accepted fd, a lent buffer.
  void drop(Slot& s) noexcept {
    if (s.spent || s.polling) return;
    if (s.kind == OpKind::accept && s.res >= 0) ::close(s.res);
    if (has_buffer(s)) ring_.buffers().give_back(buffer_id(s));
    s.spent = true;
  }

  void release(Slot& s) noexcept {
    --s.fd->slots;
    s.used = false;
    s.op = nullptr;
    slots_.put(&s);
  }

  // A completion read by poll(): finish its operation inline, or issue it again.
  void complete(Slot& s) {
    s.queued = false;
    if (s.op == nullptr) {  // abandoned or withdrawn after its CQE was read
      drop(s);
      release(s);
      return;
    }
    IoOp& op = *s.op;
    UringFd& f = *s.fd;
    switch (settle(ring_, s, op)) {
      case Outcome::again:
        s.polling = false;
        ring_.issue(s);
        return;
      case Outcome::poll_first:
        s.polling = true;
        ring_.issue(s);
        return;
      case Outcome::done:
        break;
    }
    const bool lent = has_buffer(s);
    const unsigned id = buffer_id(s);
    const unsigned d = s.dir;
    f.inflight[d] = nullptr;
    f.streak = 0;  // it went through the loop: the fd had its turn
    release(s);
    op.unlink();
    start_next(f, d);  // the next waiter goes first: what this completion starts queues behind
    op.state = OpState::idle;
    op.run(op);
    if (lent) ring_.buffers().give_back(id);  // the reader has suspended again: its span is dead
  }

  // Ends the in-flight op of `s`, whose CQE has been read, through the ready queue: with its
  // real result if it finished before the cancel (and the fd is still attached), else with `ec`.
  void withdraw(Slot& s, std::error_code ec) noexcept {
    IoOp& op = *s.op;
    UringFd& f = *s.fd;
    const bool keep = !f.closed && s.res != -ECANCELED && settle(ring_, s, op) == Outcome::done;
    if (keep) {
      if (has_buffer(s)) lent_.push_back(buffer_id(s));  // given back in the next dispatch()
      s.spent = true;
    } else {
      drop(s);
      op.ec = ec;
    }
    f.inflight[s.dir] = nullptr;
    op.unlink();
    s.op = nullptr;
    if (!s.queued) release(s);  // else dispatch() meets it without an op and releases it
    op.state = OpState::ready;
    sink_.schedule(op);
  }

  Slot* slot_of(const IoOp& op) noexcept {
    Slot* s = rec(op.handle).inflight[dir_of(op.kind)];
    return s != nullptr && s->op == &op ? s : nullptr;
  }

  ReadySink& sink_;
  bool ring_sends_ = true;  ///< stream writes as SEND requests (TETHER_URING_SEND=inline: send())
  Pool<UringFd> fds_;
  Pool<Slot> slots_;
  UringRing ring_;  // after the pools: the ring goes first
  Receiver rx_{ring_, slots_};
  std::vector<UringFd*> detached_;
  std::vector<Slot*> spare_;    ///< the completed queue's other buffer
  std::vector<unsigned> lent_;  ///< buffers handed out through the ready queue
};

}  // namespace

std::unique_ptr<Backend> make_io_uring_backend(ReadySink& sink, std::string& why) {
  return UringBackend::create(sink, why);
}

}  // namespace tether::detail
