// The full-duplex relay over TLS: stdin -> TLS on a helper thread, TLS -> stdout on the caller's.
// TlsStream allows one reading and one writing thread at once.
#include "tls_relay.hpp"
#include "relay_pump.hpp"

#include <unistd.h>

#include <array>
#include <cerrno>
#include <thread>

namespace tether::cli {

namespace {

using pump::Clock;
using pump::Shared;
constexpr std::size_t chunk_size = 64 * 1024;

void write_failed(Shared& shared, std::error_code ec) {
  if (ec == std::errc::timed_out) return shared.fail_idle();
  // The peer closed: the reader goes on to the alert or the end that says why (it ends soon).
  const bool peer_gone = ec == std::errc::broken_pipe || ec == std::errc::connection_reset;
  shared.fail(ec, "write", false, !peer_gone);
}

/// All of a stdin chunk, encrypted; a blocking write bounded by the idle timeout.
bool send_chunk(TlsStream& tls, std::span<const std::byte> data, Shared& shared) {
  auto st = tls.write_all(data, shared.write_deadline());
  if (!st) write_failed(shared, st.error());
  return st.has_value();
}

/// stdin's end: close_notify and FIN.
void finish_sending(TlsStream& tls, Shared& shared) {
  if (auto st = tls.shutdown(shared.write_deadline()); !st) write_failed(shared, st.error());
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
    pump::from_stdin(tls, options.in_fd, options.crlf, chunk_size, shared, send_chunk, finish_sending);
    // -q: stdin has ended; give the peer that long to finish, then stop.
    if (options.quit_after_eof && shared.stdin_done && !shared.stopped_within(*options.quit_after_eof)) {
      shared.stop();
    }
  });
  const bool peer_done = pump::to_stdout(tls, tls.tcp().socket().fd(), options.out_fd, chunk_size, true, shared);
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
