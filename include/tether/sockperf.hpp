// tether/sockperf.hpp: the message format of sockperf (github.com/Mellanox/sockperf), so that the
// stock `sockperf ping-pong | throughput | under-load` client can measure a tether server.
//
// Every message starts with a 14-byte header, all fields in network byte order:
//
//   offset 0   u64  sequence number (chosen by the client, echoed unchanged)
//   offset 8   u16  flags: 1 = sent by a client, 2 = pong request (reply wanted), 4 = warm-up
//   offset 10  u32  length of the WHOLE message, header included (14 .. max_size)
//   offset 14  payload (length - 14 bytes, content unspecified)
//
// Over TCP messages follow each other on the stream; over UDP each datagram carries messages back
// to back (in practice one). A reflector answers only client messages that request a pong and are
// not warm-ups (Header::wants_reply()), with the same bytes and the client flag cleared.
// A length below 14 or above max_size is a corrupt stream (sockperf's own server closes the
// connection too); it is refused from the header alone, before any allocation.
// Threads: plain functions and values; MessageDecoder follows the contract of codec.hpp.
#pragma once

#include <tether/buffer.hpp>
#include <tether/codec.hpp>
#include <tether/error.hpp>

#include <cstddef>
#include <cstdint>
#include <span>

#pragma GCC visibility push(default)  // the public API (the shared library hides the rest)

namespace tether::sockperf {

inline constexpr std::size_t header_size = 14;
/// sockperf's MAX_PAYLOAD_SIZE: the largest UDP payload (65535 - 8 - 20).
inline constexpr std::uint32_t default_max_size = 65507;

inline constexpr std::uint16_t flag_client = 1;
inline constexpr std::uint16_t flag_pong_request = 2;
inline constexpr std::uint16_t flag_warmup = 4;

struct Header {
  std::uint64_t sequence = 0;
  std::uint16_t flags = 0;
  std::uint32_t length = header_size;  ///< the whole message, header included

  bool is_client() const noexcept { return (flags & flag_client) != 0; }
  bool pong_request() const noexcept { return (flags & flag_pong_request) != 0; }
  bool is_warmup() const noexcept { return (flags & flag_warmup) != 0; }
  /// True for exactly the messages a reflector answers.
  bool wants_reply() const noexcept { return is_client() && pong_request() && !is_warmup(); }

  friend bool operator==(const Header&, const Header&) = default;
};

struct Message {
  Header header;
  std::span<const std::byte> bytes;  ///< the whole message (header.length bytes), header included
};

/// Decodes the header in the first 14 bytes of `bytes` (precondition: bytes.size() >= 14).
/// Errc::corrupt_frame for a length below 14, Errc::frame_too_large above max_size.
[[nodiscard]] Result<Header> parse_header(std::span<const std::byte> bytes,
                            std::uint32_t max_size = default_max_size) noexcept;

/// Encodes `h` into the first 14 bytes of `out` (precondition: out.size() >= 14).
void write_header(const Header& h, std::span<std::byte> out) noexcept;

/// The first message in `bytes` (a datagram or a stream chunk), three outcomes as in codec.hpp;
/// the caller advances by message.bytes.size().
Decoded<Message> first_message(std::span<const std::byte> bytes,
                               std::uint32_t max_size = default_max_size) noexcept;

/// Turns a request into its reply in place: clears the client flag (the only byte that changes).
void make_reply(std::span<std::byte> message) noexcept;

/// Appends the reply to `request` (its bytes, client flag cleared) to `out`.
void append_reply(const Message& request, Buffer& out);

/// Appends a message with header `h` and h.length - 14 payload bytes of `fill` (a client's request).
void append_message(const Header& h, Buffer& out, std::byte fill = std::byte{0});

/// Stream decoder: one Message per decode(); Errc::end_of_stream at EOF on a cut-short message.
class MessageDecoder {
 public:
  using frame_type = Message;

  explicit MessageDecoder(std::uint32_t max_size = default_max_size) noexcept : max_size_(max_size) {}

  Decoded<Message> decode(Buffer& in);
  Decoded<Message> decode_eof(Buffer& in);

 private:
  std::uint32_t max_size_;
};

static_assert(tether::Decoder<MessageDecoder>);

}  // namespace tether::sockperf

#pragma GCC visibility pop
