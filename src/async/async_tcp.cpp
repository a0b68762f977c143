// src/async/async_tcp.cpp: AsyncTcpStream and AsyncTcpListener on the loop's backend.
#include "async/loop_impl.hpp"
#include "sys.hpp"

#include <tether/async_tcp.hpp>

#include <sys/socket.h>

#include <utility>

namespace tether {

// ---- AsyncTcpStream -------------------------------------------------------------------------

Result<AsyncTcpStream> AsyncTcpStream::attach(EventLoop& loop, Socket socket) {
  auto registered = AsyncSocket::attach(loop, std::move(socket));
  if (!registered) return fail(registered.error());
  return AsyncTcpStream(std::move(*registered));
}

Result<AsyncTcpStream> AsyncTcpStream::adopt(EventLoop& loop, TcpStream stream) {
  return attach(loop, std::move(stream.socket()));
}

detail::ConnectOp AsyncTcpStream::connect(EventLoop& loop, const Endpoint& remote,
                                          Deadline deadline) {
  return {&loop, remote, deadline};
}

// ---- AsyncTcpListener -----------------------------------------------------------------------

Result<AsyncTcpListener> AsyncTcpListener::bind(EventLoop& loop, const Endpoint& local,
                                                 const ListenOptions& options) {
  auto l = TcpListener::bind(local, options);
  if (!l) return fail(l.error());
  return adopt(loop, std::move(*l));
}

Result<AsyncTcpListener> AsyncTcpListener::adopt(EventLoop& loop, TcpListener listener) {
  auto registered = AsyncSocket::attach(loop, std::move(listener.socket()));
  if (!registered) return fail(registered.error());
  return AsyncTcpListener(std::move(*registered));
}

// ---- operations -----------------------------------------------------------------------------

namespace detail {

Result<AsyncAccepted> AcceptOp::await_resume() {
  finish();
  if (ec) return fail(ec);
  Socket socket(static_cast<int>(result));
  auto peer = Endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&peer_), addr_len);
  if (!peer) peer = Endpoint();  // an unnamed Unix peer
  auto stream = AsyncTcpStream::attach(*loop(), std::move(socket));
  if (!stream) return fail(stream.error());
  return AsyncAccepted{std::move(*stream), std::move(*peer)};
}

ConnectOp::~ConnectOp() {
  if (handle != nullptr) {
    if (state == OpState::waiting) impl_of(*loop()).backend->abandon(*this);
    impl_of(*loop()).backend->detach(handle, make_error_code(Errc::closed));
    handle = nullptr;
  }
}

void ConnectOp::prepare() noexcept {
  if (loop() == nullptr) return;
  auto s = Socket::open(remote_.family(), SocketType::stream);
  if (!s) {
    preset_error(s.error());
    return;
  }
  auto h = impl_of(*loop()).backend->attach(s->fd());
  if (!h) {
    preset_error(h.error());
    return;
  }
  socket_ = std::move(*s);
  handle = *h;
  addr = const_cast<sockaddr*>(remote_.data());
  addr_len = remote_.size();
}

Result<AsyncTcpStream> ConnectOp::await_resume() {
  finish();
  FdHandle* h = std::exchange(handle, nullptr);
  if (ec) {
    if (h != nullptr) impl_of(*loop()).backend->detach(h, make_error_code(Errc::closed));
    return fail(ec);
  }
  AsyncTcpStream stream(loop(), std::move(socket_), h);
  // A TCP connect that reaches its own port (simultaneous open on an ephemeral port) is not a
  // connection to anyone: report it as refused, like the synchronous layer.
  if (remote_.is_ip()) {
    auto local = stream.local_endpoint();
    auto peer = stream.peer_endpoint();
    if (local && peer && *local == *peer) {
      return fail(std::make_error_code(std::errc::connection_refused));
    }
  }
  return stream;
}

}  // namespace detail
}  // namespace tether
