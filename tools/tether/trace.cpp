// tether trace PORT: the packet ladder of TCP connections on PORT (AF_PACKET, needs CAP_NET_RAW).
#include "commands.hpp"
#include "options.hpp"
#include "ss.hpp"
#include "trace_capture.hpp"
#include "trace_ladder.hpp"

#include <fmt/format.h>

#include <memory>

#include <net/if.h>

namespace tether::cli {

namespace {

struct TraceArgs {
  std::string port;
  std::string interface = "lo";
  int connections = 0;
  double timeout_s = 0;
  bool absolute = false;
  bool json = false;
};

// One line (the event log escapes newlines): what is missing, how to grant it, what works without.
constexpr std::string_view needs_cap_net_raw =
    "capturing packets needs CAP_NET_RAW: run as root or grant it once (sudo setcap cap_net_raw+ep "
    "\"$(command -v tether)\"); without it, 'tether connect --trace' and 'tether listen --trace' show "
    "the handshake and close of tether's own connections";

int run_trace(const TraceArgs& a) {
  if (a.port.empty()) throw UsageError("PORT is required");
  const std::uint16_t port = port_or_usage(a.port, "port");
  if (a.json && a.absolute) throw UsageError("--json has both numbers (seq and seq_abs): drop -S");
  if (port == 0) throw UsageError("port 0 is no connection's port: name the port to watch (1-65535)");
  if (a.interface != "any" && ::if_nametoindex(a.interface.c_str()) == 0) {
    throw UsageError(fmt::format("--interface '{}': no such network interface", text_escape(a.interface)));
  }
  const EventLog log(a.json ? EventFormat::json : EventFormat::text);
  auto capture = PortCapture::open(port, a.interface);
  if (!capture) {
    const auto& ec = capture.error();
    if (ec == std::errc::operation_not_permitted) {
      log.error(needs_cap_net_raw);
    } else if (ec == std::errc::no_such_device) {
      log.error(fmt::format("interface '{}': no such interface", text_escape(a.interface)));
    } else {
      log.error(fmt::format("capture on {}: {}", text_escape(a.interface), describe(ec)));
    }
    return exit_failure;
  }
  write_stderr(fmt::format("tether trace: capturing TCP port {} on {}{}\n", port, a.interface,
                           a.connections > 0 ? fmt::format(" until {} connection(s) close", a.connections)
                                             : std::string(" (Ctrl-C stops)")));
  const Deadline deadline = a.timeout_s > 0 ? Deadline(std::chrono::milliseconds(
                                                  static_cast<std::int64_t>(a.timeout_s * 1000.0)))
                                            : Deadline::never();
  Ladder ladder(port);
  std::optional<std::chrono::steady_clock::time_point> first;
  std::string last_header;
  int done = 0;
  while (a.connections == 0 || done < a.connections) {
    auto segment = capture->next(deadline);
    if (!segment) {
      if (segment.error() == std::errc::timed_out) {
        write_stderr(fmt::format("tether trace: -w {} s passed\n", a.timeout_s));
        return a.connections > 0 ? exit_failure : exit_ok;
      }
      log.error(fmt::format("capture: {}", describe(segment.error())));
      return exit_failure;
    }
    const auto now = std::chrono::steady_clock::now();
    if (!first) first = now;
    const double t_ms = std::chrono::duration<double, std::milli>(now - *first).count();
    LadderStep step = ladder.describe(*segment, t_ms);
    std::string text;
    if (a.json) {
      text = step_json(step);
    } else {
      const std::string header = draw_header(step);
      if (header != last_header) text = header;
      last_header = header;
      text += draw_step(step, a.absolute);
    }
    if (!write_stdout(text)) return exit_failure;
    if (step.connection_done) ++done;
  }
  return exit_ok;
}

}  // namespace

void add_trace_command(CLI::App& app) {
  auto args = std::make_shared<TraceArgs>();
  CLI::App* cmd = app.add_subcommand("trace", "Draw the packet ladder (handshake, data, close) of TCP connections on PORT");
  cmd->footer(
      "Captures with AF_PACKET and a classic BPF filter, which needs CAP_NET_RAW. Each line is one\n"
      "segment: flags, sequence and ack numbers relative to each side's initial sequence number\n"
      "(the ISN is shown on SYNs; -S prints raw numbers), window, and the handshake or close step.\n"
      "Without the capability, use 'tether connect --trace' or 'tether listen --trace'.\n"
      "Exit status: 0 done, 1 capture failed (or -w passed before -c connections closed), 2 bad usage.");
  cmd->add_option("PORT", args->port, "TCP port to watch (either side)");
  cmd->add_option("-i,--interface", args->interface, "Interface to capture on (default lo; 'any': all)")
      ->type_name("NAME");
  numeric_flag(cmd->add_option("-c,--count", args->connections, "Stop after N connections have closed"),
               1, 1000000, "N", Number::integer);
  numeric_flag(cmd->add_option("-w,--timeout", args->timeout_s, "Stop after SECS"),
               0.01, max_seconds, "SECS");
  cmd->add_flag("-S,--absolute", args->absolute, "Raw sequence numbers instead of relative ones");
  cmd->add_flag("--json", args->json, "One JSON line per segment");
  cmd->callback([args] { finish(run_trace(*args)); });
}

}  // namespace tether::cli
