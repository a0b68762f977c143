// tether listen [ADDRESS] PORT: accept a client and relay stdin/stdout with it (or a serving mode).
#include "listen.hpp"
#include "relay_listen_exec.hpp"
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
  CommonOptions common;
  std::vector<CLI::Option*> mode_flags;  // parallel to listen_modes()
  ExecListenArgs exec;                   // -e/--exec, --sh-exec (relay_listen_exec.hpp)
};

/// The local endpoint from [ADDRESS] PORT, -s/-p or --unix; UsageError for bad input.
Result<Endpoint> local_endpoint(ListenArgs& a, const EventLog& log) {
  auto& c = a.common;
  if (c.is_unix()) {
    if (!a.address.empty() || !a.port.empty()) throw UsageError("--unix PATH replaces [ADDRESS] PORT");
    if (!c.source.empty() || !c.source_port.empty()) throw UsageError("-s/-p do not apply to --unix");
    if (c.ipv4 || c.ipv6) throw UsageError("-4/-6 do not apply to --unix");
    return unix_endpoint_or_usage(c.unix_path);
  }
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
  port_or_usage(a.port, "port");
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
  auto listener = open_stream_listener(s);
  if (!listener) return exit_failure;
  for (;;) {
    auto accepted = listener->accept();
    if (!accepted) {
      const auto& ec = accepted.error();
      if (ec == std::errc::connection_aborted || ec == std::errc::interrupted) continue;
      s.log.error(fmt::format("accept: {}", describe(ec)));
      return exit_failure;
    }
    auto& stream = accepted->stream;
    emit_endpoints(s.log, "accepted", s.proto(), stream.local_endpoint(), accepted->peer);
    StreamRelayOptions ro;
    ro.idle_timeout = s.common.timeout();
    ro.quit_after_eof = s.common.quit_after_eof();
    ro.crlf = s.common.crlf;
    TraceSession trace(s.log, stream, true);
    RelayStats stats = relay_stream(stream, ro);
    trace.finish(stats);
    emit_closed(s.log, s.proto(), stats, &stream);
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
  ro.linger_after_eof = s.common.quit_after_eof() ? s.common.quit_after_eof() : s.common.timeout();
  ro.crlf = s.common.crlf;
  ro.on_new_peer = [&](const Endpoint& peer) { emit_endpoints(s.log, "accepted", s.proto(), local, peer); };
  RelayStats stats = relay_datagrams(*socket, ro);
  emit_closed(s.log, s.proto(), stats, nullptr);
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
  const auto& modes = listen_modes();
  check_trace_applies(!a.exec.requested() && !s.common.udp && !s.common.is_unix() && std::none_of(a.mode_flags.begin(), a.mode_flags.end(), [](auto* f) { return f->count() > 0; }),
                      "needs one TCP connection relayed to stdin/stdout (not -u, --unix or a serving mode)");
  const bool serving = a.exec.requested() || std::any_of(a.mode_flags.begin(), a.mode_flags.end(), [](auto* f) { return f->count() > 0; });
  if (serving && (s.common.quit_s >= 0 || s.common.crlf)) throw UsageError("-q and -C apply to the stdin relay, not to a serving mode or --exec");
  for (std::size_t i = 0; i < modes.size(); ++i) {
    if (a.mode_flags[i]->count() > 0 && a.exec.requested()) throw UsageError("--exec replaces the serving modes");
    if (a.mode_flags[i]->count() > 0) return modes[i].run(s);
  }
  if (a.exec.requested()) return serve_exec(s, a.exec);
  return s.common.udp ? serve_datagrams(s) : serve_stream(s);
}

}  // namespace

Result<TcpListener> open_stream_listener(const ListenSettings& s) {
  auto listener = TcpListener::bind(s.local);
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
  auto socket = UdpSocket::bind(s.local);
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
      "PORT 0 picks a free port (-v or --json shows it). Exits when the client is done, unless\n"
      "-k is given. With -u, datagrams from stdin go to the last sender; -w ends the wait.\n"
      "Exit status: 0 clean close, 1 network error, 2 bad usage.");
  cmd->add_option("ADDRESS", args->address, "Local address to listen on (default: all)");
  cmd->add_option("PORT", args->port, "Port number or service name; 0 picks a free port");
  cmd->add_flag("-k,--keep-open", args->keep_open, "Accept clients one after another");
  add_common_options(*cmd, args->common, "Local address to listen on (like ADDRESS)",
                     "Local port to listen on (like PORT)");
  add_trace_option(*cmd);
  add_exec_options(*cmd, args->exec);
  for (const auto& mode : listen_modes()) {
    CLI::Option* flag = cmd->add_flag(mode.flag, mode.help);
    for (CLI::Option* other : args->mode_flags) flag->excludes(other);  // one mode at a time
    args->mode_flags.push_back(flag);
    if (mode.add_options != nullptr) mode.add_options(*cmd);
  }
  cmd->callback([args] { finish(run_listen(*args)); });
}

}  // namespace tether::cli
