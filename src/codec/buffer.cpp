#include <tether/buffer.hpp>

#include <algorithm>
#include <cassert>
#include <cstring>
#include <utility>

namespace tether {

namespace {
constexpr std::size_t kMinCapacity = 1024;
}

Buffer::Buffer(std::size_t capacity)
    : data_(capacity ? std::make_unique_for_overwrite<std::byte[]>(capacity) : nullptr),
      capacity_(capacity) {}

Buffer::Buffer(Buffer&& other) noexcept
    : data_(std::move(other.data_)),
      capacity_(std::exchange(other.capacity_, 0)),
      read_(std::exchange(other.read_, 0)),
      write_(std::exchange(other.write_, 0)) {}

Buffer& Buffer::operator=(Buffer&& other) noexcept {
  if (this != &other) {
    data_ = std::move(other.data_);
    capacity_ = std::exchange(other.capacity_, 0);
    read_ = std::exchange(other.read_, 0);
    write_ = std::exchange(other.write_, 0);
  }
  return *this;
}

std::span<std::byte> Buffer::prepare(std::size_t n) {
  if (capacity_ - write_ >= n) return writable();
  const std::size_t content = size();
  if (capacity_ - content >= n) {
    // Enough room once the consumed bytes are reused: move the content to the front.
    if (content) std::memmove(data_.get(), data_.get() + read_, content);
    read_ = 0;
    write_ = content;
    return writable();
  }
  const std::size_t wanted = std::max({content + n, capacity_ * 2, kMinCapacity});
  auto bigger = std::make_unique_for_overwrite<std::byte[]>(wanted);
  if (content) std::memcpy(bigger.get(), data_.get() + read_, content);
  data_ = std::move(bigger);
  capacity_ = wanted;
  read_ = 0;
  write_ = content;
  return writable();
}

void Buffer::commit(std::size_t n) noexcept {
  assert(n <= capacity_ - write_);
  write_ += n;
}

void Buffer::consume(std::size_t n) noexcept {
  assert(n <= size());
  read_ += n;
  if (read_ == write_) read_ = write_ = 0;
}

void Buffer::append(std::span<const std::byte> bytes) {
  if (bytes.empty()) return;
  auto space = prepare(bytes.size());
  std::memcpy(space.data(), bytes.data(), bytes.size());
  write_ += bytes.size();
}

void Buffer::append(std::string_view text) { append(std::as_bytes(std::span(text.data(), text.size()))); }

void Buffer::reserve(std::size_t n) {
  if (n > capacity_) prepare(n - size());
}

}  // namespace tether
