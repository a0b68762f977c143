// The io_uring backend: its selection, and the scenarios only a completion backend can get
// wrong — a request still in the kernel after its owner let go (cancel, close, a destroyed frame
// or loop), a cancel racing with arriving data. Many connections and the lent buffers:
// io_uring_buffers_test.cpp. Every other async test also runs on io_uring (ctest label "uring",
// suffix ".uring"). Where the kernel refuses io_uring these tests skip with the reason.
#include "uring_testing.hpp"

#include "async_testing.hpp"

#include <tether/async_tcp.hpp>
#include <tether/async_udp.hpp>
#include <tether/deadline.hpp>
#include <tether/event_loop.hpp>
#include <tether/when.hpp>

#include <gtest/gtest.h>

#include <poll.h>
#include <sys/socket.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <stop_token>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using namespace tether;
namespace tt = tether::testing;
using namespace tt::uring;  // read_exactly, run_until

namespace {

struct ReadOutcome {
  bool done = false;
  std::error_code ec;
  std::string data;
};

Task<void> read_into(AsyncTcpStream& s, std::byte* buf, std::size_t size, ReadOutcome& out) {
  auto r = co_await s.read_some(std::span(buf, size));
  if (r) {
    out.data.assign(reinterpret_cast<const char*>(buf), *r);
  } else {
    out.ec = r.error();
  }
  out.done = true;
}

// True when the peer of a closed socket sees its end (EOF or reset) within `limit`, after any
// data still queued: a request still in the kernel would hold the socket open.
bool sees_end(const Socket& peer, std::chrono::milliseconds limit = 2s) {
  const auto end = std::chrono::steady_clock::now() + limit;
  std::vector<char> sink(1 << 16);
  while (std::chrono::steady_clock::now() < end) {
    pollfd p{peer.fd(), POLLIN, 0};
    if (::poll(&p, 1, 50) != 1) continue;
    ssize_t n = ::recv(peer.fd(), sink.data(), sink.size(), MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno == ECONNRESET)) return true;
  }
  return false;
}

}  // namespace

TEST(IoUring, chosen_by_the_environment_and_epoll_stays_the_default) {
  ::unsetenv("TETHER_BACKEND");
  EXPECT_EQ(EventLoop().backend_name(), "epoll");
  ::setenv("TETHER_BACKEND", "epoll", 1);
  EXPECT_EQ(EventLoop().backend_name(), "epoll");
  USE_IO_URING_OR_SKIP();
  EXPECT_EQ(EventLoop().backend_name(), "io_uring");
}

TEST(IoUring, a_cancelled_in_flight_read_ends_cancelled_and_the_stream_stays_usable) {
  USE_IO_URING_OR_SKIP();
  EventLoop loop;
  ASSERT_EQ(loop.backend_name(), "io_uring");
  auto [s, peer] = tt::async_pair(loop);
  std::array<std::byte, 64> buf{};
  ReadOutcome out;
  loop.spawn(read_into(s, buf.data(), buf.size(), out));
  for (int i = 0; i < 3; ++i) loop.run_once(false);  // the read is in the kernel now
  ASSERT_FALSE(out.done);
  s.cancel();
  run_until(loop, [&] { return out.done; });
  ASSERT_TRUE(out.done);
  EXPECT_EQ(out.ec, Errc::cancelled);

  ASSERT_EQ(::send(peer.fd(), "abcd", 4, MSG_NOSIGNAL), 4);
  auto r = loop.run(read_exactly(s, 4));
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_EQ(*r, "abcd");
}

TEST(IoUring, a_cancel_racing_with_arriving_data_loses_no_byte) {
  USE_IO_URING_OR_SKIP();
  EventLoop loop;
  auto [s, peer] = tt::async_pair(loop);
  int cancel_won = 0, data_won = 0;
  for (int round = 0; round < 200; ++round) {
    const std::string msg = "round " + std::to_string(round) + ";";
    std::array<std::byte, 64> buf{};
    ReadOutcome out;
    std::stop_source stop;
    loop.spawn(with_stop_token(read_into(s, buf.data(), buf.size(), out), stop.get_token()));
    loop.run_once(false);  // starts the task: the read is queued
    loop.run_once(false);  // submits it
    ASSERT_EQ(::send(peer.fd(), msg.data(), msg.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(msg.size()));
    stop.request_stop();  // the data may or may not have completed the read in the kernel
    run_until(loop, [&] { return out.done; });
    ASSERT_TRUE(out.done);
    std::string got = out.data;
    if (out.ec) {
      ASSERT_EQ(out.ec, Errc::cancelled);
      ++cancel_won;
    } else {
      ++data_won;
    }
    auto rest = loop.run(read_exactly(s, msg.size() - got.size()));
    ASSERT_TRUE(rest.has_value()) << rest.error().message();
    EXPECT_EQ(got + *rest, msg) << "round " << round;
  }
  std::printf("cancel won %d rounds, data won %d\n", cancel_won, data_won);
}

TEST(IoUring, closing_a_stream_with_a_read_in_flight_lets_go_of_socket_and_buffer_at_once) {
  USE_IO_URING_OR_SKIP();
  EventLoop loop;
  auto [s, peer] = tt::async_pair(loop);
  auto buf = std::make_unique<std::array<std::byte, 4096>>();
  ReadOutcome out;
  loop.spawn(read_into(s, buf->data(), buf->size(), out));
  for (int i = 0; i < 3; ++i) loop.run_once(false);
  ASSERT_FALSE(out.done);
  s.close();
  buf.reset();  // allowed at once: the kernel must be done with it
  auto canary = std::make_unique<std::array<std::byte, 4096>>();
  canary->fill(std::byte{0xAA});
  // The socket is really closed (no request holds it) ...
  EXPECT_TRUE(sees_end(peer));
  std::vector<char> junk(4096, 0x55);
  (void)::send(peer.fd(), junk.data(), junk.size(), MSG_NOSIGNAL);
  for (int i = 0; i < 5; ++i) loop.run_once(false);
  EXPECT_TRUE(out.done);
  EXPECT_EQ(out.ec, Errc::closed);
  // ... and nothing was written into the memory the buffer had (often reused by the canary).
  for (std::byte b : *canary) ASSERT_EQ(b, std::byte{0xAA});
}

namespace {

Task<void> owned_read(AsyncTcpStream s) {
  std::array<std::byte, 1024> frame_buffer;
  (void)co_await s.read_some(frame_buffer);
}
Task<void> owned_borrowed_read(AsyncTcpStream s) { (void)co_await s.read_borrowed(); }
Task<void> owned_write(AsyncTcpStream s) {
  (void)s.socket().set_send_buffer_size(4096);
  std::vector<std::byte> big(8u << 20);  // the peer never reads
  (void)co_await s.write_all(big);
}
Task<void> owned_accept(AsyncTcpListener l) { (void)co_await l.accept(); }
Task<void> owned_recv(AsyncUdpSocket u) {
  std::array<std::byte, 512> buf;
  (void)co_await u.recv_from(buf);
}

}  // namespace

TEST(IoUring, destroying_a_loop_with_operations_in_flight_releases_every_socket) {
  USE_IO_URING_OR_SKIP();
  const int fds_before = tt::open_fd_count();
  std::vector<Socket> peers;
  {
    EventLoop loop;
    ASSERT_EQ(loop.backend_name(), "io_uring");
    for (int i = 0; i < 4; ++i) {
      auto [a, pa] = tt::async_pair(loop);
      loop.spawn(owned_read(std::move(a)));
      peers.push_back(std::move(pa));
      auto [b, pb] = tt::async_pair(loop);
      loop.spawn(owned_borrowed_read(std::move(b)));
      peers.push_back(std::move(pb));
      auto [c, pc] = tt::async_pair(loop);
      loop.spawn(owned_write(std::move(c)));
      peers.push_back(std::move(pc));
    }
    auto l = AsyncTcpListener::bind(loop, Endpoint::ipv4_loopback(0));
    ASSERT_TRUE(l);
    loop.spawn(owned_accept(std::move(*l)));
    auto u = AsyncUdpSocket::bind(loop, Endpoint::ipv4_loopback(0));
    ASSERT_TRUE(u);
    loop.spawn(owned_recv(std::move(*u)));
    for (int i = 0; i < 5; ++i) loop.run_once(false);
    EXPECT_EQ(loop.spawned_count(), 14u);
  }  // frames destroyed with their requests in the kernel; then the ring
  for (const Socket& p : peers) EXPECT_TRUE(sees_end(p, 1s));
  peers.clear();
  EXPECT_EQ(tt::open_fd_count(), fds_before);
}

// A read cancelled before the kernel saw it (its SQE still queued) ends cancelled and takes no
// byte, even with data waiting: queued with a cancel behind it, it would complete first every
// time, and a read whose deadline had passed on a busy socket would never end (linger_close).
TEST(IoUring, a_read_cancelled_before_submission_ends_cancelled_even_with_data_waiting) {
  USE_IO_URING_OR_SKIP();
  EventLoop loop;
  auto [s, peer] = tt::async_pair(loop);
  for (int round = 0; round < 20; ++round) {
    const std::string msg = "data " + std::to_string(round);
    ASSERT_EQ(::send(peer.fd(), msg.data(), msg.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(msg.size()));
    std::array<std::byte, 64> buf{};
    ReadOutcome past;
    // A deadline already passed: the read is started (queued), then cancelled in the same call.
    auto expired = [](AsyncTcpStream& st, std::byte* b, ReadOutcome& o) -> Task<void> {
      auto r = co_await st.read_some(std::span(b, 64), Deadline(std::chrono::nanoseconds(0)));
      if (r) {
        o.data.assign(reinterpret_cast<const char*>(b), *r);
      } else {
        o.ec = r.error();
      }
      o.done = true;
    };
    loop.spawn(expired(s, buf.data(), past));
    run_until(loop, [&] { return past.done; });
    ASSERT_TRUE(past.done);
    EXPECT_EQ(past.ec, std::errc::timed_out) << "round " << round << ": read " << past.data;
    auto r = loop.run(read_exactly(s, msg.size()));  // every byte still there
    ASSERT_TRUE(r.has_value()) << r.error().message();
    EXPECT_EQ(*r, msg);
  }
}
