// UDP, the datagram half of the seeds: no listen, no accept; each datagram names its sender.
//   udp_echo server [PORT]          echo every datagram back to its sender
//   udp_echo client PORT MESSAGE    send one datagram and print the reply
#include <tether/tether.hpp>

#include <cstdio>
#include <string_view>

using namespace std::chrono_literals;

int fail(const char* what, std::error_code ec) {
  std::fprintf(stderr, "udp_echo: %s: %s\n", what, ec.message().c_str());
  return 1;
}

int main(int argc, char** argv) {
  std::string_view mode = argc > 1 ? argv[1] : "";
  auto port = tether::parse_port(argc > 2 ? argv[2] : "0");
  if ((mode != "server" && mode != "client") || !port || (mode == "client" && argc < 4)) {
    std::fprintf(stderr, "usage: udp_echo server [PORT] | udp_echo client PORT MESSAGE\n");
    return 2;
  }
  char buf[65536];
  if (mode == "server") {
    auto sock = tether::UdpSocket::bind(tether::Endpoint::ipv4_loopback(*port));
    if (!sock) return fail("bind", sock.error());
    std::printf("listening udp %s\n", sock->local_endpoint()->to_string().c_str());
    std::fflush(stdout);
    for (;;) {
      auto d = sock->recv_from(buf);
      if (!d) return fail("receive", d.error());
      if (d->truncated) std::fprintf(stderr, "udp_echo: %zu-byte datagram truncated\n", d->full_size);
      (void)sock->send_to(std::string_view(buf, d->size), d->from);
    }
  }
  auto server = tether::Endpoint::ipv4_loopback(*port);
  auto sock = tether::UdpSocket::open(server);
  if (!sock) return fail("socket", sock.error());
  if (auto sent = sock->send_to(std::string_view(argv[3]), server); !sent) return fail("send", sent.error());
  auto reply = sock->recv_from(buf, 2s);  // UDP promises nothing: never wait forever
  if (!reply) return fail("receive", reply.error());
  std::printf("reply from %s: %.*s\n", reply->from.to_string().c_str(), static_cast<int>(reply->size), buf);
  return 0;
}
