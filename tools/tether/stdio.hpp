// stdio.hpp: small helpers for the CLI's own file descriptors (stdin, stdout) and for waiting.
#pragma once

#include <cstddef>
#include <span>
#include <system_error>

namespace tether::cli {

/// Writes every byte to `fd` (EINTR, partial writes and a non-blocking fd handled). Returns the
/// errno-based error of the first failed write, or an empty code.
std::error_code write_fully(int fd, std::span<const std::byte> data);

/// read(2) that retries EINTR; a closed fd (EBADF) reads as end of file. Returns bytes read (0 at
/// end of file) or -1 with errno set (EAGAIN for a non-blocking fd with nothing to read).
long read_some_fd(int fd, std::span<std::byte> buf);

}  // namespace tether::cli
