// tether/async_tcp.hpp: stream sockets on an EventLoop, for coroutines.
//
//   auto listener = AsyncTcpListener::bind(loop, Endpoint::ipv4_loopback(0)).value();
//   auto [stream, peer] = (co_await listener.accept()).value();
//   auto n = co_await stream.read_some(buf);           // Result<size_t>; 0 = end of stream
//   co_await stream.write_all(std::as_bytes(std::span(buf.data(), *n)));
//
// Every operation is an awaitable with an optional Deadline (std::errc::timed_out) that also ends
// with Errc::cancelled when the awaiting task's stop token is stopped (when_any, with_timeout,
// with_stop_token). An operation that can finish at once does not suspend.
// Ownership: each object owns its socket and its registration with the loop. Closing or
// destroying it while operations are pending is safe: they end with Errc::closed, delivered to
// their coroutines in the loop's ready phase; no callback from the user is ever needed. Moving a
// stream with pending operations is safe too (they refer to the registration, not the object).
// Threads: the loop's thread only; the loop must outlive the object. The same types carry Unix
// stream sockets.
#pragma once

#include <tether/deadline.hpp>
#include <tether/detail/async_socket.hpp>
#include <tether/detail/op.hpp>
#include <tether/endpoint.hpp>
#include <tether/error.hpp>
#include <tether/resolve.hpp>
#include <tether/socket.hpp>
#include <tether/task.hpp>
#include <tether/tcp.hpp>

#include <sys/socket.h>

#include <chrono>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#pragma GCC visibility push(default)  // the public API (the shared library hides the rest)

namespace tether {

class EventLoop;
class AsyncTcpStream;
class Connection;
struct AsyncAccepted;

namespace detail {

class ReadSomeOp : public OpBase {
 public:
  ReadSomeOp(EventLoop* loop, FdHandle* h, std::span<std::byte> buf, Deadline d) noexcept
      : OpBase(loop, h, OpKind::read_some, d) {
    data = buf.data();
    size = buf.size();
  }
  [[nodiscard]] Result<std::size_t> await_resume() noexcept {
    finish();
    if (ec) return fail(ec);
    return result;
  }
};

/// The bytes read live in a buffer the loop lends: valid until the reading coroutine next suspends.
class ReadBorrowedOp : public OpBase {
 public:
  ReadBorrowedOp(EventLoop* loop, FdHandle* h, Deadline d) noexcept
      : OpBase(loop, h, OpKind::read_borrowed, d) {}
  [[nodiscard]] Result<std::span<const std::byte>> await_resume() noexcept {
    finish();
    if (ec) return fail(ec);
    return std::span<const std::byte>(data, result);
  }
};

class WriteOp : public OpBase {
 public:
  WriteOp(EventLoop* loop, FdHandle* h, std::span<const std::byte> buf, bool all, Deadline d) noexcept
      : OpBase(loop, h, all ? OpKind::write_all : OpKind::write_some, d) {
    data = const_cast<std::byte*>(buf.data());  // only read: the IoOp field serves both ways
    size = buf.size();
  }
  /// Bytes written. For write_all on error, the bytes written before it are in written().
  [[nodiscard]] Result<std::size_t> await_resume() noexcept {
    finish();
    if (ec) return fail(ec);
    return result;
  }
};

/// Readiness for a caller that makes its own non-blocking system calls on the socket (splice(2))
/// and saw EAGAIN: completes once the socket is readable (or writable) again. No bytes move.
class WaitOp : public OpBase {
 public:
  WaitOp(EventLoop* loop, FdHandle* h, bool writable, Deadline d) noexcept
      : OpBase(loop, h, writable ? OpKind::wait_writable : OpKind::wait_readable, d) {}
  [[nodiscard]] Status await_resume() noexcept {
    finish();
    if (ec) return fail(ec);
    return {};
  }
};

class AcceptOp : public OpBase {
 public:
  AcceptOp(EventLoop* loop, FdHandle* h, Deadline d) noexcept
      : OpBase(loop, h, OpKind::accept, d) {
    addr = &peer_;
    addr_len = sizeof peer_;
  }
  AcceptOp(const AcceptOp& other) noexcept : OpBase(other) {
    addr = &peer_;
    addr_len = sizeof peer_;
  }
  [[nodiscard]] Result<AsyncAccepted> await_resume();

 private:
  sockaddr_storage peer_{};
};

/// Opens and registers the socket only when awaited, so an operation never awaited holds nothing.
class ConnectOp : public OpBase {
 public:
  ConnectOp(EventLoop* loop, const Endpoint& remote, Deadline d) noexcept
      : OpBase(loop, nullptr, OpKind::connect, d), remote_(remote) {}
  ConnectOp(const ConnectOp& other) noexcept : OpBase(other), remote_(other.remote_) {}
  ~ConnectOp();
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) noexcept {
    prepare();
    return OpBase::await_suspend(h);
  }
  [[nodiscard]] Result<AsyncTcpStream> await_resume();

 private:
  void prepare() noexcept;
  Endpoint remote_;
  Socket socket_;
};

}  // namespace detail

/// RFC 8305 "Happy Eyeballs" connection racing.
struct HappyEyeballsOptions {
  Deadline deadline;  ///< one deadline for resolving and every attempt together
  std::chrono::milliseconds attempt_delay{250};  ///< head start of each attempt over the next
  IpFamily family = IpFamily::any;
};

/// A connected stream on a loop; cancel, close, is_open, socket, local_endpoint and loop come
/// from detail::AsyncSocket.
class AsyncTcpStream : public detail::AsyncSocket {
 public:
  AsyncTcpStream() noexcept = default;

  /// Attaches a connected stream (from the synchronous layer) to `loop`.
  [[nodiscard]] static Result<AsyncTcpStream> adopt(EventLoop& loop, TcpStream stream);

  /// Connects to one endpoint (IP or Unix). Awaitable: Result<AsyncTcpStream>.
  static detail::ConnectOp connect(EventLoop& loop, const Endpoint& remote, Deadline deadline = {});
  /// Races connections to `addresses` (RFC 8305): the first one's family first, families
  /// interleaved, each attempt started `attempt_delay` after the previous one or at once when the
  /// previous one fails; the first to connect wins and the others are cancelled and closed. All
  /// within options.deadline. The error is the last attempt's.
  static Task<Result<AsyncTcpStream>> connect(EventLoop& loop, std::vector<Endpoint> addresses,
                                              HappyEyeballsOptions options = {});
  /// Resolves host/service on a helper thread (the loop keeps running), then races as above,
  /// the resolution and the attempts within one deadline.
  static Task<Result<AsyncTcpStream>> connect(EventLoop& loop, std::string host,
                                              std::string service,
                                              HappyEyeballsOptions options = {});

  /// Up to buf.size() bytes; 0 means the peer closed its side (end of stream).
  detail::ReadSomeOp read_some(std::span<std::byte> buf, Deadline deadline = {}) noexcept {
    return {loop_, handle_, buf, deadline};
  }
  detail::ReadSomeOp read_some(std::span<char> buf, Deadline deadline = {}) noexcept {
    return {loop_, handle_, std::as_writable_bytes(buf), deadline};
  }
  /// Reads into a buffer the loop lends (no buffer per connection): the span is valid until this
  /// coroutine next suspends. Empty span: end of stream.
  detail::ReadBorrowedOp read_borrowed(Deadline deadline = {}) noexcept {
    return {loop_, handle_, deadline};
  }
  /// At least one byte, at most buf.size().
  detail::WriteOp write_some(std::span<const std::byte> buf, Deadline deadline = {}) noexcept {
    return {loop_, handle_, buf, false, deadline};
  }
  /// Every byte of buf, across partial writes; the result is buf.size(). `buf` must stay valid
  /// until the operation completes.
  detail::WriteOp write_all(std::span<const std::byte> buf, Deadline deadline = {}) noexcept {
    return {loop_, handle_, buf, true, deadline};
  }
  detail::WriteOp write_all(std::string_view text, Deadline deadline = {}) noexcept {
    return {loop_, handle_, std::as_bytes(std::span(text.data(), text.size())), true, deadline};
  }

  /// For the caller's own non-blocking calls on socket().fd() (splice(2), sendfile(2)): after one
  /// said EAGAIN, waits until the socket is readable / writable again (edge-triggered: only after
  /// EAGAIN, else it may wait for an edge that already came).
  detail::WaitOp wait_readable(Deadline deadline = {}) noexcept { return {loop_, handle_, false, deadline}; }
  detail::WaitOp wait_writable(Deadline deadline = {}) noexcept { return {loop_, handle_, true, deadline}; }

  /// Unregisters from the loop (pending operations end with Errc::closed) and hands the socket
  /// over, e.g. to attach it to another loop with adopt().
  using detail::AsyncSocket::release;
  [[nodiscard]] Status shutdown(Shutdown how) { return socket_.shutdown(how); }
  [[nodiscard]] Result<Endpoint> peer_endpoint() const { return socket_.peer_endpoint(); }

 private:
  friend class detail::ConnectOp;
  friend class detail::AcceptOp;
  friend class Connection;
  AsyncTcpStream(EventLoop* loop, Socket socket, detail::FdHandle* handle) noexcept
      : AsyncSocket(loop, std::move(socket), handle) {}
  explicit AsyncTcpStream(detail::AsyncSocket&& registered) noexcept
      : AsyncSocket(std::move(registered)) {}
  [[nodiscard]] static Result<AsyncTcpStream> attach(EventLoop& loop, Socket socket);
};

struct AsyncAccepted {
  AsyncTcpStream stream;
  Endpoint peer;
};

/// A listening socket on a loop; cancel, close, is_open, socket, local_endpoint and loop come
/// from detail::AsyncSocket.
class AsyncTcpListener : public detail::AsyncSocket {
 public:
  AsyncTcpListener() noexcept = default;

  [[nodiscard]] static Result<AsyncTcpListener> bind(EventLoop& loop, const Endpoint& local,
                                       const ListenOptions& options = {});
  [[nodiscard]] static Result<AsyncTcpListener> adopt(EventLoop& loop, TcpListener listener);

  /// The next connection. Errors such as EMFILE are returned as they are: the caller decides
  /// whether to back off (Server does).
  detail::AcceptOp accept(Deadline deadline = {}) noexcept { return {loop_, handle_, deadline}; }

 private:
  explicit AsyncTcpListener(detail::AsyncSocket&& registered) noexcept
      : AsyncSocket(std::move(registered)) {}
};

}  // namespace tether

#pragma GCC visibility pop
