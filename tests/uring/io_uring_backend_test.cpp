// The io_uring backend: its selection, and the scenarios only a completion backend can get
// wrong — a request still in the kernel after its owner let go (cancel, close, a destroyed frame
// or loop), a cancel racing with arriving data, many reads sharing the lent buffers. Every other
// async test also runs on io_uring (ctest label "uring", suffix ".uring"). Where the kernel
// refuses io_uring these tests skip with the reason.
#include "async_testing.hpp"

#include <tether/async_tcp.hpp>
#include <tether/async_udp.hpp>
#include <tether/deadline.hpp>
#include <tether/event_loop.hpp>
#include <tether/timer.hpp>
#include <tether/when.hpp>

#include <gtest/gtest.h>

#include <linux/io_uring.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stop_token>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using namespace tether;
namespace tt = tether::testing;

namespace {

// Whether this kernel gives io_uring to this process, asked without the library: the backend's
// own answer cannot judge the backend.
bool kernel_has_io_uring(std::string& why) {
  io_uring_params p{};
  long fd = ::syscall(__NR_io_uring_setup, 4, &p);
  if (fd < 0) {
    why = std::string("io_uring_setup: ") + std::strerror(errno);
    return false;
  }
  ::close(static_cast<int>(fd));
  utsname u{};
  int major = 0, minor = 0;
  if (::uname(&u) == 0 && std::sscanf(u.release, "%d.%d", &major, &minor) == 2 &&
      (major < 5 || (major == 5 && minor < 19))) {
    why = std::string("kernel ") + u.release + " predates provided buffer rings (5.19)";
    return false;
  }
  return true;
}

#define USE_IO_URING_OR_SKIP()                                                \
  do {                                                                        \
    std::string why_;                                                         \
    if (!kernel_has_io_uring(why_)) GTEST_SKIP() << "io_uring unavailable: " << why_; \
    ::setenv("TETHER_BACKEND", "io_uring", 1);                                \
  } while (0)

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

Task<Result<std::string>> read_exactly(AsyncTcpStream& s, std::size_t n) {
  std::string got;
  std::array<char, 256> buf;
  while (got.size() < n) {
    auto r = co_await s.read_some(std::span(buf.data(), std::min(buf.size(), n - got.size())), 2s);
    if (!r) co_return fail(r.error());
    if (*r == 0) break;
    got.append(buf.data(), *r);
  }
  co_return got;
}

// Runs iterations until `done` or `limit` passes.
template <class F>
void run_until(EventLoop& loop, F done, std::chrono::milliseconds limit = 5s) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (!done() && std::chrono::steady_clock::now() < end) {
    Timer tick(loop);
    tick.arm(5ms, [] {});
    loop.run_once();
  }
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

namespace {

struct EchoStats {
  int served = 0;
  int verified = 0;
  int failed = 0;
  std::string first_error;
};

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
