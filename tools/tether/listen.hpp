// listen.hpp: `tether listen` and its serving modes.
//
// By default `listen` accepts one client (or, with -k, any number at once) and relays stdin/stdout
// with it. A serving mode replaces that default: it is a flag of `listen` (--echo, --chat, ...)
// with a function that serves on the parsed settings. To add one:
//   1. write tools/tether/listen_<mode>.cpp defining `ListenMode <mode>_listen_mode()`;
//   2. declare it below and add it to the list in listen_modes() (listen.cpp).
// open_stream_listener() / open_datagram_socket() bind exactly like the default mode does
// (including the "listening" event and Unix path clean-up), so modes behave the same.
#pragma once

#include "events.hpp"
#include "options.hpp"

#include <tether/cidr.hpp>
#include <tether/endpoint.hpp>
#include <tether/tcp.hpp>
#include <tether/udp.hpp>

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstddef>
#include <optional>
#include <vector>

namespace tether::cli {

/// What the default (stdin/stdout) modes enforce of the server flags.
struct RelayLimits {
  int in_fd = 0;
  int out_fd = 1;
  std::optional<std::chrono::milliseconds> idle_timeout;  ///< --idle-timeout, else -w
  std::optional<AccessList> access;                      ///< --allow/--deny, when given
  std::size_t max_conns = 0;                             ///< --max-conns with -k; 0: no cap
};

/// Everything `listen` parsed, resolved and checked, ready to serve.
struct ListenSettings {
  CommonOptions common;   ///< -u, --unix, -w, -v/--json ... as given
  Endpoint local;         ///< where to bind: the address and port (0: any free port), or a Unix path
  bool keep_open = false; ///< -k: serve clients concurrently (listen_keep.cpp)
  /// IPV6_V6ONLY for `local`: false for the default listener ([::] serving IPv4 clients too, as
  /// ncat does when no address and neither -4 nor -6 is given); nullopt keeps the system's.
  std::optional<bool> v6_only;
  EventLog log;           ///< where events and errors go
  RelayLimits keep;       ///< the default modes' limits

  const char* proto() const noexcept { return common.proto(); }
};

/// socket, bind, listen on settings.local and emit "listening" with the real port. A Unix path we
/// create is removed when the process exits. On failure the error is printed and returned.
Result<TcpListener> open_stream_listener(const ListenSettings& settings);
/// The datagram counterpart (bind; "listening").
Result<UdpSocket> open_datagram_socket(const ListenSettings& settings);

/// listen -k over streams: every client at once, stdin to all, each one's bytes to stdout.
int serve_stream_concurrently(const ListenSettings& settings);  // listen_keep.cpp
int serve_tls_concurrently(const ListenSettings& settings);     // listen_keep_tls.cpp (--tls -k)

/// A serving mode of `tether listen`.
struct ListenMode {
  const char* flag;                           ///< e.g. "--echo"
  const char* help;                           ///< one line for --help
  int (*run)(const ListenSettings& settings);  ///< serves; returns the exit status
  void (*add_options)(CLI::App& listen) = nullptr;  ///< extra flags the mode needs, if any
};

/// The modes `listen` offers besides the default relay (one flag each, mutually exclusive).
const std::vector<ListenMode>& listen_modes();

// Modes implemented in their own files (declare new ones here):
// echo_listen_mode(), chat_listen_mode(), discard_listen_mode(): serve_modes.hpp
ListenMode sockperf_listen_mode();  // serve_sockperf.cpp

}  // namespace tether::cli
