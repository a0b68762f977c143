// tether/buffer.hpp: a growable byte queue for one connection's input or output.
//
// Two indices split one contiguous allocation into three regions (muduo's Buffer):
//
//   +-------------------+--------------------+--------------------+
//   |  consumed bytes   |   readable bytes   |   writable bytes   |
//   |  (space to reuse) |     (content)      |   (free space)     |
//   +-------------------+--------------------+--------------------+
//   0        <=     read_index()    <=    write_index()   <=   capacity()
//
// Filling: prepare(n) makes at least n writable bytes, first by moving the content to the front
// (reusing the consumed bytes), and only when that is not enough by growing the allocation (to at
// least double). Write into writable(), usually with read()/recv(), then commit() what was written.
// Draining: readable() is the content; consume(n) drops n bytes from its front. When the content
// becomes empty both indices return to 0, so a buffer that is drained as fast as it fills never
// moves or reallocates anything: in steady state a connection allocates nothing per message.
//
// View validity: a span or string_view of readable() stays valid across consume(), and until the
// next prepare(), append(), reserve() or clear() (which may move or overwrite the bytes).
// Ownership and threads: the buffer owns its memory; it is a plain value for one thread at a time.
// Movable, not copyable (copying a connection buffer is almost always a bug).
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string_view>

#pragma GCC visibility push(default)  // the public API (the shared library hides the rest)

namespace tether {

class Buffer {
 public:
  Buffer() noexcept = default;
  /// Allocates `capacity` bytes up front.
  explicit Buffer(std::size_t capacity);
  Buffer(Buffer&& other) noexcept;
  Buffer& operator=(Buffer&& other) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() = default;

  /// Number of readable bytes.
  std::size_t size() const noexcept { return write_ - read_; }
  bool empty() const noexcept { return write_ == read_; }
  std::size_t capacity() const noexcept { return capacity_; }
  std::size_t read_index() const noexcept { return read_; }
  std::size_t write_index() const noexcept { return write_; }

  /// The content (readable bytes).
  std::span<const std::byte> readable() const noexcept { return {data_.get() + read_, size()}; }
  /// The content, writable in place (for protocols that patch a header before echoing it).
  std::span<std::byte> readable_mutable() noexcept { return {data_.get() + read_, size()}; }
  /// The content as characters.
  std::string_view view() const noexcept {
    return {reinterpret_cast<const char*>(data_.get() + read_), size()};
  }

  /// The free space after the content (possibly empty).
  std::span<std::byte> writable() noexcept { return {data_.get() + write_, capacity_ - write_}; }
  /// Makes at least `n` writable bytes (compacting, then growing) and returns all of them.
  std::span<std::byte> prepare(std::size_t n);
  /// Marks `n` bytes of writable() as content. Precondition: n <= writable().size().
  void commit(std::size_t n) noexcept;
  /// Drops `n` bytes from the front of the content. Precondition: n <= size().
  void consume(std::size_t n) noexcept;

  /// Copies bytes to the end of the content.
  void append(std::span<const std::byte> bytes);
  void append(std::string_view text);
  /// Ensures capacity() >= n without changing the content.
  void reserve(std::size_t n);
  /// Drops all content; keeps the allocation.
  void clear() noexcept { read_ = write_ = 0; }

 private:
  std::unique_ptr<std::byte[]> data_;
  std::size_t capacity_ = 0;
  std::size_t read_ = 0;
  std::size_t write_ = 0;
};

}  // namespace tether

#pragma GCC visibility pop
