// Driving a proxy handshake on a blocking connection or on a loop; ALL_PROXY / NO_PROXY
// (tether/proxy.hpp).
#include <tether/async_tcp.hpp>
#include <tether/event_loop.hpp>
#include <tether/proxy.hpp>
#include <tether/resolve.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>

namespace tether {

namespace {

/// The target's address when the proxy must not resolve it (remote_dns off), or a literal.
Result<std::optional<Endpoint>> target_address(const ProxyOptions& proxy, std::string_view host,
                                               std::string_view service) {
  auto literal = Endpoint::parse(host, service);
  if (literal) return std::optional<Endpoint>(*literal);
  if (proxy.remote_dns && proxy.type != ProxyType::socks4) return std::optional<Endpoint>();
  if (proxy.remote_dns) return std::optional<Endpoint>();  // SOCKS4a carries the name
  ResolveOptions ro;
  ro.family = proxy.type == ProxyType::socks4 ? IpFamily::ipv4 : IpFamily::any;
  auto all = resolve(host, service, ro);
  if (!all) return fail(all.error());
  if (all->empty()) return fail(Errc::no_address);
  return std::optional<Endpoint>(all->front());
}

bool suffix_match(std::string_view host, std::string_view entry) {
  if (entry.empty()) return false;
  if (entry == "*") return true;
  if (entry.front() == '.') entry.remove_prefix(1);
  if (host == entry) return true;
  return host.size() > entry.size() && host.ends_with(entry) && host[host.size() - entry.size() - 1] == '.';
}

}  // namespace

Result<TcpStream> connect_via(const ProxyOptions& proxy, std::string_view host, std::string_view service,
                              Deadline deadline) {
  auto port = parse_port(service);
  if (!port) return fail(port.error());
  auto target = target_address(proxy, host, service);
  if (!target) return fail(target.error());
  ConnectOptions co;
  co.deadline = deadline;
  auto stream = TcpStream::connect(proxy.host, proxy.port, co);
  if (!stream) return stream;
  ProxyHandshake hs(proxy, host, *port, *target);
  std::array<std::byte, 512> buf{};
  for (;;) {
    switch (hs.state()) {
      case ProxyHandshake::State::send:
        if (auto st = stream->write_all(hs.output(), deadline); !st) return fail(st.error());
        hs.sent();
        break;
      case ProxyHandshake::State::receive: {
        auto n = stream->read_some(std::span(buf.data(), std::min(buf.size(), hs.wanted())), deadline);
        if (!n) return fail(n.error());
        if (*n == 0) return fail(std::make_error_code(std::errc::connection_reset));
        hs.feed(std::span(buf.data(), *n));
        break;
      }
      case ProxyHandshake::State::done:
        return stream;
      case ProxyHandshake::State::failed:
        return fail(hs.error());
    }
  }
}

Task<Result<AsyncTcpStream>> connect_via_async(EventLoop& loop, ProxyOptions proxy, std::string host,
                                               std::string service, Deadline deadline) {
  auto port = parse_port(service);
  if (!port) co_return fail(port.error());
  // Local resolution (remote_dns off) blocks this loop briefly; the proxy itself is raced.
  auto target = target_address(proxy, host, service);
  if (!target) co_return fail(target.error());
  HappyEyeballsOptions ho;
  ho.deadline = deadline;
  auto stream = co_await AsyncTcpStream::connect(loop, proxy.host, proxy.port, ho);
  if (!stream) co_return stream;
  ProxyHandshake hs(proxy, host, *port, *target);
  std::array<std::byte, 512> buf{};
  for (;;) {
    switch (hs.state()) {
      case ProxyHandshake::State::send: {
        const std::string out(hs.output());
        if (auto w = co_await stream->write_all(out, deadline); !w) co_return fail(w.error());
        hs.sent();
        break;
      }
      case ProxyHandshake::State::receive: {
        auto n = co_await stream->read_some(std::span(buf.data(), std::min(buf.size(), hs.wanted())), deadline);
        if (!n) co_return fail(n.error());
        if (*n == 0) co_return fail(std::make_error_code(std::errc::connection_reset));
        hs.feed(std::span(buf.data(), *n));
        break;
      }
      case ProxyHandshake::State::done:
        co_return stream;
      case ProxyHandshake::State::failed:
        co_return fail(hs.error());
    }
  }
}

Result<std::optional<ProxyOptions>> proxy_from_env(std::string_view target_host) {
  auto get = [](const char* a, const char* b) -> std::string {
    const char* v = std::getenv(a);
    if (v == nullptr || *v == '\0') v = std::getenv(b);
    return v == nullptr ? std::string() : std::string(v);
  };
  std::string url = get("ALL_PROXY", "all_proxy");
  if (url.empty()) return std::optional<ProxyOptions>();
  std::string no = get("NO_PROXY", "no_proxy");
  std::string host(target_host);
  std::transform(host.begin(), host.end(), host.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (std::size_t start = 0; start <= no.size();) {
    auto end = no.find(',', start);
    if (end == std::string::npos) end = no.size();
    std::string entry = no.substr(start, end - start);
    std::erase_if(entry, [](unsigned char c) { return std::isspace(c) != 0; });
    if (auto colon = entry.find(':'); colon != std::string::npos && entry.find(':', colon + 1) == std::string::npos) {
      entry.resize(colon);  // host:port entries: the host part
    }
    if (suffix_match(host, entry)) return std::optional<ProxyOptions>();
    start = end + 1;
  }
  ProxyOptions p;
  auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return fail(std::make_error_code(std::errc::invalid_argument));
  const std::string scheme = url.substr(0, scheme_end);
  std::string rest = url.substr(scheme_end + 3);
  if (auto slash = rest.find('/'); slash != std::string::npos) rest.resize(slash);
  if (scheme == "socks5h" || scheme == "socks5") {
    p.type = ProxyType::socks5;
    p.remote_dns = scheme == "socks5h";
    p.port = "1080";
  } else if (scheme == "socks4a" || scheme == "socks4") {
    p.type = ProxyType::socks4;
    p.remote_dns = scheme == "socks4a";
    p.port = "1080";
  } else if (scheme == "http") {
    p.type = ProxyType::http;
    p.port = "80";
  } else {
    return fail(std::make_error_code(std::errc::invalid_argument));
  }
  if (auto at = rest.rfind('@'); at != std::string::npos) {
    const std::string cred = rest.substr(0, at);
    rest = rest.substr(at + 1);
    auto colon = cred.find(':');
    p.user = cred.substr(0, colon);
    if (colon != std::string::npos) p.password = cred.substr(colon + 1);
  }
  if (!rest.empty() && rest.front() == '[') {
    auto close = rest.find(']');
    if (close == std::string::npos) return fail(std::make_error_code(std::errc::invalid_argument));
    p.host = rest.substr(1, close - 1);
    if (close + 1 < rest.size() && rest[close + 1] == ':') p.port = rest.substr(close + 2);
  } else if (auto colon = rest.rfind(':'); colon != std::string::npos) {
    p.host = rest.substr(0, colon);
    p.port = rest.substr(colon + 1);
  } else {
    p.host = rest;
  }
  if (p.host.empty()) return fail(std::make_error_code(std::errc::invalid_argument));
  return std::optional<ProxyOptions>(p);
}

}  // namespace tether
