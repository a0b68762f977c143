// Helpers shared by the io_uring backend's tests (io_uring_backend_test.cpp: selection, cancels
// and lifetimes; io_uring_buffers_test.cpp: load and the lent buffers): whether the kernel gives
// io_uring at all, and running a loop until a condition holds.
#pragma once

#include "async_testing.hpp"

#include <tether/async_tcp.hpp>
#include <tether/event_loop.hpp>
#include <tether/timer.hpp>

#include <gtest/gtest.h>

#include <linux/io_uring.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace tether::testing::uring {

using namespace std::chrono_literals;

// Whether this kernel gives io_uring to this process, asked without the library: the backend's
// own answer cannot judge the backend.
inline bool kernel_has_io_uring(std::string& why) {
  io_uring_params p{};
  long fd = ::syscall(__NR_io_uring_setup, 4, &p);
  if (fd < 0) {
    why = std::string("io_uring_setup: ") + std::strerror(errno);
    return false;
  }
  ::close(static_cast<int>(fd));
  utsname u{};
  int major = 0, minor = 0;
  if (::uname(&u) == 0 && std::sscanf(u.release, "%d.%d", &major, &minor) == 2 &&
      (major < 5 || (major == 5 && minor < 19))) {
    why = std::string("kernel ") + u.release + " predates provided buffer rings (5.19)";
    return false;
  }
  return true;
}

inline Task<Result<std::string>> read_exactly(AsyncTcpStream& s, std::size_t n) {
  std::string got;
  std::array<char, 256> buf;
  while (got.size() < n) {
    auto r = co_await s.read_some(std::span(buf.data(), std::min(buf.size(), n - got.size())), 2s);
    if (!r) co_return fail(r.error());
    if (*r == 0) break;
    got.append(buf.data(), *r);
  }
  co_return got;
}

// Runs iterations until `done` or `limit` passes.
template <class F>
void run_until(EventLoop& loop, F done, std::chrono::milliseconds limit = 5s) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (!done() && std::chrono::steady_clock::now() < end) {
    Timer tick(loop);
    tick.arm(5ms, [] {});
    loop.run_once();
  }
}

}  // namespace tether::testing::uring

#define USE_IO_URING_OR_SKIP()                                                \
  do {                                                                        \
    std::string why_;                                                         \
    if (!::tether::testing::uring::kernel_has_io_uring(why_))                 \
      GTEST_SKIP() << "io_uring unavailable: " << why_;                       \
    ::setenv("TETHER_BACKEND", "io_uring", 1);                                \
  } while (0)
