#include "trace_capture.hpp"

#include <array>
#include <cerrno>

#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/socket.h>

namespace tether::cli {

namespace {

/// IPv4 (not a fragment) or IPv6 (no extension header) TCP with `port` as source or destination.
/// The socket is SOCK_DGRAM, so offsets start at the IP header; the protocol comes from the skb.
std::array<sock_filter, 20> port_filter(std::uint16_t port) {
  const auto p = static_cast<std::uint32_t>(port);
  return {{
      BPF_STMT(BPF_LD | BPF_H | BPF_ABS, static_cast<std::uint32_t>(SKF_AD_OFF + SKF_AD_PROTOCOL)),  // 0
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IP, 1, 0),      // 1: IPv4 -> 3
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IPV6, 9, 16),   // 2: IPv6 -> 12, else drop
      BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 9),                    // 3: IPv4 protocol
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_TCP, 0, 14),  // 4
      BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 6),                    // 5: flags + fragment offset
      BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x1FFF, 12, 0),      // 6: a fragment: drop
      BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),                   // 7: X = IPv4 header length
      BPF_STMT(BPF_LD | BPF_H | BPF_IND, 0),                    // 8: source port
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, p, 8, 0),             // 9
      BPF_STMT(BPF_LD | BPF_H | BPF_IND, 2),                    // 10: destination port
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, p, 6, 7),             // 11
      BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 6),                    // 12: IPv6 next header
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_TCP, 0, 5),   // 13
      BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 40),                   // 14: source port
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, p, 2, 0),             // 15
      BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 42),                   // 16: destination port
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, p, 0, 1),             // 17
      BPF_STMT(BPF_RET | BPF_K, 262144),                        // 18: accept
      BPF_STMT(BPF_RET | BPF_K, 0),                             // 19: drop
  }};
}

int loopback_index() {
  unsigned index = ::if_nametoindex("lo");
  return static_cast<int>(index);
}

}  // namespace

Result<PortCapture> PortCapture::open(std::uint16_t port, const std::string& interface) {
  int ifindex = 0;
  if (interface != "any") {
    ifindex = static_cast<int>(::if_nametoindex(interface.c_str()));
    if (ifindex == 0) return fail(errno_code(ENODEV));
  }
  // Protocol 0: nothing is delivered until bind() names one, after the filter is in place.
  int fd = ::socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return fail(errno_code(errno));
  PortCapture c;
  c.socket_ = Socket(fd);
  auto program = port_filter(port);
  sock_fprog prog{static_cast<unsigned short>(program.size()), program.data()};
  if (auto st = c.socket_.set_option(SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog); !st) return fail(st.error());
  sockaddr_ll where{};
  where.sll_family = AF_PACKET;
  where.sll_protocol = htons(ETH_P_ALL);
  where.sll_ifindex = ifindex;
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&where), sizeof where) != 0) return fail(errno_code(errno));
  c.loopback_index_ = loopback_index();
  return c;
}

Result<TcpSegment> PortCapture::next(Deadline deadline) {
  std::array<std::byte, 65536> buf{};
  for (;;) {
    sockaddr_ll from{};
    socklen_t len = sizeof from;
    ssize_t n = ::recvfrom(socket_.fd(), buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) return fail(errno_code(errno));
      if (auto st = socket_.wait_readable(deadline); !st) return fail(st.error());
      continue;
    }
    if (from.sll_pkttype == PACKET_OUTGOING && from.sll_ifindex == loopback_index_) continue;
    auto segment = parse_tcp_packet(std::span<const std::byte>(buf.data(), static_cast<std::size_t>(n)));
    if (segment) return segment;  // anything else passed the filter by a corner case: skip it
  }
}

}  // namespace tether::cli
