// The epoll backend's stateless system calls (epoll_calls.hpp).
#include "backend/epoll_calls.hpp"

#include <tether/error.hpp>

#include <sys/socket.h>

#include <cerrno>
#include <climits>
#include <ctime>
#include <system_error>

namespace tether::detail::epoll_calls {

int wait(int epfd, epoll_event* events, int max_events, std::chrono::nanoseconds timeout, bool& use_pwait2) {
  for (;;) {
    int n;
    if (use_pwait2) {
      timespec ts{};
      timespec* tsp = nullptr;
      if (timeout.count() >= 0) {
        auto s = std::chrono::duration_cast<std::chrono::seconds>(timeout);
        ts.tv_sec = static_cast<time_t>(s.count());
        ts.tv_nsec = static_cast<long>((timeout - s).count());
        tsp = &ts;
      }
      n = ::epoll_pwait2(epfd, events, max_events, tsp, nullptr);
      if (n < 0 && errno == ENOSYS) {
        use_pwait2 = false;
        continue;
      }
    } else {
      int ms = -1;
      if (timeout.count() >= 0) {
        auto c = std::chrono::ceil<std::chrono::milliseconds>(timeout).count();  // never early
        ms = c > INT_MAX ? INT_MAX : static_cast<int>(c);
      }
      n = ::epoll_wait(epfd, events, max_events, ms);
    }
    if (n >= 0) return n;
    if (errno == EINTR) return 0;
    throw std::system_error(errno_code(errno), "epoll_wait");
  }
}

Connect start_connect(int fd, IoOp& op) noexcept {
  if (::connect(fd, static_cast<const sockaddr*>(op.addr), op.addr_len) == 0) return Connect::done;
  const int e = errno;
  if (e == EINPROGRESS || e == EINTR) return Connect::pending;  // EINTR: it goes on asynchronously
  op.ec = errno_code(e);
  return Connect::done;
}

Connect finish_connect(int fd, IoOp& op) noexcept {
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
  if (err == 0) {
    sockaddr_storage peer{};
    socklen_t plen = sizeof peer;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &plen) < 0) {
      if (errno == ENOTCONN) return Connect::pending;  // a stale edge: still connecting
      err = errno;
    }
  }
  if (err != 0) op.ec = errno_code(err);
  op.result = 0;
  return Connect::done;
}

}  // namespace tether::detail::epoll_calls
