// stdio.hpp: small helpers for the CLI's own file descriptors (stdin, stdout) and for waiting.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <span>
#include <system_error>

namespace tether::cli {

/// Writes every byte to `fd` (EINTR, partial writes and a non-blocking fd handled). Returns the
/// errno-based error of the first failed write, or an empty code.
std::error_code write_fully(int fd, std::span<const std::byte> data);

/// write_fully() that never waits longer than `idle` without progress (nullopt: no bound): it waits
/// for room with poll(2), then writes what cannot block (at most PIPE_BUF to a pipe or terminal,
/// MSG_DONTWAIT to a socket; a regular file takes everything). errc::timed_out when the reader
/// took nothing for `idle`: so -w fires while stdout is not being read.
std::error_code write_fully_within(int fd, std::span<const std::byte> data,
                                   std::optional<std::chrono::milliseconds> idle);

/// read(2) that retries EINTR; a closed fd (EBADF) reads as end of file. Returns bytes read (0 at
/// end of file) or -1 with errno set (EAGAIN for a non-blocking fd with nothing to read).
long read_some_fd(int fd, std::span<std::byte> buf);

}  // namespace tether::cli
