// tether connect HOST PORT | HOST:PORT: connect, then relay stdin and stdout over the connection.
#include "commands.hpp"
#include "options.hpp"
#include "relay.hpp"
#include "relay_netcat.hpp"
#include "relay_proxy_cli.hpp"
#include "session.hpp"
#include "tls_options.hpp"
#include "trace_hooks.hpp"

#include <tether/tcp.hpp>
#include <tether/udp.hpp>

#include <fmt/format.h>

#include <sys/socket.h>
#include <sys/un.h>

#include <memory>

namespace tether::cli {

namespace {

/// After stdin's end, `connect -u` waits this long for replies unless -w says otherwise.
constexpr std::chrono::milliseconds default_udp_linger{1000};

struct ConnectArgs {
  std::string host;
  std::string port;
  CommonOptions common;
  ProxyCliArgs proxy;  // --proxy... (relay_proxy_cli.hpp)
  bool probe = false;  // -z (relay_netcat.hpp)
};

/// Where to bind before connecting (-s / -p), or nullopt. May narrow `family` to the source's.
std::optional<Endpoint> source_endpoint(const ConnectArgs& a, IpFamily& family, const EventLog& log,
                                        bool& failed) {
  const auto& c = a.common;
  if (c.source.empty() && c.source_port.empty()) return std::nullopt;
  const std::string port = c.source_port.empty() ? "0" : c.source_port;
  const std::uint16_t port_number = port_or_usage(port, "source port (-p)");
  if (!c.source.empty()) {
    check_host_or_usage(c.source, port, "source address (-s)");
    auto ep = resolve_first(c.source, port, family, false);
    if (!ep) {
      log.error(fmt::format("source address '{}': {}", text_escape(c.source), describe(ep.error())));
      failed = true;
      return std::nullopt;
    }
    if (family == IpFamily::any) family = ep->family() == AF_INET6 ? IpFamily::ipv6 : IpFamily::ipv4;
    return *ep;
  }
  // -p alone: the wildcard address of the family the target will be reached by.
  if (family == IpFamily::any) {
    auto target = resolve_first(a.host, a.port, family, false);
    if (!target) {
      log.error(fmt::format("{}: {}", host_port_text(a.host, a.port), describe(target.error())));
      failed = true;
      return std::nullopt;
    }
    family = target->family() == AF_INET6 ? IpFamily::ipv6 : IpFamily::ipv4;
  }
  return family == IpFamily::ipv6 ? Endpoint::ipv6_any(port_number) : Endpoint::ipv4_any(port_number);
}

/// Binds an unbound Unix datagram socket to a kernel-chosen abstract name (autobind), so that the
/// peer has an address to answer to.
Status autobind_unix(UdpSocket& socket) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (::bind(socket.socket().fd(), reinterpret_cast<const sockaddr*>(&sa), sizeof(sa_family_t)) != 0) {
    return fail(errno_code(errno));
  }
  return {};
}

/// "connect to HOST:PORT: why" for one attempt; every attempt (address: why) for several.
std::string describe_connect_failure(const std::string& target, const std::vector<ConnectFailure>& failures,
                                     std::error_code last) {
  if (failures.size() <= 1) return fmt::format("connect to {}: {}", target, describe(last));
  std::string m = fmt::format("connect to {} failed ({} addresses):", target, failures.size());
  for (std::size_t i = 0; i < failures.size(); ++i) {
    m += fmt::format("{} {}: {}", i == 0 ? "" : ";", failures[i].address.to_string(),
                     describe(failures[i].error));
  }
  return m;
}

/// HOST PORT without a proxy: every resolved address raced as the library's async connect does
/// (Happy Eyeballs: IPv6 and IPv4, 250 ms head start). The error line names each attempt.
Result<TcpStream> connect_direct(const ConnectArgs& a, const ConnectOptions& co, const std::string& target,
                                 const EventLog& log) {
  ResolveOptions ro;
  ro.family = co.family;
  auto addresses = resolve(a.host, a.port, ro);
  if (!addresses) {
    log.error(fmt::format("{}: {}", target, describe(addresses.error())));
    return std::unexpected(addresses.error());
  }
  std::vector<ConnectFailure> failures;
  auto stream = TcpStream::race(*addresses, co, &failures);
  if (!stream) {
    if (!failures.empty() && failures.back().bind) {
      log.error(fmt::format("bind to source {}: {}", failures.back().address.to_string(),
                            describe(failures.back().error)));
    } else {
      log.error(describe_connect_failure(target, failures, stream.error()));
    }
  }
  return stream;
}

int connect_stream(const ConnectArgs& a, const EventLog& log, Deadline deadline) {
  const auto& c = a.common;
  Result<TcpStream> stream;
  std::string target;  // for errors and the TLS session
  if (c.is_unix()) {
    auto ep = unix_endpoint_or_usage(c.unix_path);
    target = ep.to_string();
    stream = TcpStream::connect(ep, deadline);
    if (!stream) {
      log.error(fmt::format("connect to {}: {}", ep.to_string(), describe(stream.error())));
      return exit_failure;
    }
  } else {
    ConnectOptions co;
    co.deadline = deadline;
    co.family = c.family();
    bool failed = false;
    co.source = source_endpoint(a, co.family, log, failed);
    if (failed) return exit_failure;
    target = host_port_text(a.host, a.port);
    trace_connect_start(log, a.host, a.port, co.family);
    stream = a.proxy.requested() ? connect_through_proxy(a.proxy, a.host, a.port, deadline, log)
                                 : connect_direct(a, co, target, log);
    if (!stream) {
      if (a.proxy.requested()) log.error(fmt::format("connect to {}: {}", target, describe(stream.error())));
      return exit_failure;
    }
  }
  const auto local = stream->local_endpoint();
  const auto peer = stream->peer_endpoint();
  emit_endpoints(log, "connected", c.proto(), local, peer);
  if (tls_flags().tls) return tls_connect_session(std::move(*stream), a.host, target, c, log, deadline);
  StreamRelayOptions ro;
  ro.idle_timeout = c.timeout();
  ro.quit_after_eof = c.quit_after_eof();
  ro.crlf = c.crlf;
  TraceSession trace(log, *stream, false);
  RelayStats stats = relay_stream(*stream, ro);
  trace.finish(stats);
  emit_closed(log, c.proto(), local, peer, stats, &*stream);
  return finish_relay(log, stats);
}

int connect_datagram(const ConnectArgs& a, const EventLog& log) {
  const auto& c = a.common;
  Endpoint remote;
  Result<UdpSocket> socket;
  if (c.is_unix()) {
    remote = unix_endpoint_or_usage(c.unix_path);
    socket = UdpSocket::open(remote);
    if (socket) {
      if (auto st = autobind_unix(*socket); !st) socket = fail(st.error());
    }
  } else {
    IpFamily family = c.family();
    bool failed = false;
    auto source = source_endpoint(a, family, log, failed);
    if (failed) return exit_failure;
    auto resolved = resolve_first(a.host, a.port, family, false);
    if (!resolved) {
      log.error(fmt::format("{}: {}", host_port_text(a.host, a.port), describe(resolved.error())));
      return exit_failure;
    }
    remote = *resolved;
    socket = source ? UdpSocket::bind(*source) : UdpSocket::open(remote);
    if (!socket && source) {
      log.error(fmt::format("bind to source {}: {}", source->to_string(), describe(socket.error())));
      return exit_failure;
    }
  }
  if (socket) {
    if (auto st = socket->connect(remote); !st) socket = fail(st.error());
  }
  if (!socket) {
    log.error(fmt::format("connect to {}: {}", remote.to_string(), describe(socket.error())));
    return exit_failure;
  }
  const auto local = socket->local_endpoint();
  const auto peer = socket->peer_endpoint();
  emit_endpoints(log, "connected", c.proto(), local, peer);
  DatagramRelayOptions ro;
  ro.connected = true;
  ro.idle_timeout = c.timeout();
  ro.linger_after_eof = c.quit_after_eof() ? *c.quit_after_eof() : c.timeout() ? *c.timeout() : default_udp_linger;
  ro.crlf = c.crlf;
  RelayStats stats = relay_datagrams(*socket, ro);
  emit_closed(log, c.proto(), local, peer, stats, nullptr);
  return finish_relay(log, stats);
}

/// One argument "HOST:PORT", "[V6]:PORT" or "host:service" becomes HOST and PORT.
void split_host_port(ConnectArgs& a) {
  if (a.host.find(':') == std::string::npos) throw UsageError("PORT is required (HOST PORT or HOST:PORT)");
  auto hp = HostPort::parse(a.host);
  if (!hp) {
    if (hp.error() == make_error_code(Errc::missing_port)) {
      throw UsageError(fmt::format("'{}': PORT is required (HOST PORT, HOST:PORT or [IPV6]:PORT)",
                                   text_escape(a.host)));
    }
    throw UsageError(fmt::format("'{}': {}", text_escape(a.host), describe(hp.error())));
  }
  if (hp->host.empty()) throw UsageError(fmt::format("'{}': HOST is empty", text_escape(a.host)));
  a.host = hp->host;
  a.port = hp->service;
}

int run_connect(ConnectArgs& a) {
  const auto& c = a.common;
  // The deadline starts before any resolution: -w bounds resolving and connecting together.
  const Deadline deadline = c.timeout() ? Deadline(*c.timeout()) : Deadline::never();
  const EventLog log(c.event_format());
  check_trace_applies(!c.udp && !c.is_unix(), "needs a TCP connection (not -u or --unix)");
  check_tls_flags(!c.udp, "needs a stream (not -u)");
  check_trace_applies(!tls_flags().tls, "does not apply to --tls");
  // -z opens no session: a TLS probe would be a different tool (openssl s_client).
  if (tls_flags().tls && a.probe) throw UsageError("--tls does not combine with -z (a probe sends nothing)");
  if (a.probe) {
    if (a.proxy.requested()) throw UsageError("-z probes directly (not with --proxy)");
    return probe_ports(a.host, a.port, c, log);
  }
  if (c.is_unix()) {
    if (!a.host.empty() || !a.port.empty()) throw UsageError("--unix PATH replaces HOST PORT");
    if (!c.source.empty() || !c.source_port.empty()) throw UsageError("-s/-p do not apply to --unix");
    if (c.ipv4 || c.ipv6) throw UsageError("-4/-6 do not apply to --unix");
  } else {
    if (a.host.empty()) throw UsageError("HOST is required");
    if (a.port.empty()) split_host_port(a);
    port_or_usage(a.port, "port");
    check_host_or_usage(a.host, a.port, "host");
  }
  check_proxy_usage(a.proxy, !c.udp && !c.is_unix() && c.source.empty() && c.source_port.empty());
  return c.udp ? connect_datagram(a, log) : connect_stream(a, log, deadline);
}

}  // namespace

void add_connect_command(CLI::App& app) {
  auto args = std::make_shared<ConnectArgs>();
  CLI::App* cmd = app.add_subcommand(
      "connect",
      "Connect to HOST PORT (or HOST:PORT) and relay stdin and stdout over the connection");
  cmd->footer(
      "A name with several addresses is raced IPv6/IPv4 (Happy Eyeballs: the next address starts\n"
      "250 ms after the previous one or at once when it fails); a failure lists every attempt.\n"
      "Both directions run at once. At the end of stdin, tether sends FIN and keeps printing\n"
      "until the peer closes. With -u, each stdin read is one datagram, and after stdin's end\n"
      "replies are printed until -w seconds (default 1) pass without one.\n"
      "Exit status: 0 clean close, 1 network error (refused, timed out, reset...), 2 bad usage.");
  cmd->add_option("HOST", args->host, "Host name or address; or HOST:PORT, [IPV6]:PORT as one argument");
  cmd->add_option("PORT", args->port, "Port number or service name (e.g. 80, http)");
  add_common_options(*cmd, args->common, "Bind to this local address before connecting",
                     "Bind to this local port before connecting");
  add_trace_option(*cmd);
  add_tls_client_options(*cmd);
  add_proxy_options(*cmd, args->proxy);
  cmd->add_flag("-z", args->probe, "Probe PORT or a range LOW-HIGH for listeners, sending nothing (-v shows each)");
  cmd->callback([args] { finish(run_connect(*args)); });
}

}  // namespace tether::cli
