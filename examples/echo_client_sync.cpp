// The seeds' TCP echo client, done right: connect with a deadline over every resolved address,
// send each argument as a line, read the echo back exactly, close with a FIN.
//   echo_client_sync HOST PORT MESSAGE...
#include <tether/tether.hpp>

#include <cstdio>
#include <string>

using namespace std::chrono_literals;

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: echo_client_sync HOST PORT MESSAGE...\n");
    return 2;
  }
  auto stream = tether::TcpStream::connect(argv[1], argv[2], {.deadline = 5s});
  if (!stream) {
    std::fprintf(stderr, "echo_client_sync: connect %s:%s: %s\n", argv[1], argv[2],
                 stream.error().message().c_str());
    return 1;
  }
  auto local = stream->local_endpoint();
  auto peer = stream->peer_endpoint();
  std::printf("connected tcp %s -> %s\n", local->to_string().c_str(), peer->to_string().c_str());
  for (int i = 3; i < argc; ++i) {
    std::string line = std::string(argv[i]) + "\n";
    std::string reply(line.size(), '\0');
    if (auto st = stream->write_all(line, 5s); !st) {
      std::fprintf(stderr, "echo_client_sync: send: %s\n", st.error().message().c_str());
      return 1;
    }
    if (auto st = stream->read_exact(std::span(reply), 5s); !st) {
      std::fprintf(stderr, "echo_client_sync: receive: %s\n", st.error().message().c_str());
      return 1;
    }
    std::printf("echo: %s", reply.c_str());
  }
  (void)stream->shutdown(tether::Shutdown::write);  // FIN: "I am done sending"
  return 0;
}
