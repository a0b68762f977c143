// tether/codec_length.hpp: length-prefixed framing: a u32 big-endian length, then that many bytes.
//
// The length counts the payload only (not the 4 header bytes). A declared length above
// max_frame_size is Errc::frame_too_large, and a zero length is Errc::corrupt_frame unless
// allow_empty is set; both are decided from the 4 header bytes alone, BEFORE anything is reserved
// or allocated, so a hostile prefix (0x7FFFFFFF, 0xFFFFFFFF) costs the receiver nothing.
// decode_eof() reports a frame cut short by the end of stream as Errc::end_of_stream.
// Contract of codec.hpp: one decoder per buffer, one thread at a time, frames are views.
#pragma once

#include <tether/buffer.hpp>
#include <tether/codec.hpp>
#include <tether/error.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#pragma GCC visibility push(default)  // the public API (the shared library hides the rest)

namespace tether {

struct LengthCodecOptions {
  std::uint32_t max_frame_size = 8 * 1024 * 1024;  ///< largest accepted payload, in bytes
  bool allow_empty = false;                        ///< accept zero-length frames
};

class LengthCodec {
 public:
  using frame_type = std::span<const std::byte>;
  static constexpr std::size_t header_size = 4;

  LengthCodec() noexcept = default;
  explicit LengthCodec(LengthCodecOptions options) noexcept : options_(options) {}

  const LengthCodecOptions& options() const noexcept { return options_; }

  Decoded<std::span<const std::byte>> decode(Buffer& in);
  Decoded<std::span<const std::byte>> decode_eof(Buffer& in);

  /// Bytes the frame at the front of `in` still needs (header + payload - buffered), 0 when a
  /// frame is complete or the header is invalid. Lets a reader prepare() the whole frame at once.
  std::size_t missing(const Buffer& in) const noexcept;

  /// Appends the header and `payload`. Errc::frame_too_large / Errc::corrupt_frame (empty payload
  /// without allow_empty) as for decoding; nothing is appended on error.
  [[nodiscard]] Status encode(std::span<const std::byte> payload, Buffer& out) const;
  [[nodiscard]] Status encode(std::string_view payload, Buffer& out) const {
    return encode(std::as_bytes(std::span(payload.data(), payload.size())), out);
  }

  /// Validates a declared payload length, as decode() does.
  [[nodiscard]] Status check_length(std::uint64_t length) const noexcept;

 private:
  LengthCodecOptions options_;
};

static_assert(Decoder<LengthCodec>);

}  // namespace tether

#pragma GCC visibility pop
