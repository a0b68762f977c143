// src/backend/uring_buffers.hpp (private): the io_uring backend's lent buffers, a ring of
// provided buffers (IORING_REGISTER_PBUF_RING, Linux 5.19).
//
// A borrowed read names a buffer group instead of a buffer; the kernel takes a buffer from the
// ring only when data arrives (an idle connection holds none) and names it in the completion.
// The backend gives the buffer back once the reader has consumed it (give_back). The memory is
// mapped, not allocated, and faulted in at once (see count).
// Loop-thread only. Owned by the backend, which must unregister it before the ring goes away.
#pragma once

#include <liburing.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>

namespace tether::detail {

class UringBuffers {
 public:
  // Enough for a read on each of 1000 busy connections in one iteration: with fewer, the reads
  // beyond the count end with ENOBUFS and go round again (measured at 1000 conns x 64 B x P16
  // with 64 buffers of 64 KiB: 77 % of the completions). 4 KiB each (epoll lends 64 KiB: a bulk
  // reader gets its bytes in more completions). The 4 MiB are faulted in at once (MAP_POPULATE):
  // the kernel fills the buffers in ring order, so an untouched pool would grow by a page per
  // message until every buffer had been used: a fixed cost per loop, not per connection.
  static constexpr unsigned count = 1024;       // a power of two (the ring's size)
  static constexpr std::size_t size = 4 * 1024;
  static constexpr std::uint16_t group = 0;       // the buffer group the reads name

  UringBuffers() = default;
  UringBuffers(const UringBuffers&) = delete;
  UringBuffers& operator=(const UringBuffers&) = delete;
  ~UringBuffers() { unmap(); }

  /// Maps the memory and registers the ring with `ring`. 0 or a negative errno.
  int init(io_uring& ring) noexcept {
    const std::size_t ring_bytes = count * sizeof(io_uring_buf);
    void* r =
        ::mmap(nullptr, ring_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (r == MAP_FAILED) return -errno;
    void* m = ::mmap(nullptr, count * size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (m == MAP_FAILED) {
      int e = errno;
      ::munmap(r, ring_bytes);
      return -e;
    }
    ring_ = static_cast<io_uring_buf_ring*>(r);
    memory_ = static_cast<std::byte*>(m);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uintptr_t>(ring_);
    reg.ring_entries = count;
    reg.bgid = group;
    if (int e = io_uring_register_buf_ring(&ring, &reg, 0); e < 0) {
      unmap();
      return e;
    }
    registered_ = true;
    io_uring_buf_ring_init(ring_);
    for (unsigned id = 0; id < count; ++id) add(id, static_cast<int>(id));
    io_uring_buf_ring_advance(ring_, static_cast<int>(count));
    return 0;
  }

  /// Unregisters the ring (before io_uring_queue_exit, once no read is in the kernel).
  void unregister(io_uring& ring) noexcept {
    if (registered_) io_uring_unregister_buf_ring(&ring, group);
    registered_ = false;
  }
  /// Forgets the memory without unmapping it: for a kernel that may still be using it.
  void leak() noexcept { ring_ = nullptr, memory_ = nullptr; }

  std::byte* buffer(unsigned id) noexcept { return memory_ + static_cast<std::size_t>(id) * size; }

  /// Hands buffer `id` back to the kernel with the next publish().
  void give_back(unsigned id) noexcept { add(id, static_cast<int>(unpublished_++)); }

  /// Makes the buffers given back so far visible to the kernel: one tail update for all of them
  /// (before each io_uring_enter).
  void publish() noexcept {
    if (unpublished_ == 0) return;
    io_uring_buf_ring_advance(ring_, static_cast<int>(unpublished_));
    unpublished_ = 0;
  }

 private:
  void add(unsigned id, int offset) noexcept {
    io_uring_buf_ring_add(ring_, buffer(id), static_cast<unsigned>(size),
                          static_cast<unsigned short>(id), io_uring_buf_ring_mask(count), offset);
  }
  void unmap() noexcept {
    if (ring_ != nullptr) ::munmap(ring_, count * sizeof(io_uring_buf));
    if (memory_ != nullptr) ::munmap(memory_, count * size);
    ring_ = nullptr;
    memory_ = nullptr;
  }

  io_uring_buf_ring* ring_ = nullptr;
  std::byte* memory_ = nullptr;
  bool registered_ = false;
  unsigned unpublished_ = 0;  ///< given back since the last publish()
};

}  // namespace tether::detail
