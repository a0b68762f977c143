// tether connect --proxy (relay_proxy_cli.hpp).
#include "relay_proxy_cli.hpp"

#include "options.hpp"
#include "relay_addr.hpp"

#include <fmt/format.h>

namespace tether::cli {

void add_proxy_options(CLI::App& connect, ProxyCliArgs& a) {
  connect.add_option("--proxy", a.proxy, "Connect through the proxy at HOST:PORT ('env': from ALL_PROXY/NO_PROXY)")
      ->type_name("HOST:PORT");
  a.type_flag = connect.add_option("--proxy-type", a.type, "socks5, socks4 or http (default: http)")
                    ->check(CLI::IsMember({"socks5", "socks4", "http"}))
                    ->type_name("TYPE");
  a.auth_flag = connect.add_option("--proxy-auth", a.auth, "Authenticate to the proxy (SOCKS5, HTTP Basic)")
                    ->type_name("USER:PASS");
  a.dns_flag = connect.add_option("--proxy-dns", a.dns, "Who resolves HOST: remote (the proxy, default) or local")
                   ->check(CLI::IsMember({"local", "remote"}))
                   ->type_name("WHERE");
}

void check_proxy_usage(const ProxyCliArgs& a, bool stream_tcp) {
  if (!a.requested()) {
    for (CLI::Option* f : {a.type_flag, a.auth_flag, a.dns_flag}) {
      if (f != nullptr && f->count() > 0) throw UsageError(fmt::format("{} needs --proxy", f->get_name()));
    }
    return;
  }
  if (!stream_tcp) throw UsageError("--proxy carries TCP connections only (not -u, --unix or -s/-p)");
  if (!a.auth.empty() && a.auth.find(':') == std::string::npos) throw UsageError("--proxy-auth expects USER:PASS");
  if (a.proxy == "env") {
    if (a.type_flag->count() > 0) throw UsageError("--proxy env takes the type from the URL in ALL_PROXY");
    return;
  }
  std::string host;
  std::string port;
  if (!split_host_port(a.proxy, host, port) || host.empty()) throw UsageError("--proxy expects HOST:PORT or env");
  port_or_usage(port, "proxy port");
  check_host_or_usage(host, port, "proxy host");
}

Result<TcpStream> connect_through_proxy(const ProxyCliArgs& a, const std::string& host, const std::string& port,
                                        Deadline deadline, const EventLog& log) {
  ProxyOptions p;
  if (a.proxy == "env") {
    auto env = proxy_from_env(host);
    if (!env) {
      log.error("ALL_PROXY: not a proxy URL (socks5://, socks5h://, socks4://, socks4a://, http://)");
      return fail(env.error());
    }
    if (!*env) {
      ConnectOptions co;
      co.deadline = deadline;
      return TcpStream::connect(host, port, co);  // no proxy for this host
    }
    p = **env;
  } else {
    p.type = *parse_proxy_type(a.type);
    split_host_port(a.proxy, p.host, p.port);
    p.remote_dns = a.dns != "local";
  }
  if (!a.auth.empty()) {
    const auto colon = a.auth.find(':');
    p.user = a.auth.substr(0, colon);
    p.password = a.auth.substr(colon + 1);
  }
  if (a.dns_flag->count() > 0) p.remote_dns = a.dns != "local";
  if (log.enabled()) {
    Event e("proxy");
    e.add("proxy", host_port_text(p.host, p.port));
    e.add("type", p.type == ProxyType::socks5 ? "socks5" : p.type == ProxyType::socks4 ? "socks4" : "http");
    log.emit(e);
  }
  return connect_via(p, host, port, deadline);
}

}  // namespace tether::cli
