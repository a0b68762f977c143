// tether relay A B: socat-class address pairs on the async core (relay_cmd.hpp).
#include "relay_cmd.hpp"

#include "commands.hpp"
#include "options.hpp"
#include "relay_tls.hpp"

#include <fmt/format.h>

#include <memory>

namespace tether::cli {

namespace {

struct RelayArgs {
  std::string a;
  std::string b;
  RelayFlags flags;
  CLI::Option* threads = nullptr;
  CLI::Option* max_conns = nullptr;
  CLI::Option* drain = nullptr;
  CLI::Option* allow = nullptr;
  CLI::Option* deny = nullptr;
  CLI::Option* proxy_protocol = nullptr;
  CLI::Option* proxy_auth = nullptr;
  CLI::Option* proxy_dns = nullptr;
  CLI::Option* connect_timeout = nullptr;
  CLI::Option* no_splice = nullptr;
};

void refuse_if(CLI::Option* flag, bool applies, std::string_view why) {
  if (flag->count() > 0 && !applies) throw UsageError(fmt::format("{} {}", flag->get_name(), why));
}

int run_relay(RelayArgs& args) {
  if (args.a.empty() || args.b.empty()) throw UsageError("two addresses are needed: tether relay A B");
  RelaySettings s;
  s.a = parse_relay_address(args.a);
  s.b = parse_relay_address(args.b);
  s.flags = args.flags;
  s.flags.drain_given = args.drain->count() > 0;
  s.log = EventLog(s.flags.json ? EventFormat::json : s.flags.verbose ? EventFormat::text : EventFormat::none);
  if (s.a.listening() && s.b.listening()) throw UsageError("both addresses listen: one side must connect");
  if (s.b.listening() || (s.b.kind == AddrKind::stdio && s.a.kind != AddrKind::stdio && !s.a.listening())) {
    std::swap(s.a, s.b);
  }
  // Now: A is the listener if there is one, else stdio if there is one.
  const bool stream_server = s.a.kind == AddrKind::tcp_listen || s.a.kind == AddrKind::unix_listen ||
                             s.a.kind == AddrKind::tls_listen;
  const bool stdio = s.a.kind == AddrKind::stdio || s.b.kind == AddrKind::stdio;
  const bool udp_server = s.a.kind == AddrKind::udp_listen;
  if (s.a.kind == AddrKind::stdio && s.b.kind == AddrKind::stdio) throw UsageError("stdio to stdio: nothing to relay");
  if (udp_server && s.b.kind != AddrKind::udp) {
    throw UsageError("udp-listen relays to a udp: address only");
  }
  if (s.b.kind == AddrKind::udp && !(udp_server || s.a.kind == AddrKind::stdio)) {
    throw UsageError("a udp: address pairs with udp-listen or stdio only");
  }
  if (s.a.kind == AddrKind::udp) throw UsageError("a udp: address pairs with udp-listen or stdio only");
  const bool many = (stream_server && s.b.kind != AddrKind::stdio) || udp_server;
  refuse_if(args.threads, (stream_server && !stdio) || udp_server,
            "applies to a listener (tcp-, unix-, tls-, udp-listen) relaying to a connecting side");
  refuse_if(args.drain, (stream_server && !stdio) || udp_server, "applies to a listener relaying to a connecting side");
  refuse_if(args.no_splice, !stdio && !udp_server, "applies to a relay between two stream sockets");
  refuse_if(args.max_conns, many, "applies to a listening side that serves many clients");
  refuse_if(args.allow, many, "applies to a listening side that serves many clients");
  refuse_if(args.deny, many, "applies to a listening side that serves many clients");
  refuse_if(args.proxy_protocol, stream_server && !stdio && s.b.kind != AddrKind::exec,
            "applies to a stream listener relaying to tcp:, unix:, tls: or a proxy");
  const bool proxied = s.a.kind == AddrKind::proxy || s.b.kind == AddrKind::proxy || !s.flags.tls_proxy.empty();
  refuse_if(args.proxy_auth, proxied, "applies to socks5:, socks4:, http-proxy: addresses and --tls-proxy");
  refuse_if(args.proxy_dns, proxied, "applies to socks5:, socks4:, http-proxy: addresses and --tls-proxy");
  auto connects = [](const RelayAddress& x) {
    return x.kind == AddrKind::tcp || x.kind == AddrKind::unix_connect || x.kind == AddrKind::proxy ||
           x.kind == AddrKind::tls;
  };
  refuse_if(args.connect_timeout, connects(s.a) || connects(s.b), "applies to a tcp:, unix:, tls: or proxy address");
  if (!s.flags.proxy_auth.empty() && s.flags.proxy_auth.find(':') == std::string::npos) {
    throw UsageError("--proxy-auth expects USER:PASS");
  }
  if (!prepare_relay_tls(s)) return exit_failure;
  if (stdio) return relay_stdio(s);
  if (udp_server) return relay_udp(s);
  if (stream_server) return relay_serve_streams(s);
  return relay_two_connecting(s);
}

}  // namespace

void add_relay_command(CLI::App& app) {
  auto args = std::make_shared<RelayArgs>();
  CLI::App* cmd = app.add_subcommand("relay", "Relay between two addresses (socat-style: tcp-listen:8080 tcp:host:80)");
  cmd->footer(
      "Addresses: tcp:HOST:PORT, tcp-listen:[ADDR:]PORT, udp:HOST:PORT, udp-listen:[ADDR:]PORT,\n"
      "unix:PATH, unix-listen:PATH (@NAME: abstract), stdio (or -), exec:CMD, sh:CMD,\n"
      "socks5:PROXY:PPORT:HOST:PORT, socks4:..., http-proxy:..., tls:HOST:PORT, tls-listen:[ADDR:]PORT.\n"
      "TLS: tls: verifies the server (system store or --ca; name HOST or --sni), -k skips, --tls-pin\n"
      "trusts one certificate; tls-listen: serves --cert/--key or an ephemeral certificate whose\n"
      "SHA-256 is printed, --client-ca requires client certificates. --cert/--key go to tls-listen:\n"
      "when there is one, else to tls: as a client certificate; --client-cert/--client-key give tls:\n"
      "its client certificate in every case (tls-listen: to tls: with a certificate on each side).\n"
      "A stream listener serves many clients at once (one flow each, never a fork); udp-listen\n"
      "keeps one upstream socket per client (sessions spread over --threads loops, one listening\n"
      "socket). Both directions run at once; end of stream on one side becomes shutdown(write)\n"
      "on the other. SIGUSR1 prints the live counters.\n"
      "Between two sockets the bytes move by splice(2), never through user space (--no-splice).\n"
      "Events (-v, --json): one \"flow\" per client with both ends, bytes each way, duration and\n"
      "who closed first (a: the listening or first side, b: the other); \"summary\" at the end.\n"
      "Exit status: 0 clean end, 1 network error, 2 bad usage.");
  cmd->add_option("A", args->a, "First address (the listening side, if any)");
  cmd->add_option("B", args->b, "Second address");
  auto& f = args->flags;
  args->threads = numeric_flag(cmd->add_option("--threads", f.threads, "Event loops for a listener, udp-listen too (default: one per core)"),
                               1, 1024, "N", Number::integer);
  args->max_conns = numeric_flag(cmd->add_option("--max-conns", f.max_conns, "Most clients (UDP: sessions) at once"),
                                 1, 10'000'000, "N", Number::integer);
  numeric_flag(cmd->add_option("--idle-timeout,-w", f.idle_s, "Close a flow (UDP: a session, default 60) idle this long"),
               0.001, max_seconds, "SECS");
  args->drain = numeric_flag(cmd->add_option("--drain", f.drain_s, "On SIGINT/SIGTERM, let flows finish this long (default 5; udp-listen: only if given)"),
                             0, 3600, "SECS");
  args->connect_timeout = numeric_flag(
      cmd->add_option("--connect-timeout", f.connect_timeout_s, "Deadline for opening the connecting side (default 10)"),
      0.001, max_seconds, "SECS");
  args->allow = cmd->add_option("--allow", f.allow, "Accept only clients in this address/CIDR (repeatable)")
                    ->type_name("CIDR")
                    ->allow_extra_args(false);
  args->deny = cmd->add_option("--deny", f.deny, "Refuse clients in this address/CIDR (repeatable)")
                   ->type_name("CIDR")
                   ->allow_extra_args(false);
  args->proxy_protocol = cmd->add_option("--proxy-protocol", f.proxy_protocol,
                                         "Send a PROXY protocol header (v1 or v2) to the upstream first")
                             ->check(CLI::IsMember({"v1", "v2"}))
                             ->type_name("VERSION");
  args->proxy_auth = cmd->add_option("--proxy-auth", f.proxy_auth, "USER:PASS for a proxy address")
                         ->type_name("USER:PASS");
  args->proxy_dns = cmd->add_option("--proxy-dns", f.proxy_dns, "Who resolves the target: remote (default) or local")
                        ->check(CLI::IsMember({"local", "remote"}))
                        ->type_name("WHERE");
  args->no_splice = cmd->add_flag("--no-splice", f.no_splice,
                                  "Copy through user space instead of splice(2) (also TETHER_RELAY_SPLICE=0)");
  cmd->add_option("--ca", f.ca, "tls: trust the CAs in FILE (PEM) instead of the system store")->type_name("FILE");
  cmd->add_option("--cert", f.cert, "tls-listen: certificate (else tls: client certificate), PEM")->type_name("FILE");
  cmd->add_option("--key", f.key, "The private key of --cert (PEM)")->type_name("FILE");
  cmd->add_option("--client-cert", f.client_cert, "tls: client certificate, PEM (also beside tls-listen:)")
      ->type_name("FILE");
  cmd->add_option("--client-key", f.client_key, "The private key of --client-cert (PEM)")->type_name("FILE");
  cmd->add_option("--sni", f.sni, "tls: server name to send and verify (default: HOST)")->type_name("NAME");
  cmd->add_option("--alpn", f.alpn, "tls:/tls-listen: ALPN protocols, comma-separated")->type_name("LIST");
  cmd->add_option("--tls-pin", f.pin, "tls: trust exactly the certificate with this SHA-256")->type_name("sha256:HEX");
  cmd->add_flag("-k,--insecure", f.insecure, "tls: do not verify the server's certificate");
  cmd->add_option("--client-ca", f.client_ca, "tls-listen: require client certificates signed by these CAs")
      ->type_name("FILE");
  cmd->add_option("--tls-proxy", f.tls_proxy, "tls: connects through the proxy at HOST:PORT (TLS end to end)")
      ->type_name("HOST:PORT");
  cmd->add_option("--tls-proxy-type", f.tls_proxy_type, "socks5 (default), socks4 or http, for --tls-proxy")
      ->check(CLI::IsMember({"socks5", "socks4", "http"}))
      ->type_name("TYPE");
  cmd->add_flag("-v,--verbose", f.verbose, "Print events on stderr");
  cmd->add_flag("--json", f.json, "Print events as JSON lines on stderr");
  cmd->callback([args] { finish(run_relay(*args)); });
}

}  // namespace tether::cli
