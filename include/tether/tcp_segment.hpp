// tether/tcp_segment.hpp: reading one TCP segment from the bytes of its IP packet.
//
// Two sources give tether such bytes: the SYN a listener saved for an accepted connection
// (TCP_SAVE_SYN, no privilege needed) and a packet capture (tether trace). TcpSegment is a value:
// addresses, TTL or hop limit, flags, sequence and acknowledgement numbers, window, the options
// that the handshake negotiates, and the payload's length (the payload itself is not kept).
// Threads: plain functions and values, safe from any thread.
#pragma once

#include <tether/endpoint.hpp>
#include <tether/error.hpp>
#include <tether/tcp.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#pragma GCC visibility push(default)

namespace tether {

/// TCP header flags, as in the header's 13th byte.
enum TcpFlag : std::uint8_t {
  tcp_fin = 0x01, tcp_syn = 0x02, tcp_rst = 0x04, tcp_psh = 0x08,
  tcp_ack = 0x10, tcp_urg = 0x20, tcp_ece = 0x40, tcp_cwr = 0x80,
};

struct TcpSegment {
  Endpoint source;                       ///< address and port
  Endpoint destination;
  std::uint8_t ttl = 0;                  ///< IPv4 TTL or IPv6 hop limit
  std::uint8_t flags = 0;                ///< TcpFlag bits
  std::uint32_t seq = 0;
  std::uint32_t ack = 0;
  std::uint16_t window = 0;              ///< as sent (not scaled)
  std::size_t payload_size = 0;
  std::optional<std::uint16_t> mss;      ///< option 2
  std::optional<std::uint8_t> window_scale;  ///< option 3
  bool sack_permitted = false;           ///< option 4
  std::optional<std::uint32_t> timestamp;    ///< option 8: TSval
  bool ecn_setup = false;                ///< a SYN with ECE and CWR (RFC 3168)

  bool has(TcpFlag f) const noexcept { return (flags & f) != 0; }
  /// "SYN", "SYN-ACK", "ACK", "FIN-ACK", "RST", "PSH-ACK", ...: the flags that matter, joined.
  std::string flags_text() const;
  /// How much sequence space the segment takes: payload + 1 for SYN + 1 for FIN.
  std::uint32_t sequence_length() const noexcept;
};

/// Parses an IPv4 or IPv6 packet that carries TCP (no IPv6 extension headers, no fragments).
/// Errc::corrupt_frame when the bytes are not such a packet or are cut short.
[[nodiscard]] Result<TcpSegment> parse_tcp_packet(std::span<const std::byte> packet);

/// TCP_SAVE_SYN on a listener: the kernel keeps each client's SYN (IP and TCP headers) until the
/// accepted socket reads it once with saved_syn(). Linux 4.2 or later.
[[nodiscard]] Status save_syns(TcpListener& listener);

/// The client's SYN that the listener saved for this accepted connection. The kernel hands it out
/// once: a second call, or a listener without save_syns(), fails with ENOENT.
[[nodiscard]] Result<TcpSegment> saved_syn(const TcpStream& accepted);

}  // namespace tether

#pragma GCC visibility pop
