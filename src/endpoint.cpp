#include <tether/endpoint.hpp>
#include <tether/resolve.hpp>

#include <arpa/inet.h>
#include <net/if.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <string>

namespace tether {
namespace {

constexpr std::size_t kUnixPathOffset = offsetof(sockaddr_un, sun_path);
constexpr std::size_t kUnixMax = sizeof(sockaddr_un::sun_path) - 1;  // 107: room for the NUL

/// A host name per RFC 1123: letters, digits, '-', '.', not empty.
bool looks_like_hostname(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  bool any_alpha = false;
  for (char c : host) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_';
    if (!ok) return false;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) any_alpha = true;
  }
  return any_alpha;
}

Result<Endpoint> parse_ipv6_host(std::string_view host, std::uint16_t port) {
  std::string_view addr = host;
  std::uint32_t scope = 0;
  if (auto pct = host.find('%'); pct != std::string_view::npos) {
    addr = host.substr(0, pct);
    std::string scope_text(host.substr(pct + 1));
    if (scope_text.empty()) return fail(Errc::bad_scope);
    if (std::all_of(scope_text.begin(), scope_text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      if (scope_text.size() > 9) return fail(Errc::bad_scope);
      scope = static_cast<std::uint32_t>(std::stoul(scope_text));
    } else {
      scope = ::if_nametoindex(scope_text.c_str());
      if (scope == 0) return fail(Errc::bad_scope);
    }
  }
  in6_addr a6{};
  if (addr.size() >= INET6_ADDRSTRLEN || ::inet_pton(AF_INET6, std::string(addr).c_str(), &a6) != 1) {
    return fail(Errc::bad_address);
  }
  std::array<std::uint8_t, 16> bytes{};
  std::memcpy(bytes.data(), &a6, 16);
  return Endpoint::ipv6(bytes, port, scope);
}

Result<Endpoint> parse_host(std::string_view host, std::uint16_t port, bool bracketed) {
  if (host.empty()) return fail(Errc::bad_address);
  // inet_pton() and if_nametoindex() read C strings: an embedded NUL would cut the text short
  // and accept "::f\0junk" as "::f" (found by fuzz/fuzz_endpoint.cpp).
  if (host.find('\0') != std::string_view::npos) return fail(Errc::bad_address);
  if (bracketed || host.find(':') != std::string_view::npos) return parse_ipv6_host(host, port);
  in_addr a4{};
  if (host.size() < INET_ADDRSTRLEN && ::inet_pton(AF_INET, std::string(host).c_str(), &a4) == 1) {
    std::array<std::uint8_t, 4> bytes{};
    std::memcpy(bytes.data(), &a4, 4);
    return Endpoint::ipv4(bytes, port);
  }
  return fail(looks_like_hostname(host) ? Errc::needs_resolution : Errc::bad_address);
}

}  // namespace

Endpoint::Endpoint() noexcept { std::memset(&storage_, 0, sizeof storage_); }

Endpoint Endpoint::ipv4(std::array<std::uint8_t, 4> addr, std::uint16_t port) noexcept {
  Endpoint e;
  auto* sin = reinterpret_cast<sockaddr_in*>(&e.storage_);
  sin->sin_family = AF_INET;
  sin->sin_port = htons(port);
  std::memcpy(&sin->sin_addr, addr.data(), 4);
  e.len_ = sizeof(sockaddr_in);
  e.kind_ = EndpointKind::ipv4;
  return e;
}

Endpoint Endpoint::ipv6(const std::array<std::uint8_t, 16>& addr, std::uint16_t port,
                        std::uint32_t scope_id) noexcept {
  Endpoint e;
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&e.storage_);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(port);
  std::memcpy(&sin6->sin6_addr, addr.data(), 16);
  sin6->sin6_scope_id = scope_id;
  e.len_ = sizeof(sockaddr_in6);
  e.kind_ = EndpointKind::ipv6;
  return e;
}

Endpoint Endpoint::ipv6_loopback(std::uint16_t port) noexcept {
  std::array<std::uint8_t, 16> a{};
  a[15] = 1;
  return ipv6(a, port);
}

Endpoint Endpoint::ipv6_any(std::uint16_t port) noexcept { return ipv6({}, port); }

Result<Endpoint> Endpoint::unix_path(std::string_view path) {
  if (path.empty()) return fail(Errc::empty_input);
  if (path.size() > kUnixMax) return fail(Errc::path_too_long);
  if (path.find('\0') != std::string_view::npos) return fail(Errc::bad_address);
  Endpoint e;
  auto* sun = reinterpret_cast<sockaddr_un*>(&e.storage_);
  sun->sun_family = AF_UNIX;
  std::memcpy(sun->sun_path, path.data(), path.size());
  e.len_ = static_cast<socklen_t>(kUnixPathOffset + path.size() + 1);
  e.kind_ = EndpointKind::unix_path;
  return e;
}

Result<Endpoint> Endpoint::unix_abstract(std::string_view name) {
  if (name.empty()) return fail(Errc::empty_input);  // "unix:@" names nothing, like "unix:"
  if (name.size() > kUnixMax) return fail(Errc::path_too_long);
  Endpoint e;
  auto* sun = reinterpret_cast<sockaddr_un*>(&e.storage_);
  sun->sun_family = AF_UNIX;
  std::memcpy(sun->sun_path + 1, name.data(), name.size());
  e.len_ = static_cast<socklen_t>(kUnixPathOffset + 1 + name.size());
  e.kind_ = EndpointKind::unix_abstract;
  return e;
}

Result<Endpoint> Endpoint::parse(std::string_view text) {
  if (text.empty()) return fail(Errc::empty_input);
  if (text.starts_with("unix:")) {
    auto rest = text.substr(5);
    if (rest.starts_with('@')) return unix_abstract(rest.substr(1));
    return unix_path(rest);
  }
  auto hp = HostPort::parse(text);
  if (!hp) return fail(hp.error());
  bool bracketed = text.starts_with('[');
  auto port = parse_port(hp->service);
  if (!port) return fail(port.error());
  return parse_host(hp->host, *port, bracketed);
}

Result<Endpoint> Endpoint::parse(std::string_view host, std::string_view service) {
  if (host.empty() && service.empty()) return fail(Errc::empty_input);
  bool bracketed = false;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    bracketed = true;
  }
  auto port = parse_port(service);
  if (!port) return fail(port.error());
  return parse_host(host, *port, bracketed);
}

Result<Endpoint> Endpoint::from_sockaddr(const sockaddr* sa, socklen_t len) {
  if (sa == nullptr || len < static_cast<socklen_t>(sizeof(sa_family_t)) ||
      len > static_cast<socklen_t>(sizeof(sockaddr_storage))) {
    return fail(Errc::address_family);
  }
  Endpoint e;
  switch (sa->sa_family) {
    case AF_INET:
      if (len < static_cast<socklen_t>(sizeof(sockaddr_in))) return fail(Errc::address_family);
      std::memcpy(&e.storage_, sa, sizeof(sockaddr_in));
      // sin_zero is padding that callers may leave uninitialised: it must not reach == or hash().
      std::memset(reinterpret_cast<sockaddr_in*>(&e.storage_)->sin_zero, 0, sizeof(sockaddr_in::sin_zero));
      e.len_ = sizeof(sockaddr_in);
      e.kind_ = EndpointKind::ipv4;
      return e;
    case AF_INET6: {
      if (len < static_cast<socklen_t>(sizeof(sockaddr_in6))) return fail(Errc::address_family);
      std::memcpy(&e.storage_, sa, sizeof(sockaddr_in6));
      reinterpret_cast<sockaddr_in6*>(&e.storage_)->sin6_flowinfo = 0;
      e.len_ = sizeof(sockaddr_in6);
      e.kind_ = EndpointKind::ipv6;
      return e;
    }
    case AF_UNIX: {
      std::memcpy(&e.storage_, sa, len);
      e.len_ = len;
      auto* sun = reinterpret_cast<sockaddr_un*>(&e.storage_);
      if (len > kUnixPathOffset && sun->sun_path[0] == '\0') {
        e.kind_ = EndpointKind::unix_abstract;
      } else {
        // A path (possibly unnamed: no path at all). Normalise the length to path + NUL.
        std::size_t n = len > kUnixPathOffset ? ::strnlen(sun->sun_path, len - kUnixPathOffset) : 0;
        std::memset(sun->sun_path + n, 0, sizeof(sun->sun_path) - n);
        e.len_ = static_cast<socklen_t>(kUnixPathOffset + (n ? n + 1 : 0));
        e.kind_ = EndpointKind::unix_path;
      }
      return e;
    }
    default:
      return fail(Errc::address_family);
  }
}

int Endpoint::family() const noexcept {
  switch (kind_) {
    case EndpointKind::ipv4: return AF_INET;
    case EndpointKind::ipv6: return AF_INET6;
    case EndpointKind::unix_path:
    case EndpointKind::unix_abstract: return AF_UNIX;
    case EndpointKind::none: break;
  }
  return AF_UNSPEC;
}

std::uint16_t Endpoint::port() const noexcept {
  if (kind_ == EndpointKind::ipv4) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
  if (kind_ == EndpointKind::ipv6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
  return 0;
}

Endpoint Endpoint::with_port(std::uint16_t port) const noexcept {
  Endpoint e = *this;
  if (kind_ == EndpointKind::ipv4) reinterpret_cast<sockaddr_in*>(&e.storage_)->sin_port = htons(port);
  if (kind_ == EndpointKind::ipv6) reinterpret_cast<sockaddr_in6*>(&e.storage_)->sin6_port = htons(port);
  return e;
}

std::uint32_t Endpoint::scope_id() const noexcept {
  return kind_ == EndpointKind::ipv6 ? reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_scope_id : 0;
}

bool Endpoint::is_loopback() const noexcept {
  if (kind_ == EndpointKind::ipv4) {
    return (ntohl(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr.s_addr) >> 24) == 127;
  }
  if (kind_ == EndpointKind::ipv6) {
    const auto& a = reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(&a) || (is_v4_mapped() && unmapped().is_loopback());
  }
  return false;
}

bool Endpoint::is_unspecified() const noexcept {
  if (kind_ == EndpointKind::ipv4) return reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr.s_addr == 0;
  if (kind_ == EndpointKind::ipv6) {
    const auto& a = reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr;
    return IN6_IS_ADDR_UNSPECIFIED(&a);
  }
  return false;
}

bool Endpoint::is_multicast() const noexcept {
  if (kind_ == EndpointKind::ipv4) {
    return (ntohl(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr.s_addr) >> 28) == 0xE;
  }
  if (kind_ == EndpointKind::ipv6) {
    const auto& a = reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr;
    return IN6_IS_ADDR_MULTICAST(&a);
  }
  return false;
}

bool Endpoint::is_v4_mapped() const noexcept {
  if (kind_ != EndpointKind::ipv6) return false;
  const auto& a = reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr;
  return IN6_IS_ADDR_V4MAPPED(&a);
}

Endpoint Endpoint::unmapped() const noexcept {
  if (!is_v4_mapped()) return *this;
  const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&storage_);
  std::array<std::uint8_t, 4> v4{};
  std::memcpy(v4.data(), sin6->sin6_addr.s6_addr + 12, 4);
  return ipv4(v4, port());
}

std::string Endpoint::address_string() const {
  char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 2] = {};
  switch (kind_) {
    case EndpointKind::ipv4:
      ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, buf, sizeof buf);
      return buf;
    case EndpointKind::ipv6: {
      ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, buf, sizeof buf);
      std::string s = buf;
      if (auto scope = scope_id(); scope != 0) {
        char name[IF_NAMESIZE] = {};
        s += '%';
        s += ::if_indextoname(scope, name) ? std::string(name) : std::to_string(scope);
      }
      return s;
    }
    case EndpointKind::unix_path: return std::string(unix_name());
    case EndpointKind::unix_abstract: return "@" + std::string(unix_name());
    case EndpointKind::none: break;
  }
  return {};
}

std::string Endpoint::to_string() const {
  switch (kind_) {
    case EndpointKind::ipv4: return address_string() + ":" + std::to_string(port());
    case EndpointKind::ipv6: return "[" + address_string() + "]:" + std::to_string(port());
    case EndpointKind::unix_path:
    case EndpointKind::unix_abstract: return "unix:" + address_string();
    case EndpointKind::none: break;
  }
  return {};
}

std::string_view Endpoint::unix_name() const noexcept {
  const auto* sun = reinterpret_cast<const sockaddr_un*>(&storage_);
  if (kind_ == EndpointKind::unix_path) {
    return {sun->sun_path, ::strnlen(sun->sun_path, sizeof sun->sun_path)};
  }
  if (kind_ == EndpointKind::unix_abstract) {
    return {sun->sun_path + 1, len_ - kUnixPathOffset - 1};
  }
  return {};
}

bool operator==(const Endpoint& a, const Endpoint& b) noexcept {
  return a.kind_ == b.kind_ && a.len_ == b.len_ && std::memcmp(&a.storage_, &b.storage_, a.len_) == 0;
}

std::strong_ordering operator<=>(const Endpoint& a, const Endpoint& b) noexcept {
  if (a.kind_ != b.kind_) return a.kind_ <=> b.kind_;
  if (a.kind_ == EndpointKind::ipv4 || a.kind_ == EndpointKind::ipv6) {
    // Address bytes first, then port, then scope: the order a reader expects.
    std::string_view ab, bb;
    if (a.kind_ == EndpointKind::ipv4) {
      ab = {reinterpret_cast<const char*>(&reinterpret_cast<const sockaddr_in*>(&a.storage_)->sin_addr), 4};
      bb = {reinterpret_cast<const char*>(&reinterpret_cast<const sockaddr_in*>(&b.storage_)->sin_addr), 4};
    } else {
      ab = {reinterpret_cast<const char*>(&reinterpret_cast<const sockaddr_in6*>(&a.storage_)->sin6_addr), 16};
      bb = {reinterpret_cast<const char*>(&reinterpret_cast<const sockaddr_in6*>(&b.storage_)->sin6_addr), 16};
    }
    if (auto c = ab.compare(bb); c != 0) return c < 0 ? std::strong_ordering::less : std::strong_ordering::greater;
    if (a.port() != b.port()) return a.port() <=> b.port();
    return a.scope_id() <=> b.scope_id();
  }
  auto c = a.unix_name().compare(b.unix_name());
  return c == 0 ? std::strong_ordering::equal : (c < 0 ? std::strong_ordering::less : std::strong_ordering::greater);
}

std::size_t Endpoint::hash() const noexcept {
  // FNV-1a over the meaningful bytes.
  std::uint64_t h = 1469598103934665603ULL ^ static_cast<std::uint64_t>(kind_);
  const auto* p = reinterpret_cast<const unsigned char*>(&storage_);
  for (socklen_t i = 0; i < len_; ++i) {
    h ^= p[i];
    h *= 1099511628211ULL;
  }
  return static_cast<std::size_t>(h);
}

}  // namespace tether
