// relay_tls.hpp: the tls: and tls-listen: addresses of `tether relay`, and the sides a flow opens.
//
//   tls:HOST:PORT            a TLS client: verifies the server (system store or --ca; the name is
//                            HOST or --sni), -k skips, --tls-pin trusts one certificate, --cert/--key
//                            give a client certificate (when no tls-listen: address takes them);
//                            --client-cert/--client-key give it one in every case
//   tls-listen:[ADDR:]PORT   a TLS server: --cert/--key, or an ephemeral ECDSA certificate whose
//                            SHA-256 is printed; --client-ca requires client certificates
// Both take --alpn. tls-listen serves many clients like tcp-listen: each accepted client's
// handshake runs on its loop (ServerOptions::tls), then its Connection carries plaintext (and the
// flow copies: never splice(2) on records). A tls: side is an AsyncTlsStream (TlsSide); its end of stream is the peer's
// close_notify, and a close without one ends the flow with tls_truncated.
#pragma once

#include "relay_cmd.hpp"
#include "relay_flow.hpp"

#include <tether/async_tls.hpp>
#include <tether/tls.hpp>

#include <memory>
#include <string>
#include <string_view>

namespace tether::cli {

/// Makes the contexts the addresses need (s.tls_client, s.tls_server); prints the reason and
/// returns false when a file cannot be used. UsageError for TLS flags no address takes.
bool prepare_relay_tls(RelaySettings& s);

/// A side the relay opened, with the endpoints its events name.
struct OpenedSide {
  std::unique_ptr<FlowSide> side;
  std::string local;
  std::string peer;
};

/// Opens side `b` (tcp, unix, exec, proxy or tls) on `loop`; `preamble` (a PROXY protocol header)
/// is written on the connection first (before a TLS handshake). `peer`/`local` are the client's,
/// for an exec child's environment.
Task<Result<OpenedSide>> open_side(EventLoop& loop, const RelaySettings& s, const RelayAddress& b,
                                   const Endpoint& peer, const Endpoint& local, std::string preamble);

/// The stdio modes over TLS: a tls: address relayed with stdin/stdout, or one client of
/// tls-listen (relay_stdio.cpp calls these).
int tls_with_stdio(const RelaySettings& s);
int tls_accept_one(const RelaySettings& s, TcpStream accepted, const Endpoint& peer);

}  // namespace tether::cli
