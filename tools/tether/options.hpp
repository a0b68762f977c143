// options.hpp: the flags that `connect` and `listen` share, and turning their text into endpoints.
//
// Text is parsed by the library (tether::parse_port, Endpoint::parse, tether::resolve); this file
// only decides which of its errors are the user's (UsageError: exit 2) and which are the network's
// (a runtime error: exit 1).
#pragma once

#include "events.hpp"

#include <tether/endpoint.hpp>
#include <tether/resolve.hpp>

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace tether::cli {

/// Bad command-line input. main() prints "tether: MESSAGE" on one line and exits with 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The exit statuses of every command.
inline constexpr int exit_ok = 0;
inline constexpr int exit_failure = 1;  ///< refused, timed out, unreachable, reset, ...
inline constexpr int exit_usage = 2;

/// Flags shared by connect and listen.
struct CommonOptions {
  bool udp = false;               ///< -u: datagrams
  std::string unix_path;          ///< --unix PATH ("@name": Linux abstract name)
  bool ipv4 = false;              ///< -4
  bool ipv6 = false;              ///< -6
  double timeout_s = 0;           ///< -w: connect deadline and idle timeout; 0 = none
  std::string source;             ///< -s ADDRESS
  std::string source_port;        ///< -p PORT
  bool verbose = false;           ///< -v
  bool json = false;              ///< --json

  IpFamily family() const noexcept;
  EventFormat event_format() const noexcept;
  /// -w as a duration, nullopt when not given.
  std::optional<std::chrono::milliseconds> timeout() const;
  bool is_unix() const noexcept { return !unix_path.empty(); }
  /// "tcp", "udp", "unix" or "unix-dgram": the protocol named in events.
  const char* proto() const noexcept;
};

/// Adds -u, --unix, -4, -6, -w, -s, -p, -v, --json to `cmd`. `source_help` and `port_help`
/// describe -s and -p, whose meaning differs between connect and listen.
void add_common_options(CLI::App& cmd, CommonOptions& options, const std::string& source_help,
                        const std::string& port_help);

/// The longest duration any SECS flag accepts (about 11 days).
inline constexpr double max_seconds = 1e6;

/// What a numeric flag holds: any finite number, or a whole one.
enum class Number : std::uint8_t { real, integer };

/// The one validator of every numeric flag: the text must be a finite number (no nan, inf, hex or
/// trailing junk) in [min, max], whole for Number::integer; with `zero_means_off`, 0 is accepted
/// too (a flag whose 0 means "none"). It replaces the option's other validators and sets the type
/// shown by --help ("SECS", "N"); a bad value is one line, "--flag: 'VALUE' is not ...", exit 2.
CLI::Option* numeric_flag(CLI::Option* option, double min, double max, const char* type,
                          Number kind = Number::real, bool zero_means_off = false);

/// A port number or service name; UsageError naming `what` when it is neither.
std::uint16_t port_or_usage(std::string_view text, std::string_view what);

/// Checks a host given on the command line: numeric addresses must parse, names are left to the
/// resolver. UsageError for an empty or malformed host.
void check_host_or_usage(std::string_view host, std::string_view service, std::string_view what);

/// --unix PATH as an endpoint ("@name" is an abstract name); UsageError when it cannot be one.
Endpoint unix_endpoint_or_usage(std::string_view path);

/// Resolves host/service for binding or sending (the first address of `family`); the error is the
/// resolver's (a runtime error, not a usage error).
Result<Endpoint> resolve_first(std::string_view host, std::string_view service, IpFamily family,
                               bool passive);

/// "HOST:PORT" for messages, with IPv6 literals in brackets.
std::string host_port_text(std::string_view host, std::string_view port);

}  // namespace tether::cli
