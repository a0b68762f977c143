// --echo/--chat/--discard over TLS: ServerOptions::wrap does the handshake on the loop, then
// bridges the TLS stream to one end of a Unix socket pair whose other end the server's Connection
// serves as it serves any client (backpressure, idle timeout, limits and events unchanged).
//   client <-TLS-> [AsyncTlsStream] <-bridge-> [socketpair] <-> Connection (the mode's handler)
// The client's close_notify becomes a FIN for the handler; the handler's close becomes
// close_notify for the client.
#include "tls_options.hpp"

#include <tether/async_tls.hpp>
#include <tether/event_loop.hpp>
#include <tether/when.hpp>

#include <sys/socket.h>

#include <memory>
#include <vector>

namespace tether::cli {

namespace {

constexpr std::size_t bridge_chunk = 16 * 1024;

struct Bridge {
  AsyncTlsStream tls;
  AsyncTcpStream plain;
  bool server_done = false;
};

Task<void> client_to_server(std::shared_ptr<Bridge> b) {
  std::vector<std::byte> buf(bridge_chunk);
  while (!b->server_done) {
    auto n = co_await b->tls.read_some(buf);
    if (!n || *n == 0) break;
    auto w = co_await b->plain.write_all(std::span<const std::byte>(buf.data(), *n));
    if (!w) break;
  }
  (void)b->plain.shutdown(Shutdown::write);  // the handler sees the client's end
}

Task<void> server_to_client(std::shared_ptr<Bridge> b) {
  std::vector<std::byte> buf(bridge_chunk);
  for (;;) {
    auto n = co_await b->plain.read_some(buf);
    if (!n || *n == 0) break;
    auto w = co_await b->tls.write_all(std::span<const std::byte>(buf.data(), *n));
    if (!w) break;
  }
  b->server_done = true;
  (void)co_await b->tls.shutdown(std::chrono::seconds(2));  // close_notify
  b->tls.tcp().cancel();  // the handler is gone: stop waiting for the client
}

Task<void> bridge(std::shared_ptr<Bridge> b) {
  co_await when_all(client_to_server(b), server_to_client(b));
  (void)co_await b->tls.close(std::chrono::seconds(1));
  b->plain.close();
}

Task<Result<AsyncTcpStream>> handshake(AsyncTcpStream tcp, TlsContext ctx, Deadline limit, EventLog log) {
  EventLoop* loop = tcp.loop();
  const auto peer = tcp.peer_endpoint();
  auto tls = co_await AsyncTlsStream::accept(std::move(tcp), std::move(ctx), limit);
  if (!tls) co_return fail(tls.error());
  emit_tls(log, tls->info(), peer ? &*peer : nullptr);
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) {
    co_return fail(errno_code(errno));
  }
  Socket inner(fds[0]);
  Socket outer(fds[1]);
  auto handler_side = AsyncTcpStream::adopt(*loop, TcpStream(std::move(inner)));
  auto bridge_side = AsyncTcpStream::adopt(*loop, TcpStream(std::move(outer)));
  if (!handler_side || !bridge_side) co_return fail(!handler_side ? handler_side.error() : bridge_side.error());
  auto b = std::make_shared<Bridge>();
  b->tls = std::move(*tls);
  b->plain = std::move(*bridge_side);
  loop->spawn(bridge(std::move(b)));
  co_return std::move(*handler_side);
}

}  // namespace

void install_tls(ServerOptions& options, const ListenSettings& s) {
  if (!tls_flags().tls) return;
  // The handshake is bounded: by -w or --idle-timeout when given, else 10 s.
  const auto limit = options.idle_timeout.count() > 0 ? options.idle_timeout
                                                      : std::chrono::milliseconds(10'000);
  TlsContext ctx = tls_server_context();
  EventLog log = s.log;
  options.wrap = [ctx, limit, log](AsyncTcpStream tcp) {
    return handshake(std::move(tcp), ctx, Deadline(limit), log);
  };
}

}  // namespace tether::cli
