// Shared by the decoder fuzz targets: runs a decoder over input delivered in chunks and records
// every frame and the final outcome, so that different chunkings can be compared.
#pragma once

#include <tether/buffer.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <system_error>
#include <vector>

namespace tether::fuzz {

struct Outcome {
  std::vector<std::string> frames;
  std::error_code error;
  friend bool operator==(const Outcome&, const Outcome&) = default;
};

/// Feeds `input` in chunks of sizes taken in turn from `chunks` (0 is read as 1), decoding after
/// each chunk and finishing with decode_eof(). `text_of` turns a frame into a string.
template <class MakeDecoder, class TextOf>
Outcome decode_all(MakeDecoder make, std::span<const std::uint8_t> input,
                   std::span<const std::uint8_t> chunks, TextOf text_of) {
  auto decoder = make();
  Outcome out;
  Buffer buf;
  std::size_t pos = 0;
  std::size_t turn = 0;
  auto drain = [&](bool eof) {
    // Every frame consumes at least one byte, so input.size() + 1 rounds always suffice.
    for (std::size_t round = 0; round <= input.size() + 1; ++round) {
      auto r = eof ? decoder.decode_eof(buf) : decoder.decode(buf);
      if (!r) {
        out.error = r.error();
        return false;
      }
      if (!*r) return true;
      out.frames.push_back(text_of(**r));
    }
    std::abort();  // a decoder that yields frames forever
  };
  while (pos < input.size()) {
    std::size_t n = chunks.empty() ? input.size() : chunks[turn++ % chunks.size()];
    n = std::min(std::max<std::size_t>(n, 1), input.size() - pos);
    auto space = buf.prepare(n);
    std::memcpy(space.data(), input.data() + pos, n);
    buf.commit(n);
    pos += n;
    if (!drain(false)) return out;
  }
  drain(true);
  return out;
}

inline std::string bytes_text(std::span<const std::byte> f) {
  return std::string(reinterpret_cast<const char*>(f.data()), f.size());
}

}  // namespace tether::fuzz
