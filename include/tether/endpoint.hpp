// tether/endpoint.hpp: the address of one end of a socket.
//
// An Endpoint is a value (copyable, comparable, hashable) holding one of: an IPv4 address and port,
// an IPv6 address, port and scope id, a Unix socket path, or a Linux abstract socket name.
// Text forms, as parsed by Endpoint::parse() and produced by to_string():
//   127.0.0.1:80   [::1]:443   [fe80::1%eth0]:22   unix:/run/app.sock   unix:@name
// The port may be a service name from the system services database ("127.0.0.1:http").
// parse() does no I/O; a host NAME ("localhost:http") is rejected with Errc::needs_resolution:
// pass such text to tether::resolve() (resolve.hpp).
#pragma once

#include <tether/error.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#pragma GCC visibility push(default)  // the public API (the shared library hides the rest)

namespace tether {

enum class EndpointKind : std::uint8_t { none, ipv4, ipv6, unix_path, unix_abstract };

class Endpoint {
 public:
  /// An empty endpoint (kind() == none); binds to nothing.
  Endpoint() noexcept;

  static Endpoint ipv4(std::array<std::uint8_t, 4> addr, std::uint16_t port) noexcept;
  static Endpoint ipv6(const std::array<std::uint8_t, 16>& addr, std::uint16_t port,
                       std::uint32_t scope_id = 0) noexcept;
  static Endpoint ipv4_loopback(std::uint16_t port) noexcept { return ipv4({127, 0, 0, 1}, port); }
  static Endpoint ipv6_loopback(std::uint16_t port) noexcept;
  static Endpoint ipv4_any(std::uint16_t port) noexcept { return ipv4({0, 0, 0, 0}, port); }
  static Endpoint ipv6_any(std::uint16_t port) noexcept;
  [[nodiscard]] static Result<Endpoint> unix_path(std::string_view path);
  [[nodiscard]] static Result<Endpoint> unix_abstract(std::string_view name);

  /// Parses the text forms above. Errors name the bad part (Errc::bad_port, Errc::bad_address, ...).
  [[nodiscard]] static Result<Endpoint> parse(std::string_view text);
  /// Parses a numeric host and a separate port or service ("::1", "443" / "https").
  [[nodiscard]] static Result<Endpoint> parse(std::string_view host, std::string_view service);

  /// From a kernel address (accept, recvfrom, getsockname); Errc::address_family if unsupported.
  [[nodiscard]] static Result<Endpoint> from_sockaddr(const sockaddr* sa, socklen_t len);

  EndpointKind kind() const noexcept { return kind_; }
  bool is_ip() const noexcept { return kind_ == EndpointKind::ipv4 || kind_ == EndpointKind::ipv6; }
  bool is_unix() const noexcept {
    return kind_ == EndpointKind::unix_path || kind_ == EndpointKind::unix_abstract;
  }
  /// AF_INET, AF_INET6, AF_UNIX, or AF_UNSPEC for none.
  int family() const noexcept;

  std::uint16_t port() const noexcept;            ///< 0 for non-IP endpoints
  Endpoint with_port(std::uint16_t port) const noexcept;
  std::uint32_t scope_id() const noexcept;         ///< IPv6 only, else 0
  bool is_loopback() const noexcept;
  bool is_unspecified() const noexcept;            ///< 0.0.0.0 or ::
  bool is_multicast() const noexcept;
  bool is_v4_mapped() const noexcept;              ///< `::ffff:a.b.c.d`
  /// `::ffff:a.b.c.d` becomes `a.b.c.d` (same port); any other endpoint is returned unchanged.
  Endpoint unmapped() const noexcept;

  /// The address alone: "127.0.0.1", "::1", "fe80::1%eth0", "/path", "@name".
  std::string address_string() const;
  /// "127.0.0.1:80", "[::1]:443", "unix:/path", "unix:@name"; "" for none.
  std::string to_string() const;
  /// Unix path or abstract name (without '@'); empty for IP endpoints.
  std::string_view unix_name() const noexcept;

  const sockaddr* data() const noexcept { return reinterpret_cast<const sockaddr*>(&storage_); }
  socklen_t size() const noexcept { return len_; }

  friend bool operator==(const Endpoint& a, const Endpoint& b) noexcept;
  friend std::strong_ordering operator<=>(const Endpoint& a, const Endpoint& b) noexcept;
  std::size_t hash() const noexcept;

 private:
  sockaddr_storage storage_;
  socklen_t len_ = 0;
  EndpointKind kind_ = EndpointKind::none;
};

}  // namespace tether

template <>
struct std::hash<tether::Endpoint> {
  std::size_t operator()(const tether::Endpoint& e) const noexcept { return e.hash(); }
};

#pragma GCC visibility pop
