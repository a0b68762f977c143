// tls: and tls-listen: for tether relay, and the sides a flow opens (relay_tls.hpp).
#include "relay_tls.hpp"

#include "options.hpp"
#include "session.hpp"
#include "tls_options.hpp"
#include "tls_relay.hpp"

#include <fmt/format.h>

#include <memory>

#include <vector>

namespace tether::cli {

namespace {

constexpr std::chrono::seconds handshake_limit{10};
constexpr std::size_t tls_chunk = 64 * 1024;

bool has(AddrKind k, const RelaySettings& s) { return s.a.kind == k || s.b.kind == k; }

/// A stream the relay opened and owns (tcp, unix, exec, proxy).
class OwnedStreamSide final : public FlowSide {
 public:
  explicit OwnedStreamSide(AsyncTcpStream stream) : stream_(std::move(stream)), inner_(stream_) {}
  Task<Result<std::span<const std::byte>>> read() override { return inner_.read(); }
  Task<Status> write(std::span<const std::byte> data) override { return inner_.write(data); }
  Task<void> shutdown_write() override { return inner_.shutdown_write(); }
  void stop_reading() override { inner_.stop_reading(); }
  void abort() override { inner_.abort(); }
  int splice_fd() noexcept override { return inner_.splice_fd(); }
  detail::WaitOp wait_ready(bool writable) noexcept override { return inner_.wait_ready(writable); }
  void note_moved(std::size_t in, std::size_t out) noexcept override { inner_.note_moved(in, out); }

 private:
  AsyncTcpStream stream_;
  StreamSide inner_;
};

/// A TLS client connection: plaintext in and out; end of stream is the peer's close_notify.
class TlsSide final : public FlowSide {
 public:
  explicit TlsSide(AsyncTlsStream tls) : tls_(std::move(tls)), in_(tls_chunk) {}
  Task<Result<std::span<const std::byte>>> read() override {
    auto n = co_await tls_.read_some(in_);
    if (!n) co_return fail(n.error());
    co_return std::span<const std::byte>(in_.data(), *n);
  }
  Task<Status> write(std::span<const std::byte> data) override {
    out_.assign(data.begin(), data.end());  // borrowed bytes: copied before suspending
    co_return co_await tls_.write_all(std::span<const std::byte>(out_));
  }
  Task<void> shutdown_write() override { (void)co_await tls_.shutdown(std::chrono::seconds(5)); }
  void stop_reading() override { tls_.tcp().cancel(); }
  void abort() override { tls_.tcp().close(); }

 private:
  AsyncTlsStream tls_;
  std::vector<std::byte> in_;
  std::vector<std::byte> out_;
};

std::vector<std::string> alpn_or_usage(const std::string& text) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (!text.empty() && at <= text.size()) {
    auto comma = text.find(',', at);
    std::string item = text.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    if (item.empty() || item.size() > 255) {
      throw UsageError(fmt::format("--alpn '{}': empty or too long protocol name", text_escape(text)));
    }
    out.push_back(std::move(item));
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  return out;
}

/// A certificate and its key (--cert/--key or --client-cert/--client-key) as an identity
/// (nullopt: none given); prints the reason on failure.
Result<std::optional<TlsIdentity>> identity(const std::string& cert, const std::string& key, const EventLog& log) {
  if (cert.empty()) return std::optional<TlsIdentity>();
  auto id = TlsIdentity::load(cert, key);
  if (!id) {
    log.error(fmt::format("{}: {}", id.error() == TlsErrc::bad_key_file ? key : cert, describe(id.error())));
    return fail(id.error());
  }
  return std::optional<TlsIdentity>(std::move(*id));
}

/// The files a context was made from, to name the one at fault.
struct ContextFiles {
  const std::string& ca;
  const std::string& cert;
  const std::string& key;
};

bool context_failed(const ContextFiles& files, const EventLog& log, std::error_code ec) {
  std::string where = ec == TlsErrc::bad_ca_file ? files.ca
                      : ec == TlsErrc::bad_key_file ? files.key
                      : ec == TlsErrc::bad_cert_file || ec == TlsErrc::key_mismatch ? files.cert
                                                                                   : std::string("TLS");
  log.error(fmt::format("{}: {}", where, describe(ec)));
  return false;
}

std::string name_for(const RelaySettings& s, const RelayAddress& b) {
  return s.flags.sni.empty() ? b.host : s.flags.sni;
}

/// --tls-proxy: the tls: address as a proxied stream (socks5:PROXY:PPORT:HOST:PORT) to open first.
RelayAddress through_proxy(const RelaySettings& s, const RelayAddress& b) {
  RelayAddress p = b;
  p.kind = AddrKind::proxy;
  p.proxy_type = s.flags.tls_proxy_type;
  split_host_port(s.flags.tls_proxy, p.proxy_host, p.proxy_port);
  return p;
}

}  // namespace

bool prepare_relay_tls(RelaySettings& s) {
  const auto& f = s.flags;
  const bool client = has(AddrKind::tls, s);
  const bool server = has(AddrKind::tls_listen, s);
  auto refuse = [](bool given, bool applies, std::string_view flag, std::string_view why) {
    if (given && !applies) throw UsageError(fmt::format("{} {}", flag, why));
  };
  refuse(f.insecure, client, "-k/--insecure", "applies to a tls: address");
  refuse(!f.ca.empty(), client, "--ca", "applies to a tls: address");
  refuse(!f.sni.empty(), client, "--sni", "applies to a tls: address");
  refuse(!f.pin.empty(), client, "--tls-pin", "applies to a tls: address");
  refuse(!f.client_ca.empty(), server, "--client-ca", "applies to a tls-listen: address");
  refuse(!f.cert.empty() || !f.key.empty(), client || server, "--cert/--key", "apply to a tls: or tls-listen: address");
  refuse(!f.client_cert.empty() || !f.client_key.empty(), client, "--client-cert/--client-key", "apply to a tls: address");
  refuse(!f.alpn.empty(), client || server, "--alpn", "applies to a tls: or tls-listen: address");
  refuse(!f.tls_proxy.empty(), client, "--tls-proxy", "applies to a tls: address");
  refuse(f.tls_proxy_type != "socks5" && f.tls_proxy.empty(), false, "--tls-proxy-type", "needs --tls-proxy");
  if (!f.tls_proxy.empty()) {
    std::string host;
    std::string port;
    if (!split_host_port(f.tls_proxy, host, port) || host.empty()) throw UsageError("--tls-proxy expects HOST:PORT");
    port_or_usage(port, "proxy port");
    check_host_or_usage(host, port, "proxy host");
  }
  if (f.cert.empty() != f.key.empty()) throw UsageError("--cert and --key go together");
  if (f.client_cert.empty() != f.client_key.empty()) throw UsageError("--client-cert and --client-key go together");
  if (!f.pin.empty() && !parse_pin(f.pin)) {
    throw UsageError(fmt::format("--tls-pin '{}': {}", text_escape(f.pin), describe(make_error_code(TlsErrc::bad_pin))));
  }
  if (!f.pin.empty() && f.insecure) throw UsageError("--tls-pin and -k/--insecure contradict each other");
  const auto alpn = alpn_or_usage(f.alpn);
  if (!client && !server) return true;
  auto id = identity(f.cert, f.key, s.log);
  if (!id) return false;
  if (server) {
    TlsOptions o;
    o.ca_file = f.client_ca;
    o.alpn = alpn;
    o.identity = *id;  // --cert/--key belong to the listening side when there is one
    if (!o.identity && !use_ephemeral_identity(o.identity, s.log)) return false;
    auto ctx = TlsContext::server(o);
    if (!ctx) return context_failed({f.client_ca, f.cert, f.key}, s.log, ctx.error());
    s.tls_server = std::move(*ctx);
  }
  if (client) {
    TlsOptions o;
    o.ca_file = f.ca;
    o.verify = !f.insecure;
    o.alpn = alpn;
    if (!f.pin.empty()) o.pin = *parse_pin(f.pin);
    // --client-cert/--client-key always; --cert/--key only when no tls-listen: took them.
    const bool own = !f.client_cert.empty();
    const std::string& cert = own ? f.client_cert : f.cert;
    const std::string& key = own ? f.client_key : f.key;
    if (own) {
      auto mine = identity(cert, key, s.log);
      if (!mine) return false;
      o.identity = std::move(*mine);
    } else if (!server) {
      o.identity = *id;
    }
    auto ctx = TlsContext::client(o);
    if (!ctx) return context_failed({f.ca, cert, key}, s.log, ctx.error());
    s.tls_client = std::move(*ctx);
  }
  return true;
}

Task<Result<OpenedSide>> open_side(EventLoop& loop, const RelaySettings& s, const RelayAddress& b,
                                   const Endpoint& peer, const Endpoint& local, std::string preamble) {
  OpenedSide out;
  if (b.kind == AddrKind::tls && !s.flags.tls_proxy.empty()) {
    // The tunnel first, then the handshake through it, for the final host.
    auto up = co_await open_async(loop, s, through_proxy(s, b), peer, local);
    if (!up) co_return fail(up.error());
    out.local = endpoint_text(up->local_endpoint());
    out.peer = endpoint_text(up->peer_endpoint());
    if (!preamble.empty()) {
      if (auto w = co_await up->write_all(preamble); !w) co_return fail(w.error());
    }
    auto tls = co_await AsyncTlsStream::connect(std::move(*up), *s.tls_client, name_for(s, b), Deadline(handshake_limit));
    if (!tls) co_return fail(tls.error());
    emit_tls(s.log, tls->info(), nullptr);
    out.side = std::make_unique<TlsSide>(std::move(*tls));
    co_return std::move(out);
  }
  if (b.kind != AddrKind::tls) {
    auto up = co_await open_async(loop, s, b, peer, local);
    if (!up) co_return fail(up.error());
    out.local = endpoint_text(up->local_endpoint());
    out.peer = b.kind == AddrKind::exec ? b.text : endpoint_text(up->peer_endpoint());
    if (!preamble.empty()) {
      if (auto w = co_await up->write_all(preamble); !w) co_return fail(w.error());
    }
    out.side = std::make_unique<OwnedStreamSide>(std::move(*up));
    co_return std::move(out);
  }
  HappyEyeballsOptions o;
  o.deadline = Deadline(s.connect_timeout());
  auto tcp = co_await AsyncTcpStream::connect(loop, b.host, b.port, o);
  if (!tcp) co_return fail(tcp.error());
  out.local = endpoint_text(tcp->local_endpoint());
  out.peer = endpoint_text(tcp->peer_endpoint());
  if (!preamble.empty()) {
    if (auto w = co_await tcp->write_all(preamble); !w) co_return fail(w.error());
  }
  auto tls = co_await AsyncTlsStream::connect(std::move(*tcp), *s.tls_client, name_for(s, b),
                                              Deadline(handshake_limit));
  if (!tls) co_return fail(tls.error());
  emit_tls(s.log, tls->info(), nullptr);
  out.side = std::make_unique<TlsSide>(std::move(*tls));
  co_return std::move(out);
}

namespace {

/// relay_tls() between stdin/stdout and `tls`; the flow event and the exit status.
int relay_stdio_tls(const RelaySettings& s, TlsStream& tls, FlowEnds ends, bool listening) {
  StreamRelayOptions ro;
  ro.idle_timeout = s.idle();
  RelayStats stats = relay_tls(tls, ro);
  FlowStats f;
  // relay_tls counts from the connection's point of view: "in" is TLS -> stdout.
  f.a_to_b = listening ? stats.bytes_in : stats.bytes_out;
  f.b_to_a = listening ? stats.bytes_out : stats.bytes_in;
  const FlowEnd stdio_end = listening ? FlowEnd::b : FlowEnd::a;
  const FlowEnd tls_end = listening ? FlowEnd::a : FlowEnd::b;
  if (stats.closed_first != Closer::none) f.closed_first = stats.closed_first == Closer::local ? stdio_end : tls_end;
  f.idle_timed_out = stats.idle_timed_out;
  if (!stats.idle_timed_out) f.error = stats.error;
  f.start = std::chrono::steady_clock::now() - stats.duration;
  emit_flow(s.log, ends, f);
  (void)tls.close(std::chrono::seconds(1));
  return finish_relay(s.log, stats);
}

}  // namespace

int tls_with_stdio(const RelaySettings& s) {
  const RelayAddress& b = s.b;
  Result<TcpStream> tcp;
  if (s.flags.tls_proxy.empty()) {
    ConnectOptions co;
    co.deadline = Deadline(s.connect_timeout());
    tcp = TcpStream::connect(b.host, b.port, co);
  } else {
    tcp = open_sync(s, through_proxy(s, b));
  }
  if (!tcp) {
    s.log.error(fmt::format("{}: {}", b.text, describe(tcp.error())));
    return exit_failure;
  }
  FlowEnds ends{"stdio", "stdin", "stdout", "tls", endpoint_text(tcp->local_endpoint()),
                endpoint_text(tcp->peer_endpoint())};
  auto tls = TlsStream::connect(std::move(*tcp), *s.tls_client, name_for(s, b), Deadline(handshake_limit));
  if (!tls) {
    s.log.error(fmt::format("TLS handshake with {}: {}", host_port_text(b.host, b.port), describe(tls.error())));
    return exit_failure;
  }
  emit_tls(s.log, tls->info(), nullptr);
  return relay_stdio_tls(s, *tls, std::move(ends), false);
}

int tls_accept_one(const RelaySettings& s, TcpStream accepted, const Endpoint& peer) {
  FlowEnds ends{"tls", peer.to_string(), endpoint_text(accepted.local_endpoint()), "stdio", "stdout", "stdin"};
  auto tls = TlsStream::accept(std::move(accepted), *s.tls_server, Deadline(handshake_limit));
  if (!tls) {
    s.log.error(fmt::format("TLS handshake with {}: {}", peer.to_string(), describe(tls.error())));
    return exit_failure;
  }
  emit_tls(s.log, tls->info(), &peer);
  return relay_stdio_tls(s, *tls, std::move(ends), true);
}

}  // namespace tether::cli
