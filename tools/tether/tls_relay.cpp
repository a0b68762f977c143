// The full-duplex relay over TLS: stdin -> TLS on a helper thread, TLS -> stdout on the caller's.
// TlsStream allows one reading and one writing thread at once.
#include "tls_relay.hpp"
#include "stdio.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <mutex>
#include <thread>
#include <vector>

namespace tether::cli {

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t chunk_size = 64 * 1024;

bool would_block(const std::error_code& ec) {
  return ec == std::errc::operation_would_block || ec == std::errc::resource_unavailable_try_again ||
         ec == std::errc::timed_out || ec == std::errc::interrupted;
}

/// Counters, the first error, the idle clock and a stop signal both threads share.
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
  void fail(std::error_code ec, const char* context, bool idle = false, bool stop_now = true) {
    {
      std::lock_guard lock(mutex_);
      // A TLS alert explains a write that failed because the peer closed: it wins.
      const bool explains = error_ && context_ == "write" && error_.category() != tls_category() &&
                            ec.category() == tls_category();
      if (!error_ || explains) {
        error_ = ec;
        context_ = context;
        idle_expired_ = idle;
      }
    }
    if (stop_now) stop();
  }
  void fail_idle() { fail(std::make_error_code(std::errc::timed_out), "idle", true); }
  void mark_closed(Closer who) noexcept {
    auto none = Closer::none;
    first_closer_.compare_exchange_strong(none, who);
  }
  void touch() noexcept { last_activity_.store(Clock::now().time_since_epoch().count()); }

  /// Waits up to `limit` for the stop signal; true when it came (-q).
  bool stopped_within(std::chrono::milliseconds limit) const {
    pollfd p{stop_fd_, POLLIN, 0};
    for (;;) {
      int r = ::poll(&p, 1, static_cast<int>(limit.count()));
      if (r < 0 && errno == EINTR) continue;
      return r > 0;
    }
  }

  enum class Wake { ready, stopped, idle };
  Wake wait(int fd, short events) const {
    for (;;) {
      pollfd fds[2] = {{fd, events, 0}, {stop_fd_, POLLIN, 0}};
      int r = ::poll(fds, 2, idle_wait_ms());
      if (r < 0) {
        if (errno == EINTR) continue;
        return Wake::ready;
      }
      if (fds[1].revents != 0) return Wake::stopped;
      if (fds[0].revents != 0) return Wake::ready;
      if (idle_ && Clock::now() >= idle_deadline()) return Wake::idle;
    }
  }
  /// For blocking TLS writes: the idle deadline (never without -w).
  Deadline write_deadline() const { return idle_ ? Deadline::at(idle_deadline()) : Deadline::never(); }

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

void write_failed(Shared& shared, std::error_code ec) {
  if (ec == std::errc::timed_out) return shared.fail_idle();
  // The peer closed: the reader goes on to the alert or the end that says why (it ends soon).
  const bool peer_gone = ec == std::errc::broken_pipe || ec == std::errc::connection_reset;
  shared.fail(ec, "write", false, !peer_gone);
}

/// stdin -> TLS (-C: LF sent as CRLF). At stdin's end: close_notify and FIN.
void pump_stdin(TlsStream& tls, int in_fd, bool crlf, Shared& shared) {
  std::vector<std::byte> buf(chunk_size);
  bool last_cr = false;
  std::string converted;
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
    if (n == 0) {
      shared.mark_closed(Closer::local);
      shared.stdin_done = true;
      if (auto st = tls.shutdown(shared.write_deadline()); !st) write_failed(shared, st.error());
      return;
    }
    std::span<const std::byte> data(buf.data(), static_cast<std::size_t>(n));
    if (crlf) {
      converted = to_crlf(std::string_view(reinterpret_cast<const char*>(buf.data()), data.size()), last_cr);
      data = std::as_bytes(std::span(converted.data(), converted.size()));
    }
    auto st = tls.write_all(data, shared.write_deadline());
    if (!st) return write_failed(shared, st.error());
    shared.bytes_out += data.size();
    shared.touch();
  }
}

/// TLS -> stdout until the peer's close_notify (true), an error, the idle timeout or a stop.
bool pump_tls(TlsStream& tls, int out_fd, Shared& shared) {
  std::vector<std::byte> buf(chunk_size);
  const int sock = tls.tcp().socket().fd();
  for (;;) {
    // Read first, wait only when nothing is left: the engine may hold whole records that arrived
    // with an earlier segment, which poll() cannot see.
    auto n = tls.read_some(buf, Deadline(std::chrono::milliseconds(0)));
    if (!n) {
      if (would_block(n.error())) {
        auto w = shared.wait(sock, POLLIN);
        if (w == Shared::Wake::stopped) return false;
        if (w == Shared::Wake::idle) {
          shared.fail_idle();
          return false;
        }
        continue;
      }
      shared.fail(n.error(), "read");
      return false;
    }
    if (*n == 0) {
      shared.mark_closed(Closer::peer);
      return true;
    }
    if (auto ec = write_fully(out_fd, std::span<const std::byte>(buf.data(), *n))) {
      shared.fail(ec, "stdout");
      return false;
    }
    shared.bytes_in += *n;
    shared.touch();
  }
}

}  // namespace

RelayStats relay_tls(TlsStream& tls, const StreamRelayOptions& options) {
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
    pump_stdin(tls, options.in_fd, options.crlf, shared);
    // -q: stdin has ended; give the peer that long to finish, then stop.
    if (options.quit_after_eof && shared.stdin_done && !shared.stopped_within(*options.quit_after_eof)) {
      shared.stop();
    }
  });
  const bool peer_done = pump_tls(tls, options.out_fd, shared);
  if (shared.stdin_done) shared.stop();  // nothing left to send: wake a -q wait
  if (peer_done && interactive && !shared.stdin_done) shared.stop();
  if (!peer_done) {
    // An error or timeout: wake a writer blocked on a peer that stopped reading.
    (void)tls.tcp().shutdown(Shutdown::write);
  }
  up.join();
  if (peer_done && !shared.stdin_done) (void)tls.shutdown(std::chrono::seconds(1));
  shared.fill(stats);
  if (stats.error && stats.error_context == "write" && stats.error.category() != tls_category()) {
    // A write failed because the peer closed: an alert it sent first names the reason (TLS 1.3
    // servers refuse a client certificate after the client's handshake has completed).
    std::array<std::byte, 4096> sink;
    auto n = tls.read_some(sink, Deadline(std::chrono::milliseconds(0)));
    if (!n && n.error().category() == tls_category()) {
      stats.error = n.error();
      stats.error_context = "read";
    }
  }
  stats.duration = Clock::now() - start;
  return stats;
}

}  // namespace tether::cli
