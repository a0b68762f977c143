// src/datagram_batch_io.hpp (private): one recvmmsg / sendmmsg on a DatagramBatch, never waiting.
#pragma once

#include <tether/datagram_batch.hpp>
#include <tether/error.hpp>

#include <cstddef>

namespace tether::detail {

inline constexpr std::size_t max_batch = 1024;  // UIO_MAXIOV: what one recvmmsg/sendmmsg takes

/// Receives what is queued, up to batch.capacity() datagrams: their count, 0 when none is.
Result<std::size_t> try_recv_batch(int fd, DatagramBatch& batch) noexcept;
/// Sends slots [first, first + count): the number the socket took, 0 when it is full.
Result<std::size_t> try_send_batch(int fd, DatagramBatch& batch, std::size_t first,
                                   std::size_t count) noexcept;

}  // namespace tether::detail
