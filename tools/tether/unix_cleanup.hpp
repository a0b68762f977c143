// unix_cleanup.hpp: remove the Unix socket file a listener created, when the process ends.
#pragma once

#include <string>

namespace tether::cli {

/// Unlinks `path` at normal exit and on SIGINT, SIGTERM or SIGHUP (the signal is then re-raised
/// with its default action, so the exit status still says what happened). One path per process;
/// a second call replaces the first.
void remove_on_exit(const std::string& path);

}  // namespace tether::cli
