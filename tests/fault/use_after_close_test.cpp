// Fault scenario 17 (issue 5): use-after-close. A completion handler that closes (and frees) other
// connections whose events are pending in the same epoll batch, and a loop destroyed with
// operations of every kind pending. Run under ASan (the asan preset): any touch of a freed
// connection, buffer or coroutine frame is reported there; the assertions below check the
// observable contract (each closed read ends once with Errc::closed, nothing leaks an fd).
#include "async_testing.hpp"

#include <tether/async_tcp.hpp>
#include <tether/async_udp.hpp>
#include <tether/event_loop.hpp>
#include <tether/timer.hpp>
#include <tether/when.hpp>

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using namespace tether;
namespace tt = tether::testing;

namespace {

/// One connection: its stream and its read buffer live on the heap and die together.
struct Conn {
  AsyncTcpStream stream;
  Socket peer;
  std::array<char, 64> buf{};
};

struct Outcome {
  int data = 0;    // reads that returned bytes
  int closed = 0;  // reads that ended with Errc::closed
  int other = 0;   // anything else
};

struct Registry {
  EventLoop* loop = nullptr;
  std::map<int, std::unique_ptr<Conn>> conns;
  std::vector<Outcome> outcomes;
  int closer = -1;  // the index whose completion closed the others
};

Task<void> reader(Registry& r, int index) {
  // Reads into the Conn's heap buffer; the coroutine never touches the Conn after a failed read
  // (it may be gone).
  Conn* c = r.conns.at(index).get();
  auto n = co_await c->stream.read_some(c->buf);
  Outcome& o = r.outcomes[static_cast<std::size_t>(index)];
  if (n && *n > 0) {
    ++o.data;
    if (r.closer < 0) {
      // The first to complete closes and frees every other connection, whose readiness events
      // are (mostly) still waiting in the batch being dispatched right now.
      r.closer = index;
      for (auto it = r.conns.begin(); it != r.conns.end();) {
        it = it->first == index ? std::next(it) : r.conns.erase(it);
      }
    }
  } else if (!n && n.error() == Errc::closed) {
    ++o.closed;
  } else {
    ++o.other;
  }
}

Task<Result<std::size_t>> read_fresh(Conn& c) { co_return co_await c.stream.read_some(c.buf, 2s); }

}  // namespace

TEST(FaultUseAfterClose, a_handler_closing_connections_pending_in_the_same_batch_is_safe) {
  constexpr int n = 16;
  const int fds_before = tt::open_fd_count();
  {
    EventLoop loop;
    Registry r;
    r.loop = &loop;
    r.outcomes.resize(n);
    for (int i = 0; i < n; ++i) {
      auto c = std::make_unique<Conn>();
      auto [stream, peer] = tt::async_pair(loop);
      c->stream = std::move(stream);
      c->peer = std::move(peer);
      r.conns.emplace(i, std::move(c));
      loop.spawn(reader(r, i));
    }
    loop.run_once(false);  // every read starts and waits (nothing to read yet)
    for (auto& [i, c] : r.conns) ASSERT_EQ(::send(c->peer.fd(), "x", 1, MSG_NOSIGNAL), 1);
    // One poll sees all sixteen fds ready; the first completion frees the fifteen others.
    for (int i = 0; i < 5; ++i) loop.run_once(false);

    ASSERT_GE(r.closer, 0) << "no read completed";
    int data = 0, closed = 0, other = 0;
    for (const auto& o : r.outcomes) {
      data += o.data;
      closed += o.closed;
      other += o.other;
      EXPECT_LE(o.data + o.closed + o.other, 1) << "a read completed twice";
    }
    EXPECT_EQ(data, 1);
    EXPECT_EQ(closed, n - 1);
    EXPECT_EQ(other, 0);
    EXPECT_EQ(loop.spawned_count(), 0u);
    ASSERT_EQ(r.conns.size(), 1u);

    // The loop is healthy afterwards: a new connection (likely reusing a freed record and fd
    // number) sees only its own data.
    Conn fresh;
    auto [stream, peer] = tt::async_pair(loop);
    fresh.stream = std::move(stream);
    fresh.peer = std::move(peer);
    ASSERT_EQ(::send(fresh.peer.fd(), "fresh", 5, MSG_NOSIGNAL), 5);
    auto got = loop.run(read_fresh(fresh));
    ASSERT_TRUE(got.has_value()) << got.error().message();
    EXPECT_EQ(std::string(fresh.buf.data(), *got), "fresh");
  }
  EXPECT_EQ(tt::open_fd_count(), fds_before);
}

namespace {

Task<void> pending_read(EventLoop& loop) {
  auto [stream, peer] = tt::async_pair(loop);
  std::vector<std::byte> buf(1024);
  (void)co_await stream.read_some(buf);
}

Task<void> pending_write(EventLoop& loop) {
  auto [stream, peer] = tt::async_pair(loop);
  (void)stream.socket().set_send_buffer_size(4096);
  std::vector<std::byte> big(8u << 20);  // the peer never reads
  (void)co_await stream.write_all(big);
}

Task<void> pending_accept(EventLoop& loop) {
  auto l = AsyncTcpListener::bind(loop, Endpoint::ipv4_loopback(0));
  if (!l) co_return;
  (void)co_await l->accept();
}

Task<void> pending_connect(EventLoop& loop, Endpoint black_hole) {
  (void)co_await AsyncTcpStream::connect(loop, black_hole);
}

Task<void> pending_happy_eyeballs(EventLoop& loop, std::uint16_t port) {
  // Resolves on a helper thread that may still be running when the loop dies.
  (void)co_await AsyncTcpStream::connect(loop, "localhost", std::to_string(port));
}

Task<void> pending_recv_from(EventLoop& loop) {
  auto u = AsyncUdpSocket::bind(loop, Endpoint::ipv4_loopback(0));
  if (!u) co_return;
  std::vector<std::byte> buf(512);
  (void)co_await u->recv_from(buf);
}

Task<void> pending_sleep_and_timer(EventLoop& loop) {
  Timer t(loop);
  t.arm(1h, [] {});
  (void)co_await sleep_for(1h);
}

Task<void> pending_combinators(EventLoop& loop) {
  auto [a, pa] = tt::async_pair(loop);
  auto [b, pb] = tt::async_pair(loop);
  auto read = [](AsyncTcpStream& s) -> Task<Result<std::size_t>> {
    std::array<std::byte, 8> buf{};
    co_return co_await s.read_some(buf);
  };
  (void)co_await when_all(read(a), with_timeout(read(b), 1h));
}

}  // namespace

TEST(FaultUseAfterClose, destroying_a_loop_with_operations_of_every_kind_pending_is_safe) {
  const int fds_before = tt::open_fd_count();
  auto hole = tt::black_hole(Endpoint::ipv4_loopback(0));
  const int fds_with_hole = tt::open_fd_count();
  auto posted_alive = std::make_shared<int>(0);
  {
    EventLoop loop;
    for (int round = 0; round < 3; ++round) {
      loop.spawn(pending_read(loop));
      loop.spawn(pending_write(loop));
      loop.spawn(pending_accept(loop));
      loop.spawn(pending_connect(loop, hole.endpoint));
      loop.spawn(pending_happy_eyeballs(loop, hole.endpoint.port()));
      loop.spawn(pending_recv_from(loop));
      loop.spawn(pending_sleep_and_timer(loop));
      loop.spawn(pending_combinators(loop));
    }
    // Let the name resolutions finish and their connection attempts start.
    bool settled = false;
    Timer settle(loop);
    settle.arm(100ms, [&] { settled = true; });
    for (int i = 0; i < 1000 && !settled; ++i) loop.run_once();
    // One more whose resolver thread is still running when the loop dies.
    loop.spawn(pending_happy_eyeballs(loop, hole.endpoint.port()));
    loop.run_once(false);
    loop.post([posted_alive] { ++*posted_alive; });  // queued, never run
    EXPECT_EQ(loop.spawned_count(), 25u) << "every task should still be waiting";
  }
  EXPECT_EQ(posted_alive.use_count(), 1) << "a queued post outlived the loop";
  EXPECT_EQ(*posted_alive, 0);
  // The abandoned resolver thread may hold a file for a moment; then every fd is back.
  for (int i = 0; i < 200 && tt::open_fd_count() != fds_with_hole; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(tt::open_fd_count(), fds_with_hole);
  hole = {};
  EXPECT_EQ(tt::open_fd_count(), fds_before);
}
