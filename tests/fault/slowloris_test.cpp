// Fault scenario 13 (issue 5): slowloris. 200 clients connect and never send a byte; the server
// closes each of them at its idle timeout (not before, and not long after), while clients that
// arrive meanwhile, including during the mass close, are served at once.
#include "server_testing.hpp"

#include <tether/server.hpp>
#include <tether/tcp.hpp>

#include <gtest/gtest.h>

#include <poll.h>

#include <array>
#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using namespace tether;
namespace tt = tether::testing;

namespace {

using Clock = std::chrono::steady_clock;

/// Waits (bounded) until the server closes each stream; returns when each one ended (observed by
/// the client), or nullopt for those still open at `limit`.
std::vector<std::optional<Clock::time_point>> close_times(std::vector<TcpStream>& streams,
                                                          Clock::time_point limit) {
  std::vector<std::optional<Clock::time_point>> when(streams.size());
  std::vector<pollfd> fds;
  for (auto& s : streams) fds.push_back({s.socket().fd(), POLLIN, 0});
  std::size_t open = streams.size();
  while (open > 0 && Clock::now() < limit) {
    if (::poll(fds.data(), fds.size(), 20) <= 0) continue;
    const auto now = Clock::now();
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      std::array<char, 16> buf;
      auto n = streams[i].read_some(buf, Deadline(0ms));
      if (n && *n > 0) continue;  // not expected (nobody sends to a silent client); keep waiting
      if (!n && n.error() == std::errc::timed_out) continue;
      when[i] = now;
      fds[i].fd = -1;
      --open;
    }
  }
  return when;
}

}  // namespace

TEST(FaultSlowloris, two_hundred_silent_connections_close_at_the_idle_timeout_while_new_clients_are_served) {
  tt::raise_fd_limit();
  constexpr int silent_count = 200;
  constexpr auto idle = 1s;
  ServerOptions o;
  o.address = Endpoint::ipv4_loopback(0);
  o.threads = 2;
  o.handle_signals = false;
  o.idle_timeout = idle;
  o.listen.backlog = 512;
  tt::RunningServer server(o, tt::echo_handler);

  std::vector<TcpStream> silent;
  std::vector<Clock::time_point> connected_at;
  for (int i = 0; i < silent_count; ++i) {
    auto s = TcpStream::connect(server.endpoint(), 5s);
    ASSERT_TRUE(s) << "silent client " << i << ": " << s.error().message();
    silent.push_back(std::move(*s));
    connected_at.push_back(Clock::now());
  }
  const auto connected = Clock::now();

  // Meanwhile, a new client every 20 ms, each served with an echo round trip, until past the
  // moment the silent ones are dropped.
  std::atomic<int> served{0}, failed{0};
  std::thread newcomers([&] {
    const auto until = connected + idle + 700ms;
    while (Clock::now() < until) {
      auto c = TcpStream::connect(server.endpoint(), 2s);
      const std::string msg = "hello " + std::to_string(served.load());
      std::string back(msg.size(), '\0');
      if (c && c->write_all(msg, 2s) && c->read_exact(std::span(back), 2s) && back == msg) {
        ++served;
      } else {
        ++failed;
      }
      std::this_thread::sleep_for(20ms);
    }
  });

  const auto when = close_times(silent, connected + idle + 3s);
  newcomers.join();

  int closed = 0, early = 0, late = 0;
  for (std::size_t i = 0; i < when.size(); ++i) {
    if (!when[i]) continue;
    ++closed;
    // Never before the idle timeout (20 ms for the server's clock reading, taken just before it
    // accepted), and all within a bound after it.
    const auto lived = *when[i] - connected_at[i];
    if (lived < idle - 20ms) ++early;
    if (lived > idle + 1s) ++late;
  }
  EXPECT_EQ(closed, silent_count) << "silent connections left open after the idle timeout";
  EXPECT_EQ(early, 0);
  EXPECT_EQ(late, 0) << "closed long after the idle timeout";
  EXPECT_EQ(failed.load(), 0) << "new clients were not served while silent ones were held";
  EXPECT_GE(served.load(), 40);

  auto stats = server.stop();
  EXPECT_EQ(stats.idle_timeouts, std::uint64_t{silent_count});
  EXPECT_EQ(stats.connections, std::uint64_t(silent_count + served.load()));
}
