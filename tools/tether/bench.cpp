// tether bench rr|stream|connect|udp HOST PORT: the load generator (see bench.hpp).
//
// The main thread parses, starts the workers, waits until every connection is set up, runs the
// warm-up, then measures for -t seconds while printing a progress line per interval on stderr
// (iperf3 style; JSON lines with --json), and prints the report on stdout (JSON with --json).
#include "bench.hpp"
#include "bench_report.hpp"
#include "commands.hpp"
#include "options.hpp"

#include <fmt/format.h>

#include <sys/resource.h>

#include <memory>
#include <thread>

namespace tether::cli {

namespace bench {
namespace {

struct BenchArgs {
  Config config;
  std::string host;
  std::string port;
};

std::int64_t self_cpu_ns() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  auto ns = [](const timeval& tv) { return std::int64_t{tv.tv_sec} * 1'000'000'000 + std::int64_t{tv.tv_usec} * 1000; };
  return ns(ru.ru_utime) + ns(ru.ru_stime);
}

void validate(BenchArgs& a) {
  Config& c = a.config;
  if (c.conns < 1) throw UsageError("-c must be at least 1");
  if (c.threads < 1) throw UsageError("--threads must be at least 1");
  if (c.threads > c.conns) c.threads = c.conns;  // a thread without connections measures nothing
  if (c.seconds <= 0) throw UsageError("-t must be positive");
  if (c.warmup < 0) throw UsageError("--warmup must not be negative");
  if (c.pipeline < 1) throw UsageError("-P must be at least 1");
  if (c.interval < 0) throw UsageError("-i must not be negative");
  if (c.rate < 0) throw UsageError("-r must not be negative");
  if (c.mode == Mode::udp) {
    if (c.size < 8 || c.size > 65507) throw UsageError("-s for udp must be 8..65507 bytes");
  } else if (c.mode != Mode::connect && (c.size < 1 || c.size > Pattern::period)) {
    throw UsageError(fmt::format("-s must be 1..{} bytes", Pattern::period));
  }
  port_or_usage(a.port, "port");
  check_host_or_usage(a.host, a.port, "host");
  c.target_text = host_port_text(a.host, a.port);
}

using WorkerFn = void (*)(const Config&, int, Shared&, WorkerStats&);

WorkerFn worker_for(Mode m) {
  switch (m) {
    case Mode::rr: return run_rr_worker;
    case Mode::stream: return run_stream_worker;
    case Mode::connect: return run_connect_worker;
    case Mode::udp: return run_udp_worker;
  }
  return run_rr_worker;
}

Totals sum(const std::vector<std::unique_ptr<WorkerStats>>& stats) {
  Totals t;
  for (const auto& s : stats) {
    t.messages += s->messages.load(std::memory_order_relaxed);
    t.bytes += s->bytes.load(std::memory_order_relaxed);
    t.sent += s->sent.load(std::memory_order_relaxed);
    t.errors += s->errors.load(std::memory_order_relaxed);
    t.duplicates += s->duplicates.load(std::memory_order_relaxed);
    t.reordered += s->reordered.load(std::memory_order_relaxed);
  }
  return t;
}

void sleep_until_ns(std::int64_t t) {
  const std::int64_t left = t - now_ns();
  if (left > 0) std::this_thread::sleep_for(std::chrono::nanoseconds(left));
}

int run_bench(BenchArgs& a) {
  validate(a);
  Config& c = a.config;
  EventLog log(c.json ? EventFormat::json : EventFormat::text);
  auto target = resolve_first(a.host, a.port, IpFamily::any, false);
  if (!target) {
    log.error(fmt::format("bench {}: {}", c.target_text, describe(target.error())));
    return exit_failure;
  }
  c.target = *target;
  (void)Pattern::get();  // build it before any clock starts

  Shared shared;
  std::vector<std::unique_ptr<WorkerStats>> stats;
  std::vector<std::thread> workers;
  const WorkerFn fn = worker_for(c.mode);
  for (int i = 0; i < c.threads; ++i) {
    const int share = c.conns / c.threads + (i < c.conns % c.threads ? 1 : 0);
    stats.push_back(std::make_unique<WorkerStats>());
    workers.emplace_back(fn, std::cref(c), share, std::ref(shared), std::ref(*stats.back()));
  }
  auto stop_and_join = [&] {
    shared.phase.store(Phase::stop, std::memory_order_release);
    for (auto& w : workers) w.join();
  };
  while (shared.ready.load(std::memory_order_acquire) < c.threads) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  int connected = 0;
  for (const auto& s : stats) connected += s->connected;
  if (connected == 0) {
    stop_and_join();
    std::string why = stats.front()->first_error;
    for (const auto& s : stats) {
      if (why.empty()) why = s->first_error;
    }
    log.error(fmt::format("bench {}: {}", c.target_text, why.empty() ? "no connection" : why));
    return exit_failure;
  }

  shared.phase.store(Phase::warmup, std::memory_order_release);
  sleep_until_ns(now_ns() + static_cast<std::int64_t>(c.warmup * 1e9));

  Measurement m;
  m.connected = connected;
  const std::int64_t client_cpu_before = self_cpu_ns();
  const std::int64_t server_cpu_before = c.server_pid > 0 ? process_cpu_ns(c.server_pid) : -1;
  const std::int64_t t0 = now_ns();
  const std::int64_t end = t0 + static_cast<std::int64_t>(c.seconds * 1e9);
  shared.phase.store(Phase::measure, std::memory_order_release);

  Totals last;
  std::int64_t last_t = t0;
  const auto step = static_cast<std::int64_t>(c.interval * 1e9);
  while (now_ns() < end) {
    const std::int64_t next = step > 0 ? std::min(end, last_t + step) : end;
    sleep_until_ns(next);
    if (step <= 0) break;
    const std::int64_t t = now_ns();
    const Totals now_totals = sum(stats);
    print_interval(c, log, static_cast<double>(last_t - t0) / 1e9, static_cast<double>(t - t0) / 1e9,
                   last, now_totals);
    last = now_totals;
    last_t = t;
  }
  shared.phase.store(Phase::stop, std::memory_order_release);
  m.seconds = static_cast<double>(now_ns() - t0) / 1e9;
  if (server_cpu_before >= 0) {
    const std::int64_t after = process_cpu_ns(c.server_pid);
    if (after >= server_cpu_before) m.server_cpu_ns = after - server_cpu_before;
  }
  m.client_cpu_ns = self_cpu_ns() - client_cpu_before;
  for (auto& w : workers) w.join();

  m.totals = sum(stats);
  for (const auto& s : stats) {
    m.latency.merge(s->latency);
    if (m.first_error.empty()) m.first_error = s->first_error;
  }
  print_report(c, m);
  if (m.totals.errors > 0) {
    log.error(fmt::format("bench {}: {} error(s), first: {}", c.target_text, m.totals.errors, m.first_error));
    return exit_failure;
  }
  if (c.mode == Mode::rr && m.totals.messages == 0) {
    log.error(fmt::format("bench rr {}: 0 messages completed in {:.2f} s: nothing came back (is it an echo server?)",
                          c.target_text, m.seconds));
    return exit_failure;
  }
  if (m.totals.messages == 0 && m.totals.bytes == 0) {
    log.error(fmt::format("bench {}: nothing was measured", c.target_text));
    return exit_failure;
  }
  return exit_ok;
}

void add_mode(CLI::App& bench, const char* name, const char* help, Mode mode, int conns, std::size_t size) {
  auto args = std::make_shared<BenchArgs>();
  Config& c = args->config;
  c.mode = mode;
  c.conns = conns;
  c.size = size;
  CLI::App* cmd = bench.add_subcommand(name, help);
  cmd->add_option("HOST", args->host, "Server address or name")->required();
  cmd->add_option("PORT", args->port, "Server port or service name")->required();
  const char* conns_help = mode == Mode::rr        ? "Connections"
                           : mode == Mode::stream  ? "Parallel streams"
                           : mode == Mode::connect ? "Connection attempts in flight"
                                                   : "UDP flows (sockets)";
  numeric_flag(cmd->add_option("-c,--conns", c.conns, conns_help)->capture_default_str(), 1, 100'000, "N", Number::integer);
  const char* size_help = mode == Mode::stream ? "Bytes per write" : mode == Mode::udp ? "Datagram size in bytes" : "Message size in bytes";
  if (mode != Mode::connect) numeric_flag(cmd->add_option("-s,--size", c.size, size_help)->capture_default_str(), 1, 64 << 20, "BYTES", Number::integer);
  if (mode == Mode::rr) numeric_flag(cmd->add_option("-P,--pipeline", c.pipeline, "Messages in flight per connection")->capture_default_str(), 1, 100'000, "N", Number::integer);
  if (mode == Mode::udp) numeric_flag(cmd->add_option("-r,--rate", c.rate, "Datagrams per second in total (0: as fast as possible)")->capture_default_str(), 1, 1e9, "N", Number::real, true);
  if (mode == Mode::connect) cmd->add_flag("--reset", c.reset_close, "Close with RST (SO_LINGER 0): no TIME_WAIT");
  numeric_flag(cmd->add_option("-t,--time", c.seconds, "Seconds to measure")->capture_default_str(), 0.01, max_seconds, "SECS");
  numeric_flag(cmd->add_option("--warmup", c.warmup, "Seconds to run before measuring")->capture_default_str(), 0.01, max_seconds, "SECS", Number::real, true);
  numeric_flag(cmd->add_option("--threads", c.threads, "Client threads, each with its own epoll loop")->capture_default_str(), 1, 1024, "N", Number::integer);
  numeric_flag(cmd->add_option("-i,--interval", c.interval, "Seconds between progress lines on stderr (0: none)")->capture_default_str(), 0.01, max_seconds, "SECS", Number::real, true);
  cmd->add_flag("--json", c.json, "Report as JSON on stdout, progress as JSON lines on stderr");
  numeric_flag(cmd->add_option("--server-pid", c.server_pid, "Also report this process's CPU time per message"), 1, 4194304, "PID", Number::integer);
  cmd->callback([args] { finish(run_bench(*args)); });
}

}  // namespace
}  // namespace bench

void add_bench_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand("bench", "Measure a server: request/response, bulk, connect rate, UDP");
  cmd->require_subcommand(1);
  cmd->footer(
      "Progress goes to stderr each interval, the report to stdout. Exit status: 0 when every\n"
      "byte came back as sent, 1 on any error (refused, reset, wrong bytes), 2 bad usage.");
  using bench::Mode;
  bench::add_mode(*cmd, "rr", "Request/response against an echo server; checks every echoed byte", Mode::rr, 1, 64);
  bench::add_mode(*cmd, "stream", "One-way bulk transfer into a discard server (Gbit/s)", Mode::stream, 1, 128 * 1024);
  bench::add_mode(*cmd, "connect", "Connections opened and closed per second", Mode::connect, 8, 0);
  bench::add_mode(*cmd, "udp", "Datagrams per second through a UDP echo server, and loss", Mode::udp, 1, 64);
}

}  // namespace tether::cli
