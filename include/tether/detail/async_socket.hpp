// tether/detail/async_socket.hpp: what every socket on an EventLoop holds (AsyncTcpStream,
// AsyncTcpListener, AsyncUdpSocket): its loop, its Socket and its backend registration.
//
// Move-only. close() unregisters from the loop (pending operations end with Errc::closed) and
// closes the fd; it is idempotent and the destructor calls it. Loop-thread only.
#pragma once

#include <tether/endpoint.hpp>
#include <tether/error.hpp>
#include <tether/socket.hpp>

#include <system_error>

#pragma GCC visibility push(default)  // the public API (the shared library hides the rest)

namespace tether {

class EventLoop;

namespace detail {

struct FdHandle;

class AsyncSocket {
 public:
  AsyncSocket(AsyncSocket&& other) noexcept;
  AsyncSocket& operator=(AsyncSocket&& other) noexcept;
  ~AsyncSocket() { close(); }

  /// Ends the pending operations with `ec` (default Errc::cancelled); the socket stays open.
  void cancel(std::error_code ec = make_error_code(Errc::cancelled)) noexcept;
  /// Pending operations end with Errc::closed; later ones fail with it. Idempotent.
  void close() noexcept;
  bool is_open() const noexcept { return handle_ != nullptr; }
  Result<Endpoint> local_endpoint() const { return socket_.local_endpoint(); }
  /// For options (buffer sizes, no_delay...); do not close or read through it.
  Socket& socket() noexcept { return socket_; }
  const Socket& socket() const noexcept { return socket_; }
  EventLoop* loop() const noexcept { return loop_; }

 protected:
  AsyncSocket() noexcept = default;
  AsyncSocket(EventLoop* loop, Socket socket, FdHandle* handle) noexcept;
  /// Registers `socket` with the loop's backend.
  static Result<AsyncSocket> attach(EventLoop& loop, Socket socket);
  /// Unregisters (pending operations end with Errc::closed) and hands the socket over.
  Socket release() noexcept;

  EventLoop* loop_ = nullptr;
  Socket socket_;
  FdHandle* handle_ = nullptr;
};

}  // namespace detail
}  // namespace tether

#pragma GCC visibility pop
