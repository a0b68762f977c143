// tether/accept_guard.hpp: what a server does when accept() fails, so that running out of file
// descriptors (or memory) never makes it spin at 100 % CPU or flood its log.
//
//   AcceptGuard guard;                      // holds one spare fd (/dev/null) in reserve
//   int fd = ::accept4(listen_fd, ...);
//   if (fd < 0) {
//     auto v = guard.on_error(listen_fd, errno_code(errno));
//     if (v.wait.count() > 0) pause accepting for v.wait;  // else: try the next client now
//   } else {
//     guard.on_success();
//   }
//
// Out of fds (EMFILE/ENFILE): the reserve is closed, one pending client is accepted and closed at
// once ("shed": it sees a clean close instead of hanging in the backlog), and the reserve is
// reopened. When even that fails, or on ENOBUFS/ENOMEM, accepting pauses: 10 ms, doubling up to
// 1 s, reset by the next successful accept. Other errors (ECONNABORTED...) need neither.
// Used by tether::Server and by `tether listen --sockperf`. Threads: one guard per accepting thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <system_error>

#pragma GCC visibility push(default)  // the public API (the shared library hides the rest)

namespace tether {

class AcceptGuard {
 public:
  struct Verdict {
    bool shed = false;                   ///< one pending client was accepted and closed
    std::chrono::milliseconds wait{0};   ///< > 0: stop accepting for this long
  };

  AcceptGuard() noexcept;
  ~AcceptGuard();
  AcceptGuard(const AcceptGuard&) = delete;
  AcceptGuard& operator=(const AcceptGuard&) = delete;

  /// After accept() on `listen_fd` failed with `error`.
  Verdict on_error(int listen_fd, std::error_code error) noexcept;
  /// After a successful accept(): the next pause starts short again.
  void on_success() noexcept { backoff_ = min_backoff; }

  std::uint64_t shed() const noexcept { return shed_; }
  std::uint64_t backoffs() const noexcept { return backoffs_; }

  /// EMFILE or ENFILE (compared without a virtual call: nothing that might need an fd).
  static bool out_of_fds(std::error_code ec) noexcept;
  static bool out_of_memory(std::error_code ec) noexcept;

  static constexpr std::chrono::milliseconds min_backoff{10};
  static constexpr std::chrono::milliseconds max_backoff{1000};

 private:
  bool shed_one(int listen_fd) noexcept;
  int reserve_ = -1;
  std::chrono::milliseconds backoff_ = min_backoff;
  std::uint64_t shed_ = 0;
  std::uint64_t backoffs_ = 0;
};

}  // namespace tether

#pragma GCC visibility pop
