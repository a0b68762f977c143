// Integrity soak (issue 5): 1,000 connections through `tether listen --echo`, message sizes from
// 1 B to 1 MiB (log-uniform), every byte checked by hash at both ends, and about one client in ten
// resetting mid-stream. Zero bytes may be lost, corrupted or reordered on the connections that
// succeed, and the server keeps serving throughout.
#include "fault_common.hpp"
#include "testing.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <string>

namespace {

using namespace std::chrono_literals;
using namespace tether;
using namespace tether::testing;

/// Starts `tether listen --echo --json 127.0.0.1 0` and reads the real port from its
/// "listening" event.
struct EchoProcess {
  Child child;
  Endpoint endpoint;

  TempPath log{"soak-events"};

  /// Events go to a file (a pipe would fill up, or kill the server with SIGPIPE once closed).
  static void start(EchoProcess& p) {
    int fd = ::open(p.log.str().c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return;
    p.child = Child::spawn({TETHER_CLI_PATH, "listen", "--echo", "--json", "127.0.0.1", "0"}, -1, -1, fd);
    ::close(fd);
    for (int i = 0; i < 500 && p.endpoint.port() == 0; ++i) {
      std::this_thread::sleep_for(10ms);
      std::string text;
      if (FILE* f = std::fopen(p.log.str().c_str(), "r")) {
        char buf[4096];
        size_t n = std::fread(buf, 1, sizeof buf, f);
        text.assign(buf, n);
        std::fclose(f);
      }
      auto at = text.find("\"local\":\"");
      if (at == std::string::npos) continue;
      auto begin = at + 9;
      if (auto e = Endpoint::parse(text.substr(begin, text.find('"', begin) - begin))) p.endpoint = *e;
    }
  }
};

enum class Outcome { ok, reset_by_us, failed };

/// One connection: sends `messages` of random size, reads the echo concurrently (poll on both
/// directions so neither side's buffers can deadlock), and compares hashes of both streams.
Outcome one_connection(const Endpoint& server, std::mt19937& rng, bool reset_midway) {
  auto s = TcpStream::connect(server, 5s);
  if (!s) return Outcome::failed;
  std::uniform_real_distribution<double> log_size(0.0, std::log(1024.0 * 1024.0));
  std::size_t total = 0;
  int messages = 1 + static_cast<int>(rng() % 3);
  for (int i = 0; i < messages; ++i) total += static_cast<std::size_t>(std::exp(log_size(rng)));
  const auto data = random_bytes(total, static_cast<std::uint32_t>(rng()));
  Fnv sent_hash, recv_hash;
  sent_hash.update(data);
  std::size_t sent = 0, received = 0;
  const std::size_t reset_at = reset_midway ? total / 2 : total + 1;
  std::vector<std::byte> buf(65536);
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (received < total) {
    if (sent >= reset_at) {
      (void)s->socket().set_linger(std::chrono::seconds(0));
      s->close();  // RST: the server must drop this connection and go on
      return Outcome::reset_by_us;
    }
    if (std::chrono::steady_clock::now() > deadline) return Outcome::failed;
    pollfd p{s->socket().fd(), static_cast<short>(POLLIN | (sent < total ? POLLOUT : 0)), 0};
    if (::poll(&p, 1, 1000) < 0) return Outcome::failed;
    if ((p.revents & POLLOUT) && sent < total) {
      auto chunk = std::span(data).subspan(sent, std::min<std::size_t>(65536, std::min(total, reset_at) - sent));
      if (chunk.empty()) chunk = std::span(data).subspan(sent, 1);
      auto n = s->write_some(chunk, Deadline(0ms));
      if (!n && n.error() != std::errc::timed_out) return Outcome::failed;
      if (n) sent += *n;
    }
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
      auto n = s->read_some(buf, Deadline(0ms));
      if (!n && n.error() != std::errc::timed_out) return Outcome::failed;
      if (n && *n == 0) return Outcome::failed;  // the echo server closed early
      if (n) {
        recv_hash.update(std::span(buf.data(), *n));
        received += *n;
      }
    }
  }
  return recv_hash.h == sent_hash.h && received == total ? Outcome::ok : Outcome::failed;
}

TEST(Soak, thousand_connections_random_sizes_with_resets_lose_nothing) {
  EchoProcess server;
  EchoProcess::start(server);
  ASSERT_GT(server.child.pid(), 0);
  ASSERT_NE(server.endpoint.port(), 0) << "no listening event from tether listen --echo";

  constexpr int kThreads = 16, kPerThread = 63;  // 1,008 connections
  std::atomic<int> ok{0}, resets{0}, failed{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t] {
      std::mt19937 rng(1000u + static_cast<unsigned>(t));
      for (int i = 0; i < kPerThread; ++i) {
        switch (one_connection(server.endpoint, rng, rng() % 10 == 0)) {
          case Outcome::ok: ++ok; break;
          case Outcome::reset_by_us: ++resets; break;
          case Outcome::failed: ++failed; break;
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  EXPECT_EQ(failed.load(), 0) << "connections that lost, corrupted or reordered bytes, or failed";
  EXPECT_GT(resets.load(), 0);
  EXPECT_EQ(ok.load() + resets.load(), kThreads * kPerThread);
  // The server is still alive and still serving.
  std::mt19937 rng(7);
  EXPECT_EQ(one_connection(server.endpoint, rng, false), Outcome::ok);
  EXPECT_EQ(server.child.wait(0ms), -1) << "the echo server exited";
}

}  // namespace
