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

namespace tether {

/// A snapshot of the kernel's TCP_INFO for one connection.
struct TcpInfo {
  std::uint8_t state = 0;                 ///< TCP_ESTABLISHED, ...
  std::chrono::microseconds rtt{0};       ///< smoothed round-trip time
  std::chrono::microseconds rtt_var{0};
  std::uint32_t retransmits = 0;          ///< total retransmitted segments
  std::uint32_t lost = 0;
  std::uint32_t send_cwnd = 0;            ///< congestion window, in segments
  std::uint32_t send_mss = 0;
  std::uint32_t unacked = 0;
  std::uint64_t bytes_acked = 0;
  std::uint64_t bytes_received = 0;
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
