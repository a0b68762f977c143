// epoll_poller.hpp: the smallest useful RAII wrapper over epoll, for the CLI's raw event loops
// (the bench load generator and the sockperf reflector), which must cost as little as possible.
// Level-triggered; the user's pointer comes back with each event. One thread per poller.
#pragma once

#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <span>
#include <system_error>

namespace tether::cli {

class EpollPoller {
 public:
  EpollPoller() : fd_(::epoll_create1(EPOLL_CLOEXEC)) {
    if (fd_ < 0) throw std::system_error(errno, std::system_category(), "epoll_create1");
  }
  ~EpollPoller() { ::close(fd_); }
  EpollPoller(const EpollPoller&) = delete;
  EpollPoller& operator=(const EpollPoller&) = delete;

  bool add(int fd, std::uint32_t events, void* user) noexcept { return ctl(EPOLL_CTL_ADD, fd, events, user); }
  bool modify(int fd, std::uint32_t events, void* user) noexcept { return ctl(EPOLL_CTL_MOD, fd, events, user); }
  void remove(int fd) noexcept { ::epoll_ctl(fd_, EPOLL_CTL_DEL, fd, nullptr); }

  /// Waits up to timeout_ms (-1: forever); returns the ready events (empty on timeout or EINTR).
  std::span<epoll_event> wait(std::span<epoll_event> out, int timeout_ms) noexcept {
    const int n = ::epoll_wait(fd_, out.data(), static_cast<int>(out.size()), timeout_ms);
    return out.first(n > 0 ? static_cast<std::size_t>(n) : 0);
  }

 private:
  bool ctl(int op, int fd, std::uint32_t events, void* user) noexcept {
    epoll_event ev{};
    ev.events = events;
    ev.data.ptr = user;
    return ::epoll_ctl(fd_, op, fd, &ev) == 0;
  }
  int fd_;
};

}  // namespace tether::cli
