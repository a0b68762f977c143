// Steady state allocates nothing: decoding and re-encoding messages through reused Buffers makes no
// heap allocation once the buffers have grown. Counted with a replaced global operator new.
#include <tether/codec_length.hpp>
#include <tether/codec_line.hpp>
#include <tether/sockperf.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>

namespace {
std::atomic<long> g_allocations{0};
}

void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return ::operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace {

// Simulates a connection: the peer's bytes arrive in odd-sized reads into `in`, each frame is
// decoded and re-encoded into `out`, and `out` is drained as a socket write would.
template <class Codec, class Reencode>
long allocations_for(Codec& codec, const tether::Buffer& wire, Reencode reencode, int rounds) {
  tether::Buffer in(4096);
  tether::Buffer out(4096);
  auto run = [&] {
    auto bytes = wire.readable();
    std::size_t pos = 0;
    std::size_t frames = 0;
    while (pos < bytes.size()) {
      const std::size_t n = std::min<std::size_t>(37, bytes.size() - pos);
      auto space = in.prepare(n);
      std::memcpy(space.data(), bytes.data() + pos, n);
      in.commit(n);
      pos += n;
      for (;;) {
        auto r = codec.decode(in);
        if (!r || !*r) break;
        reencode(**r, out);
        ++frames;
      }
      out.consume(out.size());  // "written"
    }
    return frames;
  };
  run();  // warm-up: buffers reach their steady size
  const long before = g_allocations.load();
  for (int i = 0; i < rounds; ++i) EXPECT_GT(run(), 0u);
  return g_allocations.load() - before;
}

}  // namespace

TEST(CodecAllocations, line_codec_steady_state_makes_zero_allocations_per_message) {
  tether::LineCodec codec;
  tether::Buffer wire;
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(codec.encode("a chat line of moderate length", wire));
  const long n = allocations_for(codec, wire, [&](std::string_view l, tether::Buffer& o) {
    (void)codec.encode(l, o);
  }, 50);
  EXPECT_EQ(n, 0);
}

TEST(CodecAllocations, length_codec_steady_state_makes_zero_allocations_per_message) {
  tether::LengthCodec codec;
  tether::Buffer wire;
  const std::string payload(100, 'p');
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(codec.encode(payload, wire));
  const long n = allocations_for(codec, wire, [&](std::span<const std::byte> f, tether::Buffer& o) {
    (void)codec.encode(f, o);
  }, 50);
  EXPECT_EQ(n, 0);
}

TEST(CodecAllocations, sockperf_reflector_steady_state_makes_zero_allocations_per_message) {
  tether::sockperf::MessageDecoder decoder;
  tether::Buffer wire;
  for (std::uint64_t i = 0; i < 200; ++i) tether::sockperf::append_message({i, 3, 64}, wire);
  const long n = allocations_for(decoder, wire, [](const tether::sockperf::Message& m, tether::Buffer& o) {
    tether::sockperf::append_reply(m, o);
  }, 50);
  EXPECT_EQ(n, 0);
}

TEST(CodecAllocations, allocation_counter_sees_a_growing_buffer) {
  // Proves the counter works: growing a buffer past its capacity allocates.
  tether::Buffer b(16);
  const long before = g_allocations.load();
  b.prepare(1 << 20);
  EXPECT_GT(g_allocations.load() - before, 0);
}

TEST(CodecAllocations, hostile_length_prefix_is_refused_without_allocating) {
  tether::LengthCodec codec;
  tether::Buffer in(64);
  const char hostile[] = {'\x7f', '\xff', '\xff', '\xff'};
  in.append(std::string_view(hostile, 4));
  const long before = g_allocations.load();
  auto r = codec.decode(in);
  EXPECT_EQ(g_allocations.load() - before, 0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), tether::Errc::frame_too_large);
}
