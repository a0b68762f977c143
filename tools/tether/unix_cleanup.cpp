#include "unix_cleanup.hpp"

#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
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

namespace {

/// Whether something accepts connections on the socket file `path`: a connect() that is refused
/// means nobody has it bound (a stale file left by a server that died).
bool server_answers(const std::string& path, bool datagram) {
  int fd = ::socket(AF_UNIX, (datagram ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return true;  // cannot tell: leave the file alone
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, path.c_str(), std::min(path.size(), sizeof sa.sun_path - 1));
  int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa);
  int err = errno;
  ::close(fd);
  return !(rc != 0 && err == ECONNREFUSED);  // EAGAIN (a full queue), EPROTOTYPE...: alive
}

}  // namespace

std::optional<std::string> unix_path_in_use(const std::string& path, bool datagram, bool remove_stale) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return std::nullopt;  // free
  if (!S_ISSOCK(st.st_mode)) return std::string("the path exists and is not a socket");
  if (server_answers(path, datagram)) return std::string("the path exists and a server answers there");
  if (!remove_stale) {
    return std::string("the path exists and no server answers (a stale socket file; --unix-remove-stale replaces it)");
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return std::string("a stale socket file is there and cannot be removed: ") + std::strerror(errno);
  }
  return std::nullopt;
}

}  // namespace tether::cli
