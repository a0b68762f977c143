// tether listen [ADDRESS] PORT: accept a client and relay stdin/stdout with it (or a serving mode).
#include "listen.hpp"
#include "serve_modes.hpp"

#include "commands.hpp"
#include "relay.hpp"
#include "session.hpp"
#include "trace_hooks.hpp"
#include "unix_cleanup.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <memory>

namespace tether::cli {

const std::vector<ListenMode>& listen_modes() {
  static const std::vector<ListenMode> modes = {
      echo_listen_mode(),
      chat_listen_mode(),
      discard_listen_mode(),
      sockperf_listen_mode(),
  };
  return modes;
}

namespace {

struct ListenArgs {
  std::string address;
  std::string port;
  bool keep_open = false;
  bool unix_remove_stale = false;
  CommonOptions common;
  std::vector<CLI::Option*> mode_flags;  // parallel to listen_modes()
};

/// The local endpoint from [ADDRESS] PORT, -s/-p or --unix; UsageError for bad input.
Result<Endpoint> local_endpoint(ListenArgs& a, const EventLog& log) {
  auto& c = a.common;
  if (c.is_unix()) {
    if (!a.address.empty() || !a.port.empty()) throw UsageError("--unix PATH replaces [ADDRESS] PORT");
    if (!c.source.empty() || !c.source_port.empty()) throw UsageError("-s/-p do not apply to --unix");
    if (c.ipv4 || c.ipv6) throw UsageError("-4/-6 do not apply to --unix");
    auto ep = unix_endpoint_or_usage(c.unix_path);
    if (a.unix_remove_stale && ep.kind() != EndpointKind::unix_path) {
      throw UsageError("--unix-remove-stale applies to a socket file, not an @abstract name");
    }
    if (ep.kind() == EndpointKind::unix_path) {
      const std::string path(ep.unix_name());
      if (auto why = unix_path_in_use(path, c.udp, a.unix_remove_stale)) {
        log.error(fmt::format("listen on {}: {}", ep.to_string(), *why));
        return fail(std::make_error_code(std::errc::address_in_use));
      }
    }
    return ep;
  }
  if (a.unix_remove_stale) throw UsageError("--unix-remove-stale applies to --unix PATH only");
  // One positional is the PORT; netcat's -s ADDRESS / -p PORT are accepted too.
  if (a.port.empty() && !a.address.empty()) std::swap(a.port, a.address);
  if (!c.source.empty()) {
    if (!a.address.empty() && a.address != c.source) throw UsageError("two addresses given (ADDRESS and -s)");
    a.address = c.source;
  }
  if (!c.source_port.empty()) {
    if (!a.port.empty() && a.port != c.source_port) throw UsageError("two ports given (PORT and -p)");
    a.port = c.source_port;
  }
  if (a.port.empty()) throw UsageError("PORT is required (0 picks a free port)");
  const std::uint16_t port = port_or_usage(a.port, "port");
  // No address and neither -4 nor -6: [::] with IPV6_V6ONLY off serves IPv4 and IPv6 clients.
  if (a.address.empty() && c.family() == IpFamily::any) return Endpoint::ipv6_any(port);
  if (!a.address.empty()) check_host_or_usage(a.address, a.port, "address");
  auto ep = resolve_first(a.address, a.port, c.family(), true);
  if (!ep) {
    log.error(fmt::format("listen on {}: {}", host_port_text(a.address, a.port), describe(ep.error())));
  }
  return ep;
}

void emit_listening(const ListenSettings& s, const Result<Endpoint>& local) {
  if (!s.log.enabled()) return;
  Event e("listening");
  e.add("proto", s.proto());
  e.add("local", local ? local->to_string() : s.local.to_string());
  s.log.emit(e);
}

int serve_stream(const ListenSettings& s) {
  // -w bounds the wait for the first client (then it is each connection's idle timeout).
  const auto w = s.common.timeout();
  const Deadline first_client = w ? Deadline(*w) : Deadline::never();
  auto listener = open_stream_listener(s);
  if (!listener) return exit_failure;
  bool first = true;
  for (;;) {
    auto accepted = listener->accept(first ? first_client : Deadline::never());
    if (!accepted) {
      const auto& ec = accepted.error();
      if (ec == std::errc::connection_aborted || ec == std::errc::interrupted) continue;
      if (ec == std::errc::timed_out && first) {
        s.log.error(fmt::format("no client within -w {} s", s.common.timeout_s));
        return exit_failure;
      }
      s.log.error(fmt::format("accept: {}", describe(ec)));
      return exit_failure;
    }
    first = false;
    auto& stream = accepted->stream;
    const auto local = stream.local_endpoint();
    emit_endpoints(s.log, "accepted", s.proto(), local, accepted->peer);
    StreamRelayOptions ro;
    ro.idle_timeout = s.common.timeout();
    TraceSession trace(s.log, stream, true);
    RelayStats stats = relay_stream(stream, ro);
    trace.finish(stats);
    emit_closed(s.log, s.proto(), local, accepted->peer, stats, &stream);
    int rc = finish_relay(s.log, stats);
    if (!s.keep_open) return rc;
  }
}

int serve_datagrams(const ListenSettings& s) {
  auto socket = open_datagram_socket(s);
  if (!socket) return exit_failure;
  const auto local = socket->local_endpoint();
  DatagramRelayOptions ro;
  ro.connected = false;
  ro.idle_timeout = s.common.timeout();
  ro.linger_after_eof = s.common.timeout();
  Result<Endpoint> last_peer = Endpoint();
  ro.on_new_peer = [&](const Endpoint& peer) {
    last_peer = peer;
    emit_endpoints(s.log, "accepted", s.proto(), local, peer);
  };
  RelayStats stats = relay_datagrams(*socket, ro);
  emit_closed(s.log, s.proto(), local, last_peer, stats, nullptr);
  return finish_relay(s.log, stats);
}

int run_listen(ListenArgs& a) {
  ListenSettings s;
  s.common = a.common;
  s.keep_open = a.keep_open;
  s.log = EventLog(a.common.event_format());
  auto local = local_endpoint(a, s.log);
  if (!local) return exit_failure;
  s.local = *local;
  if (a.address.empty() && s.common.family() == IpFamily::any && !s.common.is_unix()) s.v6_only = false;
  if (s.common.family() == IpFamily::ipv6 && s.local.is_unspecified()) s.v6_only = true;  // -6: IPv6 only
  const auto& modes = listen_modes();
  check_trace_applies(!s.common.udp && !s.common.is_unix() && std::none_of(a.mode_flags.begin(), a.mode_flags.end(), [](auto* f) { return f->count() > 0; }),
                      "needs one TCP connection relayed to stdin/stdout (not -u, --unix or a serving mode)");
  for (std::size_t i = 0; i < modes.size(); ++i) {
    if (a.mode_flags[i]->count() > 0) return modes[i].run(s);
  }
  return s.common.udp ? serve_datagrams(s) : serve_stream(s);
}

}  // namespace

namespace {

/// Binding [::] failed because this host has no IPv6: the dual-stack default falls back to IPv4.
bool no_ipv6(const ListenSettings& s, std::error_code ec) {
  return s.v6_only == false && s.local.kind() == EndpointKind::ipv6 &&
         (ec == std::errc::address_family_not_supported || ec == std::errc::address_not_available);
}

}  // namespace

Result<TcpListener> open_stream_listener(const ListenSettings& s) {
  ListenOptions lo;
  lo.v6_only = s.v6_only;
  auto listener = TcpListener::bind(s.local, lo);
  if (!listener && no_ipv6(s, listener.error())) {
    listener = TcpListener::bind(Endpoint::ipv4_any(s.local.port()));
  }
  if (!listener) {
    s.log.error(fmt::format("listen on {}: {}", s.local.to_string(), describe(listener.error())));
    return listener;
  }
  if (s.local.kind() == EndpointKind::unix_path) remove_on_exit(std::string(s.local.unix_name()));
  trace_listener(s.log, *listener);
  emit_listening(s, listener->local_endpoint());
  return listener;
}

Result<UdpSocket> open_datagram_socket(const ListenSettings& s) {
  UdpBindOptions bo;
  bo.v6_only = s.v6_only;
  auto socket = UdpSocket::bind(s.local, bo);
  if (!socket && no_ipv6(s, socket.error())) socket = UdpSocket::bind(Endpoint::ipv4_any(s.local.port()));
  if (!socket) {
    s.log.error(fmt::format("bind {}: {}", s.local.to_string(), describe(socket.error())));
    return socket;
  }
  if (s.local.kind() == EndpointKind::unix_path) remove_on_exit(std::string(s.local.unix_name()));
  emit_listening(s, socket->local_endpoint());
  return socket;
}

void add_listen_command(CLI::App& app) {
  auto args = std::make_shared<ListenArgs>();
  CLI::App* cmd = app.add_subcommand(
      "listen",
      "Accept a client on [ADDRESS] PORT and relay stdin and stdout with it");
  cmd->footer(
      "PORT 0 picks a free port (-v or --json shows it). Without ADDRESS, -4 or -6 it listens on\n"
      "[::] with IPv6-only off: IPv4 and IPv6 clients both reach it. Exits when the client is\n"
      "done, unless -k is given. -w SECS bounds the wait for the first client (exit 1 when none\n"
      "came), then ends a connection idle that long; with -u it ends the wait for datagrams; with\n"
      "--echo/--chat/--discard it is the idle timeout of each client. With -u, datagrams from\n"
      "stdin go to the last sender. A --unix PATH whose socket file is left by a dead server is\n"
      "refused (the message says whether a server answers); --unix-remove-stale replaces it.\n"
      "Exit status: 0 clean close, 1 network error, 2 bad usage.");
  cmd->add_option("ADDRESS", args->address, "Local address to listen on (default: all, IPv6 and IPv4)");
  cmd->add_option("PORT", args->port, "Port number or service name; 0 picks a free port");
  cmd->add_flag("-k,--keep-open", args->keep_open, "Accept clients one after another");
  cmd->add_flag("--unix-remove-stale", args->unix_remove_stale,
                "With --unix PATH: replace a socket file no server answers on (left by a dead server)");
  add_common_options(*cmd, args->common, "Local address to listen on (like ADDRESS)",
                     "Local port to listen on (like PORT)");
  add_trace_option(*cmd);
  for (const auto& mode : listen_modes()) {
    CLI::Option* flag = cmd->add_flag(mode.flag, mode.help);
    for (CLI::Option* other : args->mode_flags) flag->excludes(other);  // one mode at a time
    args->mode_flags.push_back(flag);
    if (mode.add_options != nullptr) mode.add_options(*cmd);
  }
  cmd->callback([args] { finish(run_listen(*args)); });
}

}  // namespace tether::cli
