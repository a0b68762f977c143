// relay_cmd.hpp: what the files of `tether relay` share: the parsed flags and the ways of opening
// the side a flow connects to.
//
// Modes (relay_cmd.cpp picks one from the two addresses; a listening side is always side A):
//   - a stream listener (tcp-listen, unix-listen, tls-listen) with a connecting side: tether::Server, one flow
//     per client on --threads loops (relay_serve.cpp);
//   - udp-listen with udp: a session table per client, sessions on --threads loops behind one
//     listening socket (relay_udp.cpp);
//   - stdio with anything, or a listener with stdio: one flow, the synchronous relay of
//     connect/listen (relay_stdio.cpp);
//   - two connecting sides: one flow on one loop (relay_serve.cpp).
#pragma once

#include "events.hpp"
#include "relay_addr.hpp"
#include "relay_flow.hpp"

#include <tether/async_tcp.hpp>
#include <tether/cidr.hpp>
#include <tether/event_loop.hpp>
#include <tether/tcp.hpp>
#include <tether/tls.hpp>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace tether::cli {

struct RelayFlags {
  std::size_t threads = 0;
  std::size_t max_conns = 0;
  double idle_s = 0;
  double drain_s = 5;
  bool drain_given = false;  ///< --drain on the command line (udp-listen drains only then)
  double connect_timeout_s = 10;
  std::vector<std::string> allow;
  std::vector<std::string> deny;
  std::string proxy_protocol;  ///< "", "v1" or "v2"
  std::string proxy_auth;      ///< USER:PASS for socks5:/http-proxy: addresses
  std::string proxy_dns = "remote";
  // TLS (relay_tls.hpp): for the tls: and tls-listen: addresses.
  std::string ca, cert, key, sni, alpn, pin, client_ca;
  std::string client_cert, client_key;  ///< tls: a client certificate (beside a tls-listen: --cert)
  bool insecure = false;
  std::string tls_proxy;                 ///< --tls-proxy HOST:PORT: tls: connects through it
  std::string tls_proxy_type = "socks5";  ///< --tls-proxy-type socks5|socks4|http
  bool verbose = false;
  bool json = false;
  bool no_splice = false;  ///< --no-splice: copy through user space (also TETHER_RELAY_SPLICE=0)
};

struct RelaySettings {
  RelayAddress a;  ///< the listening side when there is one
  RelayAddress b;
  RelayFlags flags;
  EventLog log;
  std::optional<TlsContext> tls_client;  ///< for a tls: address (prepare_relay_tls)
  std::optional<TlsContext> tls_server;  ///< for tls-listen:

  std::optional<std::chrono::milliseconds> idle() const;
  std::chrono::milliseconds connect_timeout() const;
  /// Stream flows between two sockets go by splice(2) (relay_flow.hpp).
  bool splice() const { return !flags.no_splice && splice_allowed_by_env(); }
};

/// Opens side `b` (tcp, unix, exec, proxy; relay_tls.hpp's open_side adds tls) on `loop`. `peer`/`local` are the client's, for an
/// exec child's environment (may be empty).
Task<Result<AsyncTcpStream>> open_async(EventLoop& loop, const RelaySettings& s, const RelayAddress& b,
                                        const Endpoint& peer, const Endpoint& local);
/// The same, synchronously (for the stdio modes).
Result<TcpStream> open_sync(const RelaySettings& s, const RelayAddress& b);

/// The PROXY protocol header (v1 text, v2 binary) for a client `src` reaching `dst`; the
/// "UNKNOWN"/LOCAL form when they are not IP endpoints.
std::string proxy_protocol_header(std::string_view version, const Endpoint& src, const Endpoint& dst);

int relay_serve_streams(const RelaySettings& s);   ///< relay_serve.cpp
int relay_two_connecting(const RelaySettings& s);  ///< relay_serve.cpp
int relay_udp(const RelaySettings& s);             ///< relay_udp.cpp
int relay_stdio(const RelaySettings& s);           ///< relay_stdio.cpp

/// An endpoint as text, "" for an error.
std::string endpoint_text(const Result<Endpoint>& ep);

}  // namespace tether::cli
