// src/async/async_udp.cpp: AsyncUdpSocket on the loop's backend.
#include "async/loop_impl.hpp"
#include "datagram_batch_io.hpp"
#include "sys.hpp"

#include <tether/async_udp.hpp>

#include <sys/socket.h>

#include <utility>

namespace tether {

Result<AsyncUdpSocket> AsyncUdpSocket::adopt(EventLoop& loop, UdpSocket socket) {
  auto registered = AsyncSocket::attach(loop, std::move(socket.socket()));
  if (!registered) return fail(registered.error());
  return AsyncUdpSocket(std::move(*registered));
}

Result<AsyncUdpSocket> AsyncUdpSocket::bind(EventLoop& loop, const Endpoint& local,
                                            const UdpBindOptions& options) {
  auto s = UdpSocket::bind(local, options);
  if (!s) return fail(s.error());
  return adopt(loop, std::move(*s));
}

Result<AsyncUdpSocket> AsyncUdpSocket::open(EventLoop& loop, const Endpoint& like) {
  auto s = UdpSocket::open(like);
  if (!s) return fail(s.error());
  return adopt(loop, std::move(*s));
}

Status AsyncUdpSocket::connect(const Endpoint& remote) {
  return detail::sys_status([&] { return ::connect(socket_.fd(), remote.data(), remote.size()); });
}

Result<std::size_t> AsyncUdpSocket::try_recv_batch(DatagramBatch& batch) noexcept {
  if (handle_ == nullptr) return fail(Errc::closed);
  return detail::try_recv_batch(socket_.fd(), batch);
}

Result<std::size_t> AsyncUdpSocket::try_send_batch(DatagramBatch& batch, std::size_t first,
                                                   std::size_t count) noexcept {
  if (handle_ == nullptr) return fail(Errc::closed);
  return detail::try_send_batch(socket_.fd(), batch, first, count);
}

namespace detail {

Result<Datagram> RecvFromOp::await_resume() {
  finish();
  if (ec) return fail(ec);
  Datagram d;
  d.full_size = result;
  d.size = result < size ? result : size;
  d.truncated = result > size;
  if (addr_len > 0) {
    if (auto from = Endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&from_), addr_len)) {
      d.from = std::move(*from);
    }
  }
  return d;
}

}  // namespace detail
}  // namespace tether
