// tether/cidr.hpp: address blocks ("10.0.0.0/8", "::1/128", "192.168.1.7") and allow/deny lists.
//
// Cidr::parse accepts an IPv4 or IPv6 address with an optional "/prefix" (no prefix: the single
// address); host bits below the prefix are ignored. An IPv4-mapped IPv6 block (::ffff:a.b.c.d/n,
// n >= 96) is stored as the IPv4 block it maps, and a mapped peer (::ffff:a.b.c.d, what an IPv6
// listener sees for an IPv4 client) is matched as its IPv4 address: IPv4 rules cover both.
// An IPv6 block shorter than /96 that covers ::ffff:0:0/96 also holds every IPv4 peer (plain or
// mapped), as the IPv6 socket sees it: ::/0 means everyone, ::/8 holds all IPv4 peers too.
// AccessList: deny wins; when any allow rule exists, a peer must match one; with no rules at all
// everyone is allowed. Non-IP peers (Unix sockets) match no rule: allowed only without allow rules.
// Values: copyable, immutable after building; safe to read from many threads at once.
#pragma once

#include <tether/endpoint.hpp>
#include <tether/error.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#pragma GCC visibility push(default)  // the public API (the shared library hides the rest)

namespace tether {

class Cidr {
 public:
  /// "a.b.c.d[/0-32]" or "ipv6[/0-128]"; Errc::bad_address or Errc::bad_port (bad prefix) on error.
  [[nodiscard]] static Result<Cidr> parse(std::string_view text);

  bool contains(const Endpoint& peer) const noexcept;
  bool is_ipv4() const noexcept { return v4_; }
  unsigned prefix() const noexcept { return prefix_; }
  /// "10.0.0.0/8", "::1/128".
  std::string to_string() const;

 private:
  std::array<std::uint8_t, 16> bytes_{};  // IPv4 in the first 4 bytes; host bits zeroed
  unsigned prefix_ = 0;
  bool v4_ = true;
};

class AccessList {
 public:
  void allow(Cidr block) { allow_.push_back(block); }
  void deny(Cidr block) { deny_.push_back(block); }
  /// Parses and adds; the error names the bad text's problem.
  [[nodiscard]] Status allow(std::string_view text);
  [[nodiscard]] Status deny(std::string_view text);

  bool permits(const Endpoint& peer) const noexcept;
  bool empty() const noexcept { return allow_.empty() && deny_.empty(); }

 private:
  std::vector<Cidr> allow_;
  std::vector<Cidr> deny_;
};

}  // namespace tether

#pragma GCC visibility pop
