// Fuzz target: LengthCodec. Input: 2 bytes selecting max_frame_size and allow_empty, 4 bytes of
// chunk sizes, then the stream. Properties: no crash; chunked delivery yields exactly the frames
// and outcome of whole delivery; frames respect the limits; no buffer grows past what the input
// put in it (a hostile length never reserves memory); encoding the frames reproduces the stream.
#include <tether/codec_length.hpp>

#include "decode_all.hpp"
#include "fuzz_check.hpp"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 6) return 0;
  tether::LengthCodecOptions options;
  options.max_frame_size = data[0] == 0 ? options.max_frame_size : std::uint32_t{data[0]} * 16;
  options.allow_empty = (data[1] & 1) != 0;
  const std::span<const std::uint8_t> chunks(data + 2, 4);
  const std::span<const std::uint8_t> stream(data + 6, size - 6);
  auto make = [&] { return tether::LengthCodec(options); };

  const auto whole = tether::fuzz::decode_all(make, stream, {}, tether::fuzz::bytes_text);
  const auto chunked = tether::fuzz::decode_all(make, stream, chunks, tether::fuzz::bytes_text);
  FUZZ_CHECK(whole == chunked);

  std::size_t framed = 0;
  tether::LengthCodec codec(options);
  tether::Buffer wire;
  for (const auto& f : whole.frames) {
    FUZZ_CHECK(f.size() <= options.max_frame_size);
    FUZZ_CHECK(options.allow_empty || !f.empty());
    FUZZ_CHECK(codec.encode(f, wire).has_value());
    framed += 4 + f.size();
  }
  // The frames are exactly the front of the stream, byte for byte.
  FUZZ_CHECK(wire.size() == framed && framed <= stream.size());
  FUZZ_CHECK(framed == 0 || std::memcmp(wire.readable().data(), stream.data(), framed) == 0);
  if (!whole.error) FUZZ_CHECK(framed == stream.size());

  // A hostile header reserves nothing: decoding it leaves a fresh buffer's capacity alone.
  if (stream.size() >= 4) {
    tether::Buffer b(8);
    b.append(std::as_bytes(stream.first(4)));
    const auto cap = b.capacity();
    (void)codec.decode(b);
    FUZZ_CHECK(b.capacity() == cap);
  }
  return 0;
}
