// connect -z: port probes (relay_netcat.hpp).
#include "relay_netcat.hpp"

#include <tether/tcp.hpp>

#include <fmt/format.h>

namespace tether::cli {

namespace {

constexpr std::chrono::milliseconds default_probe_timeout{5000};

}  // namespace

int probe_ports(const std::string& host, const std::string& ports, const CommonOptions& c, const EventLog& log) {
  if (c.udp) throw UsageError("-z probes TCP ports (not -u)");
  if (c.is_unix()) throw UsageError("-z probes TCP ports (not --unix)");
  if (host.empty() || ports.empty()) throw UsageError("-z needs HOST and PORT or LOW-HIGH");
  std::uint16_t low = 0;
  std::uint16_t high = 0;
  if (auto dash = ports.find('-'); dash != std::string::npos && dash > 0) {
    low = port_or_usage(ports.substr(0, dash), "port range start");
    high = port_or_usage(ports.substr(dash + 1), "port range end");
    if (low > high) throw UsageError(fmt::format("port range '{}': the start is above the end", text_escape(ports)));
  } else {
    low = high = port_or_usage(ports, "port");
  }
  check_host_or_usage(host, std::to_string(low), "host");
  int open = 0;
  for (unsigned port = low; port <= high; ++port) {
    ConnectOptions co;
    co.deadline = Deadline(c.timeout().value_or(default_probe_timeout));
    co.family = c.family();
    auto s = TcpStream::connect(host, std::to_string(port), co);
    if (s) ++open;
    if (log.enabled()) {
      Event e("probe");
      e.add("host", host);
      e.add("port", std::uint64_t{port});
      e.add("state", s ? "open" : "closed");
      if (!s) e.add("error", describe(s.error()));
      log.emit(e);
    }
  }
  return open > 0 ? exit_ok : exit_failure;
}

}  // namespace tether::cli
