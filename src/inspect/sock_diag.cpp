// list_sockets(): one NETLINK_SOCK_DIAG dump per family and protocol, parsed by sock_diag_parse.cpp.
#include <tether/sock_diag.hpp>
#include <tether/socket.hpp>

#include "sys.hpp"

#include <array>
#include <vector>

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace tether {

using detail::sys;

namespace {

/// How long a dump may take in all before it is abandoned (the kernel answers in microseconds).
constexpr std::chrono::seconds dump_deadline{5};

template <class Request>
Status send_request(const Socket& nl, const Request& body) {
  struct {
    nlmsghdr header;
    Request body;
  } msg{};
  msg.header.nlmsg_len = sizeof msg;
  msg.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  msg.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  msg.header.nlmsg_seq = 1;
  msg.body = body;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  auto sent = sys([&] {
    return ::sendto(nl.fd(), &msg, sizeof msg, 0, reinterpret_cast<const sockaddr*>(&kernel), sizeof kernel);
  });
  if (!sent) return fail(sent.error());
  return {};
}

/// Sends `body` and parses reply buffers with `parse` until the dump ends.
template <class Request, class Parse>
Status dump(const Request& body, Parse&& parse) {
  auto nl = sys([] { return ::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_SOCK_DIAG); });
  if (!nl) return fail(nl.error());
  Socket socket(*nl);
  if (auto st = send_request(socket, body); !st) return st;
  const Deadline deadline(dump_deadline);
  std::vector<std::byte> buf(64 * 1024);
  for (;;) {
    auto n = sys([&] { return ::recv(socket.fd(), buf.data(), buf.size(), MSG_TRUNC); });
    if (!n) {
      if (!detail::would_block(n.error().value())) return fail(n.error());
      if (auto st = socket.wait_readable(deadline); !st) return st;
      continue;
    }
    if (static_cast<std::size_t>(*n) > buf.size()) return fail(Errc::corrupt_frame);
    auto done = parse(std::span<const std::byte>(buf.data(), static_cast<std::size_t>(*n)));
    if (!done) return fail(done.error());
    if (*done) return {};
  }
}

Status dump_inet(int family, int protocol, const SockDiagQuery& q, std::vector<SocketEntry>& out) {
  inet_diag_req_v2 req{};
  req.sdiag_family = static_cast<std::uint8_t>(family);
  req.sdiag_protocol = static_cast<std::uint8_t>(protocol);
  req.idiag_states = q.states;
  if (protocol == IPPROTO_TCP && q.tcp_info) {
    req.idiag_ext = (1U << (INET_DIAG_INFO - 1)) | (1U << (INET_DIAG_CONG - 1));
  }
  return dump(req, [&](std::span<const std::byte> reply) {
    return sock_diag::parse_inet_reply(reply, protocol, out);
  });
}

Status dump_unix(const SockDiagQuery& q, std::vector<SocketEntry>& out) {
  unix_diag_req req{};
  req.sdiag_family = AF_UNIX;
  req.udiag_states = q.states;
  req.udiag_show = UDIAG_SHOW_NAME | UDIAG_SHOW_PEER | UDIAG_SHOW_RQLEN | UDIAG_SHOW_UID;
  return dump(req, [&](std::span<const std::byte> reply) { return sock_diag::parse_unix_reply(reply, out); });
}

/// A missing diag module answers ENOENT (or EINVAL on old kernels): that protocol has no rows.
bool protocol_absent(const std::error_code& ec) {
  return ec == std::errc::no_such_file_or_directory || ec == std::errc::invalid_argument ||
         ec == std::errc::protocol_not_supported;
}

}  // namespace

Result<std::vector<SocketEntry>> list_sockets(const SockDiagQuery& q) {
  std::vector<SocketEntry> out;
  std::vector<int> families;
  if (q.family != IpFamily::ipv6) families.push_back(AF_INET);
  if (q.family != IpFamily::ipv4) families.push_back(AF_INET6);
  for (int protocol : {IPPROTO_TCP, IPPROTO_UDP}) {
    if ((protocol == IPPROTO_TCP && !q.tcp) || (protocol == IPPROTO_UDP && !q.udp)) continue;
    for (int family : families) {
      if (auto st = dump_inet(family, protocol, q, out); !st && !protocol_absent(st.error())) {
        return fail(st.error());
      }
    }
  }
  if (q.unix_sockets) {
    if (auto st = dump_unix(q, out); !st && !protocol_absent(st.error())) return fail(st.error());
  }
  return out;
}

}  // namespace tether
