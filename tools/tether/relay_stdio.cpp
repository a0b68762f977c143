// tether relay with stdio on one side: the synchronous relay of connect/listen (relay.hpp) between
// stdin/stdout and a stream (tcp, unix, exec, proxy, or one accepted client) or a UDP socket;
// over TLS (tls:, tls-listen:) the TLS relay of connect/listen --tls (relay_tls.cpp).
#include "relay.hpp"
#include "relay_cmd.hpp"
#include "relay_tls.hpp"
#include "options.hpp"
#include "session.hpp"
#include "unix_cleanup.hpp"

#include <tether/udp.hpp>

#include <fmt/format.h>

namespace tether::cli {

namespace {

FlowStats flow_stats(const RelayStats& r) {
  FlowStats f;
  f.a_to_b = r.bytes_out;
  f.b_to_a = r.bytes_in;
  f.closed_first = r.closed_first == Closer::local ? FlowEnd::a : r.closed_first == Closer::peer ? FlowEnd::b : FlowEnd::none;
  f.idle_timed_out = r.idle_timed_out;
  if (!r.idle_timed_out) f.error = r.error;
  f.start = std::chrono::steady_clock::now() - r.duration;
  return f;
}

int stream_with_stdio(const RelaySettings& s, TcpStream& stream, const RelayAddress& other, std::string other_peer) {
  FlowEnds ends{"stdio", "stdin", "stdout", other.proto(), endpoint_text(stream.local_endpoint()),
                std::move(other_peer)};
  StreamRelayOptions ro;
  ro.idle_timeout = s.idle();
  RelayStats stats = relay_stream(stream, ro);
  emit_flow(s.log, ends, flow_stats(stats));
  return finish_relay(s.log, stats);
}

int udp_with_stdio(const RelaySettings& s) {
  auto remote = resolve_first(s.b.host, s.b.port, IpFamily::any, false);
  if (!remote) {
    s.log.error(fmt::format("{}: {}", s.b.text, describe(remote.error())));
    return exit_failure;
  }
  auto socket = UdpSocket::open(*remote);
  if (socket) {
    if (auto st = socket->connect(*remote); !st) socket = fail(st.error());
  }
  if (!socket) {
    s.log.error(fmt::format("{}: {}", s.b.text, describe(socket.error())));
    return exit_failure;
  }
  DatagramRelayOptions ro;
  ro.connected = true;
  ro.idle_timeout = s.idle();
  ro.linger_after_eof = s.idle() ? *s.idle() : std::chrono::milliseconds(1000);
  RelayStats stats = relay_datagrams(*socket, ro);
  FlowEnds ends{"stdio", "stdin", "stdout", "udp", endpoint_text(socket->local_endpoint()), remote->to_string()};
  emit_flow(s.log, ends, flow_stats(stats));
  return finish_relay(s.log, stats);
}

/// A listener on side A and stdio on side B: one client, as socat does without fork.
int accept_one(const RelaySettings& s) {
  Endpoint local = s.a.unix_endpoint;
  if (s.a.kind == AddrKind::tcp_listen || s.a.kind == AddrKind::tls_listen) {
    auto ep = resolve_first(s.a.host, s.a.port, IpFamily::any, true);
    if (!ep) {
      s.log.error(fmt::format("listen on {}: {}", s.a.text, describe(ep.error())));
      return exit_failure;
    }
    local = *ep;
  }
  auto listener = TcpListener::bind(local);
  if (!listener) {
    s.log.error(fmt::format("listen on {}: {}", s.a.text, describe(listener.error())));
    return exit_failure;
  }
  if (local.kind() == EndpointKind::unix_path) remove_on_exit(std::string(local.unix_name()));
  if (s.log.enabled()) {
    Event e("listening");
    e.add("proto", s.a.proto());
    e.add("local", endpoint_text(listener->local_endpoint()));
    s.log.emit(e);
  }
  auto accepted = listener->accept();
  if (!accepted) {
    s.log.error(fmt::format("accept: {}", describe(accepted.error())));
    return exit_failure;
  }
  if (s.a.kind == AddrKind::tls_listen) return tls_accept_one(s, std::move(accepted->stream), accepted->peer);
  FlowEnds ends{s.a.proto(), accepted->peer.to_string(), endpoint_text(accepted->stream.local_endpoint()),
                "stdio", "stdout", "stdin"};
  StreamRelayOptions ro;
  ro.idle_timeout = s.idle();
  RelayStats stats = relay_stream(accepted->stream, ro);
  // relay_stream counts from the socket's point of view: "in" is client -> stdout (a -> b).
  FlowStats f = flow_stats(stats);
  std::swap(f.a_to_b, f.b_to_a);
  f.closed_first = f.closed_first == FlowEnd::a ? FlowEnd::b : f.closed_first == FlowEnd::b ? FlowEnd::a : FlowEnd::none;
  emit_flow(s.log, ends, f);
  return finish_relay(s.log, stats);
}

}  // namespace

int relay_stdio(const RelaySettings& s) {
  SignalThread signals(s.log);
  if (s.a.listening()) return accept_one(s);
  // Side A is stdio.
  if (s.b.kind == AddrKind::udp) return udp_with_stdio(s);
  if (s.b.kind == AddrKind::tls) return tls_with_stdio(s);
  auto stream = open_sync(s, s.b);
  if (!stream) {
    s.log.error(fmt::format("{}: {}", s.b.text, describe(stream.error())));
    return exit_failure;
  }
  std::string peer = s.b.kind == AddrKind::exec ? s.b.text : endpoint_text(stream->peer_endpoint());
  return stream_with_stdio(s, *stream, s.b, std::move(peer));
}

}  // namespace tether::cli
