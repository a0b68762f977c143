// The multi-loop server across threads: echo, cross-loop chat broadcast, stop from another
// thread. Runs under TSan (label `thread`).
#include "server_testing.hpp"

#include <tether/server.hpp>
#include <tether/tcp.hpp>

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using namespace tether;
namespace tt = tether::testing;

namespace {
ServerOptions four_loops(AcceptMode mode) {
  ServerOptions o;
  o.address = Endpoint::ipv4_loopback(0);
  o.threads = 4;
  o.accept_mode = mode;
  o.handle_signals = false;
  return o;
}
}  // namespace

TEST(ServerThreads, four_loops_echo_200_clients_with_reuse_port) {
  tt::RunningServer server(four_loops(AcceptMode::reuse_port), tt::echo_handler);
  EXPECT_EQ(tt::run_echo_clients(server.endpoint(), 200, 8 * 1024), 200u);
  auto stats = server.stop();
  EXPECT_EQ(stats.connections, 200u);
  EXPECT_EQ(stats.bytes_out, 200u * 8 * 1024);
}

TEST(ServerThreads, four_loops_echo_200_clients_with_one_acceptor) {
  tt::RunningServer server(four_loops(AcceptMode::single_acceptor), tt::echo_handler);
  EXPECT_EQ(tt::run_echo_clients(server.endpoint(), 200, 8 * 1024), 200u);
  auto stats = server.stop();
  EXPECT_EQ(stats.connections, 200u);
}

TEST(ServerThreads, chat_lines_cross_loops_to_every_other_client) {
  tt::RunningServer server(four_loops(AcceptMode::single_acceptor), tt::chat_handler);
  std::vector<TcpStream> clients;
  for (int i = 0; i < 8; ++i) clients.push_back(*TcpStream::connect(server.endpoint(), 5s));
  std::this_thread::sleep_for(100ms);
  for (std::size_t i = 0; i < clients.size(); ++i) {
    ASSERT_TRUE(clients[i].write_all("m" + std::to_string(i) + "\n"));
  }
  // Every client receives the 7 lines of the others, in some interleaving.
  for (std::size_t i = 0; i < clients.size(); ++i) {
    std::string got;
    std::array<char, 1024> buf;
    while (std::count(got.begin(), got.end(), '\n') < 7) {
      auto n = clients[i].read_some(buf, Deadline(5s));
      if (!n || *n == 0) break;
      got.append(buf.data(), *n);
    }
    for (std::size_t j = 0; j < clients.size(); ++j) {
      const bool has = got.find("> m" + std::to_string(j) + "\n") != std::string::npos;
      EXPECT_EQ(has, i != j) << "client " << i << " line of " << j;
    }
  }
  clients.clear();
  server.stop();
}
