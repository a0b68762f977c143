// tether/resolve.hpp: host names and service names to endpoints (getaddrinfo).
//
// resolve() blocks while the system resolver works; it is safe to call from any thread.
// Errors from the resolver carry tether::resolve_category() (EAI_* values).
#pragma once

#include <tether/endpoint.hpp>
#include <tether/error.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#pragma GCC visibility push(default)  // the public API (the shared library hides the rest)

namespace tether {

/// Which IP family to resolve: like -4 / -6 on the command line.
enum class IpFamily : std::uint8_t { any, ipv4, ipv6 };

/// "host:port" text split without any lookup: "example.org:http", "[::1]:80", "10.0.0.1:22".
struct HostPort {
  std::string host;     ///< without brackets; may be a name, a numeric address, or empty
  std::string service;  ///< a port number or a service name

  [[nodiscard]] static Result<HostPort> parse(std::string_view text);
};

/// A port number or a service name ("http", "ssh") from the system services database.
[[nodiscard]] Result<std::uint16_t> parse_port(std::string_view service);

struct ResolveOptions {
  IpFamily family = IpFamily::any;
  bool passive = false;  ///< an empty host means the wildcard address (for bind) instead of loopback
};

/// Every address for host/service, in the resolver's order (RFC 6724 preference).
/// Numeric hosts are answered without a lookup. Duplicates are removed.
[[nodiscard]] Result<std::vector<Endpoint>> resolve(std::string_view host, std::string_view service,
                                      ResolveOptions options = {});

/// resolve() for "host:service" text. Text that parses as an Endpoint (unix:..., numeric) is
/// returned as is.
[[nodiscard]] Result<std::vector<Endpoint>> resolve(std::string_view host_port, ResolveOptions options = {});

}  // namespace tether

#pragma GCC visibility pop
