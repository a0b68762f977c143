// A user's program against an installed libtether: a loopback echo in one process.
#include <tether/tether.hpp>

#include <cstdio>
#include <thread>

int main() {
  using namespace std::chrono_literals;
  auto listener = tether::TcpListener::bind(tether::Endpoint::ipv4_loopback(0));
  if (!listener) return 1;
  auto local = listener->local_endpoint();
  std::thread server([&] {
    auto client = listener->accept(5s);
    if (!client) return;
    char buf[64];
    if (auto n = client->stream.read_some(buf, 5s); n && *n > 0) {
      (void)client->stream.write_all(std::string_view(buf, *n), 5s);
    }
  });
  auto stream = tether::TcpStream::connect(*local, 5s);
  char reply[4] = {};
  bool ok = stream && stream->write_all("ping", 5s) && stream->read_exact(std::span(reply), 5s);
  server.join();
  if (!ok) return 1;
  std::printf("echoed: %.4s\n", reply);
  return 0;
}
