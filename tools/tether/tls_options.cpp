// The --tls flags of connect and listen, their contexts, and the connect/listen relay sessions.
#include "tls_options.hpp"

#include "relay.hpp"
#include "session.hpp"
#include "tls_relay.hpp"

#include <fmt/format.h>

#include <memory>
#include <optional>
#include <sstream>
#include <vector>

namespace tether::cli {

namespace {

constexpr std::chrono::seconds handshake_limit{10};

std::vector<std::string> alpn_list(const std::string& text) {
  std::vector<std::string> out;
  if (text.empty()) return out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (item.empty() || item.size() > 255) throw UsageError(fmt::format("--alpn '{}': empty or too long protocol name", text_escape(text)));
    out.push_back(item);
  }
  return out;
}

/// --cert/--key as an identity; a runtime error (printed) when the files cannot be read.
std::optional<TlsIdentity> identity(const TlsFlags& f, const EventLog& log, bool& failed) {
  if (f.cert.empty() && f.key.empty()) return std::nullopt;
  if (f.cert.empty() || f.key.empty()) throw UsageError("--cert and --key go together");
  auto id = TlsIdentity::load(f.cert, f.key);
  if (!id) {
    log.error(fmt::format("{}: {}", id.error() == TlsErrc::bad_key_file ? f.key : f.cert, describe(id.error())));
    failed = true;
    return std::nullopt;
  }
  return *id;
}

std::string context_error(const TlsFlags& f, std::error_code ec) {
  if (ec == TlsErrc::bad_ca_file) return fmt::format("{}: {}", f.client_ca.empty() ? f.ca : f.client_ca, describe(ec));
  if (ec == TlsErrc::bad_cert_file || ec == TlsErrc::key_mismatch) return fmt::format("{}: {}", f.cert, describe(ec));
  if (ec == TlsErrc::bad_key_file) return fmt::format("{}: {}", f.key, describe(ec));
  return describe(ec);
}

std::optional<TlsContext>& server_context() {
  static std::optional<TlsContext> ctx;
  return ctx;
}

int handshake_failed(const EventLog& log, std::string_view who, std::error_code ec) {
  log.error(fmt::format("TLS handshake with {}: {}", who, describe(ec)));
  return exit_failure;
}

int relay_over(TlsStream& tls, const CommonOptions& common, std::optional<std::chrono::milliseconds> idle,
               const EventLog& log) {
  StreamRelayOptions ro;
  ro.idle_timeout = idle;
  ro.quit_after_eof = common.quit_after_eof();
  ro.crlf = common.crlf;
  RelayStats stats = relay_tls(tls, ro);
  emit_closed(log, common.proto(), tls.tcp().local_endpoint(), tls.tcp().peer_endpoint(), stats, &tls.tcp());
  (void)tls.close(std::chrono::seconds(1));
  return finish_relay(log, stats);
}

}  // namespace

TlsFlags& tls_flags() {
  static TlsFlags flags;
  return flags;
}

void add_tls_client_options(CLI::App& cmd) {
  auto& f = tls_flags();
  cmd.add_flag("--tls", f.tls, "Use TLS; the server's certificate and name are verified");
  cmd.add_flag("-k,--insecure", f.insecure, "--tls: do not verify the server's certificate");
  cmd.add_option("--ca", f.ca, "--tls: trust the CAs in FILE (PEM) instead of the system store")->type_name("FILE");
  cmd.add_option("--cert", f.cert, "--tls: client certificate (PEM)")->type_name("FILE");
  cmd.add_option("--key", f.key, "--tls: the client certificate's private key (PEM)")->type_name("FILE");
  cmd.add_option("--sni", f.sni, "--tls: server name to send and verify (default: HOST)")->type_name("NAME");
  cmd.add_option("--alpn", f.alpn, "--tls: ALPN protocols to offer, comma-separated")->type_name("LIST");
  cmd.add_option("--tls-pin", f.pin, "--tls: trust exactly the certificate with this SHA-256")->type_name("sha256:HEX");
}

void add_tls_server_options(CLI::App& cmd) {
  auto& f = tls_flags();
  cmd.add_flag("--tls", f.tls, "Use TLS (every mode); without --cert/--key an ephemeral certificate is made and its SHA-256 printed");
  cmd.add_option("--cert", f.cert, "--tls: server certificate (PEM, chain allowed)")->type_name("FILE");
  cmd.add_option("--key", f.key, "--tls: the certificate's private key (PEM)")->type_name("FILE");
  cmd.add_option("--client-ca", f.client_ca, "--tls: require client certificates signed by these CAs (PEM)")->type_name("FILE");
  cmd.add_option("--alpn", f.alpn, "--tls: ALPN protocols to accept, in order of preference")->type_name("LIST");
}

void check_tls_flags(bool applies, std::string_view why_not) {
  const auto& f = tls_flags();
  if (!f.tls) {
    const char* given = f.insecure ? "-k/--insecure" : !f.ca.empty() ? "--ca" : !f.cert.empty() ? "--cert"
                        : !f.key.empty() ? "--key" : !f.sni.empty() ? "--sni" : !f.alpn.empty() ? "--alpn"
                        : !f.pin.empty() ? "--tls-pin" : !f.client_ca.empty() ? "--client-ca" : nullptr;
    if (given != nullptr) throw UsageError(fmt::format("{} needs --tls", given));
    return;
  }
  if (!applies) throw UsageError(fmt::format("--tls {}", why_not));
  if (!f.pin.empty() && !parse_pin(f.pin)) throw UsageError(fmt::format("--tls-pin '{}': {}", text_escape(f.pin), describe(make_error_code(TlsErrc::bad_pin))));
  if (f.cert.empty() != f.key.empty()) throw UsageError("--cert and --key go together");
  if (!f.pin.empty() && f.insecure) throw UsageError("--tls-pin and -k/--insecure contradict each other");
  (void)alpn_list(f.alpn);
}

int tls_connect_session(TcpStream tcp, std::string_view host, std::string_view target,
                        const CommonOptions& common, const EventLog& log, Deadline deadline) {
  const auto& f = tls_flags();
  TlsOptions o;
  o.ca_file = f.ca;
  o.verify = !f.insecure;
  o.alpn = alpn_list(f.alpn);
  if (!f.pin.empty()) o.pin = *parse_pin(f.pin);
  bool failed = false;
  o.identity = identity(f, log, failed);
  if (failed) return exit_failure;
  auto ctx = TlsContext::client(o);
  if (!ctx) {
    log.error(context_error(f, ctx.error()));
    return exit_failure;
  }
  const std::string name(f.sni.empty() ? host : std::string_view(f.sni));
  auto tls = TlsStream::connect(std::move(tcp), *ctx, common.is_unix() && f.sni.empty() ? std::string_view{} : name,
                                earliest(deadline, Deadline(handshake_limit)));
  if (!tls) return handshake_failed(log, target, tls.error());
  emit_tls(log, tls->info(), nullptr);
  return relay_over(*tls, common, common.timeout(), log);
}

bool use_ephemeral_identity(std::optional<TlsIdentity>& identity, const EventLog& log) {
  auto eph = TlsIdentity::ephemeral();
  if (!eph) {
    log.error(fmt::format("ephemeral certificate: {}", describe(eph.error())));
    return false;
  }
  identity = std::move(*eph);
  const std::string pin = "sha256:" + to_hex(*identity->fingerprint());
  if (log.enabled()) {
    Event e("tls_certificate");
    e.add("ephemeral", true);
    e.add("fingerprint", pin);
    log.emit(e);
  } else {
    write_stderr(fmt::format("tether: ephemeral TLS certificate {}\n", pin));
  }
  return true;
}

bool prepare_tls_server(const ListenSettings& s) {
  const auto& f = tls_flags();
  if (!f.tls) return true;
  TlsOptions o;
  o.ca_file = f.client_ca;
  o.alpn = alpn_list(f.alpn);
  bool failed = false;
  o.identity = identity(f, s.log, failed);
  if (failed) return false;
  if (!o.identity && !use_ephemeral_identity(o.identity, s.log)) return false;
  auto ctx = TlsContext::server(o);
  if (!ctx) {
    s.log.error(context_error(f, ctx.error()));
    return false;
  }
  server_context() = std::move(*ctx);
  return true;
}

const TlsContext& tls_server_context() { return *server_context(); }

int tls_serve_session(TcpStream tcp, const Endpoint& peer, const ListenSettings& s) {
  const auto limit = s.common.timeout() ? Deadline(*s.common.timeout()) : Deadline(handshake_limit);
  auto tls = TlsStream::accept(std::move(tcp), *server_context(), limit);
  if (!tls) return handshake_failed(s.log, peer.to_string(), tls.error());
  emit_tls(s.log, tls->info(), &peer);
  return relay_over(*tls, s.common, s.keep.idle_timeout, s.log);
}

void emit_tls(const EventLog& log, const TlsInfo& i, const Endpoint* peer) {
  if (!log.enabled()) return;
  Event e("tls");
  if (peer != nullptr) e.add("peer", *peer);
  e.add("version", i.version);
  e.add("cipher", i.cipher);
  if (!i.alpn.empty()) e.add("alpn", i.alpn);
  if (!i.sni.empty()) e.add("sni", i.sni);
  if (!i.peer_subject.empty()) e.add("peer_subject", i.peer_subject);
  if (!i.peer_fingerprint.empty()) e.add("peer_fingerprint", "sha256:" + i.peer_fingerprint);
  e.add("handshake_ms", std::chrono::duration<double, std::milli>(i.handshake_time).count());
  log.emit(e);
}

}  // namespace tether::cli
