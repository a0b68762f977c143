// Fault scenario 4 (issue 5): the peer resets while reads are paused (no read pending on the
// stream: the application stopped reading, e.g. because its peer is a slow reader). The loop must
// not spin on the dead fd: it stays asleep (few iterations, little CPU over a second), and the
// error is reported: to the write that is pending, and to the next read.
#include "async_testing.hpp"
#include "server_testing.hpp"

#include <tether/async_tcp.hpp>
#include <tether/event_loop.hpp>
#include <tether/server.hpp>
#include <tether/timer.hpp>

#include <gtest/gtest.h>

#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <optional>
#include <array>
#include <string>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using namespace tether;
namespace tt = tether::testing;

namespace {

std::chrono::microseconds cpu_time() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  auto us = [](const timeval& tv) {
    return std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec);
  };
  return std::chrono::duration_cast<std::chrono::microseconds>(us(ru.ru_utime) + us(ru.ru_stime));
}

Task<Result<AsyncTcpStream>> accept_one(AsyncTcpListener& l) {
  auto a = co_await l.accept(5s);
  if (!a) co_return fail(a.error());
  co_return std::move(a->stream);
}

/// An accepted server-side stream and the blocking client connected to it.
struct Pair {
  AsyncTcpStream server;
  TcpStream client;
};

Pair tcp_pair(EventLoop& loop, AsyncTcpListener& listener) {
  auto client = TcpStream::connect(*listener.local_endpoint(), 5s);
  EXPECT_TRUE(client) << client.error().message();
  auto server = loop.run(accept_one(listener));
  EXPECT_TRUE(server) << server.error().message();
  if (!client || !server) return {};
  return {std::move(*server), std::move(*client)};
}

void reset(TcpStream& s) {
  ASSERT_EQ(s.socket().set_linger(0s), Status{});
  s.close();  // SO_LINGER 0: close() sends RST
}

Task<void> write_forever(AsyncTcpStream& s, std::optional<Result<std::size_t>>& out,
                         EventLoop::clock::time_point& when) {
  std::vector<std::byte> big(32u << 20);  // far more than the socket buffers hold
  out = co_await s.write_all(big);
  when = EventLoop::clock::now();
}

Task<std::error_code> read_until_error(AsyncTcpStream& s) {
  std::vector<std::byte> buf(65536);
  for (int i = 0; i < 1000; ++i) {
    auto n = co_await s.read_some(buf, 2s);
    if (!n) co_return n.error();
    if (*n == 0) co_return std::error_code();  // a clean end of stream: the wrong answer
  }
  co_return make_error_code(Errc::closed);
}

/// A one-loop Server's options whose events record each connection's close reason.
struct ReasonLog {
  std::mutex mutex;
  std::vector<std::string> reasons;
  std::atomic<int> accepted{0};

  ServerOptions options() {
    ServerOptions o;
    o.address = Endpoint::ipv4_loopback(0);
    o.threads = 1;
    o.handle_signals = false;
    o.on_event = [this](const ServerEvent& e) {
      if (e.kind == ServerEvent::Kind::accepted) ++accepted;
      if (e.kind != ServerEvent::Kind::closed) return;
      std::lock_guard lock(mutex);
      reasons.emplace_back(e.reason);
    };
    return o;
  }
  std::vector<std::string> taken() {
    std::lock_guard lock(mutex);
    return reasons;
  }
};

}  // namespace

TEST(FaultPausedReset, peer_reset_while_reads_are_paused_keeps_the_loop_idle_and_reports_the_error) {
  EventLoop loop;
  auto listener = AsyncTcpListener::bind(loop, Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(listener);

  // A: nothing pending at all; the peer sent a little, then reset.
  Pair a = tcp_pair(loop, *listener);
  // B: reads paused behind a write to a peer that never reads; then the peer resets.
  Pair b = tcp_pair(loop, *listener);
  ASSERT_TRUE(a.server.is_open() && b.server.is_open());
  ASSERT_TRUE(b.server.socket().set_send_buffer_size(16384));
  std::optional<Result<std::size_t>> b_write;
  EventLoop::clock::time_point b_write_done{};
  loop.spawn(write_forever(b.server, b_write, b_write_done));
  for (int i = 0; i < 20; ++i) loop.run_once(false);  // the write fills the buffers and waits
  ASSERT_FALSE(b_write.has_value()) << "the write should be blocked on the non-reading peer";

  ASSERT_TRUE(a.client.write_all("unread request", 2s));
  reset(a.client);
  reset(b.client);
  const auto reset_at = EventLoop::clock::now();

  // About one second of the loop with nothing to do but notice the resets.
  long iterations = 0;
  bool done = false;
  Timer window(loop);
  window.arm(1s, [&] { done = true; });
  const auto cpu_before = cpu_time();
  while (!done && iterations < 1'000'000) {
    loop.run_once();
    ++iterations;
  }
  const auto cpu_used = cpu_time() - cpu_before;

  EXPECT_TRUE(done);
  // An idle loop wakes for the resets, the write's completion and the timer: a handful of
  // iterations. A loop that spins on the dead fds runs hundreds of thousands.
  EXPECT_LT(iterations, 50) << "the loop spun on a reset fd";
  EXPECT_LT(cpu_used, 250ms) << "the loop burned CPU while waiting";

  // The pending write reported the reset promptly (not only when someone read).
  ASSERT_TRUE(b_write.has_value()) << "the pending write never learned of the reset";
  ASSERT_FALSE(b_write->has_value());
  EXPECT_TRUE(b_write->error() == std::errc::connection_reset ||
              b_write->error() == std::errc::broken_pipe)
      << b_write->error().message();
  EXPECT_LT(b_write_done - reset_at, 500ms);

  // Reads resume: the data that arrived before the reset, then the reset itself, never a clean
  // end of stream.
  auto ec = loop.run(read_until_error(a.server));
  EXPECT_EQ(ec, std::errc::connection_reset) << ec.message();
}

// The same edge announces the last data and the peer's end (FIN or RST): after the data is read,
// the next read must see the end at once, not wait for an edge that will never come.
class FaultEndAfterData : public ::testing::TestWithParam<bool> {};

TEST_P(FaultEndAfterData, data_then_end_in_one_edge_is_reported_after_the_data) {
  const bool by_reset = GetParam();
  EventLoop loop;
  auto listener = AsyncTcpListener::bind(loop, Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(listener);
  Pair p = tcp_pair(loop, *listener);
  ASSERT_TRUE(p.server.is_open());
  ASSERT_TRUE(p.client.write_all("last words", 2s));
  if (by_reset) {
    reset(p.client);
  } else {
    p.client.close();
  }
  loop.run_once(false);  // the edge (data + end) is consumed with no read pending
  auto body = [](AsyncTcpStream& s) -> Task<std::pair<std::string, Result<std::size_t>>> {
    std::array<char, 4096> buf{};
    auto first = co_await s.read_some(buf, 2s);
    std::string got = first ? std::string(buf.data(), *first) : std::string("error");
    co_return std::make_pair(got, co_await s.read_some(buf, 2s));
  };
  auto [data, end] = loop.run(body(p.server));
  EXPECT_EQ(data, "last words");
  if (by_reset) {
    ASSERT_FALSE(end.has_value());
    EXPECT_EQ(end.error(), std::errc::connection_reset) << end.error().message();
  } else {
    ASSERT_TRUE(end.has_value()) << end.error().message();
    EXPECT_EQ(*end, 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(Fault, FaultEndAfterData, ::testing::Values(false, true),
                         [](const auto& p) { return p.param ? "reset" : "fin"; });

// At the Server: a client that sends without reading gets its reads paused by the high watermark
// (the echo it does not take fills the server's buffer); then it resets. The server must notice
// without spinning (the whole process stays nearly idle for a second) and report the connection
// as ended by an error, while it keeps serving others.
TEST(FaultPausedReset, server_connection_paused_by_backpressure_then_reset_is_reported_without_spinning) {
  ReasonLog log;
  ServerOptions o = log.options();
  o.high_watermark = 64 * 1024;
  o.low_watermark = 16 * 1024;
  std::atomic<bool> paused_seen{false};
  tt::RunningServer server(o, tt::echo_handler);

  auto c = TcpStream::connect(server.endpoint(), 5s);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->socket().set_receive_buffer_size(16 * 1024));
  const std::vector<std::byte> chunk(64 * 1024);
  for (int i = 0; i < 1000; ++i) {  // until the server stops reading us
    auto w = c->write_some(chunk, 1s);
    if (!w) {
      paused_seen = w.error() == std::errc::timed_out;
      break;
    }
  }
  ASSERT_TRUE(paused_seen.load()) << "the server never paused reading this client";
  reset(*c);

  const auto cpu_before = cpu_time();
  std::this_thread::sleep_for(1s);
  const auto cpu_used = cpu_time() - cpu_before;
  EXPECT_LT(cpu_used, 250ms) << "the server burned CPU on a reset connection";

  // Still serving.
  auto other = TcpStream::connect(server.endpoint(), 5s);
  ASSERT_TRUE(other);
  ASSERT_TRUE(other->write_all("ping", 2s));
  std::array<char, 4> back{};
  ASSERT_TRUE(other->read_exact(std::span(back), 2s));
  other->close();

  auto stats = server.stop();
  EXPECT_EQ(stats.errors, 1u) << "the reset was not reported as an error";
  const auto reasons = log.taken();
  ASSERT_EQ(reasons.size(), 2u);
  EXPECT_EQ(reasons[0], "reset");
}

// A reset that only the handler's read meets (an idle connection: no write pending) is still the
// connection's close reason. The kernel reports ECONNRESET to one call only; before, the read
// took it, the handler returned, and the connection was reported as an orderly "eof".
TEST(FaultPausedReset, reset_met_by_the_handlers_read_is_reported_as_reset) {
  ReasonLog log;
  tt::RunningServer server(log.options(), tt::echo_handler);
  auto c = TcpStream::connect(server.endpoint(), 5s);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->write_all("ping", 2s));  // the handler reads, echoes, and waits in its next read
  std::array<char, 4> back{};
  ASSERT_TRUE(c->read_exact(std::span(back), 2s));
  reset(*c);
  for (int i = 0; i < 500 && log.taken().empty(); ++i) std::this_thread::sleep_for(10ms);  // 5 s at most
  auto stats = server.stop();
  EXPECT_EQ(log.accepted.load(), 1);
  const auto reasons = log.taken();
  ASSERT_EQ(reasons.size(), 1u);
  EXPECT_EQ(reasons[0], "reset");
  EXPECT_EQ(stats.errors, 1u);
}
