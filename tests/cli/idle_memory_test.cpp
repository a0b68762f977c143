// Memory per idle connection of `tether listen --echo --threads 1`: the server's RSS growth
// while it holds 10,000 connections that each exchanged one message, divided by 10,000.
// (The fd hard limit is 20,000 here: the soft limit is raised in this process and inherited by
// the server.) Prints the figure; fails above 1 KiB per connection.
#include "cli_support.hpp"
#include "server_testing.hpp"

#include <tether/tcp.hpp>

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/resource.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using namespace tether;
using namespace tether::testing::cli;

namespace {

long rss_bytes(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  while (status >> key) {
    if (key == "VmRSS:") {
      long kb = 0;
      status >> kb;
      return kb * 1024;
    }
    std::string rest;
    std::getline(status, rest);
  }
  return -1;
}

bool ping(TcpStream& s) {
  if (!s.write_all("p", 5s)) return false;
  std::array<char, 1> b;
  auto n = s.read_some(b, 5s);
  return n && *n == 1;
}

}  // namespace

TEST(IdleMemory, ten_thousand_idle_connections_cost_under_1_kib_each) {
  constexpr int connections = 10000;
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_max < connections + 200) GTEST_SKIP() << "fd hard limit below " << connections + 200;
  if (tether::testing::sanitized_build) {
    GTEST_SKIP() << "sanitizer build: RSS is shadow memory, not the server's (measured in dev)";
  }
  rl.rlim_cur = rl.rlim_max;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &rl), 0);

  auto p = Process::start({tether_path(), "listen", "--echo", "--threads", "1", "--json", "127.0.0.1", "0"});
  auto ep = Endpoint::parse(listening_endpoint(p));
  ASSERT_TRUE(ep) << p.err();
  std::vector<TcpStream> clients;
  clients.reserve(connections);
  // Warm up: the first connections allocate the loop's pools and vectors.
  for (int i = 0; i < 100; ++i) {
    clients.push_back(*TcpStream::connect(*ep, 5s));
    ASSERT_TRUE(ping(clients.back()));
  }
  const long before = rss_bytes(p.pid());
  for (int i = 100; i < connections; ++i) {
    auto c = TcpStream::connect(*ep, 5s);
    ASSERT_TRUE(c) << "connection " << i << ": " << c.error().message();
    ASSERT_TRUE(ping(*c)) << "connection " << i;
    clients.push_back(std::move(*c));
  }
  const long after = rss_bytes(p.pid());
  ASSERT_GT(before, 0);
  const double per_connection = static_cast<double>(after - before) / (connections - 100);
  std::printf("server RSS %ld -> %ld bytes: %.0f bytes per idle connection\n", before, after,
              per_connection);
  RecordProperty("bytes_per_idle_connection", static_cast<int>(per_connection));
  EXPECT_LT(per_connection, 1024.0);  // the goal of issue 4: 1 KiB or less
  clients.clear();
  ::kill(p.pid(), SIGTERM);
  EXPECT_EQ(p.wait(10s), 0);
}
