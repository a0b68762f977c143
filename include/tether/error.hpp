// tether/error.hpp: the one error model.
//
// Every fallible call returns Result<T> = std::expected<T, std::error_code>. System call failures carry
// std::system_category() codes (errno values); tether's own conditions (parse errors, end of stream,
// corrupt frames) carry tether::error_category(). Nothing throws on a network error.
// A timeout is always std::make_error_code(std::errc::timed_out) (std::generic_category()), whether
// a Deadline passed, with_timeout stopped an operation, or the kernel said ETIMEDOUT: compare with
// `ec == std::errc::timed_out`.
#pragma once

#include <cerrno>
#include <expected>
#include <system_error>

#pragma GCC visibility push(default)  // the public API (the shared library hides the rest)

namespace tether {

template <class T>
using Result = std::expected<T, std::error_code>;

/// Result of an operation that yields no value.
using Status = std::expected<void, std::error_code>;

/// tether's own error conditions. Each value names the part of the input that is wrong.
enum class Errc {
  empty_input = 1,     ///< the text was empty
  bad_address,         ///< the host part is not a valid numeric IPv4/IPv6 address
  bad_port,            ///< the port is not a number in 0..65535
  missing_port,        ///< no ":PORT" where one is required
  unknown_service,     ///< the service name is not in the services database
  bad_scope,           ///< the IPv6 scope id (after '%') names no interface
  path_too_long,       ///< a Unix socket path exceeds sockaddr_un's 107 bytes
  needs_resolution,    ///< the host is a name: use tether::resolve()
  address_family,      ///< the operation does not apply to this endpoint's family
  no_address,          ///< resolution gave no address of the wanted family
  end_of_stream,       ///< the peer closed before the requested bytes arrived
  frame_too_large,     ///< a frame's declared length exceeds the decoder's maximum
  corrupt_frame,       ///< the byte stream cannot be decoded
  closed,              ///< the operation was cancelled because its object was closed
  cancelled,           ///< the operation was cancelled by a stop request
};

const std::error_category& error_category() noexcept;
std::error_code make_error_code(Errc e) noexcept;

/// Errors from getaddrinfo() (EAI_* values), kept apart from errno values.
const std::error_category& resolve_category() noexcept;

/// The error_code for an errno value (ETIMEDOUT: std::errc::timed_out, as every timeout).
inline std::error_code errno_code(int err) noexcept {
  if (err == ETIMEDOUT) return std::make_error_code(std::errc::timed_out);
  return {err, std::system_category()};
}

/// `return fail(ec);` from any function returning Result<T>.
inline std::unexpected<std::error_code> fail(std::error_code ec) noexcept { return std::unexpected(ec); }
inline std::unexpected<std::error_code> fail(Errc e) noexcept { return std::unexpected(make_error_code(e)); }

}  // namespace tether

template <>
struct std::is_error_code_enum<tether::Errc> : std::true_type {};

#pragma GCC visibility pop
