#include <tether/codec_line.hpp>

#include <algorithm>
#include <cstring>

namespace tether {

namespace {

std::string_view strip_cr(std::string_view line) noexcept {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

}  // namespace

Decoded<std::string_view> LineCodec::decode(Buffer& in) {
  const std::string_view text = in.view();
  // A line may hold max_length bytes plus "\r\n": no '\n' in the first max_length + 2 bytes means
  // the line is too long. Scan at most that far, and never rescan bytes seen on an earlier call.
  const std::size_t limit = std::min(text.size(), max_length_ + 2);
  if (scanned_ > limit) scanned_ = 0;  // the caller consumed or cleared the buffer behind our back
  const void* hit = scanned_ < limit ? std::memchr(text.data() + scanned_, '\n', limit - scanned_) : nullptr;
  if (hit == nullptr) {
    scanned_ = limit;
    if (limit == max_length_ + 2) return fail(Errc::frame_too_large);
    return std::optional<std::string_view>{};
  }
  const auto newline = static_cast<std::size_t>(static_cast<const char*>(hit) - text.data());
  const std::string_view line = strip_cr(text.substr(0, newline));
  if (line.size() > max_length_) return fail(Errc::frame_too_large);
  scanned_ = 0;
  in.consume(newline + 1);  // the view stays valid: consume() never moves bytes
  return std::optional<std::string_view>{line};
}

Decoded<std::string_view> LineCodec::decode_eof(Buffer& in) {
  auto frame = decode(in);
  if (!frame || *frame || in.empty()) return frame;
  // The last line arrived without its '\n'.
  const std::string_view line = strip_cr(in.view());
  if (line.size() > max_length_) return fail(Errc::frame_too_large);
  scanned_ = 0;
  in.consume(in.size());
  return std::optional<std::string_view>{line};
}

Status LineCodec::encode(std::string_view line, Buffer& out) const {
  if (line.size() > max_length_) return fail(Errc::frame_too_large);
  if (line.find('\n') != std::string_view::npos) return fail(Errc::corrupt_frame);
  auto space = out.prepare(line.size() + 1);
  if (!line.empty()) std::memcpy(space.data(), line.data(), line.size());
  space[line.size()] = std::byte{'\n'};
  out.commit(line.size() + 1);
  return {};
}

}  // namespace tether
