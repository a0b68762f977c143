// The io_uring backend under load and with its lent buffers: a thousand echo connections at
// once, more borrowed reads than provided buffers, a reader that stops reading (the multishot
// receive must stop taking buffers), plain reads after borrowed ones. Selection, cancels and
// lifetimes: io_uring_backend_test.cpp. Where the kernel refuses io_uring these tests skip with
// the reason.
#include "uring_testing.hpp"

#include "async_testing.hpp"

#include <tether/async_tcp.hpp>
#include <tether/deadline.hpp>
#include <tether/event_loop.hpp>

#include <gtest/gtest.h>

#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using namespace tether;
namespace tt = tether::testing;
using namespace tt::uring;  // read_exactly, run_until

namespace {

// Borrowed reads (the lent buffers) and a copy: a lent span dies when the reader suspends, so it
// must not be handed to write_all directly.
Task<void> echo(AsyncTcpStream s) {
  std::vector<std::byte> out;
  for (;;) {
    auto r = co_await s.read_borrowed();
    if (!r || r->empty()) co_return;
    out.assign(r->begin(), r->end());
    if (!co_await s.write_all(out)) co_return;
  }
}

struct EchoStats {
  int served = 0;
  int verified = 0;
  int failed = 0;
  std::string first_error;
};

Task<void> acceptor(AsyncTcpListener& l, int n, EchoStats& st) {
  for (int i = 0; i < n; ++i) {
    auto a = co_await l.accept();
    if (!a) {
      st.first_error = "accept: " + a.error().message();
      co_return;
    }
    ++st.served;
    EventLoop::current()->spawn(echo(std::move(a->stream)));
  }
}

Task<void> client(EventLoop& loop, Endpoint to, std::uint32_t seed, EchoStats& st) {
  auto fail_with = [&](std::string what) {
    if (st.first_error.empty()) st.first_error = std::move(what);
    ++st.failed;
  };
  auto s = co_await AsyncTcpStream::connect(loop, to, 10s);
  if (!s) co_return fail_with("connect: " + s.error().message());
  const auto sent = tt::pattern_bytes(6000 + seed % 5000, seed);
  std::vector<std::byte> got;
  got.reserve(sent.size());
  // Send in three pieces while reading back, so echoes interleave across connections.
  const std::size_t third = sent.size() / 3;
  for (std::size_t off = 0; off < sent.size(); off += third) {
    auto piece = std::span(sent).subspan(off, std::min(third, sent.size() - off));
    if (!co_await s->write_all(piece, 10s)) co_return fail_with("write");
    std::array<std::byte, 2048> buf;
    while (got.size() < off + piece.size()) {
      auto r = co_await s->read_some(buf, 10s);
      if (!r || *r == 0) co_return fail_with("read");
      got.insert(got.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*r));
    }
  }
  if (got == sent) {
    ++st.verified;
  } else {
    fail_with("bytes differ");
  }
}

}  // namespace

TEST(IoUring, a_thousand_concurrent_echo_connections_are_byte_exact) {
  USE_IO_URING_OR_SKIP();
  tt::raise_fd_limit();
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < 2200) GTEST_SKIP() << "RLIMIT_NOFILE " << rl.rlim_cur << " < 2200";
  constexpr int n = 1000;
  EventLoop loop;
  ASSERT_EQ(loop.backend_name(), "io_uring");
  ListenOptions o;
  o.backlog = 4096;
  auto l = AsyncTcpListener::bind(loop, Endpoint::ipv4_loopback(0), o);
  ASSERT_TRUE(l);
  const Endpoint at = *l->local_endpoint();
  EchoStats st;
  loop.spawn(acceptor(*l, n, st));
  for (int i = 0; i < n; ++i) loop.spawn(client(loop, at, static_cast<std::uint32_t>(i + 1), st));
  run_until(loop, [&] { return st.verified + st.failed == n; }, 25s);
  EXPECT_EQ(st.served, n);
  EXPECT_EQ(st.verified, n) << st.first_error;
  EXPECT_EQ(st.failed, 0) << st.first_error;
  l->close();
  run_until(loop, [&] { return loop.spawned_count() == 0; }, 5s);
  EXPECT_EQ(loop.spawned_count(), 0u);
}

namespace {

Task<void> borrowed_into(AsyncTcpStream& s, std::string& got, int& done) {
  auto r = co_await s.read_borrowed();
  if (r) got.assign(reinterpret_cast<const char*>(r->data()), r->size());
  ++done;
}

}  // namespace

TEST(IoUring, more_borrowed_reads_ready_at_once_than_lent_buffers_all_complete) {
  USE_IO_URING_OR_SKIP();
  constexpr int n = 300;  // the backend lends 64 buffers
  EventLoop loop;
  std::vector<std::pair<AsyncTcpStream, Socket>> pairs;
  for (int i = 0; i < n; ++i) pairs.push_back(tt::async_pair(loop));
  std::vector<std::string> got(n);
  int done = 0;
  for (int i = 0; i < n; ++i) loop.spawn(borrowed_into(pairs[i].first, got[i], done));
  loop.run_once(false);
  loop.run_once(false);  // every read is in the kernel
  for (int i = 0; i < n; ++i) {
    const std::string msg = "message " + std::to_string(i);
    ASSERT_EQ(::send(pairs[i].second.fd(), msg.data(), msg.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(msg.size()));
  }
  run_until(loop, [&] { return done == n; });
  ASSERT_EQ(done, n);
  for (int i = 0; i < n; ++i) EXPECT_EQ(got[i], "message " + std::to_string(i));
}

namespace {

// A stream on one end of a Unix socket pair and the raw fd under it (to ask the kernel what it
// still holds), with the other end.
struct RawPair {
  AsyncTcpStream stream;
  Socket peer;
  int fd = -1;
};

RawPair raw_pair(EventLoop& loop) {
  auto [a, b] = tt::socket_pair();
  const int fd = a.fd();
  auto s = AsyncTcpStream::adopt(loop, TcpStream(std::move(a)));
  EXPECT_TRUE(s.has_value());
  return {std::move(*s), std::move(b), fd};
}

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 4093) % 26);
  return s;
}

Task<void> borrow_all(AsyncTcpStream& s, std::size_t n, std::string& got, bool& done) {
  while (got.size() < n) {
    auto r = co_await s.read_borrowed(Deadline(2s));
    if (!r || r->empty()) break;
    got.append(reinterpret_cast<const char*>(r->data()), r->size());
  }
  done = true;
}

}  // namespace

// A reader that stops reading while data keeps coming: the multishot receive is stopped once the
// stream holds a few unread completions, so the rest stays in the socket (bounded memory), and
// every byte is still delivered, in order, once the reader comes back.
TEST(IoUring, a_reader_that_stops_reading_holds_few_buffers_and_loses_no_byte) {
  USE_IO_URING_OR_SKIP();
  EventLoop loop;
  auto p = raw_pair(loop);
  std::string first;
  int one = 0;
  loop.spawn(borrowed_into(p.stream, first, one));
  loop.run_once(false);
  loop.run_once(false);
  ASSERT_EQ(::send(p.peer.fd(), "hello", 5, MSG_NOSIGNAL), 5);
  run_until(loop, [&] { return one == 1; });
  ASSERT_EQ(first, "hello");
  // Nobody reads now. Send in 4000-byte pieces, letting the loop run between them.
  const std::string data = pattern(1 << 20);
  std::size_t sent = 0;
  for (int i = 0; i < 1000 && sent < data.size(); ++i) {
    const ssize_t n = ::send(p.peer.fd(), data.data() + sent, std::min<std::size_t>(4000, data.size() - sent),
                             MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) sent += static_cast<std::size_t>(n);
    loop.run_once(false);
    loop.run_once(false);
  }
  ASSERT_GT(sent, 128u * 1024);  // more than the bound below
  int in_socket = 0;
  ASSERT_EQ(::ioctl(p.fd, FIONREAD, &in_socket), 0);
  const std::size_t taken = sent - static_cast<std::size_t>(in_socket);
  std::printf("sent %zu, taken from the socket by the backend %zu\n", sent, taken);
  EXPECT_LE(taken, 24u * 4096) << "the receive kept taking buffers for a reader that stopped";
  std::string got;
  bool done = false;
  loop.spawn(borrow_all(p.stream, sent, got, done));
  run_until(loop, [&] { return done; });
  ASSERT_TRUE(done);
  ASSERT_EQ(got.size(), sent);
  EXPECT_TRUE(got == data.substr(0, sent)) << "bytes out of order";
}

// Plain reads after a borrowed one take the queued bytes first, a part at a time, in order.
TEST(IoUring, plain_reads_after_a_borrowed_read_keep_the_byte_order) {
  USE_IO_URING_OR_SKIP();
  EventLoop loop;
  auto [s, peer] = tt::async_pair(loop);
  std::string first;
  int one = 0;
  loop.spawn(borrowed_into(s, first, one));
  ASSERT_EQ(::send(peer.fd(), "0123", 4, MSG_NOSIGNAL), 4);
  run_until(loop, [&] { return one == 1; });
  ASSERT_EQ(first, "0123");
  ASSERT_EQ(::send(peer.fd(), "456789abcdefghij", 16, MSG_NOSIGNAL), 16);
  for (int i = 0; i < 5; ++i) loop.run_once(false);  // the bytes wait in the stream's queue
  std::string got;
  for (int i = 0; i < 4; ++i) {
    auto r = loop.run(read_exactly(s, 4));
    ASSERT_TRUE(r.has_value()) << r.error().message();
    got += *r;
  }
  EXPECT_EQ(got, "456789abcdefghij");
}
