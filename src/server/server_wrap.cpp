// src/server/server_wrap.cpp: what runs between accepting a client and its handler:
// ServerOptions::wrap, then the TLS handshake of ServerOptions::tls. Without either a client goes
// straight to serve_connection; with one, a failure ends the client here as "closed", reason
// "handshake".
#include "server/server_loop.hpp"

namespace tether::detail {

namespace {

Task<void> prepare_then_serve(ServerLoop& ls, AsyncTcpStream stream, PeerAddress peer) {
  const ServerOptions& o = ls.server.options;
  std::error_code why;
  if (o.wrap) {
    auto inner = co_await o.wrap(std::move(stream));
    if (inner) {
      stream = std::move(*inner);
    } else {
      why = inner.error();
    }
  }
  if (!why && o.tls.valid()) {
    auto engine = co_await tls_accept(stream, o.tls, Deadline(o.tls_handshake_timeout));
    if (engine) {
      if (o.on_tls) o.on_tls((*engine)->info(), peer.endpoint());
      co_await serve_connection(ls, std::move(stream), peer, std::move(*engine));
      co_return;
    }
    why = engine.error();
    stream.close();
  }
  if (!why) {
    co_await serve_connection(ls, std::move(stream), peer);
    co_return;
  }
  ++ls.stats.errors;
  if (o.on_event) {
    ls.emit({.kind = ServerEvent::Kind::closed,
             .loop = ls.index,
             .peer = peer.endpoint(),
             .error = why,
             .reason = "handshake"});
  }
  --ls.active;
  if (o.max_connections > 0) ls.server.active.fetch_sub(1);
  ls.connection_done();
}

}  // namespace

Task<void> serve_client(ServerLoop& ls, AsyncTcpStream stream, PeerAddress peer) {
  if (ls.server.options.wrap || ls.server.options.tls.valid()) {
    return prepare_then_serve(ls, std::move(stream), peer);
  }
  return serve_connection(ls, std::move(stream), peer);
}

}  // namespace tether::detail
