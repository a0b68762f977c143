// bench.hpp: `tether bench`, the load generator: shared settings, statistics and worker entry points.
//
// Design: the generator must cost less than the server it measures, so each worker thread runs a
// raw epoll loop of its own over non-blocking sockets (no coroutine or callback machinery), writes
// straight from a precomputed byte pattern (no copy, no per-message allocation), verifies echoes
// with memcmp against the same pattern, and reads the clock only around system calls.
// Threads: main() starts `threads` workers, each owning its sockets; they share only the atomic
// phase and their own atomic counters, which the main thread reads for progress lines.
#pragma once

#include <tether/endpoint.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace tether::cli::bench {

enum class Mode : std::uint8_t { rr, stream, connect, udp };

struct Config {
  Mode mode = Mode::rr;
  Endpoint target;
  std::string target_text;     ///< as the user wrote it, for the report
  int conns = 1;               ///< -c: connections (rr), streams, concurrent connects, UDP flows
  std::size_t size = 64;       ///< -s: message, write or datagram size in bytes
  int pipeline = 1;            ///< -P: messages in flight per connection (rr)
  double seconds = 10;         ///< -t: measured duration
  double warmup = 0;           ///< --warmup: seconds run before measuring
  int threads = 1;             ///< --threads
  double rate = 0;             ///< -r: datagrams per second in total (udp), 0 = as fast as possible
  double interval = 1;         ///< -i: progress interval in seconds, 0 = none
  bool json = false;           ///< --json: report (and progress) as JSON
  bool reset_close = false;    ///< connect --reset: close with RST (no TIME_WAIT)
  int server_pid = 0;          ///< --server-pid: report that process's CPU time per message
};

/// Phases, in order; workers poll the shared phase at least every 50 ms.
enum class Phase : int { setup, warmup, measure, stop };

struct Shared {
  std::atomic<Phase> phase{Phase::setup};
  std::atomic<int> ready{0};  ///< workers done with setup
};

/// A latency histogram with about 0.8% resolution (128 linear sub-buckets per power of two), in
/// nanoseconds, up to ~1100 s. Recording is a few instructions; merging adds counts.
class Histogram {
 public:
  static constexpr int sub_bits = 7;
  static constexpr std::size_t buckets = (2u << sub_bits) + 33u * (1u << sub_bits);

  Histogram() : counts_(buckets, 0) {}
  void record(std::uint64_t ns) noexcept;
  void merge(const Histogram& other) noexcept;
  std::uint64_t count() const noexcept { return count_; }
  std::uint64_t max() const noexcept { return max_; }
  double mean() const noexcept { return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0; }
  /// The value at quantile q in [0, 1] (bucket midpoint; the max for q = 1).
  std::uint64_t quantile(double q) const noexcept;

 private:
  std::vector<std::uint64_t> counts_;
  std::uint64_t count_ = 0;
  std::uint64_t max_ = 0;
  std::uint64_t sum_ = 0;
};

/// What one worker measured. Counters are atomics so the main thread can print progress; only the
/// owning worker writes them (relaxed adds, once per batch).
struct WorkerStats {
  std::atomic<std::uint64_t> messages{0};  ///< rr: echoed messages; connect: connections; udp: received
  std::atomic<std::uint64_t> bytes{0};     ///< payload bytes (one direction)
  std::atomic<std::uint64_t> sent{0};      ///< udp: datagrams sent
  std::atomic<std::uint64_t> errors{0};
  std::atomic<std::uint64_t> duplicates{0};  ///< udp: echoes of a sequence number already received
  std::atomic<std::uint64_t> reordered{0};   ///< udp: echoes that came after a later one
  Histogram latency;                       ///< read by the main thread only after join()
  std::string first_error;                 ///< likewise
  int connected = 0;                       ///< connections established in setup
};

/// The byte pattern every generator sends: byte k of a stream is at(k)[0]. Its period is odd and
/// larger than any message, and it is stored twice, so any window of up to `period` bytes starting
/// anywhere is contiguous: writes and verification need no copy and no per-byte loop.
class Pattern {
 public:
  static constexpr std::size_t period = (1u << 20) + 7;  ///< also the largest message size
  static const Pattern& get();
  const std::byte* at(std::uint64_t offset) const noexcept { return bytes_.data() + offset % period; }

 private:
  Pattern();
  std::vector<std::byte> bytes_;
};

inline std::int64_t now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// CPU time (user + system) of process `pid` so far, in nanoseconds; -1 if it cannot be read.
std::int64_t process_cpu_ns(int pid);

/// Worker entry points: each runs one thread's share (`conns` connections) until Phase::stop.
void run_rr_worker(const Config& config, int conns, Shared& shared, WorkerStats& stats);
void run_stream_worker(const Config& config, int conns, Shared& shared, WorkerStats& stats);
void run_connect_worker(const Config& config, int conns, Shared& shared, WorkerStats& stats);
void run_udp_worker(const Config& config, int conns, Shared& shared, WorkerStats& stats);

}  // namespace tether::cli::bench
