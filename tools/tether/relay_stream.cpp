// The full-duplex stream relay: stdin -> socket on a helper thread, socket -> stdout on the caller's.
#include "relay.hpp"
#include "relay_pump.hpp"
#include "stdio.hpp"

#include <limits.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
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

using pump::Clock;
using pump::no_wait;
using pump::OutKind;
using pump::Shared;
using pump::would_block;
constexpr std::size_t chunk_size = 128 * 1024;
constexpr std::size_t file_chunk_size = 1024 * 1024;

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

/// All of `data` to the socket, waiting for room with the stop signal and the idle timeout in view.
bool send_chunk(TcpStream& stream, std::span<const std::byte> rest, Shared& shared) {
  const int sock = stream.socket().fd();
  while (!rest.empty()) {
    auto w = shared.wait(sock, POLLOUT);
    if (w == Shared::Wake::stopped) return false;
    if (w == Shared::Wake::idle) {
      shared.fail_idle();
      return false;
    }
    auto written = stream.write_some(rest, no_wait());
    if (!written) {
      if (would_block(written.error())) continue;
      shared.fail(written.error(), "write");
      return false;
    }
    rest = rest.subspan(*written);
    shared.touch();
  }
  return true;
}

/// stdin -> socket. At stdin's end: FIN (shutdown write). A regular file goes by sendfile.
void pump_stdin(TcpStream& stream, int in_fd, bool crlf, Shared& shared) {
  if (in_fd >= 0 && !crlf && pump_file(stream, in_fd, shared) == FileSend::done) return;
  pump::from_stdin(stream, in_fd, crlf, chunk_size, shared, send_chunk,
                   [](TcpStream& s, Shared&) { (void)s.shutdown(Shutdown::write); });
}

}  // namespace

namespace pump {

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

}  // namespace pump

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
  bool peer_eof = pump::to_stdout(stream, stream.socket().fd(), options.out_fd, chunk_size, false, shared);
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
