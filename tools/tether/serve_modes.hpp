// serve_modes.hpp: the server modes of `tether listen` built on libtether's Server:
// --echo, --chat, --discard (TCP and Unix stream; --echo and --discard also over UDP with -u).
//
// They always serve clients concurrently (-k is implied), on --threads loops, with --max-conns,
// --idle-timeout (default: -w), --allow/--deny, and a graceful shutdown on SIGINT/SIGTERM
// (stop accepting, let clients finish for --drain SECS, close, exit 0). With -v/--json they report
// each client and a summary at the end.
#pragma once

#include "listen.hpp"

#include <tether/cidr.hpp>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string_view>
#include <string>
#include <vector>

namespace tether::cli {

/// The flags the server modes share (registered once, with --echo).
struct ServeFlags {
  std::size_t threads = 0;
  std::size_t max_conns = 0;
  double idle_s = 0;
  double drain_s = -1;  ///< -1: not given (5 s)
  std::vector<std::string> allow;
  std::vector<std::string> deny;
  std::string accept_mode;  ///< "": not given (reuseport)
  std::size_t max_line = 0;  ///< --chat: the longest line a client may send (0: not given, 64 KiB)
  std::size_t loops = 0;  ///< the number of loops actually started
};
ServeFlags& serve_flags();
/// The server flags a mode cannot honour, for refuse_flags().
enum RefusedFlag : unsigned {
  refuse_threads = 1, refuse_max_conns = 2, refuse_idle = 4, refuse_drain = 8,
  refuse_accept_mode = 16, refuse_max_line = 32, refuse_wait = 64,
};
/// UsageError ("FLAG does not apply to MODE", exit 2) for the first flag in `flags` that was given.
void refuse_flags(const ListenSettings& s, std::string_view mode, unsigned flags);
/// --drain in milliseconds (default 5 s).
std::chrono::milliseconds drain_timeout();
/// --idle-timeout, else -w, else none.
std::optional<std::chrono::milliseconds> idle_timeout(const ListenSettings& s);
/// --allow/--deny as an AccessList; UsageError for a bad block.
AccessList access_list();

ListenMode echo_listen_mode();     // serve_modes.cpp
ListenMode chat_listen_mode();     // serve_modes.cpp
ListenMode discard_listen_mode();  // serve_modes.cpp

}  // namespace tether::cli
