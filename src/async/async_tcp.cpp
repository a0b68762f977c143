// src/async/async_tcp.cpp: AsyncTcpStream and AsyncTcpListener on the loop's backend.
#include "async/loop_impl.hpp"
#include "sys.hpp"

#include <tether/async_tcp.hpp>

#include <sys/socket.h>

#include <utility>

namespace tether {

namespace {
void unregister(EventLoop* loop, detail::FdHandle*& handle, Socket& socket) noexcept {
  if (handle != nullptr) {
    detail::impl_of(*loop).backend->detach(handle, make_error_code(Errc::closed));
    handle = nullptr;
  }
  socket.close();
}
}  // namespace

// ---- AsyncTcpStream -------------------------------------------------------------------------

AsyncTcpStream::AsyncTcpStream(AsyncTcpStream&& other) noexcept
    : loop_(other.loop_), socket_(std::move(other.socket_)),
      handle_(std::exchange(other.handle_, nullptr)) {}

AsyncTcpStream& AsyncTcpStream::operator=(AsyncTcpStream&& other) noexcept {
  if (this != &other) {
    close();
    loop_ = other.loop_;
    socket_ = std::move(other.socket_);
    handle_ = std::exchange(other.handle_, nullptr);
  }
  return *this;
}

Result<AsyncTcpStream> AsyncTcpStream::attach(EventLoop& loop, Socket socket) {
  auto h = detail::impl_of(loop).backend->attach(socket.fd());
  if (!h) return fail(h.error());
  return AsyncTcpStream(&loop, std::move(socket), *h);
}

Result<AsyncTcpStream> AsyncTcpStream::adopt(EventLoop& loop, TcpStream stream) {
  return attach(loop, std::move(stream.socket()));
}

void AsyncTcpStream::cancel(std::error_code ec) noexcept {
  if (handle_ != nullptr) detail::impl_of(*loop_).backend->cancel_all(handle_, ec);
}

void AsyncTcpStream::close() noexcept { unregister(loop_, handle_, socket_); }

Socket AsyncTcpStream::release() noexcept {
  if (handle_ != nullptr) {
    detail::impl_of(*loop_).backend->detach(handle_, make_error_code(Errc::closed));
    handle_ = nullptr;
  }
  return std::move(socket_);
}

detail::ConnectOp AsyncTcpStream::connect(EventLoop& loop, const Endpoint& remote,
                                          Deadline deadline) {
  return {&loop, remote, deadline};
}

// ---- AsyncTcpListener -----------------------------------------------------------------------

AsyncTcpListener::AsyncTcpListener(AsyncTcpListener&& other) noexcept
    : loop_(other.loop_), socket_(std::move(other.socket_)),
      handle_(std::exchange(other.handle_, nullptr)) {}

AsyncTcpListener& AsyncTcpListener::operator=(AsyncTcpListener&& other) noexcept {
  if (this != &other) {
    close();
    loop_ = other.loop_;
    socket_ = std::move(other.socket_);
    handle_ = std::exchange(other.handle_, nullptr);
  }
  return *this;
}

Result<AsyncTcpListener> AsyncTcpListener::bind(EventLoop& loop, const Endpoint& local,
                                                 const ListenOptions& options) {
  auto l = TcpListener::bind(local, options);
  if (!l) return fail(l.error());
  return adopt(loop, std::move(*l));
}

Result<AsyncTcpListener> AsyncTcpListener::adopt(EventLoop& loop, TcpListener listener) {
  auto h = detail::impl_of(loop).backend->attach(listener.socket().fd());
  if (!h) return fail(h.error());
  AsyncTcpListener out;
  out.loop_ = &loop;
  out.socket_ = std::move(listener.socket());
  out.handle_ = *h;
  return out;
}

void AsyncTcpListener::cancel(std::error_code ec) noexcept {
  if (handle_ != nullptr) detail::impl_of(*loop_).backend->cancel_all(handle_, ec);
}

void AsyncTcpListener::close() noexcept { unregister(loop_, handle_, socket_); }

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
