// src/async/async_socket.cpp: detail::AsyncSocket, the loop registration every async socket holds.
#include "async/loop_impl.hpp"

#include <tether/detail/async_socket.hpp>

#include <utility>

namespace tether::detail {

AsyncSocket::AsyncSocket(EventLoop* loop, Socket socket, FdHandle* handle) noexcept
    : loop_(loop), socket_(std::move(socket)), handle_(handle) {}

AsyncSocket::AsyncSocket(AsyncSocket&& other) noexcept
    : loop_(other.loop_), socket_(std::move(other.socket_)),
      handle_(std::exchange(other.handle_, nullptr)) {}

AsyncSocket& AsyncSocket::operator=(AsyncSocket&& other) noexcept {
  if (this != &other) {
    close();
    loop_ = other.loop_;
    socket_ = std::move(other.socket_);
    handle_ = std::exchange(other.handle_, nullptr);
  }
  return *this;
}

Result<AsyncSocket> AsyncSocket::attach(EventLoop& loop, Socket socket) {
  auto h = impl_of(loop).backend->attach(socket.fd());
  if (!h) return fail(h.error());
  return AsyncSocket(&loop, std::move(socket), *h);
}

void AsyncSocket::cancel(std::error_code ec) noexcept {
  if (handle_ != nullptr) impl_of(*loop_).backend->cancel_all(handle_, ec);
}

Socket AsyncSocket::release() noexcept {
  if (handle_ != nullptr) {
    impl_of(*loop_).backend->detach(handle_, make_error_code(Errc::closed));
    handle_ = nullptr;
  }
  return std::move(socket_);
}

void AsyncSocket::close() noexcept {
  Socket s = release();
  s.close();
}

}  // namespace tether::detail
