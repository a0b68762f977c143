// Async TCP and UDP operations on loopback: data integrity, closing with operations pending.
#include "async_testing.hpp"

#include <tether/async_tcp.hpp>
#include <tether/async_udp.hpp>
#include <tether/datagram_batch.hpp>
#include <tether/event_loop.hpp>
#include <tether/timer.hpp>
#include <tether/when.hpp>

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using namespace tether;
namespace tt = tether::testing;

namespace {

Task<void> echo_once(AsyncTcpListener& listener) {
  auto a = co_await listener.accept();
  if (!a) co_return;
  std::array<std::byte, 4096> buf;
  for (;;) {
    auto n = co_await a->stream.read_some(buf);
    if (!n || *n == 0) co_return;
    auto w = co_await a->stream.write_all(std::span(buf).first(*n));
    if (!w) co_return;
  }
}

std::vector<std::byte> pattern(std::size_t n) {
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::byte>((i * 131 + 7) % 251);
  return v;
}

}  // namespace

TEST(AsyncTcp, echo_of_two_megabytes_is_byte_exact) {
  EventLoop loop;
  auto listener = AsyncTcpListener::bind(loop, Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(listener);
  auto ep = *listener->local_endpoint();
  loop.spawn(echo_once(*listener));
  auto client = [](EventLoop& l, Endpoint to) -> Task<bool> {
    auto s = co_await AsyncTcpStream::connect(l, to, 5s);
    if (!s) co_return false;
    const auto data = pattern(2 << 20);
    std::vector<std::byte> back(data.size());
    auto writer = [](AsyncTcpStream& st, const std::vector<std::byte>& d) -> Task<Status> {
      auto w = co_await st.write_all(d);
      if (!w) co_return fail(w.error());
      co_return st.shutdown(Shutdown::write);
    };
    auto reader = [](AsyncTcpStream& st, std::vector<std::byte>& out) -> Task<std::size_t> {
      std::size_t got = 0;
      while (got < out.size()) {
        auto n = co_await st.read_some(std::span(out).subspan(got));
        if (!n || *n == 0) break;
        got += *n;
      }
      co_return got;
    };
    auto [w, got] = co_await when_all(writer(*s, data), reader(*s, back));
    co_return w.has_value() && got == data.size() && back == data;
  };
  EXPECT_TRUE(loop.run(client(loop, ep)));
}

TEST(AsyncTcp, read_borrowed_lends_the_loop_buffer) {
  EventLoop loop;
  auto [stream, peer] = tt::async_pair(loop);
  ASSERT_EQ(::send(peer.fd(), "hello", 5, MSG_NOSIGNAL), 5);
  auto body = [](AsyncTcpStream& s) -> Task<std::string> {
    auto r = co_await s.read_borrowed();
    if (!r) co_return "error";
    co_return std::string(reinterpret_cast<const char*>(r->data()), r->size());
  };
  EXPECT_EQ(loop.run(body(stream)), "hello");
}

TEST(AsyncTcp, end_of_stream_reads_zero_every_time) {
  EventLoop loop;
  auto [stream, peer] = tt::async_pair(loop);
  peer.close();
  auto body = [](AsyncTcpStream& s) -> Task<int> {
    std::array<std::byte, 8> buf;
    int zeros = 0;
    for (int i = 0; i < 3; ++i) {
      auto n = co_await s.read_some(buf);
      if (n && *n == 0) ++zeros;
    }
    co_return zeros;
  };
  EXPECT_EQ(loop.run(body(stream)), 3);
}

TEST(AsyncTcp, closing_a_stream_ends_its_pending_read_with_closed) {
  EventLoop loop;
  auto [stream, peer] = tt::async_pair(loop);
  Timer t(loop);
  t.arm(10ms, [&s = stream] { s.close(); });
  auto body = [](AsyncTcpStream& s) -> Task<Result<std::size_t>> {
    std::array<std::byte, 8> buf;
    co_return co_await s.read_some(buf);
  };
  auto r = loop.run(body(stream));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error(), Errc::closed);
}

TEST(AsyncTcp, destroying_a_stream_with_a_read_and_a_write_pending_is_safe) {
  const int fds_before = tt::open_fd_count();
  {
    EventLoop loop;
    auto holder = std::make_unique<AsyncTcpStream>();
    auto [stream, peer] = tt::async_pair(loop);
    *holder = std::move(stream);
    ASSERT_EQ(holder->socket().set_send_buffer_size(4096), Status{});
    Result<std::size_t> read_result = 0, write_result = 0;
    auto reader = [](AsyncTcpStream& s, Result<std::size_t>* out) -> Task<void> {
      std::array<std::byte, 8> buf;
      *out = co_await s.read_some(buf);
    };
    auto writer = [](AsyncTcpStream& s, Result<std::size_t>* out) -> Task<void> {
      std::vector<std::byte> big(8 << 20);
      *out = co_await s.write_all(big);  // the peer never reads: this blocks
    };
    loop.spawn(reader(*holder, &read_result));
    loop.spawn(writer(*holder, &write_result));
    Timer t(loop);
    t.arm(20ms, [&] { holder.reset(); });  // the object is gone while both are pending
    auto wait = []() -> Task<void> { (void)co_await sleep_for(60ms); };
    loop.run(wait());
    ASSERT_FALSE(read_result.has_value());
    EXPECT_EQ(read_result.error(), Errc::closed);
    ASSERT_FALSE(write_result.has_value());
    EXPECT_EQ(write_result.error(), Errc::closed);
    EXPECT_EQ(loop.spawned_count(), 0u);
  }
  EXPECT_EQ(tt::open_fd_count(), fds_before);
}

TEST(AsyncTcp, destroying_the_loop_with_operations_pending_closes_everything) {
  const int fds_before = tt::open_fd_count();
  {
    EventLoop loop;
    auto task = [](EventLoop& l) -> Task<void> {
      auto [stream, peer] = tt::async_pair(l);
      std::array<std::byte, 8> buf;
      (void)co_await stream.read_some(buf);  // never completes
    };
    for (int i = 0; i < 10; ++i) loop.spawn(task(loop));
    loop.run_once(false);
    EXPECT_EQ(loop.spawned_count(), 10u);
  }
  EXPECT_EQ(tt::open_fd_count(), fds_before);
}

TEST(AsyncTcp, moving_a_stream_with_a_pending_read_keeps_the_read) {
  EventLoop loop;
  auto [stream, peer] = tt::async_pair(loop);
  Result<std::size_t> got = 0;
  auto reader = [](AsyncTcpStream& s, Result<std::size_t>* out) -> Task<void> {
    std::array<std::byte, 8> buf;
    *out = co_await s.read_some(buf);
  };
  loop.spawn(reader(stream, &got));
  loop.run_once(false);
  AsyncTcpStream moved = std::move(stream);
  ASSERT_EQ(::send(peer.fd(), "xy", 2, MSG_NOSIGNAL), 2);
  auto wait = []() -> Task<void> { (void)co_await sleep_for(20ms); };
  loop.run(wait());
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, 2u);
}

TEST(AsyncTcp, connect_to_a_closed_port_reports_refused) {
  EventLoop loop;
  auto l = TcpListener::bind(Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(l);
  auto ep = *l->local_endpoint();
  l->close();
  auto body = [](EventLoop& lp, Endpoint to) -> Task<Result<AsyncTcpStream>> {
    co_return co_await AsyncTcpStream::connect(lp, to, 2s);
  };
  auto r = loop.run(body(loop, ep));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error(), std::errc::connection_refused);
}

TEST(AsyncUdp, datagrams_round_trip_and_truncation_is_reported) {
  EventLoop loop;
  auto a = AsyncUdpSocket::bind(loop, Endpoint::ipv4_loopback(0));
  auto b = AsyncUdpSocket::bind(loop, Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(a && b);
  auto body = [](AsyncUdpSocket& x, AsyncUdpSocket& y) -> Task<bool> {
    auto to = *y.local_endpoint();
    auto sent = co_await x.send_to(std::string_view("0123456789"), to);
    if (!sent || *sent != 10) co_return false;
    std::array<std::byte, 4> small;
    auto d = co_await y.recv_from(small);
    if (!d) co_return false;
    co_return d->truncated && d->size == 4 && d->full_size == 10 && d->from == *x.local_endpoint();
  };
  EXPECT_TRUE(loop.run(body(*a, *b)));
}

// A datagram socket on a loop and a plain client socket, for the batch tests.
class AsyncUdpBatch : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = AsyncUdpSocket::bind(loop, Endpoint::ipv4_loopback(0));
    auto c = UdpSocket::bind(Endpoint::ipv4_loopback(0));
    ASSERT_TRUE(s && c);
    server_socket = std::move(*s);
    client_socket = std::move(*c);
    to = *server_socket.local_endpoint();
  }
  EventLoop loop;
  AsyncUdpSocket server_socket;
  UdpSocket client_socket;
  AsyncUdpSocket* server = &server_socket;
  UdpSocket* client = &client_socket;
  Endpoint to;
};

TEST_F(AsyncUdpBatch, try_recv_batch_drains_what_is_queued_and_try_send_batch_echoes_it) {
  auto body = [&]() -> Task<std::string> {
    DatagramBatch batch(8);
    auto none = server->try_recv_batch(batch);  // nothing queued: 0 at once, no waiting
    if (!none || *none != 0) co_return "try_recv_batch on an empty socket did not return 0";
    for (int i = 0; i < 5; ++i) (void)client->send_to("d" + std::to_string(i), to);
    std::array<std::byte, 64> buf;
    auto first = co_await server->recv_from(buf);
    if (!first || first->size != 2) co_return "recv_from failed";
    auto n = server->try_recv_batch(batch);
    if (!n || *n != 4) co_return "try_recv_batch took " + std::to_string(n.value_or(0));
    for (std::size_t i = 0; i < 4; ++i) {
      auto p = batch.payload(i);
      if (std::string(reinterpret_cast<const char*>(p.data()), p.size()) != "d" + std::to_string(i + 1)) {
        co_return "datagram " + std::to_string(i) + " out of order";
      }
    }
    auto sent = server->try_send_batch(batch, 0, *n);
    if (!sent || *sent != 4) co_return "try_send_batch sent " + std::to_string(sent.value_or(0));
    co_return "";
  };
  EXPECT_EQ(loop.run(body()), "");
  for (int i = 1; i < 5; ++i) {
    std::array<char, 16> buf;
    auto d = client->recv_from(buf, 2s);
    ASSERT_TRUE(d);
    EXPECT_EQ(std::string(buf.data(), d->size), "d" + std::to_string(i));
  }
  server->close();
  DatagramBatch batch(2);
  auto closed = server->try_recv_batch(batch);
  ASSERT_FALSE(closed);
  EXPECT_EQ(closed.error(), Errc::closed);
}

// recv_batch waits on the loop, takes every queued datagram in one call, and after a short batch
// (the socket drained) still wakes for the next datagram: the drained hint must not lose an edge.
TEST_F(AsyncUdpBatch, recv_batch_waits_takes_what_is_queued_and_wakes_again_after_a_short_batch) {
  auto body = [&]() -> Task<std::string> {
    DatagramBatch batch(8);
    for (int i = 0; i < 3; ++i) (void)client->send_to("a" + std::to_string(i), to);
    auto n = co_await server->recv_batch(batch);
    if (!n || *n != 3) co_return "first batch: " + std::to_string(n.value_or(0));
    for (std::size_t i = 0; i < 3; ++i) {
      auto p = batch.payload(i);
      if (std::string(reinterpret_cast<const char*>(p.data()), p.size()) != "a" + std::to_string(i)) {
        co_return "first batch out of order";
      }
      if (batch.peer(i) != *client->local_endpoint()) co_return "wrong sender";
    }
    // A full batch may leave more queued: the next receive must take it without a new edge.
    for (int i = 0; i < 10; ++i) (void)client->send_to("f" + std::to_string(i), to);
    auto full = co_await server->recv_batch(batch, Deadline(2s));
    if (!full || *full != 8) co_return "full batch: " + std::to_string(full.value_or(0));
    auto tail = co_await server->recv_batch(batch, Deadline(2s));
    if (!tail || *tail != 2) co_return "after a full batch: " + (tail ? std::to_string(*tail) : tail.error().message());
    // Nothing queued now: the next receive waits until a timer sends 2 more, 50 ms later.
    Timer later(loop);
    later.arm(50ms, [&] {
      (void)client->send_to("b0", to);
      (void)client->send_to("b1", to);
    });
    auto m = co_await server->recv_batch(batch, Deadline(5s));
    if (!m) co_return "second batch: " + m.error().message();
    std::size_t got = *m;
    if (got < 2) {  // the timer's two sends may straddle the wake-up
      auto rest = co_await server->recv_batch(batch, Deadline(5s));
      if (!rest) co_return "third batch: " + rest.error().message();
      got += *rest;
    }
    if (got != 2) co_return "second batch: " + std::to_string(got);
    // And the deadline holds when nothing comes.
    auto none = co_await server->recv_batch(batch, Deadline(100ms));
    if (none || none.error() != std::errc::timed_out) co_return "no timeout";
    co_return "";
  };
  EXPECT_EQ(loop.run(body()), "");
}

TEST(AsyncUdp, closing_a_socket_ends_a_pending_recv_batch_with_closed) {
  EventLoop loop;
  auto server = AsyncUdpSocket::bind(loop, Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(server);
  auto body = [&]() -> Task<bool> {
    DatagramBatch batch(4);
    Timer closer(loop);
    closer.arm(30ms, [&] { server->close(); });
    auto n = co_await server->recv_batch(batch, Deadline(5s));
    co_return !n && n.error() == Errc::closed;
  };
  EXPECT_TRUE(loop.run(body()));
}
