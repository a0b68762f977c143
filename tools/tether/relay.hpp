// relay.hpp: copying stdin to a socket and the socket to stdout, both at once.
//
// relay_stream() is the heart of `tether connect` and `tether listen` over TCP and Unix streams.
// Its contract, which ncat got wrong for years (ncat issues #894, #1413, #1779):
//   - both directions run concurrently (two threads), so neither side's backpressure stalls the
//     other;
//   - end of stdin sends FIN (shutdown(write)) and the relay keeps reading until the peer closes:
//     the tail of the reply is never dropped;
//   - a peer that closes its side first is a half-close: stdin is still sent until its end (unless
//     stdin is a terminal: then the peer's close ends the session, as in an interactive netcat);
//   - `idle_timeout` ends a relay in which no byte moved either way for that long.
// The "stdin to socket" direction is one function (pump_stdin); a regular file on stdin goes by
// sendfile(2) (no copy through user space), anything else by read + write.
//
// relay_datagrams() is the datagram version (`-u`): one stdin read is one datagram; every datagram
// received is written to stdout as it is.
// Threads: each relay runs on the caller's thread (and one helper thread it joins before returning).
#pragma once

#include <tether/endpoint.hpp>
#include <tether/tcp.hpp>
#include <tether/udp.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <system_error>

namespace tether::cli {

enum class Closer : std::uint8_t { none, local, peer };

/// "local", "peer" or "none" (the relay ended on an error or a timeout).
const char* closer_name(Closer c) noexcept;

struct RelayStats {
  std::uint64_t bytes_in = 0;        ///< socket -> stdout
  std::uint64_t bytes_out = 0;       ///< stdin -> socket
  std::uint64_t datagrams_in = 0;    ///< datagram relays only
  std::uint64_t datagrams_out = 0;
  std::uint64_t truncated = 0;       ///< datagrams larger than the receive buffer
  std::chrono::steady_clock::duration duration{};
  Closer closed_first = Closer::none;
  bool idle_timed_out = false;       ///< ended by idle_timeout (an error for streams)
  std::error_code error;             ///< first failure; empty when the relay ended cleanly
  std::string error_context;         ///< what failed: "read", "write", "stdin", "stdout", ...
};

struct StreamRelayOptions {
  int in_fd = 0;
  int out_fd = 1;
  std::optional<std::chrono::milliseconds> idle_timeout;
};

/// Relays until both directions have ended, an error, or the idle timeout. Does not close the
/// stream (the caller still wants tcp_info()).
RelayStats relay_stream(TcpStream& stream, const StreamRelayOptions& options);

struct DatagramRelayOptions {
  int in_fd = 0;
  int out_fd = 1;
  /// The socket is connected (connect -u): send() to its peer. Otherwise (listen -u) every stdin
  /// datagram goes to the last sender, and stdin is not read before the first datagram arrives.
  bool connected = true;
  /// With stdin open: end after this long without any datagram either way (nullopt: never).
  std::optional<std::chrono::milliseconds> idle_timeout;
  /// After stdin's end: keep printing replies until this long passes with none (nullopt: forever).
  std::optional<std::chrono::milliseconds> linger_after_eof;
  /// Called when a datagram comes from a sender other than the previous one (listen -u).
  std::function<void(const Endpoint& peer)> on_new_peer;
  /// When set, a datagram whose sender it refuses is dropped unseen (listen -u --allow/--deny).
  std::function<bool(const Endpoint& peer)> admit;
};

/// Relays datagrams until a timeout above or an error. A timeout is a clean end for datagrams.
RelayStats relay_datagrams(UdpSocket& socket, const DatagramRelayOptions& options);

}  // namespace tether::cli
