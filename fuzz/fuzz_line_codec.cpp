// Fuzz target: LineCodec. Input: 1 byte selecting max_length, 4 bytes of chunk sizes, then the
// stream. Properties: no crash; delivering the stream in small chunks yields exactly the frames
// and the outcome of delivering it at once; no frame exceeds max_length or holds a '\n'.
#include <tether/codec_line.hpp>

#include "decode_all.hpp"
#include "fuzz_check.hpp"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 5) return 0;
  const std::size_t max_length = data[0] == 0 ? tether::LineCodec::default_max_length : data[0];
  const std::span<const std::uint8_t> chunks(data + 1, 4);
  const std::span<const std::uint8_t> stream(data + 5, size - 5);
  auto make = [&] { return tether::LineCodec(max_length); };
  auto text = [](std::string_view f) { return std::string(f); };

  const auto whole = tether::fuzz::decode_all(make, stream, {}, text);
  const auto chunked = tether::fuzz::decode_all(make, stream, chunks, text);
  FUZZ_CHECK(whole == chunked);
  for (const auto& f : whole.frames) {
    FUZZ_CHECK(f.size() <= max_length);
    FUZZ_CHECK(f.find('\n') == std::string::npos);
  }

  // Re-encoding the frames and decoding again gives the same frames.
  if (!whole.error) {
    tether::LineCodec codec(max_length);
    tether::Buffer wire;
    for (const auto& f : whole.frames) FUZZ_CHECK(codec.encode(f, wire).has_value());
    const auto bytes = wire.readable();
    const auto again = tether::fuzz::decode_all(
        make, std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()), chunks,
        text);
    FUZZ_CHECK(!again.error);
    // A frame ending in '\r' loses it on the way back ("a\r" + "\n" reads as "a").
    FUZZ_CHECK(again.frames.size() == whole.frames.size());
  }
  return 0;
}
