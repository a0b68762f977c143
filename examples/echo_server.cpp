// A coroutine echo server on one event loop: one coroutine per client, no threads, no callbacks.
//   echo_server [PORT]      (default 0: the kernel picks a free port); Ctrl-C stops it.
#include <tether/async_tcp.hpp>
#include <tether/event_loop.hpp>

#include <csignal>
#include <cstdio>

using namespace std::chrono_literals;
using tether::AsyncTcpListener, tether::AsyncTcpStream, tether::EventLoop, tether::Task;

// Parameters by value: the coroutine owns its stream for as long as it runs.
Task<void> echo(AsyncTcpStream stream, tether::Endpoint peer) {
  std::printf("accepted  %s\n", peer.to_string().c_str());
  std::byte buf[4096];
  for (;;) {
    auto n = co_await stream.read_some(buf, 60s);  // a client silent for a minute is dropped
    if (!n || *n == 0) break;                      // error, timeout, or the client closed
    if (!co_await stream.write_all(std::span(buf, *n), 10s)) break;
  }
  std::printf("closed    %s\n", peer.to_string().c_str());
}

Task<void> accept_loop(EventLoop& loop, AsyncTcpListener& listener) {
  for (;;) {
    auto client = co_await listener.accept();
    if (!client) break;  // closed: we are shutting down
    loop.spawn(echo(std::move(client->stream), client->peer));
  }
}

int main(int argc, char** argv) {
  auto port = tether::parse_port(argc > 1 ? argv[1] : "0");
  if (!port) return std::fprintf(stderr, "echo_server: %s\n", port.error().message().c_str()), 2;
  EventLoop loop;
  auto listener = AsyncTcpListener::bind(loop, tether::Endpoint::ipv4_loopback(*port));
  if (!listener) return std::fprintf(stderr, "echo_server: %s\n", listener.error().message().c_str()), 1;
  std::printf("listening tcp %s\n", listener->local_endpoint()->to_string().c_str());
  std::fflush(stdout);
  // SIGINT/SIGTERM arrive through the loop: stop accepting; clients still connected are closed
  // when the loop is destroyed (their coroutines are destroyed with it).
  (void)loop.handle_signals({SIGINT, SIGTERM}, [&](int) { loop.stop(); });
  loop.spawn(accept_loop(loop, *listener));
  loop.run();
  std::printf("stopped\n");
}
