// Shared helpers for tether's tests: fd counting, child processes, temporary paths.
#pragma once

#include <tether/tether.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace tether::testing {

/// True in a build with AddressSanitizer or ThreadSanitizer (the asan / tsan presets): their shadow
/// memory and allocators make a process's RSS meaningless as a measure of its own memory use.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool sanitized_build = true;
#else
inline constexpr bool sanitized_build = false;
#endif

/// Number of open file descriptors of this process (/proc/self/fd).
int open_fd_count();

/// A unique path under the system temp dir, removed (if it exists) when the object dies.
class TempPath {
 public:
  explicit TempPath(std::string_view stem);
  ~TempPath();
  TempPath(const TempPath&) = delete;
  TempPath& operator=(const TempPath&) = delete;
  const std::string& str() const noexcept { return path_; }

 private:
  std::string path_;
};

/// A child process started with posix_spawn; killed (SIGTERM then SIGKILL) and reaped when the
/// object dies, so tests stop their servers even when they fail.
class Child {
 public:
  Child() = default;
  /// argv[0] is looked up in PATH. stdin/stdout fds of -1 mean /dev/null.
  static Child spawn(const std::vector<std::string>& argv, int stdin_fd = -1, int stdout_fd = -1,
                     int stderr_fd = 2);
  ~Child();
  Child(Child&& other) noexcept;
  Child& operator=(Child&& other) noexcept;
  pid_t pid() const noexcept { return pid_; }
  /// Waits for exit with a timeout; returns the exit status (128+signal if killed), -1 on timeout.
  int wait(std::chrono::milliseconds timeout);
  void kill() noexcept;

 private:
  pid_t pid_ = -1;
};

/// True when `program` is found in PATH.
bool have_program(const std::string& program);

/// A loopback port that was free a moment ago (0 if none), for peers that cannot report the one
/// they bound (openssl s_server -quiet).
std::uint16_t free_port();

/// Waits (about 5 s at most) until something accepts on 127.0.0.1:port, without sending anything.
bool wait_listening(std::uint16_t port);

/// FD_CLOEXEC / O_NONBLOCK on `fd` (false when the fd is not open).
bool is_cloexec(int fd);
bool is_nonblocking(int fd);

/// Deterministic pseudo-random bytes (the same seed gives the same bytes).
std::vector<std::byte> pattern_bytes(std::size_t n, std::uint32_t seed = 1);

/// Time since construction, for deadline checks.
class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  std::chrono::milliseconds elapsed() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 start_);
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

/// A connected TCP (or Unix stream) pair over a fresh listener at `where` (port 0: any port).
/// Test assertions fail (and the streams are closed) when any step fails.
struct StreamPair {
  tether::TcpStream client;
  tether::TcpStream server;
  tether::Endpoint listener;  ///< where the listener was bound (real port)
};
StreamPair connected_pair(const tether::Endpoint& where = tether::Endpoint::ipv4_loopback(0));

/// Fills the accept queue of a listener that never accepts (bind it with backlog 0) so that the
/// kernel drops further SYNs: connect attempts to `listener` then time out instead of completing.
/// Returns the filling connections (keep them alive). Fails the test if the queue never fills
/// within `max_connections`.
std::vector<tether::TcpStream> fill_accept_queue(const tether::Endpoint& listener,
                                                 int max_connections = 16);

}  // namespace tether::testing
