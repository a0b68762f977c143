// Server: echo integrity at 1,000 clients, chat, limits, idle timeout, backpressure, shutdown.
#include "server_testing.hpp"

#include <tether/server.hpp>
#include <tether/tcp.hpp>

#include <gtest/gtest.h>

#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using namespace tether;
namespace tt = tether::testing;

namespace {

ServerOptions local(std::size_t threads = 1) {
  ServerOptions o;
  o.address = Endpoint::ipv4_loopback(0);
  o.threads = threads;
  o.handle_signals = false;
  return o;
}

// Reads until `want` bytes arrived or the peer closed / the deadline passed.
std::string read_text(TcpStream& s, std::size_t want, Deadline d = Deadline(5s)) {
  std::string out;
  std::array<char, 4096> buf;
  while (out.size() < want) {
    auto n = s.read_some(buf, d);
    if (!n || *n == 0) break;
    out.append(buf.data(), *n);
  }
  return out;
}

// True when the server closed the connection (EOF or reset) within the deadline.
bool closed_by_server(TcpStream& s, Deadline d = Deadline(5s)) {
  std::array<char, 64> buf;
  for (;;) {
    auto n = s.read_some(buf, d);
    if (!n) return n.error() == std::errc::connection_reset;
    if (*n == 0) return true;
  }
}

}  // namespace

class EchoServer : public ::testing::TestWithParam<AcceptMode> {};

TEST_P(EchoServer, serves_1000_concurrent_clients_with_every_byte_checked) {
  tt::raise_fd_limit();
  auto o = local(2);
  o.accept_mode = GetParam();
  o.listen.backlog = 2048;
  tt::RunningServer server(o, tt::echo_handler);
  EXPECT_EQ(tt::run_echo_clients(server.endpoint(), 1000, 16 * 1024), 1000u);
  auto stats = server.stop();
  EXPECT_EQ(stats.connections, 1000u);
  EXPECT_EQ(stats.bytes_in, 1000u * 16 * 1024);
  EXPECT_EQ(stats.bytes_out, 1000u * 16 * 1024);
  EXPECT_EQ(stats.errors, 0u);
}

INSTANTIATE_TEST_SUITE_P(Server, EchoServer,
                         ::testing::Values(AcceptMode::reuse_port, AcceptMode::single_acceptor),
                         [](const auto& p) {
                           return p.param == AcceptMode::reuse_port ? "reuse_port" : "single_acceptor";
                         });

TEST(Server, chat_delivers_each_line_to_every_client_but_the_sender) {
  tt::RunningServer server(local(2), tt::chat_handler);
  std::vector<TcpStream> clients;
  for (int i = 0; i < 4; ++i) {
    auto c = TcpStream::connect(server.endpoint(), 5s);
    ASSERT_TRUE(c);
    clients.push_back(std::move(*c));
  }
  std::this_thread::sleep_for(100ms);  // every client registered (they are on two loops)
  auto sender_ep = *clients[0].local_endpoint();
  ASSERT_TRUE(clients[0].write_all("hello\nworld\n"));
  const std::string expected = "<" + sender_ep.to_string() + "> hello\n<" +
                               sender_ep.to_string() + "> world\n";
  for (std::size_t i = 1; i < clients.size(); ++i) {
    EXPECT_EQ(read_text(clients[i], expected.size()), expected) << "client " << i;
  }
  // The sender got nothing back.
  std::array<char, 16> buf;
  auto n = clients[0].read_some(buf, 200ms);
  ASSERT_FALSE(n.has_value());
  EXPECT_EQ(n.error(), std::errc::timed_out);
}

TEST(Server, extra_clients_over_max_connections_are_closed_at_once) {
  auto o = local();
  o.max_connections = 3;
  tt::RunningServer server(o, tt::echo_handler);
  std::vector<TcpStream> kept;
  for (int i = 0; i < 3; ++i) {
    auto c = TcpStream::connect(server.endpoint(), 5s);
    ASSERT_TRUE(c);
    ASSERT_TRUE(c->write_all("x"));
    ASSERT_EQ(read_text(*c, 1), "x");  // admitted and served
    kept.push_back(std::move(*c));
  }
  auto extra = TcpStream::connect(server.endpoint(), 5s);
  ASSERT_TRUE(extra);
  EXPECT_TRUE(closed_by_server(*extra));
  ASSERT_TRUE(kept[0].write_all("still"));
  EXPECT_EQ(read_text(kept[0], 5), "still");
  kept.pop_back();  // a slot frees up
  std::this_thread::sleep_for(50ms);
  auto again = TcpStream::connect(server.endpoint(), 5s);
  ASSERT_TRUE(again);
  ASSERT_TRUE(again->write_all("y"));
  EXPECT_EQ(read_text(*again, 1), "y");
  kept.clear();
  again->close();
  auto stats = server.stop();
  EXPECT_EQ(stats.rejected, 1u);
}

TEST(Server, idle_timeout_closes_silent_clients_while_others_are_served) {
  auto o = local();
  o.idle_timeout = 300ms;
  tt::RunningServer server(o, tt::echo_handler);
  std::vector<TcpStream> silent;
  for (int i = 0; i < 20; ++i) silent.push_back(*TcpStream::connect(server.endpoint(), 5s));
  auto busy = TcpStream::connect(server.endpoint(), 5s);
  ASSERT_TRUE(busy);
  // The busy client talks every 50 ms for 600 ms: it outlives the timeout.
  for (int i = 0; i < 12; ++i) {
    ASSERT_TRUE(busy->write_all("ping"));
    ASSERT_EQ(read_text(*busy, 4), "ping") << "round " << i;
    std::this_thread::sleep_for(50ms);
  }
  for (auto& s : silent) EXPECT_TRUE(closed_by_server(s, Deadline(2s)));
  ASSERT_TRUE(busy->write_all("pong"));
  EXPECT_EQ(read_text(*busy, 4), "pong");
  busy->close();
  auto stats = server.stop();
  EXPECT_EQ(stats.idle_timeouts, 20u);
}

// A client socket with small kernel buffers, so that the kernel cannot absorb the test's traffic.
TcpStream small_buffer_client(const Endpoint& to) {
  auto s = Socket::open(AF_INET, SocketType::stream);  // non-blocking, as tether's calls expect
  EXPECT_TRUE(s.has_value());
  EXPECT_EQ(s->set_receive_buffer_size(4096), Status{});
  EXPECT_EQ(s->set_send_buffer_size(4096), Status{});
  if (::connect(s->fd(), to.data(), to.size()) != 0) {
    EXPECT_EQ(errno, EINPROGRESS);
    EXPECT_EQ(s->wait_writable(Deadline(5s)), Status{});
  }
  return TcpStream(std::move(*s));
}

TEST(Server, slow_readers_keep_server_buffers_under_the_high_watermark) {
  auto o = local();
  o.high_watermark = 64 * 1024;
  o.low_watermark = 16 * 1024;
  tt::RunningServer server(o, tt::echo_handler);
  constexpr int clients = 6;
  constexpr std::size_t per_client = 24u << 20;
  std::vector<TcpStream> slow;
  std::vector<std::thread> writers;
  std::atomic<std::size_t> sent{0};
  for (int i = 0; i < clients; ++i) slow.push_back(small_buffer_client(server.endpoint()));
  // Each client sends and never reads: the server must stop reading it instead of buffering its
  // echo. The kernel buffers between them hold a few MB, far less than what is sent.
  for (auto& s : slow) {
    writers.emplace_back([&s, &sent] {
      std::vector<std::byte> chunk(64 * 1024);
      for (std::size_t i = 0; i < per_client / chunk.size(); ++i) {
        auto w = s.write_all(chunk, Deadline(1500ms));
        if (!w) return;  // blocked: the server stopped reading
        sent += chunk.size();
      }
    });
  }
  for (auto& t : writers) t.join();
  EXPECT_LT(sent.load(), std::size_t{clients} * per_client);  // they were throttled
  for (auto& s : slow) s.close();
  auto stats = server.stop();
  // One read's worth (the loop's 64 KiB buffer) may land on top of the watermark.
  EXPECT_LE(stats.peak_buffered, std::size_t{clients} * (o.high_watermark + 64 * 1024));
  EXPECT_GT(stats.peak_buffered, 0u);
}

TEST(Server, graceful_stop_lets_a_connected_client_finish_then_returns) {
  auto o = local();
  o.drain_timeout = 10s;
  tt::RunningServer server(o, tt::echo_handler);
  auto c = TcpStream::connect(server.endpoint(), 5s);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->write_all("before"));
  ASSERT_EQ(read_text(*c, 6), "before");
  std::thread stopper([&] { server.server().stop(); });
  stopper.join();
  std::this_thread::sleep_for(50ms);
  // New clients are refused; the connected one is still served.
  auto late = TcpStream::connect(server.endpoint(), 1s);
  EXPECT_FALSE(late.has_value());
  ASSERT_TRUE(c->write_all("during"));
  EXPECT_EQ(read_text(*c, 6), "during");
  EXPECT_FALSE(server.wait_stopped(100ms));
  c->close();  // the last client leaves: the server finishes long before its drain deadline
  EXPECT_TRUE(server.wait_stopped(3s));
}

TEST(Server, drain_deadline_closes_clients_that_stay) {
  auto o = local();
  o.drain_timeout = 200ms;
  tt::RunningServer server(o, tt::echo_handler);
  auto c = TcpStream::connect(server.endpoint(), 5s);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->write_all("x"));
  ASSERT_EQ(read_text(*c, 1), "x");
  server.server().stop();
  EXPECT_TRUE(closed_by_server(*c, Deadline(3s)));
  EXPECT_TRUE(server.wait_stopped(3s));
}

TEST(Server, denied_peers_are_closed_and_allowed_ones_served) {
  auto o = local();
  ASSERT_TRUE(o.access.allow("127.0.0.0/8"));
  ASSERT_TRUE(o.access.deny("127.0.0.2"));
  o.address = Endpoint::ipv4_any(0);
  tt::RunningServer server(o, tt::echo_handler);
  const auto port = server.endpoint().port();
  ConnectOptions from2;
  from2.deadline = 5s;
  from2.source = Endpoint::ipv4({127, 0, 0, 2}, 0);
  auto denied = TcpStream::connect(Endpoint::ipv4({127, 0, 0, 1}, port), from2);
  ASSERT_TRUE(denied);
  EXPECT_TRUE(closed_by_server(*denied));
  ConnectOptions from3 = from2;
  from3.source = Endpoint::ipv4({127, 0, 0, 3}, 0);
  auto allowed = TcpStream::connect(Endpoint::ipv4({127, 0, 0, 1}, port), from3);
  ASSERT_TRUE(allowed);
  ASSERT_TRUE(allowed->write_all("ok"));
  EXPECT_EQ(read_text(*allowed, 2), "ok");
  allowed->close();
  auto stats = server.stop();
  EXPECT_EQ(stats.rejected, 1u);
}

TEST(Server, stop_before_run_returns_at_once) {
  Server s(local());
  ASSERT_TRUE(s.listen());
  s.stop();
  auto r = s.run(tt::echo_handler);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->connections, 0u);
}

// Accepted TCP clients get TCP_NODELAY unless the options say otherwise: replies are not held
// back by Nagle's algorithm (every peer server in bench/ does the same).
class ServerNoDelay : public ::testing::TestWithParam<bool> {};

TEST_P(ServerNoDelay, accepted_clients_get_tcp_nodelay_as_the_options_say) {
  auto o = local(1);
  o.no_delay = GetParam();
  tt::RunningServer server(o, [](Connection& c) -> Task<void> {
    auto on = c.socket().no_delay();
    (void)c.send(!on ? "error\n" : *on ? "nodelay on\n" : "nodelay off\n");
    co_await c.flush(Deadline(5s));
  });
  auto c = TcpStream::connect(server.endpoint(), 5s);
  ASSERT_TRUE(c);
  const std::string want = GetParam() ? "nodelay on\n" : "nodelay off\n";
  EXPECT_EQ(read_text(*c, want.size()), want);
}

INSTANTIATE_TEST_SUITE_P(Server, ServerNoDelay, ::testing::Bool());
