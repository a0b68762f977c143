// Parsing the addresses of `tether relay` (relay_addr.hpp).
#include "relay_addr.hpp"

#include "events.hpp"
#include "options.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace tether::cli {

const char* RelayAddress::proto() const noexcept {
  switch (kind) {
    case AddrKind::tcp:
    case AddrKind::tcp_listen:
      return "tcp";
    case AddrKind::udp:
    case AddrKind::udp_listen:
      return "udp";
    case AddrKind::unix_connect:
    case AddrKind::unix_listen:
      return "unix";
    case AddrKind::stdio:
      return "stdio";
    case AddrKind::exec:
      return "exec";
    case AddrKind::proxy:
      return "proxy";
    case AddrKind::tls:
    case AddrKind::tls_listen:
      return "tls";
  }
  return "?";
}

bool split_host_port(std::string_view text, std::string& host, std::string& port) {
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') return false;
    host = std::string(text.substr(1, close - 1));
    port = std::string(text.substr(close + 2));
    return !port.empty();
  }
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return false;
  host = std::string(text.substr(0, colon));
  port = std::string(text.substr(colon + 1));
  return !port.empty();
}

namespace {

[[noreturn]] void bad(std::string_view text, std::string_view why) {
  throw UsageError(fmt::format("address '{}': {}", text_escape(text), why));
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

Endpoint unix_or_bad(std::string_view text, std::string_view path) {
  if (path.empty()) bad(text, "needs a PATH");
  auto ep = path.front() == '@' ? Endpoint::unix_abstract(path.substr(1)) : Endpoint::unix_path(path);
  if (!ep) bad(text, describe(ep.error()));
  return *ep;
}

void host_port_or_bad(std::string_view text, std::string_view rest, RelayAddress& a, bool listen) {
  if (listen && rest.find(':') == std::string_view::npos) {
    a.port = std::string(rest);
  } else if (!split_host_port(rest, a.host, a.port)) {
    bad(text, listen ? "expected [ADDR:]PORT" : "expected HOST:PORT");
  }
  port_or_usage(a.port, "port");
  if (!a.host.empty()) check_host_or_usage(a.host, a.port, "host");
  if (a.host.empty() && !listen) bad(text, "HOST is empty");
}

}  // namespace

RelayAddress parse_relay_address(std::string_view text) {
  RelayAddress a;
  a.text = std::string(text);
  if (text == "-" || lower(text) == "stdio") return a;
  auto colon = text.find(':');
  if (colon == std::string_view::npos) bad(text, "expected KIND:... (tcp:, tcp-listen:, udp:, unix:, exec:, stdio...)");
  const std::string kind = lower(text.substr(0, colon));
  const std::string_view rest = text.substr(colon + 1);
  if (kind == "tcp" || kind == "tcp-connect") {
    a.kind = AddrKind::tcp;
    host_port_or_bad(text, rest, a, false);
  } else if (kind == "tcp-listen" || kind == "tcp-l") {
    a.kind = AddrKind::tcp_listen;
    host_port_or_bad(text, rest, a, true);
  } else if (kind == "udp" || kind == "udp-connect") {
    a.kind = AddrKind::udp;
    host_port_or_bad(text, rest, a, false);
  } else if (kind == "udp-listen" || kind == "udp-l") {
    a.kind = AddrKind::udp_listen;
    host_port_or_bad(text, rest, a, true);
  } else if (kind == "unix" || kind == "unix-connect") {
    a.kind = AddrKind::unix_connect;
    a.unix_endpoint = unix_or_bad(text, rest);
  } else if (kind == "unix-listen" || kind == "unix-l") {
    a.kind = AddrKind::unix_listen;
    a.unix_endpoint = unix_or_bad(text, rest);
  } else if (kind == "exec" || kind == "sh" || kind == "system") {
    a.kind = AddrKind::exec;
    a.shell = kind != "exec";
    a.command = std::string(rest);
    if (a.command.find_first_not_of(" \t") == std::string::npos) bad(text, "needs a command");
  } else if (kind == "socks5" || kind == "socks4" || kind == "http-proxy" || kind == "proxy") {
    a.kind = AddrKind::proxy;
    a.proxy_type = kind == "http-proxy" || kind == "proxy" ? "http" : kind;
    // PROXY:PPORT:HOST:PORT; the proxy part may be a bracketed IPv6 literal.
    std::string proxy;
    std::string target;
    std::size_t cut = 0;
    if (!rest.empty() && rest.front() == '[') {
      cut = rest.find(']');
      if (cut == std::string_view::npos) bad(text, "unclosed '['");
      cut = rest.find(':', rest.find(':', cut + 1) + 1);
    } else {
      auto first = rest.find(':');
      cut = first == std::string_view::npos ? first : rest.find(':', first + 1);
    }
    if (cut == std::string_view::npos) bad(text, "expected PROXY:PPORT:HOST:PORT");
    if (!split_host_port(rest.substr(0, cut), a.proxy_host, a.proxy_port)) bad(text, "expected PROXY:PPORT:HOST:PORT");
    port_or_usage(a.proxy_port, "proxy port");
    check_host_or_usage(a.proxy_host, a.proxy_port, "proxy host");
    if (!split_host_port(rest.substr(cut + 1), a.host, a.port) || a.host.empty()) {
      bad(text, "expected PROXY:PPORT:HOST:PORT");
    }
    port_or_usage(a.port, "port");
  } else if (kind == "tls" || kind == "ssl" || kind == "openssl" || kind == "openssl-connect") {
    a.kind = AddrKind::tls;
    host_port_or_bad(text, rest, a, false);
  } else if (kind == "tls-listen" || kind == "tls-l" || kind == "ssl-l" || kind == "ssl-listen" ||
             kind == "openssl-listen") {
    a.kind = AddrKind::tls_listen;
    host_port_or_bad(text, rest, a, true);
  } else {
    bad(text, "unknown kind (tcp, tcp-listen, udp, udp-listen, unix, unix-listen, tls, tls-listen, stdio, exec, sh, socks5, socks4, http-proxy)");
  }
  return a;
}

}  // namespace tether::cli
