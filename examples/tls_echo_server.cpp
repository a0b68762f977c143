// A TLS echo server on one event loop: one coroutine per client. With CERT and KEY files it serves
// them; without, an ephemeral certificate whose SHA-256 it prints (clients pin it:
// `tether connect --tls --tls-pin sha256:HEX 127.0.0.1 PORT`).
//   tls_echo_server [PORT [CERT KEY]]
#include <tether/async_tcp.hpp>
#include <tether/async_tls.hpp>
#include <tether/event_loop.hpp>

#include <csignal>
#include <cstdio>

using namespace std::chrono_literals;
using tether::AsyncTcpStream, tether::AsyncTlsStream, tether::TlsContext, tether::Task;

Task<void> echo(AsyncTcpStream tcp, TlsContext ctx) {
  auto tls = co_await AsyncTlsStream::accept(std::move(tcp), ctx, 10s);
  if (!tls) co_return (void)std::printf("handshake failed: %s\n", tls.error().message().c_str());
  std::byte buf[16384];
  for (;;) {
    auto n = co_await tls->read_some(buf, 60s);
    if (!n || *n == 0) break;  // error, timeout, truncation, or the client's close_notify
    if (!co_await tls->write_all(std::span(buf, *n), 10s)) break;
  }
  (void)co_await tls->close(2s);  // close_notify, a bounded wait for the client's
}

Task<void> accept_loop(tether::EventLoop& loop, tether::AsyncTcpListener& listener, TlsContext ctx) {
  for (;;) {
    auto client = co_await listener.accept();
    if (!client) break;
    loop.spawn(echo(std::move(client->stream), ctx));
  }
}

int main(int argc, char** argv) {
  auto port = tether::parse_port(argc > 1 ? argv[1] : "0");
  if (!port) return std::fprintf(stderr, "tls_echo_server: %s\n", port.error().message().c_str()), 2;
  auto id = argc > 3 ? tether::TlsIdentity::load(argv[2], argv[3]) : tether::TlsIdentity::ephemeral();
  if (!id) return std::fprintf(stderr, "tls_echo_server: %s\n", id.error().message().c_str()), 1;
  tether::TlsOptions options;
  options.identity = *id;
  auto ctx = TlsContext::server(options);
  if (!ctx) return std::fprintf(stderr, "tls_echo_server: %s\n", ctx.error().message().c_str()), 1;
  if (argc <= 3) std::printf("certificate sha256:%s\n", tether::to_hex(*id->fingerprint()).c_str());

  tether::EventLoop loop;
  auto listener = tether::AsyncTcpListener::bind(loop, tether::Endpoint::ipv4_loopback(*port));
  if (!listener) return std::fprintf(stderr, "tls_echo_server: %s\n", listener.error().message().c_str()), 1;
  std::printf("listening tls %s\n", listener->local_endpoint()->to_string().c_str());
  std::fflush(stdout);
  (void)loop.handle_signals({SIGINT, SIGTERM}, [&](int) { loop.stop(); });
  loop.spawn(accept_loop(loop, *listener, *ctx));
  loop.run();
}
