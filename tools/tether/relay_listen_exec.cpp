// tether listen --exec / --sh-exec (relay_listen_exec.hpp).
#include "relay_listen_exec.hpp"

#include "relay_exec.hpp"
#include "relay_flow.hpp"
#include "serve_modes.hpp"
#include "tls_options.hpp"
#include "unix_cleanup.hpp"

#include <tether/server.hpp>

#include <fmt/format.h>

#include <cmath>

namespace tether::cli {

namespace {

std::chrono::milliseconds seconds(double s) {
  return std::chrono::milliseconds(static_cast<long>(std::ceil(s * 1000.0)));
}

Task<void> serve_client(Connection& c, const ListenSettings& s, const ExecSpec& spec, Server* stop_after) {
  FlowStats stats;
  const Endpoint peer = c.peer();
  const Endpoint local = c.socket().local_endpoint().value_or(Endpoint());
  FlowEnds ends{s.proto(), peer.to_string(), local.to_string(), "exec", "", spec.command};
  auto child = spawn_exec(spec, s.proto(), peer, local);
  Result<AsyncTcpStream> stream = child ? AsyncTcpStream::adopt(c.loop(), TcpStream(std::move(child->socket)))
                                        : Result<AsyncTcpStream>(fail(child.error()));
  if (!stream) {
    stats.error = stream.error();
    s.log.error(fmt::format("exec '{}': {}", text_escape(spec.command), describe(stream.error())));
  } else {
    ConnectionSide client(c);
    StreamSide program(*stream);
    program.ends_flow = true;
    co_await run_flow(client, program, stats, std::nullopt);  // the server's idle timeout applies
    if (c.error() == std::errc::timed_out) stats.idle_timed_out = true;
  }
  emit_flow(s.log, ends, stats);
  if (stop_after != nullptr) stop_after->stop();
}

void emit_server_event(const ListenSettings& s, const ServerEvent& ev) {
  using K = ServerEvent::Kind;
  if (ev.kind != K::listening && ev.kind != K::rejected && ev.kind != K::accepted) return;
  Event e(ev.kind == K::listening ? "listening" : ev.kind == K::accepted ? "accepted" : "rejected");
  e.add("proto", s.proto());
  e.add(ev.kind == K::listening ? "local" : "peer", ev.peer);
  if (ev.kind == K::rejected) e.add("reason", ev.reason);
  s.log.emit(e);
}

}  // namespace

void add_exec_options(CLI::App& listen, ExecListenArgs& args) {
  auto* e = listen.add_option("-e,--exec", args.exec, "Run CMD (split at blanks) for each client, its stdin/stdout the socket")
                ->type_name("CMD");
  auto* sh = listen.add_option("--sh-exec", args.sh_exec, "Run CMD with /bin/sh -c for each client, its stdin/stdout the socket")
                 ->type_name("CMD");
  e->excludes(sh);
}

int serve_exec(const ListenSettings& s, const ExecListenArgs& args) {
  if (s.common.udp) throw UsageError("--exec and --sh-exec need a stream (TCP or --unix), not -u");
  const ExecSpec spec{args.exec.empty() ? args.sh_exec : args.exec, args.exec.empty()};
  if (spec.command.find_first_not_of(" \t") == std::string::npos) throw UsageError("--exec needs a command");
  auto& f = serve_flags();
  ServerOptions o;
  o.address = s.local;
  o.threads = f.threads;
  o.max_connections = s.keep_open ? f.max_conns : 1;
  if (f.idle_s > 0) {
    o.idle_timeout = seconds(f.idle_s);
  } else if (auto w = s.common.timeout()) {
    o.idle_timeout = *w;
  }
  o.drain_timeout = seconds(f.drain_s);
  o.access = access_list();
  o.high_watermark = 1024 * 1024;
  o.low_watermark = 256 * 1024;
  o.max_buffered = 4 * 1024 * 1024;
  if (s.log.enabled()) o.on_event = [&s](const ServerEvent& ev) { emit_server_event(s, ev); };
  install_tls(o, s);  // --tls: each client's handshake, then its child reads plaintext
  SignalThread signals(s.log);
  Server server(std::move(o));
  auto where = server.listen();
  if (!where) {
    s.log.error(fmt::format("listen on {}: {}", s.local.to_string(), describe(where.error())));
    return exit_failure;
  }
  if (s.local.kind() == EndpointKind::unix_path) remove_on_exit(std::string(s.local.unix_name()));
  Server* stop_after = s.keep_open ? nullptr : &server;
  auto stats = server.run([&s, &spec, stop_after](Connection& c) { return serve_client(c, s, spec, stop_after); });
  if (!stats) {
    s.log.error(fmt::format("serve: {}", describe(stats.error())));
    return exit_failure;
  }
  if (s.log.enabled()) emit_counters(s.log, "summary");
  return exit_ok;
}

}  // namespace tether::cli
