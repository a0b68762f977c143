// Parsing sock_diag replies: netlink messages of inet_diag_msg / unix_diag_msg with attributes.
// Every length is checked before it is used: a reply is bytes, and these functions are fuzzed.
#include <tether/sock_diag.hpp>

#include "tcp_info.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace tether {

namespace {

constexpr std::array<const char*, 13> state_names = {
    "UNKNOWN", "ESTAB", "SYN-SENT", "SYN-RECV", "FIN-WAIT-1", "FIN-WAIT-2", "TIME-WAIT",
    "UNCONN", "CLOSE-WAIT", "LAST-ACK", "LISTEN", "CLOSING", "NEW-SYN-RECV"};

template <class T>
T load(std::span<const std::byte> bytes) noexcept {
  T value{};
  std::memcpy(&value, bytes.data(), std::min(bytes.size(), sizeof value));
  return value;
}

/// Calls f(type, payload) for each rtattr in `attrs`; false when one is malformed.
template <class F>
bool for_each_attribute(std::span<const std::byte> attrs, F&& f) {
  while (attrs.size() >= sizeof(rtattr)) {
    auto a = load<rtattr>(attrs);
    if (a.rta_len < sizeof(rtattr) || a.rta_len > attrs.size()) return false;
    f(a.rta_type, attrs.subspan(RTA_LENGTH(0), a.rta_len - RTA_LENGTH(0)));
    attrs = attrs.subspan(std::min<std::size_t>(RTA_ALIGN(a.rta_len), attrs.size()));
  }
  return true;
}

/// Calls f(type, payload) for each netlink message; true after NLMSG_DONE, an error for
/// NLMSG_ERROR or a malformed message.
template <class F>
Result<bool> for_each_message(std::span<const std::byte> reply, F&& f) {
  while (!reply.empty()) {
    if (reply.size() < sizeof(nlmsghdr)) return fail(Errc::corrupt_frame);
    auto h = load<nlmsghdr>(reply);
    if (h.nlmsg_len < sizeof(nlmsghdr) || h.nlmsg_len > reply.size()) return fail(Errc::corrupt_frame);
    auto payload = reply.subspan(NLMSG_HDRLEN, h.nlmsg_len - NLMSG_HDRLEN);
    if (h.nlmsg_type == NLMSG_DONE) return true;
    if (h.nlmsg_type == NLMSG_ERROR) {
      if (payload.size() < sizeof(int)) return fail(Errc::corrupt_frame);
      int err = load<int>(payload);
      return fail(errno_code(err < 0 && err > -4096 ? -err : EPROTO));  // never negate INT_MIN
    }
    if (!f(h.nlmsg_type, payload)) return fail(Errc::corrupt_frame);
    reply = reply.subspan(std::min<std::size_t>(NLMSG_ALIGN(h.nlmsg_len), reply.size()));
  }
  return false;
}

Endpoint inet_endpoint(std::uint8_t family, const __be32 (&addr)[4], __be16 port_be) {
  const std::uint16_t port = ntohs(port_be);
  if (family == AF_INET) {
    std::array<std::uint8_t, 4> a{};
    std::memcpy(a.data(), addr, 4);
    return Endpoint::ipv4(a, port);
  }
  std::array<std::uint8_t, 16> a{};
  std::memcpy(a.data(), addr, 16);
  return Endpoint::ipv6(a, port);
}

SocketTimer inet_timer(std::uint8_t t) noexcept {
  switch (t) {
    case 1: return SocketTimer::retransmit;
    case 2: return SocketTimer::keepalive;
    case 3: return SocketTimer::time_wait;
    case 4: return SocketTimer::zero_window_probe;
    default: return SocketTimer::none;
  }
}

bool parse_inet_message(std::span<const std::byte> payload, int protocol, std::vector<SocketEntry>& out) {
  if (payload.size() < sizeof(inet_diag_msg)) return false;
  auto m = load<inet_diag_msg>(payload);
  if (m.idiag_family != AF_INET && m.idiag_family != AF_INET6) return false;
  SocketEntry e;
  e.kind = protocol == IPPROTO_UDP ? SocketKind::udp : SocketKind::tcp;
  e.state = m.idiag_state;
  e.local = inet_endpoint(m.idiag_family, m.id.idiag_src, m.id.idiag_sport);
  e.peer = inet_endpoint(m.idiag_family, m.id.idiag_dst, m.id.idiag_dport);
  e.recv_q = m.idiag_rqueue;
  e.send_q = m.idiag_wqueue;
  e.uid = m.idiag_uid;
  e.inode = m.idiag_inode;
  e.cookie = (std::uint64_t{m.id.idiag_cookie[1]} << 32) | m.id.idiag_cookie[0];
  e.timer = inet_timer(m.idiag_timer);
  e.timer_expires = std::chrono::milliseconds(m.idiag_expires);
  e.timer_retransmits = m.idiag_retrans;
  auto attrs = payload.subspan(NLMSG_ALIGN(sizeof(inet_diag_msg)) <= payload.size()
                                   ? NLMSG_ALIGN(sizeof(inet_diag_msg)) : payload.size());
  bool ok = for_each_attribute(attrs, [&](unsigned type, std::span<const std::byte> v) {
    if (type == INET_DIAG_INFO && e.kind == SocketKind::tcp && !v.empty()) {
      e.tcp_info = detail::tcp_info_from_kernel(v);
    } else if (type == INET_DIAG_CONG) {
      std::string name(reinterpret_cast<const char*>(v.data()), v.size());
      name.resize(std::strlen(name.c_str()));
      e.congestion = std::move(name);
    }
  });
  if (!ok) return false;
  out.push_back(std::move(e));
  return true;
}

SocketKind unix_kind(std::uint8_t type) noexcept {
  if (type == SOCK_DGRAM) return SocketKind::unix_dgram;
  if (type == SOCK_SEQPACKET) return SocketKind::unix_seqpacket;
  return SocketKind::unix_stream;
}

bool parse_unix_message(std::span<const std::byte> payload, std::vector<SocketEntry>& out) {
  if (payload.size() < sizeof(unix_diag_msg)) return false;
  auto m = load<unix_diag_msg>(payload);
  if (m.udiag_family != AF_UNIX) return false;
  SocketEntry e;
  e.kind = unix_kind(m.udiag_type);
  e.state = m.udiag_state;
  e.inode = m.udiag_ino;
  e.cookie = (std::uint64_t{m.udiag_cookie[1]} << 32) | m.udiag_cookie[0];
  bool bad_name = false;
  bool ok = for_each_attribute(payload.subspan(NLMSG_ALIGN(sizeof(unix_diag_msg))),
                               [&](unsigned type, std::span<const std::byte> v) {
    if (type == UNIX_DIAG_NAME && !v.empty()) {
      std::string_view name(reinterpret_cast<const char*>(v.data()), v.size());
      auto ep = name.front() == '\0' ? Endpoint::unix_abstract(name.substr(1))
                                     : Endpoint::unix_path(name.substr(0, name.find('\0')));
      if (ep) e.local = *ep; else bad_name = true;
    } else if (type == UNIX_DIAG_PEER && v.size() >= sizeof(std::uint32_t)) {
      e.peer_inode = load<std::uint32_t>(v);
    } else if (type == UNIX_DIAG_RQLEN && v.size() >= sizeof(unix_diag_rqlen)) {
      auto q = load<unix_diag_rqlen>(v);
      e.recv_q = q.udiag_rqueue;
      e.send_q = q.udiag_wqueue;
    } else if (type == UNIX_DIAG_UID && v.size() >= sizeof(std::uint32_t)) {
      e.uid = load<std::uint32_t>(v);
    }
  });
  if (!ok || bad_name) return false;
  out.push_back(std::move(e));
  return true;
}

}  // namespace

const char* socket_kind_name(SocketKind kind) noexcept {
  switch (kind) {
    case SocketKind::tcp: return "tcp";
    case SocketKind::udp: return "udp";
    case SocketKind::unix_stream: return "unix";
    case SocketKind::unix_dgram: return "unix-dgram";
    case SocketKind::unix_seqpacket: return "unix-seqpacket";
  }
  return "unknown";
}

const char* tcp_state_name(std::uint8_t state) noexcept {
  return state < state_names.size() ? state_names[state] : state_names[0];
}

std::optional<TcpState> parse_tcp_state(std::string_view text) noexcept {
  std::string norm;
  for (char c : text) norm += c == '_' ? '-' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (norm == "ESTABLISHED") norm = "ESTAB";
  if (norm == "LISTENING") norm = "LISTEN";
  if (norm == "CLOSE" || norm == "CLOSED") norm = "UNCONN";
  for (std::size_t i = 1; i < state_names.size(); ++i) {
    if (norm == state_names[i]) return static_cast<TcpState>(i);
  }
  return std::nullopt;
}

const char* socket_timer_name(SocketTimer timer) noexcept {
  switch (timer) {
    case SocketTimer::none: return "";
    case SocketTimer::retransmit: return "on";
    case SocketTimer::keepalive: return "keepalive";
    case SocketTimer::time_wait: return "timewait";
    case SocketTimer::zero_window_probe: return "persist";
  }
  return "";
}

namespace sock_diag {

Result<bool> parse_inet_reply(std::span<const std::byte> reply, int protocol, std::vector<SocketEntry>& out) {
  return for_each_message(reply, [&](unsigned type, std::span<const std::byte> payload) {
    return type == SOCK_DIAG_BY_FAMILY && parse_inet_message(payload, protocol, out);
  });
}

Result<bool> parse_unix_reply(std::span<const std::byte> reply, std::vector<SocketEntry>& out) {
  return for_each_message(reply, [&](unsigned type, std::span<const std::byte> payload) {
    return type == SOCK_DIAG_BY_FAMILY && parse_unix_message(payload, out);
  });
}

}  // namespace sock_diag
}  // namespace tether
