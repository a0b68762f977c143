// relay_listen_exec.hpp: `tether listen --exec CMD` / `--sh-exec CMD` (`-e`, as ncat -e / -c):
// an inetd in one flag. Each client gets its own child (relay_exec.hpp) with the socket as stdin
// and stdout, relayed on tether::Server's loops (relay_flow.hpp); the child's exit ends the
// connection; children are reaped as they exit. Without -k one client is served, then tether
// exits; with -k clients are served concurrently until SIGINT/SIGTERM. The server flags of
// --echo (--threads, --max-conns, --idle-timeout, --drain, --allow, --deny) apply.
#pragma once

#include "listen.hpp"

#include <CLI/CLI.hpp>

#include <string>

namespace tether::cli {

struct ExecListenArgs {
  std::string exec;
  std::string sh_exec;
  bool requested() const noexcept { return !exec.empty() || !sh_exec.empty(); }
};

/// Adds -e/--exec and --sh-exec to `listen`.
void add_exec_options(CLI::App& listen, ExecListenArgs& args);

/// Serves clients with a child each; the exit status.
int serve_exec(const ListenSettings& settings, const ExecListenArgs& args);

}  // namespace tether::cli
