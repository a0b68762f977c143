#include "stdio.hpp"

#include <poll.h>
#include <unistd.h>

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
