// The full-duplex stream relay: stdin -> socket on a helper thread, socket -> stdout on the caller's.
#include "relay.hpp"
#include "stdio.hpp"

#include <limits.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <mutex>
#include <thread>
#include <vector>

namespace tether::cli {

const char* closer_name(Closer c) noexcept {
  switch (c) {
    case Closer::local:
      return "local";
    case Closer::peer:
      return "peer";
    case Closer::none:
      break;
  }
  return "none";
}

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t chunk_size = 128 * 1024;
constexpr std::size_t file_chunk_size = 1024 * 1024;

bool would_block(const std::error_code& ec) {
  return ec == std::errc::operation_would_block || ec == std::errc::resource_unavailable_try_again ||
         ec == std::errc::timed_out || ec == std::errc::interrupted;
}

/// poll() said ready: the call tries once and never blocks (a spurious wake-up is "timed out").
Deadline no_wait() { return Deadline(std::chrono::milliseconds(0)); }

/// What both directions share: counters, the first error, the idle clock and a stop signal (an
/// eventfd that, once written, stays readable so that every wait sees it).
class Shared {
 public:
  explicit Shared(std::optional<std::chrono::milliseconds> idle)
      : idle_(idle), stop_fd_(::eventfd(0, EFD_CLOEXEC)) {
    touch();
  }
  ~Shared() {
    if (stop_fd_ >= 0) ::close(stop_fd_);
  }
  Shared(const Shared&) = delete;
  Shared& operator=(const Shared&) = delete;

  bool ok() const noexcept { return stop_fd_ >= 0; }

  void stop() noexcept {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(stop_fd_, &one, sizeof one);
  }

  void fail(std::error_code ec, const char* context) {
    {
      std::lock_guard lock(mutex_);
      if (!error_) {
        error_ = ec;
        context_ = context;
      }
    }
    stop();
  }

  void fail_idle() {
    {
      std::lock_guard lock(mutex_);
      if (!error_) {
        error_ = std::make_error_code(std::errc::timed_out);
        context_ = "idle";
        idle_expired_ = true;
      }
    }
    stop();
  }

  void mark_closed(Closer who) noexcept {
    auto none = Closer::none;
    first_closer_.compare_exchange_strong(none, who);
  }

  void touch() noexcept { last_activity_.store(Clock::now().time_since_epoch().count()); }

  /// Waits up to `limit` for the stop signal; true when it came.
  bool stopped_within(std::chrono::milliseconds limit) const {
    pollfd p{stop_fd_, POLLIN, 0};
    for (;;) {
      int r = ::poll(&p, 1, static_cast<int>(limit.count()));
      if (r < 0 && errno == EINTR) continue;
      return r > 0;
    }
  }

  enum class Wake { ready, stopped, idle };

  /// Waits until `fd` has `events`, the stop signal, or the idle timeout.
  Wake wait(int fd, short events) const {
    for (;;) {
      pollfd fds[2] = {{fd, events, 0}, {stop_fd_, POLLIN, 0}};
      int r = ::poll(fds, 2, idle_wait_ms());
      if (r < 0) {
        if (errno == EINTR) continue;
        return Wake::ready;  // let the operation itself report what is wrong
      }
      if (fds[1].revents != 0) return Wake::stopped;
      if (fds[0].revents != 0) return Wake::ready;
      if (idle_ && Clock::now() >= idle_deadline()) return Wake::idle;
    }
  }

  std::atomic<std::uint64_t> bytes_in{0};
  std::atomic<std::uint64_t> bytes_out{0};
  std::atomic<bool> stdin_done{false};

  void fill(RelayStats& stats) {
    std::lock_guard lock(mutex_);
    stats.bytes_in = bytes_in.load();
    stats.bytes_out = bytes_out.load();
    stats.closed_first = first_closer_.load();
    stats.error = error_;
    stats.error_context = context_;
    stats.idle_timed_out = idle_expired_;
  }

 private:
  Clock::time_point idle_deadline() const {
    return Clock::time_point(Clock::duration(last_activity_.load())) + *idle_;
  }
  int idle_wait_ms() const {
    if (!idle_) return -1;
    auto left = idle_deadline() - Clock::now();
    if (left <= Clock::duration::zero()) return 0;
    return static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(left).count());
  }

  std::optional<std::chrono::milliseconds> idle_;
  int stop_fd_;
  std::atomic<Clock::rep> last_activity_{0};
  std::atomic<Closer> first_closer_{Closer::none};
  std::mutex mutex_;
  std::error_code error_;
  std::string context_;
  bool idle_expired_ = false;
};

/// stdin's end: FIN (shutdown write), and the local side has closed.
void finish_stdin(TcpStream& stream, Shared& shared) {
  shared.mark_closed(Closer::local);
  shared.stdin_done = true;
  (void)stream.shutdown(Shutdown::write);  // fails only if the connection is already gone
}

enum class FileSend : std::uint8_t { done, not_possible };

/// stdin -> socket without copying through user space, when stdin is a regular file (sendfile).
/// not_possible (nothing sent yet) when the kernel refuses this file: the caller reads instead.
FileSend pump_file(TcpStream& stream, int in_fd, Shared& shared) {
  struct stat st {};
  if (::fstat(in_fd, &st) != 0 || !S_ISREG(st.st_mode)) return FileSend::not_possible;
  const int sock = stream.socket().fd();
  bool sent_any = false;
  for (;;) {
    auto w = shared.wait(sock, POLLOUT);
    if (w == Shared::Wake::stopped) return FileSend::done;
    if (w == Shared::Wake::idle) {
      shared.fail_idle();
      return FileSend::done;
    }
    auto n = stream.send_file(in_fd, file_chunk_size, no_wait());
    if (!n) {
      if (would_block(n.error())) continue;
      if (!sent_any && n.error() == std::errc::invalid_argument) return FileSend::not_possible;
      // The socket is open: EBADF names stdin (opened write-only, as `0>file` does).
      shared.fail(n.error(), n.error() == std::errc::bad_file_descriptor ? "stdin" : "write");
      return FileSend::done;
    }
    if (*n == 0) {
      finish_stdin(stream, shared);
      return FileSend::done;
    }
    sent_any = true;
    shared.bytes_out += *n;
    shared.touch();
  }
}

/// stdin -> socket. At stdin's end: FIN (shutdown write). A regular file goes by sendfile.
void pump_stdin(TcpStream& stream, int in_fd, bool crlf, Shared& shared) {
  if (in_fd >= 0 && !crlf && pump_file(stream, in_fd, shared) == FileSend::done) return;
  bool last_cr = false;
  std::string converted;
  std::vector<std::byte> buf(chunk_size);
  const int sock = stream.socket().fd();
  for (;;) {
    if (in_fd >= 0) {
      auto w = shared.wait(in_fd, POLLIN);
      if (w == Shared::Wake::stopped) return;
      if (w == Shared::Wake::idle) return shared.fail_idle();
    }
    long n = read_some_fd(in_fd, buf);
    if (n < 0) {
      if (errno == EAGAIN) continue;
      return shared.fail({errno, std::system_category()}, "stdin");
    }
    if (n == 0) return finish_stdin(stream, shared);
    std::span<const std::byte> rest(buf.data(), static_cast<std::size_t>(n));
    if (crlf) {
      converted = to_crlf(std::string_view(reinterpret_cast<const char*>(buf.data()), rest.size()), last_cr);
      rest = std::as_bytes(std::span(converted.data(), converted.size()));
    }
    while (!rest.empty()) {
      auto w = shared.wait(sock, POLLOUT);
      if (w == Shared::Wake::stopped) return;
      if (w == Shared::Wake::idle) return shared.fail_idle();
      auto written = stream.write_some(rest, no_wait());
      if (!written) {
        if (would_block(written.error())) continue;
        return shared.fail(written.error(), "write");
      }
      rest = rest.subspan(*written);
      shared.bytes_out += *written;
      shared.touch();
    }
  }
}

/// How stdout takes a write without blocking past a wait that can end (issue 8 item 12: -w must fire
/// while the reader of stdout reads nothing).
enum class OutKind : std::uint8_t { file, socket, other };

OutKind out_kind(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return OutKind::other;
  if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)) return OutKind::file;  // never waits on a reader
  if (S_ISSOCK(st.st_mode)) return OutKind::socket;
  return OutKind::other;
}

/// Writes `data` to stdout; waits for room with the stop signal and the idle timeout in view, so a
/// stuck reader ends the relay at -w. A pipe or terminal with room takes PIPE_BUF bytes without
/// blocking; a socket gets MSG_DONTWAIT. False when the relay must end (the reason is in `shared`).
bool write_stdout(int fd, OutKind kind, std::span<const std::byte> data, Shared& shared) {
  if (kind == OutKind::file) {
    if (auto ec = write_fully(fd, data)) {
      shared.fail(ec, "stdout");
      return false;
    }
    return true;
  }
  while (!data.empty()) {
    auto w = shared.wait(fd, POLLOUT);
    if (w == Shared::Wake::stopped) return false;
    if (w == Shared::Wake::idle) {
      shared.fail_idle();
      return false;
    }
    ssize_t n = kind == OutKind::socket ? ::send(fd, data.data(), data.size(), MSG_DONTWAIT)
                                        : ::write(fd, data.data(), std::min<std::size_t>(data.size(), PIPE_BUF));
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      shared.fail({errno, std::system_category()}, "stdout");
      return false;
    }
    data = data.subspan(static_cast<std::size_t>(n));
    shared.touch();  // the reader is taking bytes: not idle
  }
  return true;
}

/// socket -> stdout, until the peer's FIN, an error, the idle timeout or the stop signal.
/// Returns true at the peer's clean end of stream.
bool pump_socket(TcpStream& stream, int out_fd, Shared& shared) {
  std::vector<std::byte> buf(chunk_size);
  const int sock = stream.socket().fd();
  const OutKind kind = out_kind(out_fd);
  for (;;) {
    auto w = shared.wait(sock, POLLIN);
    if (w == Shared::Wake::stopped) return false;
    if (w == Shared::Wake::idle) {
      shared.fail_idle();
      return false;
    }
    auto n = stream.read_some(buf, no_wait());
    if (!n) {
      if (would_block(n.error())) continue;
      shared.fail(n.error(), "read");
      return false;
    }
    if (*n == 0) {
      shared.mark_closed(Closer::peer);
      return true;
    }
    if (!write_stdout(out_fd, kind, std::span<const std::byte>(buf.data(), *n), shared)) return false;
    shared.bytes_in += *n;
    shared.touch();
  }
}

}  // namespace

RelayStats relay_stream(TcpStream& stream, const StreamRelayOptions& options) {
  RelayStats stats;
  const auto start = Clock::now();
  Shared shared(options.idle_timeout);
  if (!shared.ok()) {
    stats.error = {errno, std::system_category()};
    stats.error_context = "eventfd";
    return stats;
  }
  const bool interactive = options.in_fd >= 0 && ::isatty(options.in_fd) == 1;

  std::thread up([&] {
    pump_stdin(stream, options.in_fd, options.crlf, shared);
    // -q: stdin has ended; give the peer that long to finish, then stop.
    if (options.quit_after_eof && shared.stdin_done && !shared.stopped_within(*options.quit_after_eof)) {
      shared.stop();
    }
  });
  bool peer_eof = pump_socket(stream, options.out_fd, shared);
  if (shared.stdin_done) shared.stop();  // nothing left to send: wake a -q wait
  if (peer_eof && interactive && !shared.stdin_done) {
    // A terminal has nothing queued that could be lost: the peer's close ends the session.
    shared.stop();
  }
  up.join();
  if (peer_eof && !shared.stdin_done) (void)stream.shutdown(Shutdown::write);

  shared.fill(stats);
  stats.duration = Clock::now() - start;
  return stats;
}

std::string to_crlf(std::string_view in, bool& last_cr) {
  std::string out;
  out.reserve(in.size() + in.size() / 16);
  for (char c : in) {
    if (c == '\n' && !last_cr) out += '\r';
    out += c;
    last_cr = c == '\r';
  }
  return out;
}

}  // namespace tether::cli
