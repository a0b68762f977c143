#include <tether/sockperf.hpp>

#include <cassert>
#include <cstring>

namespace tether::sockperf {

namespace {

std::uint64_t load_be(const std::byte* p, std::size_t n) noexcept {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v = (v << 8) | std::to_integer<std::uint64_t>(p[i]);
  return v;
}

void store_be(std::byte* p, std::uint64_t v, std::size_t n) noexcept {
  for (std::size_t i = n; i-- > 0;) {
    p[i] = static_cast<std::byte>(v & 0xFF);
    v >>= 8;
  }
}

constexpr std::size_t kFlagsOffset = 8;
constexpr std::size_t kLengthOffset = 10;

}  // namespace

Result<Header> parse_header(std::span<const std::byte> bytes, std::uint32_t max_size) noexcept {
  assert(bytes.size() >= header_size);
  Header h;
  h.sequence = load_be(bytes.data(), 8);
  h.flags = static_cast<std::uint16_t>(load_be(bytes.data() + kFlagsOffset, 2));
  h.length = static_cast<std::uint32_t>(load_be(bytes.data() + kLengthOffset, 4));
  if (h.length < header_size) return fail(Errc::corrupt_frame);
  if (h.length > max_size) return fail(Errc::frame_too_large);
  return h;
}

void write_header(const Header& h, std::span<std::byte> out) noexcept {
  assert(out.size() >= header_size);
  store_be(out.data(), h.sequence, 8);
  store_be(out.data() + kFlagsOffset, h.flags, 2);
  store_be(out.data() + kLengthOffset, h.length, 4);
}

Decoded<Message> first_message(std::span<const std::byte> bytes, std::uint32_t max_size) noexcept {
  if (bytes.size() < header_size) return std::optional<Message>{};
  auto header = parse_header(bytes, max_size);
  if (!header) return fail(header.error());
  if (bytes.size() < header->length) return std::optional<Message>{};
  return std::optional<Message>{Message{*header, bytes.first(header->length)}};
}

void make_reply(std::span<std::byte> message) noexcept {
  assert(message.size() >= header_size);
  // Flags are big-endian: the client bit lives in the low byte, the second one.
  message[kFlagsOffset + 1] &= ~std::byte{flag_client};
}

void append_reply(const Message& request, Buffer& out) {
  const std::size_t n = request.bytes.size();
  auto space = out.prepare(n);
  std::memcpy(space.data(), request.bytes.data(), n);
  make_reply(space.first(n));
  out.commit(n);
}

void append_message(const Header& h, Buffer& out, std::byte fill) {
  assert(h.length >= header_size);
  auto space = out.prepare(h.length);
  write_header(h, space);
  std::memset(space.data() + header_size, std::to_integer<int>(fill), h.length - header_size);
  out.commit(h.length);
}

Decoded<Message> MessageDecoder::decode(Buffer& in) {
  auto message = first_message(in.readable(), max_size_);
  if (message && *message) in.consume((*message)->bytes.size());  // views stay valid
  return message;
}

Decoded<Message> MessageDecoder::decode_eof(Buffer& in) {
  auto message = decode(in);
  if (!message || *message || in.empty()) return message;
  return fail(Errc::end_of_stream);
}

}  // namespace tether::sockperf
