#include "bench_report.hpp"

#include <fmt/format.h>

#include <cstdio>

namespace tether::cli::bench {

namespace {

const char* mode_name(Mode m) {
  switch (m) {
    case Mode::rr: return "rr";
    case Mode::stream: return "stream";
    case Mode::connect: return "connect";
    case Mode::udp: return "udp";
  }
  return "?";
}

double per_s(std::uint64_t n, double s) { return s > 0 ? static_cast<double>(n) / s : 0; }
double us(std::uint64_t ns) { return static_cast<double>(ns) / 1000.0; }

// What one "unit" of work is per mode: the denominator of the CPU-per-unit figures.
std::uint64_t units(const Config& c, const Measurement& m) {
  return c.mode == Mode::stream ? m.totals.bytes / (1024 * 1024) : m.totals.messages;
}
const char* unit_name(Mode mode) {
  switch (mode) {
    case Mode::rr: return "msg";
    case Mode::stream: return "MiB";
    case Mode::connect: return "conn";
    case Mode::udp: return "datagram";
  }
  return "?";
}

double cpu_us_per_unit(std::int64_t cpu_ns, std::uint64_t n) {
  return n > 0 && cpu_ns >= 0 ? static_cast<double>(cpu_ns) / 1000.0 / static_cast<double>(n) : -1;
}

}  // namespace

void print_interval(const Config& c, const EventLog& log, double from, double to, const Totals& before,
                    const Totals& after) {
  const double dt = to - from;
  const std::uint64_t msgs = after.messages - before.messages;
  const std::uint64_t errors = after.errors - before.errors;
  if (c.json) {
    Event e("interval");
    e.add("start", from).add("end", to);
    switch (c.mode) {
      case Mode::rr: e.add("msgs_per_s", per_s(msgs, dt)).add("mb_per_s", per_s(after.bytes - before.bytes, dt) / 1e6); break;
      case Mode::stream: e.add("gbit_per_s", per_s(msgs, dt) * 8 / 1e9); break;  // bytes written
      case Mode::connect: e.add("conns_per_s", per_s(msgs, dt)); break;
      case Mode::udp: e.add("sent_per_s", per_s(after.sent - before.sent, dt)).add("received_per_s", per_s(msgs, dt)); break;
    }
    e.add("errors", errors);
    log.emit(e);
    return;
  }
  std::string line = fmt::format("[{:6.2f}-{:6.2f} s]  ", from, to);
  switch (c.mode) {
    case Mode::rr:
      line += fmt::format("{:12.0f} msgs/s  {:9.2f} MB/s", per_s(msgs, dt), per_s(after.bytes - before.bytes, dt) / 1e6);
      break;
    case Mode::stream: line += fmt::format("{:8.2f} Gbit/s written", per_s(msgs, dt) * 8 / 1e9); break;
    case Mode::connect: line += fmt::format("{:10.0f} conns/s", per_s(msgs, dt)); break;
    case Mode::udp:
      line += fmt::format("sent {:10.0f}/s  received {:10.0f}/s", per_s(after.sent - before.sent, dt), per_s(msgs, dt));
      break;
  }
  if (errors) line += fmt::format("  errors {}", errors);
  write_stderr(line + "\n");
}

void print_report(const Config& c, const Measurement& m) {
  const auto& t = m.totals;
  const double s = m.seconds;
  const std::uint64_t n = units(c, m);
  const double client_cpu = cpu_us_per_unit(m.client_cpu_ns, n);
  const double server_cpu = cpu_us_per_unit(m.server_cpu_ns, n);
  const Histogram& h = m.latency;
  const double loss = t.sent > 0 && t.sent >= t.messages ? 100.0 * static_cast<double>(t.sent - t.messages) / static_cast<double>(t.sent) : 0;
  std::string out;
  if (c.json) {
    out = fmt::format(R"({{"mode":"{}","target":"{}","conns":{},"connected":{},"size":{},"pipeline":{},"threads":{},"seconds":{:.3f},)",
                      mode_name(c.mode), json_escape(c.target_text), c.conns, m.connected, c.size, c.pipeline, c.threads, s);
    out += fmt::format(R"("messages":{},"bytes":{},"errors":{},)", t.messages, t.bytes, t.errors);
    switch (c.mode) {
      case Mode::rr: out += fmt::format(R"("msgs_per_s":{:.1f},"mb_per_s":{:.3f},)", per_s(t.messages, s), per_s(t.bytes, s) / 1e6); break;
      case Mode::stream: out += fmt::format(R"("gbit_per_s":{:.4f},)", per_s(t.bytes, s) * 8 / 1e9); break;
      case Mode::connect: out += fmt::format(R"("conns_per_s":{:.1f},)", per_s(t.messages, s)); break;
      case Mode::udp:
        out += fmt::format(R"("sent":{},"sent_per_s":{:.1f},"received_per_s":{:.1f},"loss_percent":{:.3f},)"
                           R"("duplicates":{},"reordered":{},)",
                           t.sent, per_s(t.sent, s), per_s(t.messages, s), loss, t.duplicates, t.reordered);
        break;
    }
    if (h.count() > 0) {
      out += fmt::format(R"("latency_p50_us":{:.2f},"latency_p90_us":{:.2f},"latency_p99_us":{:.2f},)"
                         R"("latency_p999_us":{:.2f},"latency_max_us":{:.2f},"latency_mean_us":{:.2f},)",
                         us(h.quantile(0.5)), us(h.quantile(0.9)), us(h.quantile(0.99)), us(h.quantile(0.999)),
                         us(h.max()), h.mean() / 1000.0);
    }
    out += fmt::format(R"("client_cpu_s":{:.3f},"client_cpu_us_per_{}":{:.3f})", static_cast<double>(m.client_cpu_ns) / 1e9,
                       unit_name(c.mode), client_cpu);
    if (m.server_cpu_ns >= 0) {
      out += fmt::format(R"(,"server_pid":{},"server_cpu_s":{:.3f},"server_cpu_us_per_{}":{:.3f})", c.server_pid,
                         static_cast<double>(m.server_cpu_ns) / 1e9, unit_name(c.mode), server_cpu);
    }
    if (!m.first_error.empty()) out += fmt::format(R"(,"first_error":"{}")", json_escape(m.first_error));
    out += "}\n";
  } else {
    if (c.mode == Mode::connect) {
      out = fmt::format("tether bench connect {}: {} attempts in flight", c.target_text, c.conns);
    } else {
      out = fmt::format("tether bench {} {}: {} {} of {}, size {} B", mode_name(c.mode), c.target_text, m.connected,
                        c.mode == Mode::stream ? "streams" : c.mode == Mode::udp ? "flows" : "connections", c.conns, c.size);
    }
    if (c.mode == Mode::rr) out += fmt::format(", pipeline {}", c.pipeline);
    out += fmt::format(", {} thread(s), {:.2f} s\n", c.threads, s);
    switch (c.mode) {
      case Mode::rr:
        out += fmt::format("  messages     {} ({:.0f} msgs/s, {:.2f} MB/s each way)\n", t.messages, per_s(t.messages, s), per_s(t.bytes, s) / 1e6);
        break;
      case Mode::stream:
        out += fmt::format("  transferred  {:.1f} MiB ({:.3f} Gbit/s acknowledged)\n", static_cast<double>(t.bytes) / 1048576.0, per_s(t.bytes, s) * 8 / 1e9);
        break;
      case Mode::connect: out += fmt::format("  connections  {} ({:.0f} conns/s)\n", t.messages, per_s(t.messages, s)); break;
      case Mode::udp:
        out += fmt::format("  datagrams    sent {} ({:.0f}/s), received {} ({:.0f}/s), loss {:.2f}%\n", t.sent, per_s(t.sent, s),
                           t.messages, per_s(t.messages, s), loss);
        out += fmt::format("  echoes       {} duplicate(s), {} reordered (neither counted as received twice)\n",
                           t.duplicates, t.reordered);
        break;
    }
    if (h.count() > 0) {
      out += fmt::format("  latency us   p50 {:.1f}  p90 {:.1f}  p99 {:.1f}  p99.9 {:.1f}  max {:.1f}  mean {:.1f}\n",
                         us(h.quantile(0.5)), us(h.quantile(0.9)), us(h.quantile(0.99)), us(h.quantile(0.999)), us(h.max()),
                         h.mean() / 1000.0);
    }
    out += fmt::format("  errors       {}{}\n", t.errors, m.first_error.empty() ? "" : " (first: " + text_escape(m.first_error) + ")");
    out += fmt::format("  client cpu   {:.2f} s ({:.0f}% of one core", static_cast<double>(m.client_cpu_ns) / 1e9,
                       s > 0 ? static_cast<double>(m.client_cpu_ns) / 1e7 / s : 0);
    out += client_cpu >= 0 ? fmt::format(", {:.2f} us/{})\n", client_cpu, unit_name(c.mode)) : std::string(")\n");
    if (m.server_cpu_ns >= 0) {
      out += fmt::format("  server cpu   {:.2f} s ({:.0f}% of one core", static_cast<double>(m.server_cpu_ns) / 1e9,
                         s > 0 ? static_cast<double>(m.server_cpu_ns) / 1e7 / s : 0);
      out += server_cpu >= 0 ? fmt::format(", {:.2f} us/{}) pid {}\n", server_cpu, unit_name(c.mode), c.server_pid)
                             : fmt::format(") pid {}\n", c.server_pid);
    }
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
}

}  // namespace tether::cli::bench
