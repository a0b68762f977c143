// src/backend/epoll.cpp: the epoll backend.
//
// Every fd is registered once, edge-triggered, for both directions (no epoll_ctl per operation).
// Each FdHandle keeps a readiness hint per direction: an operation first tries its system call
// while the hint says "maybe ready"; EAGAIN (or a short stream read, or a partial write, which
// both mean the kernel queue is drained/full) clears the hint, and only the next edge sets it.
// Operations that find the hint clear wait in the handle's FIFO list for that direction.
// Fairness: one fd may complete at most `inline_budget` operations in a row without going back to
// the loop; then its handle is deferred to the next iteration's dispatch (poll does not block).
// Muting: an fd whose data keeps arriving while nobody reads it (a relay direction waiting for
// its destination to drain, a paused reader) would wake the loop for every packet. After
// `mute_after` such edges in a row its EPOLLIN interest is dropped (one epoll_ctl), and it is
// restored when a reader next has to wait (one more; the kernel then reports data that came in
// between, so no edge is lost).
#include "backend/backend.hpp"
#include "backend/epoll_calls.hpp"
#include "backend/pool.hpp"
#include "datagram_batch_io.hpp"

#include <tether/error.hpp>

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <memory>
#include <system_error>
#include <utility>
#include <vector>

namespace tether::detail {

struct FdHandle {
  int fd = -1;
  bool closed = false;
  bool readable = true;   ///< hint: a read might not block
  bool writable = true;   ///< hint: a write might not block
  bool deferred = false;  ///< queued for a retry in the next dispatch
  bool read_ended = false;  ///< an edge announced the peer's end (FIN, RST, error): sticky
  bool not_socket = false;  ///< recv() said ENOTSOCK (a signalfd, a pipe): reads use read()
  bool muted = false;       ///< EPOLLIN left out of the interest (see "Muting" above)
  std::uint8_t streak = 0;
  std::uint8_t unread_edges = 0;  ///< EPOLLIN edges in a row that found no reader
  HookList readers;
  HookList writers;
  FdHandle* next_free = nullptr;
};

namespace {

constexpr std::uint8_t inline_budget = 16;
constexpr std::uint8_t mute_after = 2;
constexpr std::uint32_t all_events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
constexpr std::size_t borrow_size = 64 * 1024;
constexpr int max_events = 256;

class EpollBackend final : public Backend {
 public:
  explicit EpollBackend(ReadySink& sink) : sink_(sink) {
    epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ < 0) throw std::system_error(errno_code(errno), "epoll_create1");
    wakefd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wakefd_ < 0) {
      int e = errno;
      ::close(epfd_);
      throw std::system_error(errno_code(e), "eventfd");
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLET;
    ev.data.ptr = nullptr;  // the wake-up fd is the only one without a handle
    if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, wakefd_, &ev) < 0) {
      int e = errno;
      ::close(wakefd_);
      ::close(epfd_);
      throw std::system_error(errno_code(e), "epoll_ctl");
    }
    borrow_ = std::make_unique_for_overwrite<std::byte[]>(borrow_size);
    deferred_.reserve(64);
    deferred_running_.reserve(64);
  }

  ~EpollBackend() override {
    ::close(wakefd_);
    ::close(epfd_);
  }

  const char* name() const noexcept override { return "epoll"; }

  Result<FdHandle*> attach(int fd) override {
    FdHandle* h = new_handle();
    h->fd = fd;
    epoll_event ev{};
    ev.events = all_events;
    ev.data.ptr = h;
    if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) < 0) {
      int e = errno;
      free_handle(h);
      return fail(errno_code(e));
    }
    return h;
  }

  void detach(FdHandle* h, std::error_code ec) noexcept override {
    cancel_all(h, ec);
    h->closed = true;
    ::epoll_ctl(epfd_, EPOLL_CTL_DEL, h->fd, nullptr);
    detached_.push_back(h);
  }

  void cancel_all(FdHandle* h, std::error_code ec) noexcept override {
    for (HookList* list : {&h->readers, &h->writers}) {
      while (ListHook* node = list->pop_front()) sink_.complete_later(op_of(node), ec);
    }
  }

  bool start(IoOp& op) noexcept override {
    FdHandle& h = *op.handle;
    if (h.closed) {
      op.ec = make_error_code(Errc::closed);
      return true;
    }
    const bool reader = is_read(op.kind);
    HookList& list = reader ? h.readers : h.writers;
    bool& hint = reader ? h.readable : h.writable;
    if (is_wait(op.kind)) {
      hint = false;  // the caller's own call just said EAGAIN: wait for the next edge
    } else if (op.kind == OpKind::connect) {
      if (issue_connect(op)) return true;
    } else if (list.empty() && hint && !h.deferred) {
      if (h.streak < inline_budget) {
        if (perform(op)) {
          ++h.streak;
          return true;
        }
      } else {
        defer(h);  // over budget: retry after the next poll instead of now
      }
    }
    if (reader && h.muted) {  // a reader waits: its edges are wanted again
      if (!set_interest(h, all_events)) {
        op.ec = errno_code(errno);
        return true;
      }
      h.muted = false;
    }
    op.state = OpState::waiting;
    list.push_back(op);
    return false;
  }

  void cancel(IoOp& op, std::error_code ec) noexcept override {
    if (op.state != OpState::waiting) return;
    op.unlink();
    sink_.complete_later(op, ec);
  }

  void abandon(IoOp& op) noexcept override {
    op.unlink();
    op.state = OpState::idle;
  }

  void poll(std::chrono::nanoseconds timeout) override {
    nevents_ = epoll_calls::wait(epfd_, events_.data(), max_events, timeout, use_pwait2_);
  }

  void dispatch() override {
    // Handles deferred by their budget first: they have waited longest.
    deferred_running_.swap(deferred_);
    for (FdHandle* h : deferred_running_) {
      h->deferred = false;
      h->streak = 0;
      run_both(*h);
    }
    deferred_running_.clear();

    for (int i = 0; i < nevents_; ++i) {
      const epoll_event& ev = events_[static_cast<std::size_t>(i)];
      auto* h = static_cast<FdHandle*>(ev.data.ptr);
      if (h == nullptr) {
        std::uint64_t count;
        (void)::read(wakefd_, &count, sizeof count);
        continue;
      }
      if (h->closed) continue;  // closed by an earlier completion in this batch
      if (ev.events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) h->readable = true;
      if (ev.events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) h->read_ended = true;
      if (ev.events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) h->writable = true;
      if (h->deferred) continue;  // its turn comes in the next dispatch
      if (!(ev.events & EPOLLIN) || !h->readers.empty()) {
        h->unread_edges = 0;
      } else if (++h->unread_edges >= mute_after && set_interest(*h, all_events & ~EPOLLIN)) {
        h->muted = true;  // data nobody reads: no more wake-ups for it until a reader waits
        h->unread_edges = 0;
      }
      h->streak = 0;
      run_both(*h);
    }
    nevents_ = 0;
  }

  bool has_deferred() const noexcept override { return !deferred_.empty(); }

  void wake() noexcept override {
    std::uint64_t one = 1;
    (void)::write(wakefd_, &one, sizeof one);
  }

  void release_detached() noexcept override {
    std::size_t kept = 0;
    for (FdHandle* h : detached_) {
      if (h->deferred) {
        detached_[kept++] = h;  // still named in deferred_: free it after that dispatch
      } else {
        free_handle(h);
      }
    }
    detached_.resize(kept);
  }

  std::span<std::byte> borrow_buffer() noexcept override { return {borrow_.get(), borrow_size}; }

 private:
  void run_both(FdHandle& h) {
    run_waiters(h, h.readers, h.readable);
    run_waiters(h, h.writers, h.writable);
  }

  // Completes waiting ops in FIFO order while the hint allows; each completion runs inline.
  void run_waiters(FdHandle& h, HookList& list, bool& hint) {
    while (!h.closed && hint && !h.deferred) {
      ListHook* node = list.front();
      if (node == nullptr) break;
      IoOp& op = op_of(node);
      if (!perform(op)) break;
      op.unlink();
      op.state = OpState::idle;
      op.run(op);
    }
  }

  bool set_interest(FdHandle& h, std::uint32_t events) noexcept {
    epoll_event ev{};
    ev.events = events;
    ev.data.ptr = &h;
    return ::epoll_ctl(epfd_, EPOLL_CTL_MOD, h.fd, &ev) == 0;
  }

  void defer(FdHandle& h) {
    h.deferred = true;
    h.streak = 0;
    deferred_.push_back(&h);
  }

  // connect() itself; true when it finished (connected or failed) at once.
  bool issue_connect(IoOp& op) noexcept {
    if (epoll_calls::start_connect(op.handle->fd, op) == epoll_calls::Connect::done) return true;
    op.handle->writable = false;
    return false;
  }

  // recv() on a socket: it skips the file layer that read() goes through (measured: about 3 % of
  // the echo server's CPU). Other fds (signalfd, pipes) answer ENOTSOCK once, then use read().
  static ssize_t read_fd(FdHandle& h, std::byte* data, std::size_t size) noexcept {
    if (!h.not_socket) {
      const ssize_t n = ::recv(h.fd, data, size, 0);
      if (n >= 0 || errno != ENOTSOCK) return n;
      h.not_socket = true;
    }
    return ::read(h.fd, data, size);
  }

  // One attempt at the system call. True: finished (result or ec set). False: would block.
  bool perform(IoOp& op) noexcept {
    FdHandle& h = *op.handle;
    for (;;) {
      ssize_t n = -1;
      socklen_t len = sizeof(sockaddr_storage);
      switch (op.kind) {
        case OpKind::read_some:
          if (op.size == 0) {
            op.result = 0;
            return true;
          }
          n = read_fd(h, op.data, op.size);
          break;
        case OpKind::read_borrowed:
          op.data = borrow_.get();
          op.size = borrow_size;
          n = read_fd(h, op.data, op.size);
          break;
        case OpKind::write_some:
          n = ::send(h.fd, op.data, op.size, MSG_NOSIGNAL);
          break;
        case OpKind::write_all:
          if (op.done == op.size) {
            op.result = op.size;
            return true;
          }
          n = ::send(h.fd, op.data + op.done, op.size - op.done, MSG_NOSIGNAL);
          break;
        case OpKind::accept:
          n = ::accept4(h.fd, static_cast<sockaddr*>(op.addr), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
          op.addr_len = len;
          break;
        case OpKind::connect:
          return finish_connect(op);
        case OpKind::recv_from:
          n = ::recvfrom(h.fd, op.data, op.size, MSG_TRUNC, static_cast<sockaddr*>(op.addr), &len);
          op.addr_len = len;
          break;
        case OpKind::recv_batch: {
          auto got = try_recv_batch(h.fd, *reinterpret_cast<DatagramBatch*>(op.data));
          if (!got) {
            op.ec = got.error();
            return true;
          }
          if (*got == 0) {
            h.readable = false;
            h.streak = 0;
            return false;
          }
          return finished(op, *got);
        }
        case OpKind::wait_readable:
        case OpKind::wait_writable:
          op.result = 0;  // the edge came: the caller makes its own call
          return true;
        case OpKind::send_to:
          n = ::sendto(h.fd, op.data, op.size, MSG_NOSIGNAL, static_cast<const sockaddr*>(op.addr),
                       op.addr_len);
          break;
      }
      if (n >= 0) return finished(op, static_cast<std::size_t>(n));
      int e = errno;
      if (e == EINTR) continue;
      if (e == EAGAIN || e == EWOULDBLOCK) {
        (is_read(op.kind) ? h.readable : h.writable) = false;
        h.streak = 0;
        return false;
      }
      op.ec = errno_code(e);
      return true;
    }
  }

  bool finished(IoOp& op, std::size_t n) noexcept {
    FdHandle& h = *op.handle;
    switch (op.kind) {
      case OpKind::read_some:
      case OpKind::read_borrowed:
        // A short stream read drained the queue: the next data brings a new edge. But when the
        // edge that brought this data also announced the peer's end, no edge follows: the end
        // (0 or the error) is read next, so the hint stays. End of stream (0) keeps it too.
        if (n > 0 && n < op.size && !h.read_ended) h.readable = false;
        break;
      case OpKind::recv_batch:
        // A batch shorter than asked for drained the queue: the next datagram brings an edge
        // (unless an error edge came with the data: then the next call reports the error).
        if (n < op.size && !h.read_ended) h.readable = false;
        break;
      case OpKind::write_all:
        op.done += n;
        if (op.done < op.size) {  // partial: the send buffer is full
          h.writable = false;
          h.streak = 0;
          return false;
        }
        n = op.size;
        break;
      case OpKind::write_some:
        if (n < op.size) h.writable = false;
        break;
      default:
        break;
    }
    op.result = n;
    return true;
  }

  bool finish_connect(IoOp& op) noexcept {
    if (epoll_calls::finish_connect(op.handle->fd, op) == epoll_calls::Connect::done) return true;
    op.handle->writable = false;
    return false;
  }

  FdHandle* new_handle() {
    FdHandle* h = handles_.get();
    h->closed = h->deferred = h->read_ended = h->not_socket = h->muted = false;
    h->readable = h->writable = true;
    h->streak = h->unread_edges = 0;
    return h;
  }

  void free_handle(FdHandle* h) noexcept {
    h->fd = -1;
    h->closed = true;
    handles_.put(h);
  }

  ReadySink& sink_;
  int epfd_ = -1;
  int wakefd_ = -1;
  bool use_pwait2_ = true;
  std::array<epoll_event, max_events> events_{};
  int nevents_ = 0;
  Pool<FdHandle> handles_;
  std::vector<FdHandle*> detached_;
  std::vector<FdHandle*> deferred_;
  std::vector<FdHandle*> deferred_running_;
  std::unique_ptr<std::byte[]> borrow_;
};

}  // namespace

std::unique_ptr<Backend> make_epoll_backend(ReadySink& sink) {
  return std::make_unique<EpollBackend>(sink);
}

}  // namespace tether::detail
