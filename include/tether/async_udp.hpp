// tether/async_udp.hpp: datagram sockets on an EventLoop, for coroutines.
//
//   auto sock = AsyncUdpSocket::bind(loop, Endpoint::ipv4_loopback(0)).value();
//   auto d = co_await sock.recv_from(buf);          // Result<Datagram>, truncation reported
//   co_await sock.send_to(std::span(buf).first(d->size), d->from);
//
// Operations take an optional Deadline and end with Errc::cancelled when the awaiting task is
// stopped, like the stream operations (async_tcp.hpp). Ownership, closing and threads as there:
// closing with operations pending ends them with Errc::closed; the loop's thread only.
#pragma once

#include <tether/datagram_batch.hpp>
#include <tether/deadline.hpp>
#include <tether/detail/async_socket.hpp>
#include <tether/detail/op.hpp>
#include <tether/endpoint.hpp>
#include <tether/error.hpp>
#include <tether/socket.hpp>
#include <tether/udp.hpp>

#include <sys/socket.h>

#include <cstddef>
#include <span>
#include <string_view>

#pragma GCC visibility push(default)  // the public API (the shared library hides the rest)

namespace tether {

class EventLoop;

namespace detail {

class RecvFromOp : public OpBase {
 public:
  RecvFromOp(EventLoop* loop, FdHandle* h, std::span<std::byte> buf, Deadline d) noexcept
      : OpBase(loop, h, OpKind::recv_from, d) {
    data = buf.data();
    size = buf.size();
    addr = &from_;
    addr_len = sizeof from_;
  }
  RecvFromOp(const RecvFromOp& other) noexcept : OpBase(other) {
    addr = &from_;
    addr_len = sizeof from_;
  }
  [[nodiscard]] Result<Datagram> await_resume();

 private:
  sockaddr_storage from_{};
};

class RecvBatchOp : public OpBase {
 public:
  RecvBatchOp(EventLoop* loop, FdHandle* h, DatagramBatch& batch, Deadline d) noexcept
      : OpBase(loop, h, OpKind::recv_batch, d) {
    data = reinterpret_cast<std::byte*>(&batch);
    size = batch.capacity();
  }
  [[nodiscard]] Result<std::size_t> await_resume() noexcept {
    finish();
    if (ec) return fail(ec);
    return result;
  }
};

class SendToOp : public OpBase {
 public:
  /// `to` empty: the connected peer.
  SendToOp(EventLoop* loop, FdHandle* h, std::span<const std::byte> buf, const Endpoint& to,
           Deadline d) noexcept
      : OpBase(loop, h, OpKind::send_to, d), to_(to) {
    data = const_cast<std::byte*>(buf.data());  // only read
    size = buf.size();
    point_at_to();
  }
  SendToOp(const SendToOp& other) noexcept : OpBase(other), to_(other.to_) { point_at_to(); }
  [[nodiscard]] Result<std::size_t> await_resume() noexcept {
    finish();
    if (ec) return fail(ec);
    return result;
  }

 private:
  void point_at_to() noexcept {
    addr = to_.size() == 0 ? nullptr : const_cast<sockaddr*>(to_.data());
    addr_len = to_.size();
  }
  Endpoint to_;  // a copy: the caller's endpoint may be a temporary
};

}  // namespace detail

/// A datagram socket on a loop; cancel, close, is_open, socket, local_endpoint and loop come
/// from detail::AsyncSocket.
class AsyncUdpSocket : public detail::AsyncSocket {
 public:
  AsyncUdpSocket() noexcept = default;

  [[nodiscard]] static Result<AsyncUdpSocket> bind(EventLoop& loop, const Endpoint& local,
                                     const UdpBindOptions& options = {});
  /// An unbound socket of the family of `like`.
  [[nodiscard]] static Result<AsyncUdpSocket> open(EventLoop& loop, const Endpoint& like);
  [[nodiscard]] static Result<AsyncUdpSocket> adopt(EventLoop& loop, UdpSocket socket);

  [[nodiscard]] Status connect(const Endpoint& remote);

  detail::RecvFromOp recv_from(std::span<std::byte> buf, Deadline deadline = {}) noexcept {
    return {loop_, handle_, buf, deadline};
  }
  detail::RecvFromOp recv_from(std::span<char> buf, Deadline deadline = {}) noexcept {
    return {loop_, handle_, std::as_writable_bytes(buf), deadline};
  }
  detail::SendToOp send_to(std::span<const std::byte> data, const Endpoint& to,
                           Deadline deadline = {}) noexcept {
    return {loop_, handle_, data, to, deadline};
  }
  detail::SendToOp send_to(std::string_view text, const Endpoint& to,
                           Deadline deadline = {}) noexcept {
    return {loop_, handle_, std::as_bytes(std::span(text.data(), text.size())), to, deadline};
  }
  /// To the connected peer.
  detail::SendToOp send(std::span<const std::byte> data, Deadline deadline = {}) noexcept {
    return {loop_, handle_, data, Endpoint(), deadline};
  }

  /// Waits for datagrams, then takes every one queued, up to batch.capacity(), in one system call
  /// (recvmmsg). Result: their count (>= 1). A batch shorter than the capacity drained the
  /// socket, so the next wait goes straight to the loop (no system call that would block).
  detail::RecvBatchOp recv_batch(DatagramBatch& batch, Deadline deadline = {}) noexcept {
    return {loop_, handle_, batch, deadline};
  }
  /// Without suspending: receives what is queued, up to batch.capacity() datagrams, in one
  /// system call (recvmmsg); 0 when nothing is. For draining a busy socket after a recv_from;
  /// never while a recv_from is pending on this socket (it could take them out of order).
  [[nodiscard]] Result<std::size_t> try_recv_batch(DatagramBatch& batch) noexcept;
  /// Without suspending: sends slots [first, first + count) of `batch` in one system call
  /// (sendmmsg), each to its peer; the number the socket took, 0 when it is full (then send the
  /// next one with send_to, which waits for room).
  [[nodiscard]] Result<std::size_t> try_send_batch(DatagramBatch& batch, std::size_t first,
                                     std::size_t count) noexcept;

 private:
  explicit AsyncUdpSocket(detail::AsyncSocket&& registered) noexcept
      : AsyncSocket(std::move(registered)) {}
};

}  // namespace tether

#pragma GCC visibility pop
