// relay_pump.hpp: the two directions of the stdin/stdout relay, written once for any byte stream
// (relay_stream() over TcpStream in relay_stream.cpp, relay_tls() over TlsStream in tls_relay.cpp).
//
// A Stream offers read_some(buf, Deadline) (0: the peer's end), and the relay adds two verbs per
// stream type: send_chunk() (all of a chunk, or false when the relay must end) and
// finish_sending() (stdin's end: FIN, or close_notify and FIN).
// Shared holds what both threads share: counters, the first error, the idle clock and a stop
// signal (an eventfd that, once written, stays readable so that every wait sees it).
#pragma once

#include "relay.hpp"
#include "stdio.hpp"

#include <tether/tls.hpp>

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <mutex>
#include <string>
#include <vector>

namespace tether::cli::pump {

using Clock = std::chrono::steady_clock;

inline bool would_block(const std::error_code& ec) {
  return ec == std::errc::operation_would_block || ec == std::errc::resource_unavailable_try_again ||
         ec == std::errc::timed_out || ec == std::errc::interrupted;
}

/// poll() said ready: the call tries once and never blocks (a spurious wake-up is "timed out").
inline Deadline no_wait() { return Deadline(std::chrono::milliseconds(0)); }

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

  /// Records the first failure (a TLS alert that explains an earlier failed write replaces it)
  /// and, unless told otherwise, stops both directions.
  void fail(std::error_code ec, const char* context, bool idle = false, bool stop_now = true) {
    {
      std::lock_guard lock(mutex_);
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
  /// For blocking writes (TLS): the idle deadline (never without -w).
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

/// How stdout takes a write without blocking past a wait that can end (-w must fire while the
/// reader of stdout reads nothing).
enum class OutKind : std::uint8_t { file, socket, other };
OutKind out_kind(int fd);  // relay_stream.cpp
/// Writes `data` to stdout, waiting for room with the stop signal and the idle timeout in view.
/// False when the relay must end (the reason is in `shared`).
bool write_stdout(int fd, OutKind kind, std::span<const std::byte> data, Shared& shared);  // relay_stream.cpp

/// stream -> stdout, until the peer's end of stream (true), an error, the idle timeout or a stop.
/// `read_first`: try a read before waiting (a TLS engine may hold records poll() cannot see);
/// otherwise wait for the socket first (a plain socket may be in blocking mode: an exec child's).
template <class Stream>
bool to_stdout(Stream& stream, int sock, int out_fd, std::size_t chunk, bool read_first, Shared& shared) {
  std::vector<std::byte> buf(chunk);
  const OutKind kind = out_kind(out_fd);
  for (bool ready = read_first;; ready = read_first) {
    if (!ready) {
      auto w = shared.wait(sock, POLLIN);
      if (w == Shared::Wake::stopped) return false;
      if (w == Shared::Wake::idle) {
        shared.fail_idle();
        return false;
      }
    }
    auto n = stream.read_some(buf, no_wait());
    if (!n) {
      if (!would_block(n.error())) {
        shared.fail(n.error(), "read");
        return false;
      }
      if (read_first) {
        auto w = shared.wait(sock, POLLIN);
        if (w == Shared::Wake::stopped) return false;
        if (w == Shared::Wake::idle) {
          shared.fail_idle();
          return false;
        }
      }
      continue;
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

/// stdin -> stream (-C: LF sent as CRLF) by send_chunk(stream, bytes, shared), then
/// finish_sending(stream, shared) at stdin's end (after marking the local side closed).
template <class Stream, class Send, class Finish>
void from_stdin(Stream& stream, int in_fd, bool crlf, std::size_t chunk, Shared& shared, Send send_chunk,
                Finish finish_sending) {
  std::vector<std::byte> buf(chunk);
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
      return finish_sending(stream, shared);
    }
    std::span<const std::byte> data(buf.data(), static_cast<std::size_t>(n));
    if (crlf) {
      converted = to_crlf(std::string_view(reinterpret_cast<const char*>(buf.data()), data.size()), last_cr);
      data = std::as_bytes(std::span(converted.data(), converted.size()));
    }
    if (!send_chunk(stream, data, shared)) return;
    shared.bytes_out += data.size();
    shared.touch();
  }
}

}  // namespace tether::cli::pump
