// Test helper: feeds a byte string to a decoder in chunks and collects the frames as strings.
#pragma once

#include <tether/buffer.hpp>
#include <tether/codec.hpp>

#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace tether::testing {

struct Collected {
  std::vector<std::string> frames;
  std::error_code error;  ///< the first error (decode or decode_eof), if any
};

inline std::string frame_text(std::string_view f) { return std::string(f); }
inline std::string frame_text(std::span<const std::byte> f) {
  return std::string(reinterpret_cast<const char*>(f.data()), f.size());
}

/// Feeds `input` in chunks whose sizes cycle through chunk_sizes, decoding after every chunk,
/// then runs decode_eof() until it yields nothing. `frame_of` maps a frame to a string.
template <class D, class F>
Collected feed_chunked(D& decoder, std::string_view input, const std::vector<std::size_t>& chunk_sizes,
                       F frame_of) {
  Collected out;
  Buffer buf;
  std::size_t pos = 0;
  std::size_t turn = 0;
  while (pos < input.size()) {
    const std::size_t n = std::min(chunk_sizes[turn++ % chunk_sizes.size()], input.size() - pos);
    auto space = buf.prepare(n);
    std::memcpy(space.data(), input.data() + pos, n);
    buf.commit(n);
    pos += n;
    for (int guard = 0; guard < 1'000'000; ++guard) {
      auto r = decoder.decode(buf);
      if (!r) {
        out.error = r.error();
        return out;
      }
      if (!*r) break;
      out.frames.push_back(frame_of(**r));
    }
  }
  for (int guard = 0; guard < 1'000'000; ++guard) {
    auto r = decoder.decode_eof(buf);
    if (!r) {
      out.error = r.error();
      return out;
    }
    if (!*r) break;
    out.frames.push_back(frame_of(**r));
  }
  return out;
}

template <class D>
Collected feed_chunked(D& decoder, std::string_view input, const std::vector<std::size_t>& chunk_sizes) {
  return feed_chunked(decoder, input, chunk_sizes, [](const auto& f) { return frame_text(f); });
}

}  // namespace tether::testing
