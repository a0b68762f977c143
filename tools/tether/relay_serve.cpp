// tether relay with a stream listener (tether::Server, one flow per client) or with two
// connecting sides (one flow on one loop) (relay_cmd.hpp).
#include "relay_cmd.hpp"
#include "options.hpp"
#include "relay_tls.hpp"
#include "unix_cleanup.hpp"

#include <tether/server.hpp>
#include <tether/when.hpp>

#include <fmt/format.h>

#include <cmath>

namespace tether::cli {

namespace {

AccessList relay_access(const RelayFlags& f) {
  AccessList acl;
  for (const auto& a : f.allow) {
    if (!acl.allow(a)) throw UsageError(fmt::format("--allow {}: not an address or CIDR block", a));
  }
  for (const auto& d : f.deny) {
    if (!acl.deny(d)) throw UsageError(fmt::format("--deny {}: not an address or CIDR block", d));
  }
  return acl;
}

void emit_server_event(const RelaySettings& s, const ServerEvent& ev) {
  using K = ServerEvent::Kind;
  if (ev.kind == K::listening) {
    Event e("listening");
    e.add("proto", s.a.proto());
    e.add("local", ev.peer);
    s.log.emit(e);
  } else if (ev.kind == K::rejected) {
    Event e("rejected");
    e.add("peer", ev.peer);
    e.add("reason", ev.reason);
    s.log.emit(e);
  } else if (ev.kind == K::closed && ev.reason == "handshake") {
    Event e("handshake_failed");  // a tls-listen client whose handshake failed
    e.add("peer", ev.peer);
    e.add("error", describe(ev.error));
    s.log.emit(e);
  } else if (ev.kind == K::accept_error) {
    Event e("accept_error");
    e.add("error", describe(ev.error));
    s.log.emit(e);
  }
}

/// One client: open side B (the PROXY header first), relay both ways, report the flow.
Task<void> serve_client(Connection& c, const RelaySettings& s, const Endpoint& bound) {
  FlowStats stats;
  FlowEnds ends;
  const Endpoint peer = c.peer();
  // tls-listen: the Connection is the bridge's socket pair; the client reached the bound address.
  const Endpoint local =
      s.a.kind == AddrKind::tls_listen ? bound : c.socket().local_endpoint().value_or(Endpoint());
  ends.a_proto = s.a.proto();
  ends.a_peer = peer.to_string();
  ends.a_local = local.to_string();
  ends.b_proto = s.b.proto();
  std::string header;
  if (!s.flags.proxy_protocol.empty()) header = proxy_protocol_header(s.flags.proxy_protocol, peer, local);
  auto up = co_await open_side(c.loop(), s, s.b, peer, local, std::move(header));
  if (!up) {
    stats.error = up.error();
    relay_counters().flows.fetch_add(1, std::memory_order_relaxed);
    relay_counters().failed.fetch_add(1, std::memory_order_relaxed);
    ends.b_peer = s.b.text;
    emit_flow(s.log, ends, stats);
    co_return;
  }
  ends.b_local = up->local;
  ends.b_peer = up->peer;
  ConnectionSide as(c);
  up->side->ends_flow = s.b.kind == AddrKind::exec;
  // The server's idle timeout covers the flow.
  co_await run_flow(as, *up->side, stats, std::nullopt, s.splice());
  if (c.error() == std::errc::timed_out) stats.idle_timed_out = true;
  emit_flow(s.log, ends, stats);
}

std::chrono::milliseconds ms(double seconds) {
  return std::chrono::milliseconds(static_cast<long>(std::ceil(seconds * 1000)));
}

}  // namespace

int relay_serve_streams(const RelaySettings& s) {
  ServerOptions o;
  o.address = s.a.kind == AddrKind::unix_listen ? s.a.unix_endpoint : Endpoint();
  if (s.a.kind == AddrKind::tcp_listen || s.a.kind == AddrKind::tls_listen) {
    auto ep = resolve_first(s.a.host, s.a.port, IpFamily::any, true);
    if (!ep) {
      s.log.error(fmt::format("listen on {}: {}", host_port_text(s.a.host, s.a.port), describe(ep.error())));
      return exit_failure;
    }
    o.address = *ep;
  }
  o.threads = s.flags.threads;
  o.max_connections = s.flags.max_conns;
  if (auto idle = s.idle()) o.idle_timeout = *idle;
  o.drain_timeout = ms(s.flags.drain_s);
  o.high_watermark = 1024 * 1024;  // the flow flushes above 64 KiB: reading is never parked
  o.low_watermark = 256 * 1024;
  o.max_buffered = 4 * 1024 * 1024;
  o.access = relay_access(s.flags);
  o.on_event = [&s](const ServerEvent& ev) { emit_server_event(s, ev); };
  if (s.a.kind == AddrKind::tls_listen) {
    // Each client's handshake on its loop, bounded by the idle timeout when given (else 10 s).
    const auto limit = o.idle_timeout.count() > 0 ? o.idle_timeout : std::chrono::milliseconds(10'000);
    o.wrap = [ctx = *s.tls_server, limit, log = s.log](AsyncTcpStream tcp) {
      return tls_accept_bridged(std::move(tcp), ctx, Deadline(limit), log);
    };
  }
  SignalThread signals(s.log);
  Server server(std::move(o));
  auto bound = server.listen();
  if (!bound) {
    s.log.error(fmt::format("listen on {}: {}", s.a.text, describe(bound.error())));
    return exit_failure;
  }
  if (s.a.kind == AddrKind::unix_listen && s.a.unix_endpoint.kind() == EndpointKind::unix_path) {
    remove_on_exit(std::string(s.a.unix_endpoint.unix_name()));
  }
  const Endpoint bound_at = *bound;
  auto stats = server.run([&s, &bound_at](Connection& c) { return serve_client(c, s, bound_at); });
  if (!stats) {
    s.log.error(fmt::format("relay: {}", describe(stats.error())));
    return exit_failure;
  }
  if (s.log.enabled()) {
    Event e("summary");
    auto& c = relay_counters();
    e.add("flows", c.flows.load());
    e.add("failed", c.failed.load());
    e.add("rejected", stats->rejected);
    e.add("idle_timeouts", stats->idle_timeouts);
    e.add("bytes_a_to_b", c.a_to_b.load());
    e.add("bytes_b_to_a", c.b_to_a.load());
    s.log.emit(e);
  }
  return exit_ok;
}

namespace {

Task<int> two_connecting(EventLoop& loop, const RelaySettings& s) {
  auto a = co_await open_side(loop, s, s.a, Endpoint(), Endpoint(), {});
  if (!a) {
    s.log.error(fmt::format("{}: {}", s.a.text, describe(a.error())));
    co_return exit_failure;
  }
  auto b = co_await open_side(loop, s, s.b, Endpoint(), Endpoint(), {});
  if (!b) {
    s.log.error(fmt::format("{}: {}", s.b.text, describe(b.error())));
    co_return exit_failure;
  }
  FlowEnds ends{s.a.proto(), a->peer, a->local, s.b.proto(), b->local, b->peer};
  FlowStats stats;
  a->side->ends_flow = s.a.kind == AddrKind::exec;
  b->side->ends_flow = s.b.kind == AddrKind::exec;
  co_await run_flow(*a->side, *b->side, stats, s.idle(), s.splice());
  emit_flow(s.log, ends, stats);
  if (stats.idle_timed_out) {
    s.log.error("idle timeout: nothing moved either way in time");
    co_return exit_failure;
  }
  if (stats.error) {
    s.log.error(fmt::format("relay: {}", describe(stats.error)));
    co_return exit_failure;
  }
  co_return exit_ok;
}

}  // namespace

int relay_two_connecting(const RelaySettings& s) {
  SignalThread signals(s.log);
  EventLoop loop;
  return loop.run(two_connecting(loop, s));
}

}  // namespace tether::cli
