// One direction of a relayed flow by splice(2): socket -> pipe -> socket, no copy through user
// space (relay_flow.hpp).
//
// The pipe is filled only when it is empty and emptied completely before the next fill, so a
// splice into it never waits for room and one out of it never waits for data: only the two
// sockets are waited on, through the loop (FlowSide::wait_ready) after a splice said EAGAIN.
// At most one pipe's worth is in flight per direction: a side that does not read stops the
// other side being read (backpressure). EINVAL (a socket that cannot splice) before a byte
// moved, or at any point with the pipe's bytes drained by read + write, continues by copying.
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
/// per byte than copying 128 KiB at a time: that direction copies.
constexpr int pipe_size = 256 * 1024;
constexpr int min_pipe = 64 * 1024;
constexpr unsigned splice_flags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;
/// Pipefuls moved without waiting before the direction lets the loop's other flows run.
constexpr int fair_share = 16;

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
  int unwaited = 0;  // pipefuls since this direction last gave the loop a turn
  for (;;) {
    if (++unwaited > fair_share) {  // a source that never runs dry must not starve the others
      unwaited = 0;
      if (auto st = co_await sleep_for(std::chrono::nanoseconds(0)); !st) co_return fail_both(st.error());
    }
    const ssize_t n = ::splice(src, nullptr, pipe.in(), nullptr, pipe.chunk(), splice_flags);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        unwaited = 0;
        if (auto w = co_await from.wait_ready(false); !w) co_return fail_both(w.error());
        continue;
      }
      if (errno == EINVAL) co_return co_await copy_direction(d);  // the pipe is empty here
      co_return fail_both(last_error());
    }
    if (n == 0) {  // end of stream: the pipe is empty, so everything read was written
      if (stats.closed_first == FlowEnd::none) stats.closed_first = d.from_end;
      co_await to.shutdown_write();
      if (from.ends_flow) to.stop_reading();
      co_return;
    }
    from.note_moved(static_cast<std::size_t>(n), 0);
    auto left = static_cast<std::size_t>(n);
    while (left > 0) {
      const ssize_t m = ::splice(pipe.out(), nullptr, dst, nullptr, left, splice_flags);
      if (m < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) {
          unwaited = 0;
          if (auto w = co_await to.wait_ready(true); !w) co_return fail_both(w.error());
          continue;
        }
        if (errno == EINVAL) {
          if (auto st = co_await drain_by_copy(pipe, left, to); !st) co_return fail_both(st.error());
          moved(left);
          co_return co_await copy_direction(d);
        }
        co_return fail_both(last_error());
      }
      left -= static_cast<std::size_t>(m);
      moved(static_cast<std::size_t>(m));
    }
  }
}

}  // namespace tether::cli
