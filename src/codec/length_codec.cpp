#include <tether/codec_length.hpp>

#include <cstring>

namespace tether {

namespace {

std::uint32_t load_be32(const std::byte* p) noexcept {
  return (std::to_integer<std::uint32_t>(p[0]) << 24) | (std::to_integer<std::uint32_t>(p[1]) << 16) |
         (std::to_integer<std::uint32_t>(p[2]) << 8) | std::to_integer<std::uint32_t>(p[3]);
}

void store_be32(std::byte* p, std::uint32_t v) noexcept {
  p[0] = static_cast<std::byte>(v >> 24);
  p[1] = static_cast<std::byte>(v >> 16);
  p[2] = static_cast<std::byte>(v >> 8);
  p[3] = static_cast<std::byte>(v);
}

}  // namespace

Status LengthCodec::check_length(std::uint64_t length) const noexcept {
  if (length > options_.max_frame_size) return fail(Errc::frame_too_large);
  if (length == 0 && !options_.allow_empty) return fail(Errc::corrupt_frame);
  return {};
}

Decoded<std::span<const std::byte>> LengthCodec::decode(Buffer& in) {
  const auto bytes = in.readable();
  if (bytes.size() < header_size) return std::optional<std::span<const std::byte>>{};
  const std::uint32_t length = load_be32(bytes.data());
  if (auto ok = check_length(length); !ok) return fail(ok.error());  // before any allocation
  if (bytes.size() - header_size < length) return std::optional<std::span<const std::byte>>{};
  const auto frame = bytes.subspan(header_size, length);
  in.consume(header_size + length);  // the view stays valid: consume() never moves bytes
  return std::optional<std::span<const std::byte>>{frame};
}

Decoded<std::span<const std::byte>> LengthCodec::decode_eof(Buffer& in) {
  auto frame = decode(in);
  if (!frame || *frame || in.empty()) return frame;
  return fail(Errc::end_of_stream);  // a header or payload cut short
}

std::size_t LengthCodec::missing(const Buffer& in) const noexcept {
  const auto bytes = in.readable();
  if (bytes.size() < header_size) return header_size - bytes.size();
  const std::uint32_t length = load_be32(bytes.data());
  if (!check_length(length)) return 0;
  const std::size_t total = header_size + std::size_t{length};
  return bytes.size() >= total ? 0 : total - bytes.size();
}

Status LengthCodec::encode(std::span<const std::byte> payload, Buffer& out) const {
  if (auto ok = check_length(payload.size()); !ok) return ok;
  auto space = out.prepare(header_size + payload.size());
  store_be32(space.data(), static_cast<std::uint32_t>(payload.size()));
  if (!payload.empty()) std::memcpy(space.data() + header_size, payload.data(), payload.size());
  out.commit(header_size + payload.size());
  return {};
}

}  // namespace tether
