// tcp_info.hpp (private): the kernel's struct tcp_info as tether::TcpInfo.
//
// One conversion for both sources of the struct: getsockopt(TCP_INFO) on an owned socket and the
// INET_DIAG_INFO attribute of a sock_diag reply. An older kernel sends a shorter struct; the fields
// it lacks stay zero.
#pragma once

#include <tether/tcp.hpp>

#include <cstddef>
#include <span>

namespace tether::detail {

/// `bytes` is a prefix (possibly the whole) of the kernel's struct tcp_info.
TcpInfo tcp_info_from_kernel(std::span<const std::byte> bytes) noexcept;

}  // namespace tether::detail
