// Micro-benchmarks: the event loop's hot paths: post(), timers, spawning a coroutine task.
#include <tether/event_loop.hpp>
#include <tether/task.hpp>
#include <tether/timer.hpp>

#include <benchmark/benchmark.h>

#include <chrono>
#include <memory>
#include <thread>
#include <vector>

namespace {

// post() from the loop's own thread, then one non-blocking iteration runs the batch.
void BM_LoopPostAndRun(benchmark::State& state) {
  tether::EventLoop loop;
  const auto batch = state.range(0);
  long ran = 0;
  for (auto _ : state) {
    for (long i = 0; i < batch; ++i) loop.post([&ran] { ++ran; });
    loop.run_once(false);
  }
  if (ran != state.iterations() * batch) state.SkipWithError("posted work lost");
  state.SetItemsProcessed(state.iterations() * batch);
}
BENCHMARK(BM_LoopPostAndRun)->Arg(1)->Arg(64);

// post() from another thread to a loop blocked in poll: the eventfd wake-up round trip.
void BM_LoopPostCrossThreadWakeup(benchmark::State& state) {
  tether::EventLoop loop;
  std::atomic<long> done{0};
  std::thread runner([&] { loop.run(); });
  long sent = 0;
  for (auto _ : state) {
    loop.post([&done] { done.fetch_add(1, std::memory_order_release); });
    ++sent;
    while (done.load(std::memory_order_acquire) != sent) {
    }
  }
  loop.stop();
  runner.join();
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_LoopPostCrossThreadWakeup)->UseRealTime();

// Arming and cancelling a timer far in the future (timer heap insert + remove).
void BM_TimerArmCancel(benchmark::State& state) {
  tether::EventLoop loop;
  std::vector<std::unique_ptr<tether::Timer>> background;  // a heap that is not empty
  for (int i = 0; i < state.range(0); ++i) {
    background.push_back(std::make_unique<tether::Timer>(loop));
    background.back()->arm(std::chrono::seconds(100 + i), [] {});
  }
  tether::Timer timer(loop);
  for (auto _ : state) {
    timer.arm(std::chrono::seconds(10), [] {});
    timer.cancel();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TimerArmCancel)->Arg(0)->Arg(1000);

// Timers that are due: arm N for "now", one iteration fires them all.
void BM_TimerFire(benchmark::State& state) {
  tether::EventLoop loop;
  const auto n = static_cast<std::size_t>(state.range(0));
  std::vector<std::unique_ptr<tether::Timer>> timers;
  for (std::size_t i = 0; i < n; ++i) timers.push_back(std::make_unique<tether::Timer>(loop));
  long fired = 0;
  for (auto _ : state) {
    const auto now = tether::Deadline::at(tether::EventLoop::clock::now());
    for (auto& t : timers) t->arm(now, [&fired] { ++fired; });
    loop.run_once(false);
  }
  if (fired != state.iterations() * static_cast<long>(n)) state.SkipWithError("timers did not fire");
  state.SetItemsProcessed(state.iterations() * static_cast<long>(n));
}
BENCHMARK(BM_TimerFire)->Arg(1)->Arg(100);

tether::Task<void> trivial(long& counter) {
  ++counter;
  co_return;
}

// Spawning a detached coroutine task and running it to completion (frame allocation included).
void BM_TaskSpawnRun(benchmark::State& state) {
  tether::EventLoop loop;
  long counter = 0;
  for (auto _ : state) {
    loop.spawn(trivial(counter));
    loop.run_once(false);
  }
  if (counter != state.iterations()) state.SkipWithError("tasks did not run");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TaskSpawnRun);

}  // namespace
