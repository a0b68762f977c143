// relay_proxy_cli.hpp: `tether connect --proxy HOST:PORT|env --proxy-type socks5|socks4|http
// [--proxy-auth USER:PASS] [--proxy-dns local|remote]` (the library's connect_via, tether/proxy.hpp).
//
// --proxy env takes the proxy from ALL_PROXY/all_proxy, unless NO_PROXY/no_proxy names the target
// (then the connection is direct). The proxy type defaults to http, as in ncat.
#pragma once

#include "events.hpp"

#include <tether/proxy.hpp>
#include <tether/tcp.hpp>

#include <CLI/CLI.hpp>

#include <optional>
#include <string>

namespace tether::cli {

struct ProxyCliArgs {
  std::string proxy;
  std::string type = "http";
  std::string auth;
  std::string dns = "remote";
  CLI::Option* type_flag = nullptr;
  CLI::Option* auth_flag = nullptr;
  CLI::Option* dns_flag = nullptr;
  bool requested() const noexcept { return !proxy.empty(); }
};

void add_proxy_options(CLI::App& connect, ProxyCliArgs& args);

/// UsageError for flags given without --proxy, a bad --proxy or --proxy-auth, or (with
/// `stream_tcp` false) a proxy asked for -u or --unix.
void check_proxy_usage(const ProxyCliArgs& args, bool stream_tcp);

/// Connects to host:port through the proxy (or directly when --proxy env finds none for it).
/// Errors are printed on `log`.
Result<TcpStream> connect_through_proxy(const ProxyCliArgs& args, const std::string& host,
                                        const std::string& port, Deadline deadline, const EventLog& log);

}  // namespace tether::cli
