// src/backend/select.cpp: the one place that chooses the I/O mechanism.
//
// epoll by default; TETHER_BACKEND=io_uring in the environment asks for io_uring. When the kernel
// (or a seccomp filter, or a build without liburing) refuses io_uring, the loop runs on epoll and
// the process says so once on stderr: a run that asked for io_uring never silently measures epoll.
#include "backend/backend.hpp"

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <string_view>

namespace tether::detail {

std::unique_ptr<Backend> make_epoll_backend(ReadySink& sink);
std::unique_ptr<Backend> make_io_uring_backend(ReadySink& sink, std::string& why);

namespace {
void notice_once(const std::string& text) {
  static std::once_flag once;
  std::call_once(once, [&] { std::fprintf(stderr, "tether: %s\n", text.c_str()); });
}
}  // namespace

std::unique_ptr<Backend> make_backend(ReadySink& sink) {
  const char* env = std::getenv("TETHER_BACKEND");
  const std::string_view want = env == nullptr ? "" : env;
  if (want == "io_uring") {
    std::string why;
    if (auto b = make_io_uring_backend(sink, why)) return b;
    notice_once("TETHER_BACKEND=io_uring: io_uring unavailable (" + why + "); using epoll");
  } else if (!want.empty() && want != "epoll") {
    notice_once("TETHER_BACKEND=" + std::string(want) +
                " is not a backend (epoll, io_uring); using epoll");
  }
  return make_epoll_backend(sink);
}

}  // namespace tether::detail
