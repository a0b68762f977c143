#include <tether/resolve.hpp>

#include <netdb.h>

#include <algorithm>
#include <charconv>
#include <memory>
#include <string>

namespace tether {

Result<HostPort> HostPort::parse(std::string_view text) {
  if (text.empty()) return fail(Errc::empty_input);
  HostPort hp;
  if (text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) return fail(Errc::bad_address);
    hp.host = std::string(text.substr(1, close - 1));
    auto rest = text.substr(close + 1);
    if (rest.empty()) return fail(Errc::missing_port);
    if (rest.front() != ':') return fail(Errc::bad_address);
    hp.service = std::string(rest.substr(1));
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return fail(Errc::missing_port);
    // More than one ':' without brackets is an IPv6 address with no port, or ambiguous.
    if (text.find(':') != colon) return fail(Errc::missing_port);
    hp.host = std::string(text.substr(0, colon));
    hp.service = std::string(text.substr(colon + 1));
  }
  if (hp.service.empty()) return fail(Errc::missing_port);
  return hp;
}

Result<std::uint16_t> parse_port(std::string_view service) {
  if (service.empty()) return fail(Errc::missing_port);
  if (std::all_of(service.begin(), service.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(service.data(), service.data() + service.size(), value);
    if (ec != std::errc{} || ptr != service.data() + service.size() || value > 65535) {
      return fail(Errc::bad_port);
    }
    return static_cast<std::uint16_t>(value);
  }
  // A service name: letters, digits and '-' (RFC 6335), starting with a letter.
  bool name_ok = service.size() <= 63 && ((service.front() >= 'a' && service.front() <= 'z') ||
                                          (service.front() >= 'A' && service.front() <= 'Z'));
  for (char c : service) {
    name_ok = name_ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-');
  }
  if (!name_ok) return fail(Errc::bad_port);
  std::string name(service);
  for (const char* proto : {"tcp", "udp"}) {
    servent entry{};
    servent* found = nullptr;
    char buf[1024];
    if (::getservbyname_r(name.c_str(), proto, &entry, buf, sizeof buf, &found) == 0 && found != nullptr) {
      return static_cast<std::uint16_t>(ntohs(static_cast<std::uint16_t>(found->s_port)));
    }
  }
  return fail(Errc::unknown_service);
}

Result<std::vector<Endpoint>> resolve(std::string_view host, std::string_view service,
                                      ResolveOptions options) {
  auto port = parse_port(service);
  if (!port) return fail(port.error());

  auto family_ok = [&](const Endpoint& e) {
    return options.family == IpFamily::any || (options.family == IpFamily::ipv4) == (e.family() == AF_INET);
  };
  if (!host.empty()) {
    if (auto numeric = Endpoint::parse(host, service)) {
      if (!family_ok(*numeric)) return fail(Errc::no_address);
      return std::vector<Endpoint>{*numeric};
    } else if (numeric.error() != make_error_code(Errc::needs_resolution)) {
      return fail(numeric.error());
    }
  }

  addrinfo hints{};
  hints.ai_family = options.family == IpFamily::ipv4 ? AF_INET
                    : options.family == IpFamily::ipv6 ? AF_INET6 : AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;  // one entry per address; the port applies to UDP alike
  hints.ai_flags = AI_NUMERICSERV | (options.passive ? AI_PASSIVE : 0);
  std::string host_str(host);
  std::string port_str = std::to_string(*port);
  addrinfo* raw = nullptr;
  int rc = ::getaddrinfo(host.empty() ? nullptr : host_str.c_str(), port_str.c_str(), &hints, &raw);
  if (rc == EAI_SYSTEM) return fail(errno_code(errno));
  if (rc != 0) return fail(std::error_code(rc, resolve_category()));
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> list(raw, &::freeaddrinfo);

  std::vector<Endpoint> out;
  for (const addrinfo* ai = list.get(); ai != nullptr; ai = ai->ai_next) {
    auto e = Endpoint::from_sockaddr(ai->ai_addr, ai->ai_addrlen);
    if (e && family_ok(*e) && std::find(out.begin(), out.end(), *e) == out.end()) out.push_back(*e);
  }
  if (out.empty()) return fail(Errc::no_address);
  return out;
}

Result<std::vector<Endpoint>> resolve(std::string_view host_port, ResolveOptions options) {
  if (host_port.starts_with("unix:")) {
    auto e = Endpoint::parse(host_port);
    if (!e) return fail(e.error());
    return std::vector<Endpoint>{*e};
  }
  auto hp = HostPort::parse(host_port);
  if (!hp) return fail(hp.error());
  return resolve(hp->host, hp->service, options);
}

}  // namespace tether
