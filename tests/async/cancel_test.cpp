// Cancellation of every kind of operation, by stop token and by deadline, and what is left after.
#include "async_testing.hpp"

#include <tether/async_tcp.hpp>
#include <tether/async_udp.hpp>
#include <tether/event_loop.hpp>
#include <tether/timer.hpp>
#include <tether/when.hpp>

#include <gtest/gtest.h>

#include <sys/socket.h>

#include <array>
#include <chrono>
#include <stop_token>
#include <vector>

using namespace std::chrono_literals;
using namespace tether;
namespace tt = tether::testing;

namespace {

template <class T>
std::error_code error_of(const T& r) {
  return r ? std::error_code() : r.error();
}

// Runs `task` under a stop token that is stopped after `after`; returns the task's error.
template <class T>
std::error_code stopped(EventLoop& loop, Task<T> task, std::chrono::milliseconds after = 20ms) {
  std::stop_source source;
  Timer t(loop);
  t.arm(after, [&] { source.request_stop(); });
  auto r = loop.run(with_stop_token(std::move(task), source.get_token()));
  return error_of(r);
}

template <class T>
std::error_code timed_out(EventLoop& loop, Task<T> task, std::chrono::milliseconds after = 20ms) {
  auto r = loop.run(with_timeout(std::move(task), after));
  return error_of(r);
}

Task<Result<std::size_t>> read_task(AsyncTcpStream& s, Deadline d = {}) {
  std::array<std::byte, 64> buf;
  co_return co_await s.read_some(buf, d);
}

Task<Result<std::size_t>> borrowed_task(AsyncTcpStream& s) {
  auto r = co_await s.read_borrowed();
  if (!r) co_return fail(r.error());
  co_return r->size();
}

Task<Result<std::size_t>> write_task(AsyncTcpStream& s, Deadline d = {}) {
  std::vector<std::byte> big(16 << 20);
  co_return co_await s.write_all(big, d);
}

Task<Status> accept_task(AsyncTcpListener& l, Deadline d = {}) {
  auto a = co_await l.accept(d);
  if (!a) co_return fail(a.error());
  co_return Status{};
}

Task<Status> connect_task(EventLoop& loop, Endpoint to, Deadline d = {}) {
  auto s = co_await AsyncTcpStream::connect(loop, to, d);
  if (!s) co_return fail(s.error());
  co_return Status{};
}

Task<Result<Datagram>> recv_task(AsyncUdpSocket& s, Deadline d = {}) {
  std::array<std::byte, 64> buf;
  co_return co_await s.recv_from(buf, d);
}

Task<Result<std::size_t>> send_task(AsyncUdpSocket& s, Deadline d = {}) {
  std::array<std::byte, 1024> buf{};
  co_return co_await s.send(buf, d);
}

Task<Status> sleep_task() { co_return co_await sleep_for(1h); }

// A connected Unix datagram pair whose receiver never reads: the sender's queue fills up.
std::pair<AsyncUdpSocket, Socket> full_datagram_pair(EventLoop& loop) {
  int fds[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
  Socket sender(fds[0]), receiver(fds[1]);
  std::array<std::byte, 1024> buf{};
  for (int i = 0; i < 100000 && ::send(sender.fd(), buf.data(), buf.size(), 0) > 0; ++i) {
  }
  auto s = AsyncUdpSocket::adopt(loop, UdpSocket(std::move(sender)));
  EXPECT_TRUE(s.has_value());
  return {std::move(*s), std::move(receiver)};
}

AsyncTcpStream with_full_send_buffer(EventLoop& loop, Socket& peer) {
  auto [s, p] = tt::async_pair(loop);
  EXPECT_EQ(s.socket().set_send_buffer_size(4096), Status{});
  peer = std::move(p);
  return std::move(s);
}

}  // namespace

TEST(Cancel, read_some_by_stop_token_then_deadline) {
  EventLoop loop;
  auto [s, peer] = tt::async_pair(loop);
  EXPECT_EQ(stopped(loop, read_task(s)), Errc::cancelled);
  EXPECT_EQ(timed_out(loop, read_task(s)), std::errc::timed_out);
  EXPECT_EQ(error_of(loop.run(read_task(s, 20ms))), std::errc::timed_out);
}

TEST(Cancel, a_cancelled_read_leaves_the_stream_usable) {
  EventLoop loop;
  auto [s, peer] = tt::async_pair(loop);
  EXPECT_EQ(stopped(loop, read_task(s)), Errc::cancelled);
  ASSERT_EQ(::send(peer.fd(), "abcd", 4, MSG_NOSIGNAL), 4);
  auto r = loop.run(read_task(s));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, 4u);
}

TEST(Cancel, read_borrowed_by_stop_token_and_stream_cancel) {
  EventLoop loop;
  auto [s, peer] = tt::async_pair(loop);
  EXPECT_EQ(stopped(loop, borrowed_task(s)), Errc::cancelled);
  Timer t(loop);
  t.arm(10ms, [&s = s] { s.cancel(); });
  EXPECT_EQ(error_of(loop.run(borrowed_task(s))), Errc::cancelled);
}

TEST(Cancel, write_all_to_a_reader_that_never_reads) {
  EventLoop loop;
  Socket peer;
  auto s = with_full_send_buffer(loop, peer);
  EXPECT_EQ(stopped(loop, write_task(s)), Errc::cancelled);
  EXPECT_EQ(timed_out(loop, write_task(s)), std::errc::timed_out);
  EXPECT_EQ(error_of(loop.run(write_task(s, 20ms))), std::errc::timed_out);
}

TEST(Cancel, accept_with_nobody_connecting) {
  EventLoop loop;
  auto l = AsyncTcpListener::bind(loop, Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(l);
  EXPECT_EQ(stopped(loop, accept_task(*l)), Errc::cancelled);
  EXPECT_EQ(timed_out(loop, accept_task(*l)), std::errc::timed_out);
  EXPECT_EQ(error_of(loop.run(accept_task(*l, 20ms))), std::errc::timed_out);
}

TEST(Cancel, connect_to_a_black_hole_and_no_fd_leaks) {
  auto hole = tt::black_hole(Endpoint::ipv4_loopback(0));
  const int fds_before = tt::open_fd_count();
  {
    EventLoop loop;
    const int with_loop = tt::open_fd_count();
    EXPECT_EQ(stopped(loop, connect_task(loop, hole.endpoint)), Errc::cancelled);
    EXPECT_EQ(timed_out(loop, connect_task(loop, hole.endpoint)), std::errc::timed_out);
    auto start = EventLoop::clock::now();
    EXPECT_EQ(error_of(loop.run(connect_task(loop, hole.endpoint, 100ms))), std::errc::timed_out);
    auto took = EventLoop::clock::now() - start;
    EXPECT_GE(took, 100ms);
    EXPECT_LT(took, 110ms + 50ms);  // the deadline, within 10% (plus scheduling slack)
    EXPECT_EQ(tt::open_fd_count(), with_loop);
  }
  EXPECT_EQ(tt::open_fd_count(), fds_before);
}

TEST(Cancel, recv_from_with_nothing_arriving) {
  EventLoop loop;
  auto u = AsyncUdpSocket::bind(loop, Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(u);
  EXPECT_EQ(stopped(loop, recv_task(*u)), Errc::cancelled);
  EXPECT_EQ(timed_out(loop, recv_task(*u)), std::errc::timed_out);
  EXPECT_EQ(error_of(loop.run(recv_task(*u, 20ms))), std::errc::timed_out);
}

TEST(Cancel, send_to_a_full_datagram_queue) {
  EventLoop loop;
  auto [s, receiver] = full_datagram_pair(loop);
  EXPECT_EQ(stopped(loop, send_task(s)), Errc::cancelled);
  EXPECT_EQ(timed_out(loop, send_task(s)), std::errc::timed_out);
  EXPECT_EQ(error_of(loop.run(send_task(s, 20ms))), std::errc::timed_out);
}

TEST(Cancel, sleep_for_by_stop_token_and_timeout) {
  EventLoop loop;
  EXPECT_EQ(stopped(loop, sleep_task()), Errc::cancelled);
  EXPECT_EQ(timed_out(loop, sleep_task()), std::errc::timed_out);
}

TEST(Cancel, an_already_stopped_token_ends_operations_without_suspending) {
  EventLoop loop;
  auto [s, peer] = tt::async_pair(loop);
  ASSERT_EQ(::send(peer.fd(), "x", 1, MSG_NOSIGNAL), 1);
  std::stop_source source;
  source.request_stop();
  auto r = loop.run(with_stop_token(read_task(s), source.get_token()));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error(), Errc::cancelled);
}
