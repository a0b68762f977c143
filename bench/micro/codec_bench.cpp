// Micro-benchmarks: framing decode on a buffer that holds many frames (the steady state of a busy
// connection). Reported per frame (items) and per byte.
#include <tether/codec_length.hpp>
#include <tether/codec_line.hpp>
#include <tether/sockperf.hpp>

#include <benchmark/benchmark.h>

#include <string>

namespace {

constexpr int kFrames = 1000;

template <class Codec>
void run_decode(benchmark::State& state, Codec& codec, const tether::Buffer& wire) {
  tether::Buffer in(wire.size());
  for (auto _ : state) {
    in.clear();
    in.append(wire.readable());
    int frames = 0;
    for (;;) {
      auto r = codec.decode(in);
      if (!r || !*r) break;
      benchmark::DoNotOptimize(**r);
      ++frames;
    }
    if (frames != kFrames) state.SkipWithError("wrong frame count");
  }
  state.SetItemsProcessed(state.iterations() * kFrames);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(wire.size()));
}

void BM_LineDecode(benchmark::State& state) {
  tether::LineCodec codec;
  tether::Buffer wire;
  const std::string line(static_cast<std::size_t>(state.range(0)), 'x');
  for (int i = 0; i < kFrames; ++i) (void)codec.encode(line, wire);
  run_decode(state, codec, wire);
}
BENCHMARK(BM_LineDecode)->Arg(16)->Arg(64)->Arg(1024);

void BM_LengthDecode(benchmark::State& state) {
  tether::LengthCodec codec;
  tether::Buffer wire;
  const std::string payload(static_cast<std::size_t>(state.range(0)), 'x');
  for (int i = 0; i < kFrames; ++i) (void)codec.encode(payload, wire);
  run_decode(state, codec, wire);
}
BENCHMARK(BM_LengthDecode)->Arg(16)->Arg(64)->Arg(1024);

void BM_SockperfDecode(benchmark::State& state) {
  tether::sockperf::MessageDecoder decoder;
  tether::Buffer wire;
  for (int i = 0; i < kFrames; ++i) {
    tether::sockperf::append_message({static_cast<std::uint64_t>(i), 3, static_cast<std::uint32_t>(state.range(0))}, wire);
  }
  run_decode(state, decoder, wire);
}
BENCHMARK(BM_SockperfDecode)->Arg(14)->Arg(64)->Arg(1024);

void BM_SockperfReply(benchmark::State& state) {
  tether::Buffer wire;
  tether::sockperf::append_message({1, 3, 64}, wire);
  auto msg = **tether::sockperf::first_message(wire.readable());
  tether::Buffer out(4096);
  for (auto _ : state) {
    tether::sockperf::append_reply(msg, out);
    out.consume(out.size());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SockperfReply);

}  // namespace
