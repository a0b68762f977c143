// One direction of a relayed flow by splice(2): socket -> pipe -> socket, no copy through user
// space (relay_flow.hpp).
//
// A fill takes what the source has (a non-blocking splice makes one pass over the socket's
// queue); while the reads are large (a bulk transfer) the pipe is filled further before it is
// written, so that one splice out carries many reads. The pipe is emptied completely before the
// next fill after a write, so a splice out of it never waits for data; an EAGAIN on a fill with
// bytes held (a dry source, or a full pipe: the kernel does not say which) writes them and asks
// again; only an EAGAIN with the pipe empty waits for the source. Only the two sockets are waited
// on, through the loop (FlowSide::wait_ready). At most one pipe's worth is in flight per
// direction: a side that does not read stops the other side being read (backpressure). EINVAL
// (a socket that cannot splice) continues by copying, after the bytes held are written.
#include "relay_flow.hpp"

#include <tether/timer.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace tether::cli {

namespace {

/// The pipe's size, which is also the most bytes asked for per splice. Below `min_pipe` (a user
/// over fs.pipe-user-pages-soft gets 2 pages per new pipe) splicing would cost more system calls
/// per byte than copying 128 KiB at a time: that direction copies. A direction that fills its
/// pipe `grow_after` times in a row is a bulk transfer: its pipe grows to `bulk_pipe` (fewer
/// system calls per byte; where the kernel refuses, it keeps its size). Other flows keep the small
/// pipe, so that many slow flows do not each pin a large one.
constexpr int pipe_size = 256 * 1024;
constexpr int bulk_pipe = 1024 * 1024;
constexpr int grow_after = 4;
constexpr int min_pipe = 64 * 1024;
constexpr unsigned splice_flags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;
/// Bytes moved without waiting before the direction lets the loop's other flows run.
constexpr std::size_t fair_share = 4 * 1024 * 1024;
/// A read at least this large is part of a burst: the pipe is filled further before it is written.
constexpr std::size_t burst = 32 * 1024;

class Pipe {
 public:
  Pipe() {
    if (::pipe2(fds_, O_NONBLOCK | O_CLOEXEC) != 0) {
      fds_[0] = fds_[1] = -1;
      return;
    }
    int got = ::fcntl(fds_[1], F_SETPIPE_SZ, pipe_size);
    if (got < 0) got = ::fcntl(fds_[1], F_GETPIPE_SZ);
    chunk_ = got > 0 ? static_cast<std::size_t>(got) : 0;
  }
  ~Pipe() {
    for (int fd : fds_) {
      if (fd >= 0) ::close(fd);
    }
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  bool ok() const noexcept { return fds_[0] >= 0 && chunk_ >= static_cast<std::size_t>(min_pipe); }
  int out() const noexcept { return fds_[0]; }
  /// Only while empty (between a drain and the next fill).
  void grow() noexcept {
    const int got = ::fcntl(fds_[1], F_SETPIPE_SZ, bulk_pipe);
    if (got > 0) chunk_ = static_cast<std::size_t>(got);
  }
  int in() const noexcept { return fds_[1]; }
  std::size_t chunk() const noexcept { return chunk_; }

 private:
  int fds_[2];
  std::size_t chunk_ = 0;
};

bool closed_or_cancelled(const std::error_code& ec) {
  return ec == Errc::closed || ec == Errc::cancelled;
}

std::error_code last_error() { return {errno, std::system_category()}; }

/// What the pipe holds (`left` bytes) goes to `to` by read + write, before copying takes over.
Task<Status> drain_by_copy(const Pipe& pipe, std::size_t left, FlowSide& to) {
  std::vector<std::byte> buf(left);
  std::size_t got = 0;
  while (got < left) {
    const ssize_t n = ::read(pipe.out(), buf.data() + got, left - got);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      co_return fail(n < 0 ? last_error() : std::make_error_code(std::errc::io_error));
    }
    got += static_cast<std::size_t>(n);
  }
  co_return co_await to.write(buf);
}

}  // namespace

bool splice_allowed_by_env() noexcept {
  const char* v = std::getenv("TETHER_RELAY_SPLICE");
  return v == nullptr || std::strcmp(v, "0") != 0;
}

Task<void> splice_direction(Direction d) {
  FlowSide& from = d.from;
  FlowSide& to = d.to;
  FlowStats& stats = d.stats;
  Pipe pipe;
  const int src = from.splice_fd();
  const int dst = to.splice_fd();
  if (!pipe.ok() || src < 0 || dst < 0) co_return co_await copy_direction(d);
  auto fail_both = [&](std::error_code ec) {
    if (!stats.error && !closed_or_cancelled(ec)) stats.error = ec;
    from.abort();
    to.abort();
  };
  auto moved = [&](std::size_t n) {
    d.bytes += n;
    d.total.fetch_add(n, std::memory_order_relaxed);
    to.note_moved(0, n);
    stats.last_activity = std::chrono::steady_clock::now();
  };
  stats.spliced = true;
  std::size_t unwaited = 0;  // bytes since this direction last gave the loop a turn
  std::size_t held = 0;      // bytes in the pipe, not yet written
  int full = 0;              // full pipefuls in a row (toward grow_after); -1: grown
  for (;;) {
    if (unwaited > fair_share) {  // a source that never runs dry must not starve the others
      unwaited = 0;
      if (auto st = co_await sleep_for(std::chrono::nanoseconds(0)); !st) co_return fail_both(st.error());
    }
    // Fill: what the source has, into the pipe's room.
    bool end = false;      // the source ended after the bytes held
    bool to_copy = false;  // the source cannot splice: copy after the bytes held
    const ssize_t n = ::splice(src, nullptr, pipe.in(), nullptr, pipe.chunk() - held, splice_flags);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN && held == 0) {  // nothing read, nothing held: wait for the source
        unwaited = 0;
        if (auto w = co_await from.wait_ready(false); !w) co_return fail_both(w.error());
        continue;
      }
      if (errno == EINVAL) {
        to_copy = true;
      } else if (errno != EAGAIN) {
        co_return fail_both(last_error());
      }
      // EAGAIN with bytes held: the source is dry for now, or the pipe is full. Either way the
      // bytes are written, then the source is asked again (only that tells the two apart).
    } else if (n == 0) {
      end = true;
    } else {
      const auto got = static_cast<std::size_t>(n);
      from.note_moved(got, 0);
      held += got;
      unwaited += got;
      // A burst (the source had much more than a message): take more before writing, so that a
      // bulk transfer writes a pipeful per call instead of what one read found.
      if (got >= burst && held < pipe.chunk()) continue;
    }
    bool grow = false;
    if (full >= 0 && held > 0) {
      full = held == pipe.chunk() ? full + 1 : 0;
      grow = full >= grow_after;
    }
    // Drain: everything held goes to the destination before the next fill.
    while (held > 0) {
      const ssize_t m = ::splice(pipe.out(), nullptr, dst, nullptr, held, splice_flags);
      if (m < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) {
          unwaited = 0;
          if (auto w = co_await to.wait_ready(true); !w) co_return fail_both(w.error());
          continue;
        }
        if (errno == EINVAL) {
          if (auto st = co_await drain_by_copy(pipe, held, to); !st) co_return fail_both(st.error());
          moved(held);
          held = 0;
          if (end) break;
          co_return co_await copy_direction(d);
        }
        co_return fail_both(last_error());
      }
      held -= static_cast<std::size_t>(m);
      moved(static_cast<std::size_t>(m));
    }
    if (grow) {  // once: the pipe is empty here
      pipe.grow();
      full = -1;
    }
    if (to_copy) co_return co_await copy_direction(d);
    if (end) {  // end of stream: everything read was written
      if (stats.closed_first == FlowEnd::none) stats.closed_first = d.from_end;
      co_await to.shutdown_write();
      if (from.ends_flow) to.stop_reading();
      co_return;
    }
  }
}

}  // namespace tether::cli
