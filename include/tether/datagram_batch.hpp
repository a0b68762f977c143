// tether/datagram_batch.hpp: many datagrams per system call (recvmmsg / sendmmsg).
//
//   DatagramBatch batch(32);                       // 32 slots of 64 KiB (memory touched on use)
//   auto n = sock.recv_batch(batch, 1s);           // blocks for the first datagram only
//   for (std::size_t i = 0; i < *n; ++i) use(batch.payload(i), batch.peer(i));
//   sock.send_batch(batch, 0, *n);                 // each payload back to its sender
//
// A receive fills slots 0..n-1 and records, per slot, the bytes copied, the datagram's full size
// (truncation is reported as recv_from reports it) and the sender. A send sends each slot's
// payload (set_payload_size may shorten or, up to the slot size, lengthen it) to its peer
// (set_peer may change it). Sends never raise SIGPIPE.
// Threads: one thread at a time per batch. Ownership: the batch owns its buffers.
#pragma once

#include <tether/endpoint.hpp>

#include <sys/socket.h>
#include <sys/uio.h>

#include <cstddef>
#include <memory>
#include <span>
#include <vector>

#pragma GCC visibility push(default)  // the public API (the shared library hides the rest)

namespace tether {

namespace detail {
struct DatagramBatchAccess;
}

class DatagramBatch {
 public:
  static constexpr std::size_t default_slot_size = 64 * 1024;  ///< any UDP datagram fits

  /// `capacity` slots (at least 1, at most 1024) of `slot_size` bytes (at least 1).
  explicit DatagramBatch(std::size_t capacity, std::size_t slot_size = default_slot_size);
  DatagramBatch(DatagramBatch&&) noexcept = default;
  DatagramBatch& operator=(DatagramBatch&&) noexcept = default;

  std::size_t capacity() const noexcept { return headers_.size(); }
  std::size_t slot_size() const noexcept { return slot_size_; }
  /// Datagrams held: what the last receive got, or what set_count said.
  std::size_t count() const noexcept { return count_; }
  /// Marks slots 0..n-1 as held (to send datagrams built by hand); n is clamped to capacity().
  void set_count(std::size_t n) noexcept;

  /// The bytes of slot i (what was received, or what set_payload_size set).
  std::span<std::byte> payload(std::size_t i) noexcept;
  std::span<const std::byte> payload(std::size_t i) const noexcept;
  /// The whole buffer of slot i, to build a datagram in place.
  std::span<std::byte> slot(std::size_t i) noexcept;
  void set_payload_size(std::size_t i, std::size_t n) noexcept;  ///< clamped to slot_size()

  /// The datagram's real size: > payload(i).size() when it was truncated.
  std::size_t full_size(std::size_t i) const noexcept { return full_[i]; }
  bool truncated(std::size_t i) const noexcept { return full_[i] > iov_[i].iov_len; }
  /// The sender of slot i (after a receive), or its destination (after set_peer); empty for an
  /// unnamed Unix sender.
  Endpoint peer(std::size_t i) const;
  /// False for an unnamed Unix sender (nowhere to reply).
  bool has_peer(std::size_t i) const noexcept {
    return headers_[i].msg_hdr.msg_name != nullptr && headers_[i].msg_hdr.msg_namelen > 0;
  }
  void set_peer(std::size_t i, const Endpoint& to) noexcept;

 private:
  friend struct detail::DatagramBatchAccess;
  std::size_t slot_size_;
  std::size_t count_ = 0;
  std::unique_ptr<std::byte[]> memory_;
  std::vector<mmsghdr> headers_;
  std::vector<iovec> iov_;
  std::vector<sockaddr_storage> names_;
  std::vector<std::size_t> full_;
};

}  // namespace tether

#pragma GCC visibility pop
