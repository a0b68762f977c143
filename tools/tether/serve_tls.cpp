// --echo/--chat/--discard over TLS: ServerOptions::tls. The server does the handshake on the
// client's loop, then the mode's handler reads and sends plaintext on its Connection, records
// encrypted and decrypted on the loop (no second socket, no copy between them): backpressure, idle
// timeout, limits and events as for any client. The client's close_notify is the handler's end
// of stream; the handler's end is close_notify for the client.
#include "tls_options.hpp"

namespace tether::cli {

void install_tls(ServerOptions& options, const ListenSettings& s) {
  if (!tls_flags().tls) return;
  // The handshake is bounded: by -w or --idle-timeout when given, else 10 s.
  if (options.idle_timeout.count() > 0) options.tls_handshake_timeout = options.idle_timeout;
  options.tls = tls_server_context();
  options.on_tls = [log = s.log](const TlsInfo& info, const Endpoint& peer) {
    emit_tls(log, info, peer.kind() == EndpointKind::none ? nullptr : &peer);
  };
}

}  // namespace tether::cli
