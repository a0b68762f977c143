// tether/sock_diag.hpp: the machine's sockets as the kernel lists them (netlink sock_diag).
//
// list_sockets() asks the kernel through NETLINK_SOCK_DIAG (the interface `ss` uses) for TCP, UDP
// and Unix sockets of the current network namespace: the 5-tuple, the state, the queues, the
// pending timer, the owner's uid and the inode, and for TCP the kernel's TCP_INFO and congestion
// control. No /proc file is read. The owning process is not part of the reply: finding it means
// scanning /proc/PID/fd, which is the caller's choice (tether ss does it only for rows it shows).
//
// The parsers are separate from the I/O (sock_diag::parse_*_reply take the bytes of one netlink
// reply), so they can be tested and fuzzed on bytes alone.
// Threads: every function is safe to call from any thread; each call opens its own netlink socket.
#pragma once

#include <tether/endpoint.hpp>
#include <tether/error.hpp>
#include <tether/resolve.hpp>
#include <tether/tcp.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#pragma GCC visibility push(default)

namespace tether {

enum class SocketKind : std::uint8_t { tcp, udp, unix_stream, unix_dgram, unix_seqpacket };

/// "tcp", "udp", "unix", "unix-dgram", "unix-seqpacket".
const char* socket_kind_name(SocketKind kind) noexcept;

/// Socket states, numbered as the kernel numbers them (include/net/tcp_states.h). UDP and Unix
/// sockets use the same numbers: established (connected), close (unconnected), listen.
enum class TcpState : std::uint8_t {
  established = 1, syn_sent, syn_recv, fin_wait1, fin_wait2, time_wait, close, close_wait,
  last_ack, listen, closing, new_syn_recv,
};

/// The state as `ss` prints it: "ESTAB", "SYN-SENT", "TIME-WAIT", "UNCONN" (close), ...;
/// "UNKNOWN" for a number outside the list.
const char* tcp_state_name(std::uint8_t state) noexcept;
/// "established", "estab", "time-wait", "TIME_WAIT", "listening", "unconn", ... (any case, '-' or '_').
std::optional<TcpState> parse_tcp_state(std::string_view text) noexcept;

/// A bit set of states for SockDiagQuery::states.
constexpr std::uint32_t state_bit(TcpState s) noexcept { return 1U << static_cast<unsigned>(s); }
inline constexpr std::uint32_t all_states = 0xFFFU << 1;  // 1..12

/// The timer a socket has pending (ss -o).
enum class SocketTimer : std::uint8_t { none, retransmit, keepalive, time_wait, zero_window_probe };

/// "on" (retransmit), "keepalive", "timewait", "persist" or "" for none: ss's names.
const char* socket_timer_name(SocketTimer timer) noexcept;

/// One socket in a sock_diag reply.
struct SocketEntry {
  SocketKind kind = SocketKind::tcp;
  std::uint8_t state = 0;               ///< TcpState numbering
  Endpoint local;                       ///< Unix: the bound name, or an empty endpoint (kind none)
  Endpoint peer;                        ///< Unix: empty; see peer_inode
  std::uint32_t recv_q = 0;             ///< bytes unread (LISTEN: connections waiting in accept)
  std::uint32_t send_q = 0;             ///< bytes unacknowledged (LISTEN: the backlog)
  std::uint32_t uid = 0;
  std::uint64_t inode = 0;              ///< 0 for a socket without a file (TIME-WAIT, SYN-RECV)
  std::uint64_t cookie = 0;             ///< the kernel's unique socket id
  SocketTimer timer = SocketTimer::none;
  std::chrono::milliseconds timer_expires{0};
  std::uint8_t timer_retransmits = 0;
  std::uint64_t peer_inode = 0;         ///< Unix: the inode of the connected peer
  std::optional<TcpInfo> tcp_info;      ///< TCP with SockDiagQuery::tcp_info, not for TIME-WAIT
  std::string congestion;               ///< TCP: "cubic", "bbr", ... (empty when not reported)
};

/// What list_sockets() asks for.
struct SockDiagQuery {
  bool tcp = true;
  bool udp = true;
  bool unix_sockets = true;
  IpFamily family = IpFamily::any;      ///< for TCP and UDP
  std::uint32_t states = all_states;    ///< state_bit() set; the kernel filters
  bool tcp_info = true;                 ///< also TCP_INFO and the congestion control
};

/// Every socket matching `query`: one netlink dump per family and protocol. An error only when
/// sock_diag itself fails (no netlink socket, a malformed reply); a protocol whose diag module is
/// missing (udp_diag, unix_diag not loaded) is left out.
[[nodiscard]] Result<std::vector<SocketEntry>> list_sockets(const SockDiagQuery& query = {});

namespace sock_diag {

/// Appends the entries in one reply buffer (one or more netlink messages) of an inet_diag dump
/// for `protocol` (IPPROTO_TCP or IPPROTO_UDP). Returns true when the buffer ends the dump
/// (NLMSG_DONE). Errc::corrupt_frame for a truncated or inconsistent message; the kernel's
/// NLMSG_ERROR as its errno.
[[nodiscard]] Result<bool> parse_inet_reply(std::span<const std::byte> reply, int protocol,
                              std::vector<SocketEntry>& out);

/// The same for a unix_diag dump.
[[nodiscard]] Result<bool> parse_unix_reply(std::span<const std::byte> reply, std::vector<SocketEntry>& out);

}  // namespace sock_diag
}  // namespace tether

#pragma GCC visibility pop
