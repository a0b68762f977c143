#include "unix_cleanup.hpp"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace tether::cli {

namespace {

// Read by a signal handler: a fixed buffer, written before the handlers are installed.
char g_path[4096];
volatile sig_atomic_t g_armed = 0;

void unlink_now() {
  if (g_armed != 0) {
    g_armed = 0;
    ::unlink(g_path);
  }
}

void on_signal(int sig) {
  unlink_now();
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

}  // namespace

void remove_on_exit(const std::string& path) {
  static bool installed = false;
  if (path.empty() || path.size() >= sizeof g_path) return;
  g_armed = 0;
  std::memcpy(g_path, path.c_str(), path.size() + 1);
  g_armed = 1;
  if (installed) return;
  installed = true;
  std::atexit(unlink_now);
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &sa, nullptr);
}

}  // namespace tether::cli
