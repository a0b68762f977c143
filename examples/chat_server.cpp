// A multi-core chat server: every line a client sends goes to all the other clients, prefixed
// with the sender's address. Try it with a few `nc 127.0.0.1 PORT` in other terminals.
//   chat_server [PORT]      (default 0: the kernel picks a free port); Ctrl-C stops it.
#include <tether/buffer.hpp>
#include <tether/codec_line.hpp>
#include <tether/server.hpp>

#include <cstdio>
#include <string>

using tether::Connection, tether::Task;

Task<void> chat(Connection& client) {
  const std::string name = "<" + client.peer().to_string() + "> ";
  tether::Buffer input;
  tether::LineCodec lines(4096);  // a longer line ends the connection
  client.broadcast(name + "joined\n");
  for (;;) {
    auto data = co_await client.read();  // paused while this client does not read its own output
    if (!data || data->empty()) break;   // error, idle timeout, or the client left
    input.append(*data);
    for (;;) {
      auto line = lines.decode(input);
      if (!line) co_return;  // line too long
      if (!*line) break;     // need more bytes
      client.broadcast(name + std::string(**line) + "\n");
    }
  }
  client.broadcast(name + "left\n");
}

int main(int argc, char** argv) {
  auto port = tether::parse_port(argc > 1 ? argv[1] : "0");
  if (!port) return std::fprintf(stderr, "chat_server: %s\n", port.error().message().c_str()), 2;
  tether::ServerOptions options;
  options.address = tether::Endpoint::ipv4_loopback(*port);
  options.idle_timeout = std::chrono::minutes(10);
  tether::Server server(options);
  auto where = server.listen();
  if (!where) return std::fprintf(stderr, "chat_server: %s\n", where.error().message().c_str()), 1;
  std::printf("listening tcp %s\n", where->to_string().c_str());
  std::fflush(stdout);
  auto stats = server.run(chat);  // until Ctrl-C: then clients get a few seconds to leave
  if (!stats) return 1;
  std::printf("served %llu clients\n", static_cast<unsigned long long>(stats->connections));
}
