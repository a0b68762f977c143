// tether/codec_line.hpp: line-delimited framing ("text\n" or "text\r\n").
//
// LineCodec::decode() yields each line without its '\n' and without one '\r' before it. A line
// longer than max_length bytes (not counting "\r\n" or "\n") is Errc::frame_too_large, found as
// soon as max_length + 2 bytes without a '\n' have arrived, so a peer cannot make the buffer grow
// without bound. Each byte is scanned once, however the input is chunked.
// At end of stream, decode_eof() yields a final line that lacks its '\n' (as `nc` sends it).
// Contract of codec.hpp: one decoder per buffer, one thread at a time, frames are views.
#pragma once

#include <tether/buffer.hpp>
#include <tether/codec.hpp>
#include <tether/error.hpp>

#include <cstddef>
#include <string_view>

#pragma GCC visibility push(default)  // the public API (the shared library hides the rest)

namespace tether {

class LineCodec {
 public:
  using frame_type = std::string_view;
  static constexpr std::size_t default_max_length = 64 * 1024;

  explicit LineCodec(std::size_t max_length = default_max_length) noexcept : max_length_(max_length) {}

  std::size_t max_length() const noexcept { return max_length_; }

  Decoded<std::string_view> decode(Buffer& in);
  Decoded<std::string_view> decode_eof(Buffer& in);

  /// Appends `line` and "\n". Errc::corrupt_frame if the line contains '\n';
  /// Errc::frame_too_large if it is longer than max_length(). Nothing is appended on error.
  [[nodiscard]] Status encode(std::string_view line, Buffer& out) const;

  /// Forgets the scanning state (after the caller cleared or replaced the buffer).
  void reset() noexcept { scanned_ = 0; }

 private:
  std::size_t max_length_;
  std::size_t scanned_ = 0;  // bytes at the front of the buffer known to hold no '\n'
};

static_assert(Decoder<LineCodec>);

}  // namespace tether

#pragma GCC visibility pop
