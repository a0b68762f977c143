// tether/tcp.hpp: stream sockets. TcpListener accepts, TcpStream connects and transfers bytes.
//
// The same types carry Unix stream sockets: bind or connect to a unix: endpoint (UnixListener and
// UnixStream are aliases). Every blocking call takes a Deadline (default: the socket's timeout, else
// never) and fails with std::errc::timed_out when it passes. A read of 0 bytes is the peer's clean
// end of stream; a reset is the error ECONNRESET. Writes never raise SIGPIPE (MSG_NOSIGNAL): a write
// to a closed peer is the error EPIPE or ECONNRESET.
// Threads: a stream may be read from one thread while written from another; otherwise one thread at
// a time. Ownership: each object owns its Socket.
#pragma once

#include <tether/deadline.hpp>
#include <tether/endpoint.hpp>
#include <tether/error.hpp>
#include <tether/resolve.hpp>
#include <tether/socket.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#pragma GCC visibility push(default)  // the public API (the shared library hides the rest)

namespace tether {

/// What held a connection's sending back (TcpInfo::limited_by()).
enum class TcpLimit : std::uint8_t {
  none,       ///< nothing sent yet
  app,        ///< the application did not write fast enough (the last delivery-rate sample)
  rwnd,       ///< the peer's receive window
  sndbuf,     ///< the local send buffer
  cwnd,       ///< the congestion window (busy time not explained by the other two)
};

/// "app", "rwnd", "sndbuf", "cwnd" or "none".
const char* tcp_limit_name(TcpLimit limit) noexcept;

/// A snapshot of the kernel's TCP_INFO for one connection (getsockopt or sock_diag). Fields the
/// running kernel does not report stay zero.
struct TcpInfo {
  std::uint8_t state = 0;                 ///< TCP_ESTABLISHED, ...
  std::chrono::microseconds rtt{0};       ///< smoothed round-trip time
  std::chrono::microseconds rtt_var{0};
  std::chrono::microseconds min_rtt{0};   ///< lowest RTT seen (windowed)
  std::chrono::microseconds rto{0};       ///< retransmission timeout
  std::uint32_t retransmits = 0;          ///< total retransmitted segments
  std::uint32_t lost = 0;
  std::uint32_t send_cwnd = 0;            ///< congestion window, in segments
  std::uint32_t send_ssthresh = 0;        ///< slow-start threshold (a huge value: still in slow start)
  std::uint32_t send_mss = 0;
  std::uint32_t receive_mss = 0;
  std::uint32_t advertised_mss = 0;       ///< the MSS this side announced in its SYN
  std::uint32_t unacked = 0;
  std::uint32_t pmtu = 0;
  std::uint64_t bytes_acked = 0;
  std::uint64_t bytes_received = 0;
  std::uint64_t bytes_sent = 0;           ///< including retransmissions
  std::uint32_t segments_out = 0;
  std::uint32_t segments_in = 0;
  std::uint32_t notsent_bytes = 0;        ///< written by the application, not yet sent
  std::uint64_t delivery_rate = 0;        ///< bytes per second, the last sample
  std::uint64_t pacing_rate = 0;          ///< bytes per second
  bool delivery_rate_app_limited = false; ///< the last sample was limited by the application
  std::chrono::microseconds busy_time{0};       ///< time spent with data in flight
  std::chrono::microseconds rwnd_limited{0};    ///< of which limited by the peer's window
  std::chrono::microseconds sndbuf_limited{0};  ///< of which limited by the send buffer
  std::chrono::milliseconds last_data_sent{0};  ///< time since the last data was sent
  std::chrono::milliseconds last_data_received{0};
  // Negotiated in the handshake.
  bool timestamps = false;                ///< TCP timestamps (RFC 7323)
  bool sack = false;                      ///< selective acknowledgements
  bool window_scaling = false;
  bool ecn = false;                       ///< explicit congestion notification
  std::uint8_t send_wscale = 0;           ///< the peer's window scale (shift count)
  std::uint8_t receive_wscale = 0;        ///< this side's window scale

  /// What limited sending most: the application when its last rate sample says so, else the
  /// largest of rwnd, sndbuf and the rest of the busy time (cwnd).
  TcpLimit limited_by() const noexcept;
};

struct ConnectOptions {
  Deadline deadline;                      ///< one deadline for resolving and every attempt
  IpFamily family = IpFamily::any;
  std::optional<Endpoint> source;         ///< bind here before connecting (port 0: any port)
  /// race(): how long an attempt runs alone before the next address starts too (RFC 8305 says
  /// 250 ms, as AsyncTcpStream::connect does).
  std::chrono::milliseconds attempt_delay{250};
};

/// One failed attempt of TcpStream::race(): the address tried and why it failed. `bind` says the
/// failure was binding ConnectOptions::source (address = the source), not the connect itself.
struct ConnectFailure {
  Endpoint address;
  std::error_code error;
  bool bind = false;
};

class TcpStream {
 public:
  TcpStream() noexcept = default;
  explicit TcpStream(Socket socket) noexcept : socket_(std::move(socket)) {}

  /// Connects to one endpoint (IP or Unix).
  [[nodiscard]] static Result<TcpStream> connect(const Endpoint& remote, Deadline deadline = {});
  [[nodiscard]] static Result<TcpStream> connect(const Endpoint& remote, const ConnectOptions& options);
  /// Resolves host/service and tries each address in order within ONE deadline: each attempt gets
  /// an equal share of the time left, so a black-holed first address cannot eat it all.
  /// The error is that of the last attempt. (race() starts the next address after 250 ms instead.)
  [[nodiscard]] static Result<TcpStream> connect(std::string_view host, std::string_view service,
                                   const ConnectOptions& options = {});
  /// Happy Eyeballs (RFC 8305) without an event loop, as AsyncTcpStream::connect does with one:
  /// the addresses are interleaved by family (the first one's family first), each attempt gets
  /// `attempt_delay` alone before the next starts, a failed attempt starts the next at once, the
  /// first to connect wins and the others are closed; all within `options.deadline`. Addresses
  /// of a family other than `options.source`'s are skipped. Every failed attempt is appended to
  /// `failures` (when not null); a source that cannot be bound ends the race at once (its
  /// failure has `bind` set). The error is the last attempt's, timed_out at the deadline.
  [[nodiscard]] static Result<TcpStream> race(std::span<const Endpoint> addresses, const ConnectOptions& options,
                                std::vector<ConnectFailure>* failures = nullptr);

  /// Up to buf.size() bytes; 0 means the peer closed its side (end of stream).
  [[nodiscard]] Result<std::size_t> read_some(std::span<std::byte> buf, Deadline deadline = {});
  [[nodiscard]] Result<std::size_t> read_some(std::span<char> buf, Deadline deadline = {}) {
    return read_some(std::as_writable_bytes(buf), deadline);
  }
  /// Writes at least one byte, at most buf.size().
  [[nodiscard]] Result<std::size_t> write_some(std::span<const std::byte> buf, Deadline deadline = {});
  /// Exactly buf.size() bytes, or an error (Errc::end_of_stream if the peer closed first).
  [[nodiscard]] Status read_exact(std::span<std::byte> buf, Deadline deadline = {});
  [[nodiscard]] Status read_exact(std::span<char> buf, Deadline deadline = {}) {
    return read_exact(std::as_writable_bytes(buf), deadline);
  }
  /// Every byte of buf, across partial writes and EINTR, or an error.
  [[nodiscard]] Status write_all(std::span<const std::byte> buf, Deadline deadline = {});
  [[nodiscard]] Status write_all(std::string_view text, Deadline deadline = {}) {
    return write_all(std::as_bytes(std::span(text.data(), text.size())), deadline);
  }

  /// Zero-copy: sends up to `count` bytes of the file `file_fd` from its current offset
  /// (sendfile(2)); the file offset advances. 0 means the file ended. A regular file (or a block
  /// device) is required: EINVAL otherwise, and the caller falls back to read + write_all.
  [[nodiscard]] Result<std::size_t> send_file(int file_fd, std::size_t count, Deadline deadline = {});

  [[nodiscard]] Status shutdown(Shutdown how) { return socket_.shutdown(how); }
  [[nodiscard]] Result<TcpInfo> tcp_info() const;
  [[nodiscard]] Result<Endpoint> local_endpoint() const { return socket_.local_endpoint(); }
  [[nodiscard]] Result<Endpoint> peer_endpoint() const { return socket_.peer_endpoint(); }

  Socket& socket() noexcept { return socket_; }
  const Socket& socket() const noexcept { return socket_; }
  bool is_open() const noexcept { return socket_.is_open(); }
  void close() noexcept { socket_.close(); }

 private:
  Socket socket_;
};

struct ListenOptions {
  int backlog = 4096;          ///< capped by the kernel at net.core.somaxconn
  bool reuse_address = true;   ///< SO_REUSEADDR: rebind while old connections are in TIME_WAIT
  bool reuse_port = false;     ///< SO_REUSEPORT: several listeners share the port
  std::optional<bool> v6_only; ///< for [::]: nullopt keeps the system default
};

struct Accepted {
  TcpStream stream;
  Endpoint peer;
};

class TcpListener {
 public:
  TcpListener() noexcept = default;
  explicit TcpListener(Socket socket) noexcept : socket_(std::move(socket)) {}

  /// socket, setsockopt, bind, listen. A unix: path that exists is not removed: that is the
  /// caller's decision.
  [[nodiscard]] static Result<TcpListener> bind(const Endpoint& local, const ListenOptions& options = {});
  [[nodiscard]] static Result<TcpListener> bind(const Endpoint& local, int backlog) {
    ListenOptions o;
    o.backlog = backlog;
    return bind(local, o);
  }

  /// The next connection from the queue; waits until one arrives or the deadline passes.
  [[nodiscard]] Result<Accepted> accept(Deadline deadline = {});
  [[nodiscard]] Result<Endpoint> local_endpoint() const { return socket_.local_endpoint(); }

  Socket& socket() noexcept { return socket_; }
  const Socket& socket() const noexcept { return socket_; }
  bool is_open() const noexcept { return socket_.is_open(); }
  void close() noexcept { socket_.close(); }

 private:
  Socket socket_;
};

using UnixStream = TcpStream;
using UnixListener = TcpListener;

}  // namespace tether

#pragma GCC visibility pop
