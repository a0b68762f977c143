// src/backend/uring_ring.hpp (private): the io_uring backend's records and its queues.
//
// UringRing owns the ring, the lent buffers and the wake-up eventfd. It turns a Slot into a
// submission (issue) and completions back into Slots (the completed queue), and it can cancel
// requests and wait until the kernel is done with them (cancel_and_wait). What a completion
// means for an operation is io_uring.cpp's business.
// Tags: a request's user_data is its Slot's address; 0 marks cancel requests, 1 the wake-up read.
// Loop-thread only, except wake().
#pragma once

#include "backend/backend.hpp"
#include "backend/pool.hpp"
#include "backend/uring_buffers.hpp"

#include <tether/detail/io_op.hpp>
#include <tether/detail/list.hpp>

#include <liburing.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

namespace tether::detail::uring {

struct Slot;

/// One completion of a multishot receive, queued on its fd until a reader takes it (uring_rx.cpp):
/// `res` bytes in provided buffer `id` from `off` on, 0 for end of stream, or a negative errno.
struct RxEntry {
  static constexpr std::uint16_t no_buffer = 0xFFFF;
  int res = 0;
  std::uint16_t id = no_buffer;
  std::uint16_t off = 0;  ///< bytes of the buffer taken already (a buffer is 4 KiB)
  std::uint32_t next = 0;  ///< the fd's next entry (RxPool index)
};

/// The backend's record for one fd. (Named apart from epoll's FdHandle: the loop only ever sees
/// an opaque FdHandle*.)
struct UringFd {  // 80 bytes: one per connection counts in the idle memory
  int fd = -1;
  unsigned slots = 0;       ///< slots naming this record (in the kernel or reaped), and a listing
  bool closed = false;
  std::uint8_t streak = 0;  ///< writes finished inside start() in a row
  // The multishot receive (uring_rx.cpp): once a borrowed read started on the fd, its reads are
  // served from one RECV request that stays in the kernel (rx), whose completions queue here,
  // in the ring's RxPool (rx_head..rx_tail, rx_count of them).
  bool rx_mode = false;     ///< reads on this fd go through the multishot receive
  bool rx_listed = false;   ///< in the receiver's list of fds with entries for waiting readers
  std::uint16_t rx_count = 0;
  std::uint32_t rx_head = 0;
  std::uint32_t rx_tail = 0;
  Slot* inflight[2] = {};  ///< per direction (read, write): the request in the kernel
  HookList waiters[2];     ///< per direction, FIFO; the front one is in flight
  union {
    UringFd* next_free = nullptr;  ///< while in the pool
    Slot* rx;                      ///< while attached: the multishot RECV in the kernel, if any
  };
};

/// The queued completions of every fd's multishot receive, one free list for all: an fd holds
/// two indices, not a buffer of its own, and nothing is allocated per message once the pool has
/// grown to the most completions ever queued at once.
class RxPool {
 public:
  RxPool() { nodes_.reserve(1024); }
  void push(UringFd& f, const RxEntry& e) {
    std::uint32_t i = free_;
    if (i == none) {
      i = static_cast<std::uint32_t>(nodes_.size());
      nodes_.push_back(e);
    } else {
      free_ = nodes_[i].next;
      nodes_[i] = e;
    }
    nodes_[i].next = none;
    if (f.rx_count++ == 0) {
      f.rx_head = i;
    } else {
      nodes_[f.rx_tail].next = i;
    }
    f.rx_tail = i;
  }
  RxEntry& front(const UringFd& f) noexcept { return nodes_[f.rx_head]; }
  void pop(UringFd& f) noexcept {
    const std::uint32_t i = f.rx_head;
    f.rx_head = nodes_[i].next;
    --f.rx_count;
    nodes_[i].next = free_;
    free_ = i;
  }

 private:
  static constexpr std::uint32_t none = 0xFFFFFFFF;
  std::vector<RxEntry> nodes_;
  std::uint32_t free_ = none;
};

/// The message header of a recv_from or send_to (only datagram requests need one).
struct MsgParts {
  msghdr msg{};
  iovec iov{};
};

/// One request: it lives until its CQE has been read and handled, even when its op is gone.
/// Kept at 48 bytes (one per connection with a read in flight counts in the idle memory).
struct Slot {
  IoOp* op = nullptr;  ///< nullptr once abandoned or withdrawn: the CQE is only awaited, then dropped
  UringFd* fd = nullptr;
  std::unique_ptr<MsgParts> parts;  ///< made on a slot's first datagram request, then kept
  Slot* next_free = nullptr;
  int res = 0;
  unsigned cqe_flags = 0;
  socklen_t addr_len = 0;
  std::uint16_t sq_index = 0;  ///< its SQE's position (mod 2^16), to withdraw it before submission
  OpKind kind = OpKind::read_some;
  std::uint8_t dir : 1 = 0;
  bool used : 1 = false;
  bool polling : 1 = false;  ///< the request is a POLL_ADD that waits for the fd (after -EAGAIN)
  bool reaped : 1 = false;   ///< its CQE was read: the kernel is done with every byte it was given
  bool awaited : 1 = false;  ///< its CQE is expected by a caller: it skips the completed queue
  bool spent : 1 = false;    ///< its result was handed out (or dropped) already
  bool queued : 1 = false;   ///< its CQE waits in the completed queue
  bool nopped : 1 = false;   ///< cancelled before submission: its SQE became a NOP (-ECANCELED)
  bool multishot : 1 = false;    ///< a multishot RECV: its CQEs queue on the fd (uring_rx.cpp)
  bool cancel_sent : 1 = false;  ///< a multishot RECV being stopped (its last CQE is due)
};

using detail::Pool;  // backend/pool.hpp

/// What the ring did, counted always (a few increments per iteration) and printed on stderr when
/// the ring goes away if TETHER_URING_STATS=1 is set (uring_ring.cpp).
struct UringStats {
  unsigned long long iterations = 0;   ///< submit_and_wait calls (one per loop iteration)
  unsigned long long enters = 0;       ///< io_uring_enter calls, every cause
  unsigned long long completions = 0;  ///< CQEs for requests (not cancels, not wake-ups)
  unsigned long long enobufs = 0;      ///< borrowed reads that found no provided buffer
  unsigned long long sends = 0;        ///< send()/sendto() calls made inline (write_now)
  unsigned long long send_sqes = 0;    ///< writes handed to the ring (SEND, SENDMSG)
  unsigned long long other_syscalls = 0;  ///< recvmmsg, eventfd reads, closes of dropped accepts
  unsigned long long rx_arms = 0;      ///< multishot RECV requests submitted
  unsigned long long rx_stops = 0;     ///< multishot RECVs stopped because a reader fell behind
  unsigned long long rx_bytes = 0;     ///< bytes received by multishot RECVs
  unsigned long long rx_cqes = 0;      ///< multishot RECV completions with data
};

class UringRing {
 public:
  UringRing() { completed_.reserve(256); }
  UringRing(const UringRing&) = delete;
  UringRing& operator=(const UringRing&) = delete;
  ~UringRing();

  /// Sets up the ring; nullptr on success, else what failed (and `why`, the reason).
  const char* init(std::string& why);
  /// Cancels every request still in the kernel (the wake-up read; ops whose owners outlived the
  /// loop) and waits for them; their CQEs join the completed queue. Before the destructor.
  void cancel_everything(Pool<Slot>& slots) noexcept;

  /// Queues the request for `s` (submitted by the next wait or cancel_and_wait).
  void issue(Slot& s) noexcept;
  /// Submits, then waits up to `timeout` (negative: no limit; zero: not at all) for completions.
  void submit_and_wait(std::chrono::nanoseconds timeout);
  /// Cancels the requests and returns once the kernel has posted the CQE of each (its result is
  /// in the slot; it does not join the completed queue).
  void cancel_and_wait(Slot* const* list, std::size_t n) noexcept;
  /// Queues a multishot RECV with buffer select for `s` (s.multishot, s.fd set).
  void issue_rx(Slot& s) noexcept;
  /// Asks the kernel to stop the request of `s` without waiting for it (its last CQE comes later).
  void cancel_async(Slot& s) noexcept;
  /// Any thread: ends a blocked submit_and_wait.
  void wake() noexcept;

  /// Slots whose CQE was read, in order.
  std::vector<Slot*>& completed() noexcept { return completed_; }
  bool has_completed() const noexcept { return !completed_.empty(); }
  UringBuffers& buffers() noexcept { return buffers_; }
  RxPool& rx_pool() noexcept { return rx_pool_; }
  UringStats& stats() noexcept { return stats_; }
  /// The ring runs with SINGLE_ISSUER | DEFER_TASKRUN (else the kernel refused those flags).
  bool single_issuer() const noexcept { return single_issuer_; }

 private:
  io_uring_sqe* next_sqe() noexcept;
  void cancel_request(std::uint64_t target) noexcept;
  void arm_wake() noexcept;
  void on_wake(int res) noexcept;
  void reap() noexcept;
  void reap_rx(Slot& s, const io_uring_cqe& cqe) noexcept;
  /// True when the SQE of `s` is still in the submission queue (no io_uring_enter took it yet).
  bool unsubmitted(const Slot& s) const noexcept;
  /// Enables a ring created disabled, from the thread that calls first (the loop's, in practice):
  /// that thread becomes the ring's only submitter, and its ring fd is registered. False when
  /// this thread may not enter the ring (another thread enabled it).
  bool ensure_enabled() noexcept;
  int enter_submit() noexcept;
  void print_stats() const noexcept;

  io_uring ring_{};
  bool have_ring_ = false;
  bool shutting_down_ = false;
  int wakefd_ = -1;
  std::uint64_t wake_value_ = 0;
  bool wake_by_poll_ = false;
  bool rearm_wake_ = false;
  bool single_issuer_ = false;
  bool enabled_ = true;  ///< false until ensure_enabled() for a ring created disabled
  int issuer_tid_ = 0;
  long in_kernel_ = 0;  ///< requests whose CQE has not been read (slots and the wake-up read)
  UringBuffers buffers_;
  RxPool rx_pool_;
  std::vector<Slot*> completed_;
  UringStats stats_;
};

inline unsigned dir_of(OpKind k) noexcept { return is_read(k) ? 0U : 1U; }

}  // namespace tether::detail::uring
