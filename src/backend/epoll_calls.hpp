// epoll_calls.hpp: the epoll backend's system calls that need none of its state (epoll.cpp).
#pragma once

#include "backend/backend.hpp"

#include <sys/epoll.h>

#include <chrono>

namespace tether::detail::epoll_calls {

/// epoll_pwait2 with nanoseconds, or where the kernel lacks it (ENOSYS: `use_pwait2` becomes
/// false) epoll_wait with the milliseconds rounded up, so a wait never ends early. A negative
/// timeout waits for ever. EINTR: 0 events. Other errors throw std::system_error.
int wait(int epfd, epoll_event* events, int max_events, std::chrono::nanoseconds timeout, bool& use_pwait2);

enum class Connect { done, pending };

/// connect(2) on op's fd: done (connected, or op.ec set) or pending (EINPROGRESS, EINTR).
Connect start_connect(int fd, IoOp& op) noexcept;

/// After a writable edge: done (connected, or op.ec set from SO_ERROR) or pending (a stale edge
/// while still connecting).
Connect finish_connect(int fd, IoOp& op) noexcept;

}  // namespace tether::detail::epoll_calls
