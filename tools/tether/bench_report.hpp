// bench_report.hpp: the load generator's progress lines and final report, as text or JSON.
#pragma once

#include "bench.hpp"
#include "events.hpp"

#include <cstdint>
#include <string>

namespace tether::cli::bench {

/// Counter totals over all workers at one moment.
struct Totals {
  std::uint64_t messages = 0;
  std::uint64_t bytes = 0;
  std::uint64_t sent = 0;
  std::uint64_t errors = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t reordered = 0;
};

/// Everything the report needs once the workers have stopped.
struct Measurement {
  Totals totals;
  Histogram latency;
  double seconds = 0;              ///< measured wall time
  int connected = 0;
  std::int64_t client_cpu_ns = 0;  ///< this process, user + system
  std::int64_t server_cpu_ns = -1; ///< --server-pid's, -1 when not measured
  std::string first_error;
};

/// One progress line for the interval [from, to] seconds (stderr).
void print_interval(const Config& config, const EventLog& log, double from, double to,
                    const Totals& before, const Totals& after);

/// The final report (stdout).
void print_report(const Config& config, const Measurement& m);

}  // namespace tether::cli::bench
