// The seeds' TCP echo server, done right: socket + setsockopt + bind + listen in one call,
// accept in a loop, one thread per client, and the 5-tuple of every connection printed.
//   echo_server_sync [PORT]        (default 0: the kernel picks a free port)
#include <tether/tether.hpp>

#include <cstdio>
#include <string>
#include <thread>

using namespace std::chrono_literals;

void serve(tether::TcpStream stream, tether::Endpoint peer) {
  auto local = stream.local_endpoint();
  std::printf("accepted  tcp %s <- %s\n", local ? local->to_string().c_str() : "?", peer.to_string().c_str());
  char buf[4096];
  for (;;) {
    auto n = stream.read_some(buf, 60s);  // an idle client is dropped after a minute
    if (!n || *n == 0) break;             // error, timeout, or the client closed (FIN)
    if (!stream.write_all(std::string_view(buf, *n), 10s)) break;
  }
  std::printf("closed    %s\n", peer.to_string().c_str());
}

int main(int argc, char** argv) {
  auto port = tether::parse_port(argc > 1 ? argv[1] : "0");
  if (!port) {
    std::fprintf(stderr, "echo_server_sync: %s\n", port.error().message().c_str());
    return 2;
  }
  auto listener = tether::TcpListener::bind(tether::Endpoint::ipv4_loopback(*port));
  if (!listener) {
    std::fprintf(stderr, "echo_server_sync: bind: %s\n", listener.error().message().c_str());
    return 1;
  }
  std::printf("listening tcp %s\n", listener->local_endpoint()->to_string().c_str());
  std::fflush(stdout);
  for (;;) {
    auto client = listener->accept();
    if (!client) {
      std::fprintf(stderr, "echo_server_sync: accept: %s\n", client.error().message().c_str());
      continue;
    }
    std::thread(serve, std::move(client->stream), client->peer).detach();
  }
}
