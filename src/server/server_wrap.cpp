// src/server/server_wrap.cpp: ServerOptions::wrap, the step between accepting a client and its
// handler (a TLS handshake in `tether listen --tls`). Without a wrap a client goes straight to
// serve_connection; with one, a failed wrap ends the client here as "closed", reason "handshake".
#include "server/server_loop.hpp"

namespace tether::detail {

namespace {

Task<void> wrap_then_serve(ServerLoop& ls, AsyncTcpStream stream, PeerAddress peer) {
  auto inner = co_await ls.server.options.wrap(std::move(stream));
  if (inner) {
    co_await serve_connection(ls, std::move(*inner), peer);
    co_return;
  }
  ++ls.stats.errors;
  if (ls.server.options.on_event) {
    ls.emit({.kind = ServerEvent::Kind::closed,
             .loop = ls.index,
             .peer = peer.endpoint(),
             .error = inner.error(),
             .reason = "handshake"});
  }
  --ls.active;
  if (ls.server.options.max_connections > 0) ls.server.active.fetch_sub(1);
  ls.connection_done();
}

}  // namespace

Task<void> serve_client(ServerLoop& ls, AsyncTcpStream stream, PeerAddress peer) {
  if (ls.server.options.wrap) return wrap_then_serve(ls, std::move(stream), peer);
  return serve_connection(ls, std::move(stream), peer);
}

}  // namespace tether::detail
