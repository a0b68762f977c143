#include "stdio.hpp"

#include <limits.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace tether::cli {

std::error_code write_fully(int fd, std::span<const std::byte> data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n >= 0) {
      data = data.subspan(static_cast<std::size_t>(n));
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN) {  // someone made the fd non-blocking: wait until it drains
      pollfd p{fd, POLLOUT, 0};
      ::poll(&p, 1, -1);
      continue;
    }
    return {errno, std::system_category()};
  }
  return {};
}

std::error_code write_fully_within(int fd, std::span<const std::byte> data,
                                   std::optional<std::chrono::milliseconds> idle) {
  struct stat st {};
  const bool file = ::fstat(fd, &st) == 0 && (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode));
  if (!idle || file) return write_fully(fd, data);
  const bool socket = S_ISSOCK(st.st_mode);
  while (!data.empty()) {
    pollfd p{fd, POLLOUT, 0};
    int r = ::poll(&p, 1, static_cast<int>(std::min<std::chrono::milliseconds::rep>(idle->count(), INT_MAX)));
    if (r < 0) {
      if (errno == EINTR) continue;
      return {errno, std::system_category()};
    }
    if (r == 0) return std::make_error_code(std::errc::timed_out);
    ssize_t n = socket ? ::send(fd, data.data(), data.size(), MSG_DONTWAIT)
                       : ::write(fd, data.data(), std::min<std::size_t>(data.size(), PIPE_BUF));
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return {errno, std::system_category()};
    }
    data = data.subspan(static_cast<std::size_t>(n));
  }
  return {};
}

long read_some_fd(int fd, std::span<std::byte> buf) {
  if (fd < 0) return 0;
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n >= 0) return static_cast<long>(n);
    if (errno == EINTR) continue;
    if (errno == EBADF) return 0;
    return -1;
  }
}

}  // namespace tether::cli
