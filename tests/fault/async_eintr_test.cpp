// Fault scenario 2 at the asynchronous layer (issue 5): a 1 kHz SIGALRM storm (handler without
// SA_RESTART, so epoll_wait and every socket call may fail with EINTR) while a loop moves 24 MB
// through a TCP connection to itself: every byte arrives, in order, and deadlines still hold.
#include "async_testing.hpp"
#include "fault_common.hpp"
#include "signal_storm.hpp"

#include <tether/async_tcp.hpp>
#include <tether/event_loop.hpp>
#include <tether/when.hpp>

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/time.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <vector>

using namespace std::chrono_literals;
using namespace tether;
namespace tt = tether::testing;
using tether::testing::SignalStorm;

namespace {

/// Reads everything until end of stream, hashing it; replies with the hash and the byte count.
Task<void> hashing_server(AsyncTcpListener& listener) {
  auto a = co_await listener.accept(10s);
  if (!a) co_return;
  tt::Fnv h;
  std::uint64_t bytes = 0;
  std::vector<std::byte> buf(65536);
  for (;;) {
    auto n = co_await a->stream.read_some(buf, 10s);
    if (!n || *n == 0) break;
    h.update(std::span(buf.data(), *n));
    bytes += *n;
  }
  const std::uint64_t reply[2] = {h.h, bytes};
  (void)co_await a->stream.write_all(std::as_bytes(std::span(reply)), 10s);
}

struct Reply {
  std::uint64_t hash = 0;
  std::uint64_t bytes = 0;
  bool ok = false;
};

Task<Reply> sending_client(EventLoop& loop, Endpoint to, const std::vector<std::byte>& data) {
  Reply r;
  auto s = co_await AsyncTcpStream::connect(loop, to, 10s);
  if (!s) co_return r;
  (void)s->socket().set_send_buffer_size(32768);  // many partial writes
  // Odd-sized pieces so writes and reads straddle each other.
  for (std::size_t off = 0; off < data.size();) {
    const std::size_t len = std::min<std::size_t>(70001, data.size() - off);
    if (!co_await s->write_all(std::span(data).subspan(off, len), 10s)) co_return r;
    off += len;
  }
  if (!s->shutdown(Shutdown::write)) co_return r;
  std::uint64_t reply[2] = {};
  std::size_t got = 0;
  auto bytes = std::as_writable_bytes(std::span(reply));
  while (got < bytes.size()) {
    auto n = co_await s->read_some(bytes.subspan(got), 10s);
    if (!n || *n == 0) co_return r;
    got += *n;
  }
  r = {reply[0], reply[1], true};
  co_return r;
}

}  // namespace

TEST(FaultEintrAsync, eintr_storm_async_transfer_is_byte_exact) {
  EventLoop loop;
  auto listener = AsyncTcpListener::bind(loop, Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(listener);
  const auto data = tt::random_bytes(24u << 20, 7);
  tt::Fnv expected;
  expected.update(data);

  SignalStorm storm;
  const long before = SignalStorm::signals();
  loop.spawn(hashing_server(*listener));
  Reply r = loop.run(sending_client(loop, *listener->local_endpoint(), data));
  const long signals = SignalStorm::signals() - before;

  ASSERT_TRUE(r.ok) << "the transfer failed under the storm";
  EXPECT_EQ(r.bytes, data.size());
  EXPECT_EQ(r.hash, expected.h);
  EXPECT_GT(signals, 10) << "the storm did not happen";
}

TEST(FaultEintrAsync, eintr_storm_async_read_deadline_is_honoured) {
  EventLoop loop;
  auto [stream, peer] = tt::async_pair(loop);
  SignalStorm storm;
  const long before = SignalStorm::signals();
  auto body = [](AsyncTcpStream& s) -> Task<Result<std::size_t>> {
    std::array<std::byte, 16> buf{};
    co_return co_await s.read_some(buf, 300ms);
  };
  const auto t0 = std::chrono::steady_clock::now();
  auto n = loop.run(body(stream));
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(n.has_value());
  EXPECT_EQ(n.error(), std::errc::timed_out);
  EXPECT_GE(elapsed, 300ms) << "a deadline must never end early";
  EXPECT_LE(elapsed, 330ms + 50ms) << "EINTR must not extend the deadline";
  EXPECT_GT(SignalStorm::signals() - before, 50) << "the storm did not happen";
}
