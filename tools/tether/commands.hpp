// commands.hpp: the subcommands of `tether`.
//
// Convention: each command lives in its own file and exposes `void add_<name>_command(CLI::App&)`,
// which adds a subcommand with its options and a callback that runs it. main.cpp calls every
// add_*_command() once. A callback reports its outcome with finish(exit_code) and reports bad
// input with `throw UsageError(...)` (options.hpp): main prints one line and exits with 2.
#pragma once

#include <CLI/CLI.hpp>

namespace tether::cli {

void add_connect_command(CLI::App& app);
void add_listen_command(CLI::App& app);
void add_relay_command(CLI::App& app);  ///< relay_cmd.cpp
void add_bench_command(CLI::App& app);
void add_ss_command(CLI::App& app);
void add_top_command(CLI::App& app);
void add_trace_command(CLI::App& app);
void add_manual_command(CLI::App& app);  ///< hidden: man pages and completions from this tree

/// Ends a command's callback with `exit_code` as the process's exit status (0: nothing to do).
inline void finish(int exit_code) {
  if (exit_code != 0) throw CLI::RuntimeError(exit_code);
}

}  // namespace tether::cli
