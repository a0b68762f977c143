// relay_exec.hpp: a child process whose stdin and stdout are one end of a socketpair
// (relay exec:CMD / sh:CMD, listen --exec / --sh-exec).
//
// The child is started with posix_spawn (no fork of a multi-threaded process), with default signal
// dispositions and an empty signal mask; its stderr is tether's. Environment: tether's, plus
// TETHER_PROTO, TETHER_PEER_ADDR, TETHER_PEER_PORT, TETHER_LOCAL_ADDR, TETHER_LOCAL_PORT (and
// NCAT_REMOTE_ADDR, NCAT_REMOTE_PORT, NCAT_LOCAL_ADDR, NCAT_LOCAL_PORT, NCAT_PROTO as ncat sets
// them) when the endpoints are known. Children are reaped by SignalThread (relay_flow.hpp).
#pragma once

#include <tether/endpoint.hpp>
#include <tether/error.hpp>
#include <tether/socket.hpp>

#include <sys/types.h>

#include <string>
#include <string_view>

namespace tether::cli {

struct ExecSpec {
  std::string command;
  bool shell = false;  ///< /bin/sh -c COMMAND; otherwise COMMAND split at blanks, run from PATH
};

struct ExecChild {
  pid_t pid = -1;
  Socket socket;  ///< the parent's end: a non-blocking Unix stream socket
};

/// Starts the child; `peer`/`local` (either may be empty) go into its environment.
Result<ExecChild> spawn_exec(const ExecSpec& spec, std::string_view proto, const Endpoint& peer,
                             const Endpoint& local);

}  // namespace tether::cli
