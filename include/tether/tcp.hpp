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
};

class TcpStream {
 public:
  TcpStream() noexcept = default;
  explicit TcpStream(Socket socket) noexcept : socket_(std::move(socket)) {}

  /// Connects to one endpoint (IP or Unix).
  static Result<TcpStream> connect(const Endpoint& remote, Deadline deadline = {});
  static Result<TcpStream> connect(const Endpoint& remote, const ConnectOptions& options);
  /// Resolves host/service and tries each address in order within ONE deadline: each attempt gets
  /// an equal share of the time left, so a black-holed first address cannot eat it all.
  /// The error is that of the last attempt.
  static Result<TcpStream> connect(std::string_view host, std::string_view service,
                                   const ConnectOptions& options = {});

  /// Up to buf.size() bytes; 0 means the peer closed its side (end of stream).
  Result<std::size_t> read_some(std::span<std::byte> buf, Deadline deadline = {});
  Result<std::size_t> read_some(std::span<char> buf, Deadline deadline = {}) {
    return read_some(std::as_writable_bytes(buf), deadline);
  }
  /// Writes at least one byte, at most buf.size().
  Result<std::size_t> write_some(std::span<const std::byte> buf, Deadline deadline = {});
  /// Exactly buf.size() bytes, or an error (Errc::end_of_stream if the peer closed first).
  Status read_exact(std::span<std::byte> buf, Deadline deadline = {});
  Status read_exact(std::span<char> buf, Deadline deadline = {}) {
    return read_exact(std::as_writable_bytes(buf), deadline);
  }
  /// Every byte of buf, across partial writes and EINTR, or an error.
  Status write_all(std::span<const std::byte> buf, Deadline deadline = {});
  Status write_all(std::string_view text, Deadline deadline = {}) {
    return write_all(std::as_bytes(std::span(text.data(), text.size())), deadline);
  }

  /// Zero-copy: sends up to `count` bytes of the file `file_fd` from its current offset
  /// (sendfile(2)); the file offset advances. 0 means the file ended. A regular file (or a block
  /// device) is required: EINVAL otherwise, and the caller falls back to read + write_all.
  Result<std::size_t> send_file(int file_fd, std::size_t count, Deadline deadline = {});

  Status shutdown(Shutdown how) { return socket_.shutdown(how); }
  Result<TcpInfo> tcp_info() const;
  Result<Endpoint> local_endpoint() const { return socket_.local_endpoint(); }
  Result<Endpoint> peer_endpoint() const { return socket_.peer_endpoint(); }

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
  static Result<TcpListener> bind(const Endpoint& local, const ListenOptions& options = {});
  static Result<TcpListener> bind(const Endpoint& local, int backlog) {
    ListenOptions o;
    o.backlog = backlog;
    return bind(local, o);
  }

  /// The next connection from the queue; waits until one arrives or the deadline passes.
  Result<Accepted> accept(Deadline deadline = {});
  Result<Endpoint> local_endpoint() const { return socket_.local_endpoint(); }

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
