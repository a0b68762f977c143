// src/datagram_batch.cpp: DatagramBatch, and the recvmmsg / sendmmsg calls behind
// UdpSocket::recv_batch / send_batch and AsyncUdpSocket::try_recv_batch / try_send_batch.
#include <tether/datagram_batch.hpp>

#include "datagram_batch_io.hpp"
#include "sys.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace tether {

DatagramBatch::DatagramBatch(std::size_t capacity, std::size_t slot_size)
    : slot_size_(std::max<std::size_t>(slot_size, 1)) {
  capacity = std::clamp<std::size_t>(capacity, 1, detail::max_batch);
  // Not value-initialised: pages are touched only when a datagram lands in them.
  memory_ = std::make_unique_for_overwrite<std::byte[]>(capacity * slot_size_);
  headers_.resize(capacity);
  iov_.resize(capacity);
  names_.resize(capacity);
  full_.assign(capacity, 0);
  for (std::size_t i = 0; i < capacity; ++i) {
    iov_[i] = {memory_.get() + i * slot_size_, 0};
    headers_[i] = mmsghdr{};
    headers_[i].msg_hdr.msg_iov = &iov_[i];
    headers_[i].msg_hdr.msg_iovlen = 1;
    std::memset(&names_[i], 0, sizeof names_[i]);
  }
}

void DatagramBatch::set_count(std::size_t n) noexcept { count_ = std::min(n, capacity()); }

std::span<std::byte> DatagramBatch::payload(std::size_t i) noexcept {
  return {static_cast<std::byte*>(iov_[i].iov_base), iov_[i].iov_len};
}
std::span<const std::byte> DatagramBatch::payload(std::size_t i) const noexcept {
  return {static_cast<const std::byte*>(iov_[i].iov_base), iov_[i].iov_len};
}
std::span<std::byte> DatagramBatch::slot(std::size_t i) noexcept {
  return {memory_.get() + i * slot_size_, slot_size_};
}
void DatagramBatch::set_payload_size(std::size_t i, std::size_t n) noexcept {
  iov_[i].iov_len = std::min(n, slot_size_);
  full_[i] = iov_[i].iov_len;
}

Endpoint DatagramBatch::peer(std::size_t i) const {
  const socklen_t len = headers_[i].msg_hdr.msg_namelen;
  if (headers_[i].msg_hdr.msg_name == nullptr || len == 0) return {};
  auto ep = Endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&names_[i]), len);
  return ep ? *ep : Endpoint{};
}

void DatagramBatch::set_peer(std::size_t i, const Endpoint& to) noexcept {
  const std::size_t n = std::min<std::size_t>(to.size(), sizeof names_[i]);
  std::memcpy(&names_[i], to.data(), n);
  headers_[i].msg_hdr.msg_name = n == 0 ? nullptr : &names_[i];
  headers_[i].msg_hdr.msg_namelen = static_cast<socklen_t>(n);
}

namespace detail {

struct DatagramBatchAccess {
  static Result<std::size_t> recv(int fd, DatagramBatch& b, int flags) noexcept {
    const std::size_t cap = b.capacity();
    for (std::size_t i = 0; i < cap; ++i) {
      auto& h = b.headers_[i].msg_hdr;
      h.msg_name = &b.names_[i];
      h.msg_namelen = sizeof b.names_[i];
      h.msg_flags = 0;
      h.msg_control = nullptr;
      h.msg_controllen = 0;
      b.iov_[i].iov_len = b.slot_size_;
    }
    b.count_ = 0;
    for (;;) {
      // MSG_TRUNC: msg_len is each datagram's real length, even when it did not fit.
      const int n = ::recvmmsg(fd, b.headers_.data(), static_cast<unsigned>(cap), flags | MSG_TRUNC,
                               nullptr);
      if (n >= 0) {
        for (int i = 0; i < n; ++i) {
          const std::size_t full = b.headers_[static_cast<std::size_t>(i)].msg_len;
          b.full_[static_cast<std::size_t>(i)] = full;
          b.iov_[static_cast<std::size_t>(i)].iov_len = std::min(full, b.slot_size_);
        }
        b.count_ = static_cast<std::size_t>(n);
        return b.count_;
      }
      if (errno == EINTR) continue;
      if (would_block(errno)) return std::size_t{0};
      return fail(errno_code(errno));
    }
  }

  static Result<std::size_t> send(int fd, DatagramBatch& b, std::size_t first,
                                  std::size_t count) noexcept {
    if (first > b.capacity()) first = b.capacity();
    count = std::min(count, b.capacity() - first);
    if (count == 0) return std::size_t{0};
    for (;;) {
      const int n = ::sendmmsg(fd, b.headers_.data() + first, static_cast<unsigned>(count),
                               MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n >= 0) return static_cast<std::size_t>(n);
      if (errno == EINTR) continue;
      if (would_block(errno)) return std::size_t{0};
      return fail(errno_code(errno));
    }
  }
};

Result<std::size_t> try_recv_batch(int fd, DatagramBatch& batch) noexcept {
  return DatagramBatchAccess::recv(fd, batch, MSG_DONTWAIT);
}

Result<std::size_t> try_send_batch(int fd, DatagramBatch& batch, std::size_t first,
                                   std::size_t count) noexcept {
  return DatagramBatchAccess::send(fd, batch, first, count);
}

}  // namespace detail
}  // namespace tether
