// src/sys.hpp (private): the one place where system calls become Results.
//
// sys(f) calls f until it stops failing with EINTR and turns -1/errno into an error_code: every
// EINTR loop in libtether is this one. wait_fd() is the one poll() against a Deadline.
#pragma once

#include <tether/deadline.hpp>
#include <tether/error.hpp>

#include <cerrno>
#include <type_traits>

namespace tether::detail {

template <class F>
auto sys(F&& f) -> Result<std::invoke_result_t<F&>> {
  for (;;) {
    auto r = f();
    if (r != -1) return r;
    if (errno != EINTR) return fail(errno_code(errno));
  }
}

/// sys() for calls whose only result is success or failure.
template <class F>
Status sys_status(F&& f) {
  auto r = sys(std::forward<F>(f));
  if (!r) return fail(r.error());
  return {};
}

/// Waits until `fd` reports any of `events` (POLLIN/POLLOUT), an error or hang-up, or the deadline
/// passes (std::errc::timed_out). EINTR re-waits with the time left.
Status wait_fd(int fd, short events, Deadline deadline);

/// True for the errno values that mean "try again when ready".
inline bool would_block(int err) noexcept { return err == EAGAIN || err == EWOULDBLOCK; }

}  // namespace tether::detail
