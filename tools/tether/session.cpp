#include "session.hpp"

#include "options.hpp"

#include <fmt/format.h>

namespace tether::cli {

namespace {

void add_endpoints(Event& e, std::string_view proto, const Result<Endpoint>& local,
                   const Result<Endpoint>& peer) {
  e.add("proto", proto);
  e.add("local", local ? Event::endpoint_text(*local, proto) : std::string());
  e.add("peer", peer ? Event::endpoint_text(*peer, proto) : std::string());
}

}  // namespace

void emit_endpoints(const EventLog& log, std::string_view event, std::string_view proto,
                    const Result<Endpoint>& local, const Result<Endpoint>& peer) {
  if (!log.enabled()) return;
  Event e(event);
  add_endpoints(e, proto, local, peer);
  log.emit(e);
}

void emit_closed(const EventLog& log, std::string_view proto, const Result<Endpoint>& local,
                 const Result<Endpoint>& peer, const RelayStats& stats, const TcpStream* stream) {
  if (!log.enabled()) return;
  Event e("closed");
  add_endpoints(e, proto, local, peer);
  e.add("bytes_in", stats.bytes_in);
  e.add("bytes_out", stats.bytes_out);
  if (stats.datagrams_in != 0 || stats.datagrams_out != 0 || proto == "udp" || proto == "unix-dgram") {
    e.add("datagrams_in", stats.datagrams_in);
    e.add("datagrams_out", stats.datagrams_out);
    if (stats.truncated != 0) e.add("truncated", stats.truncated);
  }
  e.add("duration_s", std::chrono::duration<double>(stats.duration).count());
  e.add("closed_first", closer_name(stats.closed_first));
  if (stream != nullptr) {
    if (auto info = stream->tcp_info()) {
      e.add("rtt_us", static_cast<std::uint64_t>(info->rtt.count()));
      e.add("retransmits", std::uint64_t{info->retransmits});
    }
  }
  if (stats.error) e.add("error", describe_failure(stats));
  log.emit(e);
}

std::string describe_failure(const RelayStats& stats) {
  if (!stats.error) return {};
  const std::string why = describe(stats.error);
  if (stats.idle_timed_out) return "idle timeout: nothing sent or received in time";
  if (stats.error_context == "stdin") return "reading stdin: " + why;
  if (stats.error_context == "stdout") return "writing stdout: " + why;
  if (stats.error_context == "write" && stats.closed_first == Closer::peer) {
    return "the peer closed before all of stdin was sent: " + why;
  }
  if (stats.error_context == "write") return "sending: " + why;
  if (stats.error_context == "read") return "receiving: " + why;
  return fmt::format("{}: {}", stats.error_context, why);
}

int finish_relay(const EventLog& log, const RelayStats& stats) {
  if (!stats.error) return exit_ok;
  log.error(describe_failure(stats));
  return exit_failure;
}

}  // namespace tether::cli
