// relay_addr.hpp: the socat-class addresses of `tether relay A B`.
//
//   tcp:HOST:PORT            tcp-listen:[ADDR:]PORT     (IPv6 literals in brackets)
//   udp:HOST:PORT            udp-listen:[ADDR:]PORT
//   unix:PATH                unix-listen:PATH           (@NAME: a Linux abstract name)
//   stdio (or -)             exec:CMD (words, no shell)  sh:CMD (/bin/sh -c CMD)
//   socks5:PROXY:PPORT:HOST:PORT   socks4:...   http-proxy:...   (a stream through a proxy)
//   tls:HOST:PORT            tls-listen:[ADDR:]PORT     (ssl:, openssl:, ssl-l:, openssl-listen:)
// The kind is case-insensitive (TCP-LISTEN works as in socat). The TLS options (--ca, --cert...)
// are flags of `tether relay` (relay_tls.hpp), shared by the one tls: and tls-listen: address.
#pragma once

#include <tether/endpoint.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace tether::cli {

enum class AddrKind : std::uint8_t {
  tcp, tcp_listen, udp, udp_listen, unix_connect, unix_listen, stdio, exec, proxy, tls, tls_listen
};

struct RelayAddress {
  AddrKind kind = AddrKind::stdio;
  std::string text;        ///< as given, for messages
  std::string host;        ///< tcp/udp/tls: host (listen: may be empty); proxy: the target host
  std::string port;        ///< tcp/udp/tls: port; proxy: the target port
  Endpoint unix_endpoint;  ///< unix, unix-listen
  std::string command;     ///< exec / sh
  bool shell = false;      ///< sh:CMD
  std::string proxy_type;  ///< proxy: "socks5", "socks4" or "http"
  std::string proxy_host;
  std::string proxy_port;

  bool listening() const noexcept {
    return kind == AddrKind::tcp_listen || kind == AddrKind::udp_listen ||
           kind == AddrKind::unix_listen || kind == AddrKind::tls_listen;
  }
  bool datagram() const noexcept { return kind == AddrKind::udp || kind == AddrKind::udp_listen; }
  /// "tcp", "udp", "unix", "stdio", "exec", "proxy" or "tls": the protocol named in events.
  const char* proto() const noexcept;
};

/// Parses one address; UsageError (exit 2) with a one-line reason when it is not one.
RelayAddress parse_relay_address(std::string_view text);

/// Splits "HOST:PORT" / "[V6]:PORT" at its last colon; false when there is no port.
bool split_host_port(std::string_view text, std::string& host, std::string& port);

}  // namespace tether::cli
