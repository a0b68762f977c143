#include <tether/tcp_segment.hpp>

#include <algorithm>
#include <array>
#include <cstring>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

namespace tether {

namespace {

std::uint16_t be16(std::span<const std::byte> b, std::size_t at) noexcept {
  return static_cast<std::uint16_t>((std::to_integer<unsigned>(b[at]) << 8) | std::to_integer<unsigned>(b[at + 1]));
}

std::uint32_t be32(std::span<const std::byte> b, std::size_t at) noexcept {
  return (std::uint32_t{be16(b, at)} << 16) | be16(b, at + 2);
}

std::uint8_t u8(std::span<const std::byte> b, std::size_t at) noexcept { return std::to_integer<std::uint8_t>(b[at]); }

template <std::size_t N>
std::array<std::uint8_t, N> address(std::span<const std::byte> b, std::size_t at) noexcept {
  std::array<std::uint8_t, N> a{};
  std::memcpy(a.data(), b.data() + at, N);
  return a;
}

/// Reads the TCP options (kind, length, value): MSS, window scale, SACK permitted, timestamps.
bool parse_options(std::span<const std::byte> opts, TcpSegment& s) {
  std::size_t i = 0;
  while (i < opts.size()) {
    const std::uint8_t kind = u8(opts, i);
    if (kind == 0) break;          // end of options
    if (kind == 1) { ++i; continue; }  // no-op padding
    if (i + 1 >= opts.size()) return false;
    const std::uint8_t len = u8(opts, i + 1);
    if (len < 2 || i + len > opts.size()) return false;
    if (kind == 2 && len == 4) s.mss = be16(opts, i + 2);
    if (kind == 3 && len == 3) s.window_scale = u8(opts, i + 2);
    if (kind == 4 && len == 2) s.sack_permitted = true;
    if (kind == 8 && len == 10) s.timestamp = be32(opts, i + 2);
    i += len;
  }
  return true;
}

}  // namespace

std::string TcpSegment::flags_text() const {
  std::string out;
  auto add = [&](TcpFlag f, const char* name) {
    if (!has(f)) return;
    if (!out.empty()) out += '-';
    out += name;
  };
  add(tcp_syn, "SYN");
  add(tcp_fin, "FIN");
  add(tcp_rst, "RST");
  add(tcp_psh, "PSH");
  add(tcp_ack, "ACK");
  if (out.empty()) out = "NONE";
  return out;
}

std::uint32_t TcpSegment::sequence_length() const noexcept {
  return static_cast<std::uint32_t>(payload_size) + (has(tcp_syn) ? 1U : 0U) + (has(tcp_fin) ? 1U : 0U);
}

Result<TcpSegment> parse_tcp_packet(std::span<const std::byte> p) {
  TcpSegment s;
  std::size_t tcp_at = 0;
  std::size_t ip_end = 0;
  if (p.empty()) return fail(Errc::corrupt_frame);
  const unsigned version = u8(p, 0) >> 4;
  if (version == 4) {
    if (p.size() < 20) return fail(Errc::corrupt_frame);
    const std::size_t ihl = (u8(p, 0) & 0x0F) * 4U;
    const std::size_t total = be16(p, 2);
    if (ihl < 20 || total < ihl || u8(p, 9) != IPPROTO_TCP) return fail(Errc::corrupt_frame);
    if ((be16(p, 6) & 0x3FFF) != 0) return fail(Errc::corrupt_frame);  // a fragment
    s.ttl = u8(p, 8);
    s.source = Endpoint::ipv4(address<4>(p, 12), 0);
    s.destination = Endpoint::ipv4(address<4>(p, 16), 0);
    tcp_at = ihl;
    // A saved SYN holds the headers only: the IP length may exceed what is here.
    ip_end = std::min(total, p.size());
  } else if (version == 6) {
    if (p.size() < 40 || u8(p, 6) != IPPROTO_TCP) return fail(Errc::corrupt_frame);
    s.ttl = u8(p, 7);
    s.source = Endpoint::ipv6(address<16>(p, 8), 0);
    s.destination = Endpoint::ipv6(address<16>(p, 24), 0);
    tcp_at = 40;
    ip_end = std::min<std::size_t>(40 + be16(p, 4), p.size());
  } else {
    return fail(Errc::corrupt_frame);
  }
  if (ip_end < tcp_at + 20) return fail(Errc::corrupt_frame);
  auto tcp = p.subspan(tcp_at, ip_end - tcp_at);
  const std::size_t data_offset = (u8(tcp, 12) >> 4) * 4U;
  if (data_offset < 20 || data_offset > tcp.size()) return fail(Errc::corrupt_frame);
  const std::uint16_t sport = be16(tcp, 0);
  const std::uint16_t dport = be16(tcp, 2);
  if (version == 4) {
    s.source = Endpoint::ipv4(address<4>(p, 12), sport);
    s.destination = Endpoint::ipv4(address<4>(p, 16), dport);
  } else {
    s.source = Endpoint::ipv6(address<16>(p, 8), sport);
    s.destination = Endpoint::ipv6(address<16>(p, 24), dport);
  }
  s.seq = be32(tcp, 4);
  s.ack = be32(tcp, 8);
  s.flags = u8(tcp, 13);
  s.window = be16(tcp, 14);
  s.payload_size = tcp.size() - data_offset;
  s.ecn_setup = s.has(tcp_syn) && !s.has(tcp_ack) && s.has(tcp_ece) && s.has(tcp_cwr);
  if (!parse_options(tcp.subspan(20, data_offset - 20), s)) return fail(Errc::corrupt_frame);
  return s;
}

Status save_syns(TcpListener& listener) {
  return listener.socket().set_int_option(IPPROTO_TCP, TCP_SAVE_SYN, 1);
}

Result<TcpSegment> saved_syn(const TcpStream& accepted) {
  std::array<std::byte, 512> buf{};
  socklen_t len = buf.size();
  if (auto st = accepted.socket().get_option(IPPROTO_TCP, TCP_SAVED_SYN, buf.data(), &len); !st) {
    return fail(st.error());
  }
  if (len == 0) return fail(errno_code(ENOENT));
  return parse_tcp_packet(std::span<const std::byte>(buf.data(), len));
}

}  // namespace tether
