// Opening the connecting side of a relay flow: tcp, unix, exec, proxied (relay_cmd.hpp).
#include "relay_cmd.hpp"
#include "relay_exec.hpp"

#include <tether/proxy.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmath>
#include <cstring>

namespace tether::cli {

std::optional<std::chrono::milliseconds> RelaySettings::idle() const {
  if (flags.idle_s <= 0) return std::nullopt;
  return std::chrono::milliseconds(static_cast<long>(std::ceil(flags.idle_s * 1000)));
}

std::chrono::milliseconds RelaySettings::connect_timeout() const {
  return std::chrono::milliseconds(static_cast<long>(std::ceil(flags.connect_timeout_s * 1000)));
}

std::string endpoint_text(const Result<Endpoint>& ep) { return ep ? ep->to_string() : std::string(); }

namespace {

ProxyOptions proxy_options(const RelaySettings& s, const RelayAddress& b) {
  ProxyOptions po;
  po.type = b.proxy_type == "socks4" ? ProxyType::socks4 : b.proxy_type == "http" ? ProxyType::http
                                                                                  : ProxyType::socks5;
  po.host = b.proxy_host;
  po.port = b.proxy_port;
  po.remote_dns = s.flags.proxy_dns != "local";
  if (auto colon = s.flags.proxy_auth.find(':'); colon != std::string::npos) {
    po.user = s.flags.proxy_auth.substr(0, colon);
    po.password = s.flags.proxy_auth.substr(colon + 1);
  }
  return po;
}

}  // namespace

Task<Result<AsyncTcpStream>> open_async(EventLoop& loop, const RelaySettings& s, const RelayAddress& b,
                                        const Endpoint& peer, const Endpoint& local) {
  const Deadline deadline(s.connect_timeout());
  switch (b.kind) {
    case AddrKind::tcp: {
      HappyEyeballsOptions o;
      o.deadline = deadline;
      co_return co_await AsyncTcpStream::connect(loop, b.host, b.port, o);
    }
    case AddrKind::unix_connect:
      co_return co_await AsyncTcpStream::connect(loop, b.unix_endpoint, deadline);
    case AddrKind::exec: {
      auto child = spawn_exec({b.command, b.shell}, "tcp", peer, local);
      if (!child) co_return fail(child.error());
      co_return AsyncTcpStream::adopt(loop, TcpStream(std::move(child->socket)));
    }
    case AddrKind::proxy:
      co_return co_await connect_via_async(loop, proxy_options(s, b), b.host, b.port, deadline);
    default:
      break;
  }
  co_return fail(std::make_error_code(std::errc::operation_not_supported));
}

Result<TcpStream> open_sync(const RelaySettings& s, const RelayAddress& b) {
  const Deadline deadline(s.connect_timeout());
  switch (b.kind) {
    case AddrKind::tcp: {
      ConnectOptions co;
      co.deadline = deadline;
      return TcpStream::connect(b.host, b.port, co);
    }
    case AddrKind::unix_connect:
      return TcpStream::connect(b.unix_endpoint, deadline);
    case AddrKind::exec: {
      auto child = spawn_exec({b.command, b.shell}, "tcp", Endpoint(), Endpoint());
      if (!child) return fail(child.error());
      return TcpStream(std::move(child->socket));
    }
    case AddrKind::proxy:
      return connect_via(proxy_options(s, b), b.host, b.port, deadline);
    default:
      break;
  }
  return fail(std::make_error_code(std::errc::operation_not_supported));
}

std::string proxy_protocol_header(std::string_view version, const Endpoint& src_in, const Endpoint& dst_in) {
  const Endpoint src = src_in.unmapped();
  const Endpoint dst = dst_in.unmapped();
  const bool ip = (src.kind() == EndpointKind::ipv4 || src.kind() == EndpointKind::ipv6) &&
                  src.kind() == dst.kind();
  if (version == "v1") {
    if (!ip) return "PROXY UNKNOWN\r\n";
    return "PROXY " + std::string(src.kind() == EndpointKind::ipv4 ? "TCP4 " : "TCP6 ") +
           src.address_string() + " " + dst.address_string() + " " + std::to_string(src.port()) + " " +
           std::to_string(dst.port()) + "\r\n";
  }
  std::string h("\r\n\r\n\0\r\nQUIT\n", 12);
  if (!ip) {
    h += '\x20';  // version 2, LOCAL
    h += '\x00';
    h.append(2, '\0');
    return h;
  }
  h += '\x21';  // version 2, PROXY
  const bool v4 = src.kind() == EndpointKind::ipv4;
  h += v4 ? '\x11' : '\x21';  // TCP over IPv4 / IPv6
  const std::uint16_t len = v4 ? 12 : 36;
  h += static_cast<char>(len >> 8);
  h += static_cast<char>(len & 0xFF);
  auto addr_bytes = [&](const Endpoint& e) {
    if (v4) {
      const auto* sa = reinterpret_cast<const sockaddr_in*>(e.data());
      h.append(reinterpret_cast<const char*>(&sa->sin_addr), 4);
    } else {
      const auto* sa = reinterpret_cast<const sockaddr_in6*>(e.data());
      h.append(reinterpret_cast<const char*>(&sa->sin6_addr), 16);
    }
  };
  addr_bytes(src);
  addr_bytes(dst);
  for (std::uint16_t p : {src.port(), dst.port()}) {
    h += static_cast<char>(p >> 8);
    h += static_cast<char>(p & 0xFF);
  }
  return h;
}

}  // namespace tether::cli
