// src/server/accept_guard.cpp: shedding and backing off on accept errors (accept_guard.hpp).
#include <tether/accept_guard.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace tether {

namespace {

int open_reserve() noexcept { return ::open("/dev/null", O_RDONLY | O_CLOEXEC); }

// errno comparisons without std::error_condition: no virtual call, nothing that might need a
// file descriptor (sanitizers check virtual calls with a pipe; out of fds, that check fails).
bool is_errno(std::error_code ec, int value) noexcept {
  return ec.value() == value &&
         (ec.category() == std::system_category() || ec.category() == std::generic_category());
}

}  // namespace

AcceptGuard::AcceptGuard() noexcept : reserve_(open_reserve()) {}

AcceptGuard::~AcceptGuard() {
  if (reserve_ >= 0) ::close(reserve_);
}

bool AcceptGuard::out_of_fds(std::error_code ec) noexcept { return is_errno(ec, EMFILE) || is_errno(ec, ENFILE); }
bool AcceptGuard::out_of_memory(std::error_code ec) noexcept { return is_errno(ec, ENOBUFS) || is_errno(ec, ENOMEM); }

bool AcceptGuard::shed_one(int listen_fd) noexcept {
  if (reserve_ < 0) {
    reserve_ = open_reserve();
    return false;
  }
  ::close(reserve_);
  reserve_ = -1;
  const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
  const bool shed = fd >= 0;
  if (shed) {
    ::close(fd);
    ++shed_;
  }
  reserve_ = open_reserve();
  return shed && reserve_ >= 0;
}

AcceptGuard::Verdict AcceptGuard::on_error(int listen_fd, std::error_code error) noexcept {
  Verdict v;
  const bool fds = out_of_fds(error);
  if (fds && shed_one(listen_fd)) {
    v.shed = true;
    return v;
  }
  if (fds || out_of_memory(error)) {
    ++backoffs_;  // wait instead of spinning on a queue we cannot drain
    v.wait = backoff_;
    backoff_ = std::min(backoff_ * 2, max_backoff);
  }
  return v;
}

}  // namespace tether
