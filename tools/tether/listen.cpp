// tether listen [ADDRESS] PORT: accept a client and relay stdin/stdout with it (or a serving mode).
#include "listen.hpp"
#include "relay_listen_exec.hpp"
#include "serve_modes.hpp"

#include "commands.hpp"
#include "relay.hpp"
#include "session.hpp"
#include "tls_options.hpp"
#include "trace_hooks.hpp"
#include "unix_cleanup.hpp"

#include <tether/event_loop.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
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
  std::string backend;  // --backend: epoll or io_uring, for the serving modes' event loops
  bool unix_remove_stale = false;
  CommonOptions common;
  std::vector<CLI::Option*> mode_flags;  // parallel to listen_modes()
  CLI::App* cmd = nullptr;
  ExecListenArgs exec;                   // -e/--exec, --sh-exec (relay_listen_exec.hpp)
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

void emit_rejected(const ListenSettings& s, const Endpoint& peer, const char* reason) {
  if (!s.log.enabled()) return;
  Event e("rejected");
  e.add("proto", s.proto());
  e.add("peer", Event::endpoint_text(peer, s.proto()));
  e.add("reason", reason);
  s.log.emit(e);
}

/// One client relayed with stdin/stdout (without -k). Peers that --allow/--deny refuse are closed
/// and the wait goes on.
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
    if (s.keep.access && !s.keep.access->permits(accepted->peer)) {
      emit_rejected(s, accepted->peer, "denied");
      continue;
    }
    first = false;
    auto& stream = accepted->stream;
    const auto local = stream.local_endpoint();
    emit_endpoints(s.log, "accepted", s.proto(), local, accepted->peer);
    if (tls_flags().tls) return tls_serve_session(std::move(stream), accepted->peer, s);
    StreamRelayOptions ro;
    ro.idle_timeout = s.keep.idle_timeout;
    ro.quit_after_eof = s.common.quit_after_eof();
    ro.crlf = s.common.crlf;
    TraceSession trace(s.log, stream, true);
    RelayStats stats = relay_stream(stream, ro);
    trace.finish(stats);
    emit_closed(s.log, s.proto(), local, accepted->peer, stats, &stream);
    return finish_relay(s.log, stats);
  }
}

int serve_datagrams(const ListenSettings& s) {
  auto socket = open_datagram_socket(s);
  if (!socket) return exit_failure;
  const auto local = socket->local_endpoint();
  DatagramRelayOptions ro;
  ro.connected = false;
  ro.idle_timeout = s.common.timeout();
  ro.linger_after_eof = s.common.quit_after_eof() ? s.common.quit_after_eof() : s.common.timeout();
  ro.crlf = s.common.crlf;
  Result<Endpoint> last_peer = Endpoint();
  ro.on_new_peer = [&](const Endpoint& peer) {
    last_peer = peer;
    emit_endpoints(s.log, "accepted", s.proto(), local, peer);
  };
  std::optional<Endpoint> last_denied;  // one "rejected" event per run of datagrams from a peer
  if (s.keep.access) {
    ro.admit = [&](const Endpoint& peer) {
      if (s.keep.access->permits(peer)) return true;
      if (last_denied != peer) emit_rejected(s, peer, "denied");
      last_denied = peer;
      return false;
    };
  }
  RelayStats stats = relay_datagrams(*socket, ro);
  emit_closed(s.log, s.proto(), local, last_peer, stats, nullptr);
  return finish_relay(s.log, stats);
}

bool given(const ListenArgs& a, const char* flag) {
  const CLI::Option* o = a.cmd->get_option_no_throw(flag);
  return o != nullptr && o->count() > 0;
}

/// The server flags in the default (stdin/stdout) modes: each is enforced where it means something
/// and refused (exit 2) where it cannot. The serving modes check their own.
void apply_server_flags(const ListenArgs& a, ListenSettings& s) {
  const bool udp = s.common.udp;
  for (const char* flag : {"--threads", "--drain", "--accept-mode", "--max-line"}) {
    if (given(a, flag)) {
      throw UsageError(fmt::format("{} applies to the serving modes (--echo, --chat, --discard, --sockperf), "
                                   "not to the stdin/stdout relay", flag));
    }
  }
  if (udp && a.keep_open) throw UsageError("-k does not apply to -u: listen -u already answers every sender");
  if (given(a, "--max-conns")) {
    if (udp) throw UsageError("--max-conns does not apply to -u (datagrams have no connections)");
    if (!a.keep_open) throw UsageError("--max-conns needs -k (without it, one client is served)");
    s.keep.max_conns = serve_flags().max_conns;
  }
  s.keep.idle_timeout = s.common.timeout();
  if (given(a, "--idle-timeout")) {
    if (udp) throw UsageError("--idle-timeout does not apply to -u: -w ends the wait for datagrams");
    if (serve_flags().idle_s > 0) {
      s.keep.idle_timeout = std::chrono::milliseconds(
          static_cast<std::chrono::milliseconds::rep>(std::ceil(serve_flags().idle_s * 1000.0)));
    }
  }
  if (given(a, "--allow") || given(a, "--deny")) s.keep.access = access_list();
}

/// The server flags' --help, now that the default modes honour them too, and their one numeric
/// validator (options.hpp).
void describe_server_flags(CLI::App& cmd) {
  auto set = [&](const char* flag, const char* help) {
    CLI::Option* o = cmd.get_option_no_throw(flag);
    if (o != nullptr) o->description(help);
    return o;
  };
  if (auto* o = set("--threads", "--echo/--chat/--discard: event loops (default: one per core)")) {
    numeric_flag(o, 1, 1024, "N", Number::integer);
  }
  if (auto* o = set("--max-conns", "-k and the serving modes (TCP): refuse clients beyond N at once")) {
    numeric_flag(o, 1, 10'000'000, "N", Number::integer);
  }
  if (auto* o = set("--idle-timeout", "Streams (relay, -k, serving modes): close a client silent for SECS (default: -w)")) {
    numeric_flag(o, 0.001, max_seconds, "SECS");
  }
  if (auto* o = set("--drain", "Serving modes (TCP): on SIGINT/SIGTERM, let clients finish for SECS (default 5)")) {
    numeric_flag(o, 0, 3600, "SECS");
  }
  if (auto* o = cmd.get_option_no_throw("--max-line")) numeric_flag(o, 1, 64 << 20, "BYTES", Number::integer);
  if (auto* o = cmd.get_option_no_throw("--accept-mode")) {  // its error names the flag
    o->get_validator(0)->active(false);
    o->check(CLI::Validator(
        [](std::string& v) -> std::string {
          if (v == "reuseport" || v == "single") return {};
          return "--accept-mode '" + text_escape(v) + "' is not reuseport or single";
        },
        ""));
  }
  if (auto* o = set("--allow", "Serve only peers in CIDR (repeatable; every mode, TCP and UDP)")) o->type_name("CIDR");
  if (auto* o = set("--deny", "Refuse peers in CIDR (repeatable; wins over --allow; ::/0 is everyone)")) o->type_name("CIDR");
}


int run_listen(ListenArgs& a) {
  ListenSettings s;
  s.common = a.common;
  s.keep_open = a.keep_open;
  s.log = EventLog(a.common.event_format());
  const auto& modes = listen_modes();
  const bool relay = !a.exec.requested() &&
                     std::none_of(a.mode_flags.begin(), a.mode_flags.end(), [](auto* f) { return f->count() > 0; });
  if (relay) apply_server_flags(a, s);
  if (!a.backend.empty()) {
    if (relay) throw UsageError("--backend applies to --echo, --chat, --discard and --sockperf");
    ::setenv("TETHER_BACKEND", a.backend.c_str(), 1);  // read when the first event loop is made
  }
  if (relay) {
    set_listening_backend("poll");  // the relays wait with poll(2)
  } else if (s.log.enabled()) {
    EventLoop probe;  // the serving modes' loops all use the process's backend
    set_listening_backend(probe.backend_name());
  }
  auto local = local_endpoint(a, s.log);
  if (!local) return exit_failure;
  s.local = *local;
  if (a.address.empty() && s.common.family() == IpFamily::any && !s.common.is_unix()) s.v6_only = false;
  if (s.common.family() == IpFamily::ipv6 && s.local.is_unspecified()) s.v6_only = true;  // -6: IPv6 only
  check_trace_applies(!s.common.udp && !s.common.is_unix() && relay && !s.keep_open,
                      "needs one TCP connection relayed to stdin/stdout (not -u, --unix, -k or a serving mode)");
  bool sockperf = false;
  if ((!relay || (s.keep_open && !s.common.udp)) && (s.common.quit_s >= 0 || s.common.crlf)) {
    throw UsageError("-q and -C apply to the one-client stdin relay, not to -k, a serving mode or --exec");
  }
  for (std::size_t i = 0; i < modes.size(); ++i) {
    sockperf = sockperf || (a.mode_flags[i]->count() > 0 && std::string_view(modes[i].flag) == "--sockperf");
  }
  check_tls_flags(!s.common.udp && !sockperf, "needs a stream and a mode other than --sockperf");
  check_trace_applies(!tls_flags().tls, "does not apply to --tls");
  if (!prepare_tls_server(s)) return exit_failure;
  for (std::size_t i = 0; i < modes.size(); ++i) {
    if (a.mode_flags[i]->count() == 0) continue;
    // The modes refuse the server flags they cannot honour (serve_modes.cpp: refuse_flags);
    // what only the command line knows is refused here.
    if (s.common.udp && s.keep_open) {
      throw UsageError(fmt::format("-k does not apply to {} -u (datagrams have no connections)", modes[i].flag));
    }
    if (a.exec.requested()) throw UsageError("--exec replaces the serving modes");
    if (std::string_view(modes[i].flag) != "--sockperf") {
      if (s.common.udp && s.common.is_unix() && given(a, "--threads")) {
        throw UsageError("--threads does not apply to --unix -u (one socket: one loop)");
      }
      if (s.common.is_unix() && given(a, "--accept-mode")) {
        throw UsageError("--accept-mode does not apply to --unix (one listener: one acceptor)");
      }
    }
    return modes[i].run(s);
  }
  if (a.exec.requested()) return serve_exec(s, a.exec);
  if (s.common.udp) return serve_datagrams(s);
  if (s.keep_open) return tls_flags().tls ? serve_tls_concurrently(s) : serve_stream_concurrently(s);
  return serve_stream(s);
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
      "done; with -k, serves clients at once until stopped.\n"
      "The timeout (-w) bounds the wait for the first client (exit 1 when none came; not\n"
      "with -k), then ends a connection idle that long; with -u it ends the wait for\n"
      "datagrams; with the serving modes it is the idle timeout of each client.\n"
      "With -u, datagrams from stdin go to the last sender. --allow/--deny, --idle-timeout (and\n"
      "--max-conns with -k) apply here too. A --unix PATH whose socket file is left by a dead\n"
      "server is refused (the message says whether a server answers); --unix-remove-stale\n"
      "replaces it.\n"
      "Exit status: 0 clean close, 1 network error, 2 bad usage.");
  cmd->add_option("ADDRESS", args->address, "Local address to listen on (default: all, IPv6 and IPv4)");
  cmd->add_option("PORT", args->port, "Port number or service name; 0 picks a free port");
  cmd->add_flag("-k,--keep-open", args->keep_open,
                "Serve clients at the same time: each one's bytes to stdout, stdin to all (like ncat -k)");
  cmd->add_flag("--unix-remove-stale", args->unix_remove_stale,
                "With --unix PATH: replace a socket file no server answers on (left by a dead server)");
  args->cmd = cmd;
  add_common_options(*cmd, args->common, "Local address to listen on (like ADDRESS)",
                     "Local port to listen on (like PORT)");
  add_trace_option(*cmd);
  add_exec_options(*cmd, args->exec);
  cmd->add_option("--backend", args->backend,
                  "--echo/--chat/--discard/--sockperf: the event loops' I/O mechanism, epoll (default) "
                  "or io_uring (falls back to epoll, with a notice, where the kernel refuses it)")
      ->check(CLI::IsMember({"epoll", "io_uring"}).description(""))
      ->type_name("epoll|io_uring");
  add_tls_server_options(*cmd);
  for (const auto& mode : listen_modes()) {
    CLI::Option* flag = cmd->add_flag(mode.flag, mode.help);
    for (CLI::Option* other : args->mode_flags) flag->excludes(other);  // one mode at a time
    args->mode_flags.push_back(flag);
    if (mode.add_options != nullptr) mode.add_options(*cmd);
  }
  describe_server_flags(*cmd);
  cmd->callback([args] { finish(run_listen(*args)); });
}

}  // namespace tether::cli
