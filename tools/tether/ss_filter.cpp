// The filter flags of `tether ss` and `tether top`.
#include "ss.hpp"

#include "options.hpp"

#include <fmt/format.h>

#include <cerrno>

#include <unistd.h>

namespace tether::cli {

void SsFilterArgs::add_options(CLI::App& cmd) {
  cmd.add_flag("-t,--tcp", tcp, "TCP sockets (without -t/-u/-x: all kinds)");
  cmd.add_flag("-u,--udp", udp, "UDP sockets");
  cmd.add_flag("-x,--unix", unix_sockets, "Unix sockets");
  auto* v4 = cmd.add_flag("-4", ipv4, "IPv4 only");
  auto* v6 = cmd.add_flag("-6", ipv6, "IPv6 only");
  v4->excludes(v6);
  auto* l = cmd.add_flag("-l,--listening", listening, "Listening sockets only (LISTEN, and UNCONN for UDP)");
  cmd.add_option("--state", states, "Only sockets in STATE (established, listen, time-wait, close-wait, ...)")
      ->type_name("STATE")
      ->delimiter(',')
      ->excludes(l);
  cmd.add_option("--port", port, "Only sockets whose local or peer port is PORT")->type_name("PORT");
  cmd.add_option("--address", addresses, "Only sockets whose local or peer address is in CIDR")
      ->type_name("CIDR");
}

SsFilter SsFilterArgs::build() const {
  SsFilter f;
  f.tcp = tcp;
  f.udp = udp;
  f.unix_sockets = unix_sockets;
  if (ipv4) f.family = IpFamily::ipv4;
  if (ipv6) f.family = IpFamily::ipv6;
  if (f.family != IpFamily::any && unix_sockets) throw UsageError("-4/-6 do not apply to Unix sockets (-x)");
  if (listening) f.states = state_bit(TcpState::listen) | state_bit(TcpState::close);
  if (!states.empty()) {
    f.states = 0;
    for (const auto& s : states) {
      auto st = parse_tcp_state(s);
      if (!st) throw UsageError(fmt::format("--state '{}': not a socket state", text_escape(s)));
      f.states |= state_bit(*st);
    }
  }
  if (!port.empty()) f.port = port_or_usage(port, "--port");
  for (const auto& a : addresses) {
    auto block = Cidr::parse(a);
    if (!block) {
      // Cidr::parse reports a bad prefix length as a bad port: say what it is here.
      const std::string why = block.error() == make_error_code(Errc::bad_port)
                                  ? "the prefix length is not 0..32 (IPv4) or 0..128 (IPv6)"
                                  : describe(block.error());
      throw UsageError(fmt::format("--address '{}': not an address block (CIDR): {}", text_escape(a), why));
    }
    f.addresses.push_back(*block);
  }
  if ((f.port || !f.addresses.empty()) && unix_sockets && !tcp && !udp) {
    throw UsageError("--port/--address do not apply to Unix sockets (-x)");
  }
  return f;
}

bool write_stdout(std::string_view text) {
  while (!text.empty()) {
    ssize_t n = ::write(1, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    text.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

}  // namespace tether::cli
