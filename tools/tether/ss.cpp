// tether ss: the machine's sockets through netlink sock_diag, once or every -w seconds.
#include "ss.hpp"

#include "commands.hpp"
#include "options.hpp"
#include "ss_format.hpp"

#include <fmt/format.h>

#include <memory>
#include <thread>

namespace tether::cli {

namespace {

struct SsArgs {
  SsFilterArgs filter;
  bool info = false;
  bool extended = false;
  bool json = false;
  double watch_s = 0;
  int count = 0;
};

std::int64_t unix_time_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

int run_ss(const SsArgs& a, const CLI::App& cmd) {
  if (cmd.count("--count") > 0 && a.watch_s <= 0) throw UsageError("--count needs --watch");
  if (a.json && (a.info || a.extended)) throw UsageError("--json always has TCP_INFO, uid, inode and timer: drop -i/-e");
  const SsFilter filter = a.filter.build();
  if (a.info && !filter.wants_tcp()) throw UsageError("-i shows TCP_INFO: it needs TCP sockets (-t, or no -u/-x)");
  const EventLog log(a.json ? EventFormat::json : EventFormat::text);
  const SsFormat format{.info = a.info, .extended = a.extended, .rates = a.watch_s > 0};
  std::optional<Snapshot> previous;
  const auto interval = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(a.watch_s));
  auto next = std::chrono::steady_clock::now();
  for (int shown = 0; a.count == 0 || shown < a.count; ++shown) {
    auto snap = take_snapshot(filter, true);
    if (!snap) {
      log.error(fmt::format("sock_diag: {}", describe(snap.error())));
      return exit_failure;
    }
    auto rates = previous ? rates_between(*previous, *snap) : std::unordered_map<std::uint64_t, Rate>{};
    std::string text;
    if (a.json) {
      text = render_json(*snap, rates, unix_time_ms(), format.rates);
    } else {
      if (format.rates) text = fmt::format("-- {} sockets, every {} s\n", snap->sockets.size(), a.watch_s);
      text += render_table(*snap, rates, format);
    }
    if (!write_stdout(text)) return exit_failure;
    if (a.watch_s <= 0) break;
    previous = std::move(*snap);
    next += interval;
    std::this_thread::sleep_until(next);
  }
  return exit_ok;
}

}  // namespace

void add_ss_command(CLI::App& app) {
  auto args = std::make_shared<SsArgs>();
  CLI::App* cmd = app.add_subcommand("ss", "List the machine's sockets (TCP, UDP, Unix) with kernel TCP statistics");
  cmd->footer(
      "Sockets come from netlink sock_diag, as for iproute2's ss; the owning process (pid/name) is\n"
      "looked up in /proc for the rows shown. With -w, rates (In/s, Out/s) are computed from the\n"
      "difference between two snapshots.\n"
      "Exit status: 0 done, 1 sock_diag failed, 2 bad usage.");
  args->filter.add_options(*cmd);
  cmd->add_flag("-i,--info", args->info, "Show TCP_INFO (rtt, cwnd, ssthresh, retransmits, bytes, delivery rate, limit)");
  cmd->add_flag("-e,--extended", args->extended, "Show the owner's uid, the socket's inode and its pending timer");
  cmd->add_flag("--json", args->json, "One JSON document per snapshot on stdout");
  numeric_flag(cmd->add_option("-w,--watch", args->watch_s, "Repeat every SECS, with rates from the difference"),
               0.05, 86400.0, "SECS");
  numeric_flag(cmd->add_option("-c,--count", args->count, "With --watch: stop after N snapshots"),
               1, 1000000, "N", Number::integer);
  cmd->callback([args, cmd] { finish(run_ss(*args, *cmd)); });
}

}  // namespace tether::cli
