// tls_options.hpp: `--tls` for connect and listen, and the sessions that use it.
//
// connect --tls verifies the server by default (system trust store or --ca; the name is HOST, or
// --sni); -k/--insecure skips the checks, --tls-pin sha256:HEX trusts exactly one certificate.
// listen --tls serves with --cert/--key, or with an ephemeral ECDSA P-256 certificate whose
// fingerprint it prints so that a client can pin it; --client-ca requires client certificates.
// Every listen mode works over TLS: the relay (-k too) here, --echo/--chat/--discard through
// ServerOptions::tls (serve_tls.cpp). Events gain a "tls" event with the handshake.
#pragma once

#include "events.hpp"
#include "listen.hpp"
#include "options.hpp"

#include <tether/server.hpp>
#include <tether/tcp.hpp>
#include <tether/tls.hpp>

#include <CLI/CLI.hpp>

#include <string>
#include <string_view>

namespace tether::cli {

struct TlsFlags {
  bool tls = false;
  bool insecure = false;   ///< connect -k
  std::string ca;          ///< connect --ca
  std::string cert;        ///< --cert
  std::string key;         ///< --key
  std::string sni;         ///< connect --sni
  std::string alpn;        ///< --alpn a,b
  std::string pin;         ///< connect --tls-pin
  std::string client_ca;   ///< listen --client-ca
};

/// The one command line's TLS flags.
TlsFlags& tls_flags();

void add_tls_client_options(CLI::App& connect);
void add_tls_server_options(CLI::App& listen);

/// UsageError when TLS flags are given without --tls, or --tls where it cannot apply.
void check_tls_flags(bool applies, std::string_view why_not);

/// connect --tls: handshake on `tcp` (HOST or --sni is the name verified), then the stdin/stdout
/// relay. Returns the exit status; a failed handshake is one line naming the reason, exit 1.
int tls_connect_session(TcpStream tcp, std::string_view host, std::string_view target,
                        const CommonOptions& common, const EventLog& log, Deadline deadline);

/// listen --tls: makes the server context once (printing an ephemeral certificate's
/// fingerprint). Returns false (error printed) when the files cannot be used.
bool prepare_tls_server(const ListenSettings& settings);

/// A listener without --cert/--key: an ephemeral ECDSA P-256 certificate into `identity`, its
/// SHA-256 fingerprint printed (a tls_certificate event, or one line on stderr) so a client can
/// pin it. False (the error logged) when none could be made.
bool use_ephemeral_identity(std::optional<TlsIdentity>& identity, const EventLog& log);
/// The context prepare_tls_server() made.
const TlsContext& tls_server_context();
/// The relay mode: handshake with an accepted client, then relay stdin/stdout.
int tls_serve_session(TcpStream tcp, const Endpoint& peer, const ListenSettings& settings);
/// The Server modes: sets options.tls (and the "tls" event) when --tls is on.
void install_tls(ServerOptions& options, const ListenSettings& settings);

/// The "tls" event: version, cipher, ALPN, SNI, the peer's subject and fingerprint, handshake time.
void emit_tls(const EventLog& log, const TlsInfo& info, const Endpoint* peer);

}  // namespace tether::cli
