// unix_cleanup.hpp: the Unix socket file of a listener: a stale one left by a dead server before
// binding, and the one it created when the process ends.
#pragma once

#include <optional>
#include <string>

namespace tether::cli {

/// Unlinks `path` at normal exit and on SIGINT, SIGTERM or SIGHUP (the signal is then re-raised
/// with its default action, so the exit status still says what happened). One path per process;
/// a second call replaces the first.
void remove_on_exit(const std::string& path);

/// Before binding the Unix socket `path`: nullopt when the path is free (or was a stale socket
/// file and `remove_stale` removed it), else why it cannot be used: "the path exists and a server
/// answers there", "... and no server answers (a stale socket file; --unix-remove-stale replaces
/// it)", "... and is not a socket". `datagram`: the listener's socket type, used for the probe.
std::optional<std::string> unix_path_in_use(const std::string& path, bool datagram, bool remove_stale);

}  // namespace tether::cli
