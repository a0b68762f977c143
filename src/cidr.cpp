// src/cidr.cpp: Cidr and AccessList.
#include <tether/cidr.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <cstring>

namespace tether {

namespace {

// The address bytes of an IP endpoint, unmapping ::ffff:a.b.c.d. False for non-IP endpoints.
bool address_of(const Endpoint& e, std::array<std::uint8_t, 16>& out, bool& v4) noexcept {
  const Endpoint u = e.unmapped();
  if (u.kind() == EndpointKind::ipv4) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(u.data());
    std::memcpy(out.data(), &sin->sin_addr, 4);
    v4 = true;
    return true;
  }
  if (u.kind() == EndpointKind::ipv6) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(u.data());
    std::memcpy(out.data(), &sin6->sin6_addr, 16);
    v4 = false;
    return true;
  }
  return false;
}

bool prefix_matches(const std::array<std::uint8_t, 16>& a, const std::array<std::uint8_t, 16>& b,
                    unsigned prefix) noexcept {
  unsigned full = prefix / 8;
  if (std::memcmp(a.data(), b.data(), full) != 0) return false;
  unsigned rest = prefix % 8;
  if (rest == 0) return true;
  auto mask = static_cast<std::uint8_t>(0xFF << (8 - rest));
  return (a[full] & mask) == (b[full] & mask);
}

}  // namespace

Result<Cidr> Cidr::parse(std::string_view text) {
  if (text.empty()) return fail(Errc::empty_input);
  std::string_view addr = text;
  std::string_view prefix_text;
  if (auto slash = text.find('/'); slash != std::string_view::npos) {
    addr = text.substr(0, slash);
    prefix_text = text.substr(slash + 1);
    if (prefix_text.empty()) return fail(Errc::bad_port);
  }
  Cidr c;
  std::string a(addr);
  unsigned max_prefix;
  if (::inet_pton(AF_INET, a.c_str(), c.bytes_.data()) == 1) {
    c.v4_ = true;
    max_prefix = 32;
  } else if (::inet_pton(AF_INET6, a.c_str(), c.bytes_.data()) == 1) {
    c.v4_ = false;
    max_prefix = 128;
  } else {
    return fail(Errc::bad_address);
  }
  c.prefix_ = max_prefix;
  if (!prefix_text.empty()) {
    unsigned p = 0;
    auto [end, ec] = std::from_chars(prefix_text.data(), prefix_text.data() + prefix_text.size(), p);
    if (ec != std::errc() || end != prefix_text.data() + prefix_text.size() || p > max_prefix) {
      return fail(Errc::bad_port);
    }
    c.prefix_ = p;
  }
  // ::ffff:a.b.c.d/n with n >= 96 is the IPv4 block a.b.c.d/(n-96).
  static constexpr std::uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
  if (!c.v4_ && c.prefix_ >= 96 && std::memcmp(c.bytes_.data(), mapped, 12) == 0) {
    std::memmove(c.bytes_.data(), c.bytes_.data() + 12, 4);
    std::memset(c.bytes_.data() + 4, 0, 12);
    c.v4_ = true;
    c.prefix_ -= 96;
  }
  // Zero the host bits so that to_string() shows the block.
  const unsigned bits = c.v4_ ? 32 : 128;
  for (unsigned i = c.prefix_; i < bits; ++i) {
    c.bytes_[i / 8] = static_cast<std::uint8_t>(c.bytes_[i / 8] & ~(0x80u >> (i % 8)));
  }
  return c;
}

bool Cidr::contains(const Endpoint& peer) const noexcept {
  std::array<std::uint8_t, 16> a{};
  bool v4 = false;
  if (!address_of(peer, a, v4)) return false;
  if (v4 && !v4_) {
    // An IPv4 peer as an IPv6 socket sees it: ::ffff:a.b.c.d. Only blocks shorter than /96 can
    // hold it (longer mapped blocks were stored as IPv4 blocks by parse()): ::/0 is everyone.
    if (prefix_ >= 96) return false;
    std::memmove(a.data() + 12, a.data(), 4);
    std::memset(a.data(), 0, 10);
    a[10] = 0xFF;
    a[11] = 0xFF;
  } else if (v4 != v4_) {
    return false;
  }
  return prefix_matches(a, bytes_, prefix_);
}

std::string Cidr::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(v4_ ? AF_INET : AF_INET6, bytes_.data(), buf, sizeof buf);
  return std::string(buf) + "/" + std::to_string(prefix_);
}

Status AccessList::allow(std::string_view text) {
  auto c = Cidr::parse(text);
  if (!c) return fail(c.error());
  allow_.push_back(*c);
  return {};
}

Status AccessList::deny(std::string_view text) {
  auto c = Cidr::parse(text);
  if (!c) return fail(c.error());
  deny_.push_back(*c);
  return {};
}

bool AccessList::permits(const Endpoint& peer) const noexcept {
  for (const auto& d : deny_) {
    if (d.contains(peer)) return false;
  }
  if (allow_.empty()) return true;
  for (const auto& a : allow_) {
    if (a.contains(peer)) return true;
  }
  return false;
}

}  // namespace tether
