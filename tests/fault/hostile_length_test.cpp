// Fault scenario 15 (issue 5): hostile length prefixes (0, 0x7FFFFFFF, 0xFFFFFFFF) sent to a live
// length-prefixed echo server (LengthCodec over an AsyncTcpStream, read into a Buffer the way the
// codec's contract says: decode first, then prepare what missing() asks for). The connection is
// closed before anything is allocated for the declared length: the global operator new of this
// binary counts every allocation between the hostile header's arrival and the server's decision,
// and records the largest allocation while the connection is torn down.
#include "async_testing.hpp"

#include <tether/async_tcp.hpp>
#include <tether/buffer.hpp>
#include <tether/codec_length.hpp>
#include <tether/event_loop.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

namespace {
std::atomic<long> g_allocations{0};
std::atomic<std::size_t> g_largest{0};  // largest allocation since the last reset

void note_allocation(std::size_t n) noexcept {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  std::size_t seen = g_largest.load(std::memory_order_relaxed);
  while (n > seen && !g_largest.compare_exchange_weak(seen, n, std::memory_order_relaxed)) {
  }
}
}  // namespace

void* operator new(std::size_t n) {
  note_allocation(n);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return ::operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

using namespace std::chrono_literals;
using namespace tether;

namespace {

constexpr std::uint32_t max_frame = 1u << 20;

/// What the server saw on the connection under attack.
struct Verdict {
  int frames = 0;                  // valid frames echoed
  std::error_code error;           // the decoder's verdict
  long allocations_at_error = -1;  // g_allocations when the decoder refused the stream
  bool closed = false;
};

Task<void> serve_framed(AsyncTcpStream stream, Verdict& v) {
  LengthCodec codec({.max_frame_size = max_frame});
  Buffer in(4096);
  Buffer out(4096);
  for (;;) {
    auto frame = codec.decode(in);
    if (!frame) {
      v.allocations_at_error = g_allocations.load();
      v.error = frame.error();
      break;
    }
    if (*frame) {
      out.clear();
      if (!codec.encode(**frame, out)) break;
      if (!co_await stream.write_all(out.readable(), 5s)) break;
      ++v.frames;
      continue;
    }
    auto space = in.prepare(std::max<std::size_t>(codec.missing(in), 1024));
    auto n = co_await stream.read_some(space, 5s);
    if (!n || *n == 0) break;
    in.commit(*n);
  }
  stream.close();
  v.closed = true;
}

Task<void> accept_loop(AsyncTcpListener& listener, std::vector<Verdict>& verdicts) {
  for (;;) {
    auto a = co_await listener.accept();
    if (!a) co_return;
    verdicts.emplace_back();
    EventLoop::current()->spawn(serve_framed(std::move(a->stream), verdicts.back()));
  }
}

std::string frame_of(std::string_view payload) {
  std::string f(4, '\0');
  const auto n = static_cast<std::uint32_t>(payload.size());
  f[0] = static_cast<char>(n >> 24);
  f[1] = static_cast<char>(n >> 16);
  f[2] = static_cast<char>(n >> 8);
  f[3] = static_cast<char>(n);
  return f + std::string(payload);
}

/// Runs the loop until `done()` or about two seconds pass.
template <class F>
bool run_until(EventLoop& loop, F done) {
  const auto until = std::chrono::steady_clock::now() + 2s;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    loop.run_once(false);
  }
  return true;
}

/// An echo round trip on `client` (a blocking stream) while the loop serves it.
bool echo_round_trip(EventLoop& loop, TcpStream& client, const std::vector<Verdict>& verdicts,
                     std::size_t index, std::string_view payload) {
  const int before = verdicts.size() > index ? verdicts[index].frames : 0;
  if (!client.write_all(frame_of(payload), 2s)) return false;
  if (!run_until(loop, [&] { return verdicts.size() > index && verdicts[index].frames > before; })) {
    return false;
  }
  std::string back(4 + payload.size(), '\0');
  return client.read_exact(std::span(back), 2s) && back == frame_of(payload);
}

class FaultHostileLength : public ::testing::TestWithParam<std::uint32_t> {};

TEST_P(FaultHostileLength, hostile_length_prefix_closes_the_connection_before_any_allocation) {
  const std::uint32_t declared = GetParam();
  EventLoop loop;
  auto listener = AsyncTcpListener::bind(loop, Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(listener);
  std::vector<Verdict> verdicts;
  verdicts.reserve(4);  // the server keeps references into it
  loop.spawn(accept_loop(*listener, verdicts));

  auto client = TcpStream::connect(*listener->local_endpoint(), 2s);
  ASSERT_TRUE(client);
  // Warm up: a valid frame is echoed, so the server's buffers exist and it waits in read.
  ASSERT_TRUE(echo_round_trip(loop, *client, verdicts, 0, std::string(200, 'w')));
  for (int i = 0; i < 5; ++i) loop.run_once(false);

  const long before = g_allocations.load();
  g_largest = 0;
  const unsigned char header[4] = {static_cast<unsigned char>(declared >> 24),
                                   static_cast<unsigned char>(declared >> 16),
                                   static_cast<unsigned char>(declared >> 8),
                                   static_cast<unsigned char>(declared)};
  ASSERT_TRUE(client->write_all(std::as_bytes(std::span(header)), 2s));
  ASSERT_TRUE(run_until(loop, [&] { return verdicts[0].closed; }))
      << "the server kept the connection open after a hostile length";

  const Verdict& v = verdicts[0];
  EXPECT_EQ(v.frames, 1);
  EXPECT_EQ(v.error, declared == 0 ? make_error_code(Errc::corrupt_frame)
                                   : make_error_code(Errc::frame_too_large))
      << v.error.message();
  EXPECT_EQ(v.allocations_at_error, before) << "allocated before refusing the length";
  EXPECT_LT(g_largest.load(), std::size_t{64} * 1024) << "an allocation sized by the hostile length";

  // The client sees the connection end.
  char c;
  auto n = client->read_some(std::span(&c, 1), 2s);
  EXPECT_TRUE((n && *n == 0) || (!n && n.error() == std::errc::connection_reset))
      << (n ? "data" : n.error().message());

  // The server is still serving.
  auto next = TcpStream::connect(*listener->local_endpoint(), 2s);
  ASSERT_TRUE(next);
  EXPECT_TRUE(echo_round_trip(loop, *next, verdicts, 1, "still here"));
}

INSTANTIATE_TEST_SUITE_P(Fault, FaultHostileLength,
                         ::testing::Values(0u, 0x7FFFFFFFu, 0xFFFFFFFFu),
                         [](const auto& p) {
                           switch (p.param) {
                             case 0u: return std::string("zero");
                             case 0x7FFFFFFFu: return std::string("x7fffffff");
                             default: return std::string("xffffffff");
                           }
                         });

}  // namespace
