#include <tether/udp.hpp>

#include "datagram_batch_io.hpp"
#include "sys.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

namespace tether {

using detail::would_block;

Result<UdpSocket> UdpSocket::open(const Endpoint& like) {
  if (like.kind() == EndpointKind::none) return fail(Errc::address_family);
  auto sock = Socket::open(like.family(), SocketType::datagram);
  if (!sock) return fail(sock.error());
  return UdpSocket(std::move(*sock));
}

Result<UdpSocket> UdpSocket::bind(const Endpoint& local, const UdpBindOptions& options) {
  auto u = open(local);
  if (!u) return u;
  Socket& s = u->socket_;
  if (local.is_ip()) {
    if (options.reuse_address) {
      if (auto st = s.set_reuse_address(true); !st) return fail(st.error());
    }
    if (options.reuse_port) {
      if (auto st = s.set_reuse_port(true); !st) return fail(st.error());
    }
    if (options.v6_only && local.kind() == EndpointKind::ipv6) {
      if (auto st = s.set_v6_only(*options.v6_only); !st) return fail(st.error());
    }
  }
  if (auto st = s.bind(local); !st) return fail(st.error());
  return u;
}

Status UdpSocket::connect(const Endpoint& remote) {
  return detail::sys_status([&] { return ::connect(socket_.fd(), remote.data(), remote.size()); });
}

Result<std::size_t> UdpSocket::send_to(std::span<const std::byte> data, const Endpoint& to,
                                       Deadline deadline) {
  deadline = socket_.send_deadline(deadline);
  for (;;) {
    ssize_t n = ::sendto(socket_.fd(), data.data(), data.size(), MSG_NOSIGNAL, to.data(), to.size());
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno == EINTR) continue;
    if (!would_block(errno)) return fail(errno_code(errno));
    if (auto st = socket_.wait_writable(deadline); !st) return fail(st.error());
  }
}

Result<std::size_t> UdpSocket::send(std::span<const std::byte> data, Deadline deadline) {
  deadline = socket_.send_deadline(deadline);
  for (;;) {
    ssize_t n = ::send(socket_.fd(), data.data(), data.size(), MSG_NOSIGNAL);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno == EINTR) continue;
    if (!would_block(errno)) return fail(errno_code(errno));
    if (auto st = socket_.wait_writable(deadline); !st) return fail(st.error());
  }
}

Result<std::size_t> UdpSocket::recv_batch(DatagramBatch& batch, Deadline deadline) {
  deadline = socket_.receive_deadline(deadline);
  for (;;) {
    auto n = detail::try_recv_batch(socket_.fd(), batch);
    if (!n || *n > 0) return n;
    if (auto st = socket_.wait_readable(deadline); !st) return fail(st.error());
  }
}

Result<std::size_t> UdpSocket::send_batch(DatagramBatch& batch, std::size_t first,
                                          std::size_t count, Deadline deadline) {
  deadline = socket_.send_deadline(deadline);
  if (first > batch.capacity()) first = batch.capacity();
  count = std::min(count, batch.capacity() - first);
  std::size_t sent = 0;
  while (sent < count) {
    auto n = detail::try_send_batch(socket_.fd(), batch, first + sent, count - sent);
    if (!n) {
      if (sent > 0) return sent;  // the error shows again at the next call
      return fail(n.error());
    }
    sent += *n;
    if (*n > 0) continue;
    if (auto st = socket_.wait_writable(deadline); !st) {
      if (sent > 0) return sent;
      return fail(st.error());
    }
  }
  return sent;
}

Result<Datagram> UdpSocket::recv_from(std::span<std::byte> buf, Deadline deadline) {
  deadline = socket_.receive_deadline(deadline);
  for (;;) {
    sockaddr_storage ss{};
    iovec iov{buf.data(), buf.size()};
    msghdr msg{};
    msg.msg_name = &ss;
    msg.msg_namelen = sizeof ss;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    // MSG_TRUNC makes the kernel return the datagram's real length, even when it is larger
    // than the buffer; msg_flags then carries MSG_TRUNC too.
    ssize_t n = ::recvmsg(socket_.fd(), &msg, MSG_TRUNC);
    if (n >= 0) {
      Datagram d;
      d.full_size = static_cast<std::size_t>(n);
      d.size = std::min(d.full_size, buf.size());
      d.truncated = (msg.msg_flags & MSG_TRUNC) != 0 || d.full_size > buf.size();
      if (msg.msg_namelen > 0) {
        if (auto from = Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), msg.msg_namelen)) {
          d.from = *from;
        }
      }
      return d;
    }
    if (errno == EINTR) continue;
    if (!would_block(errno)) return fail(errno_code(errno));
    if (auto st = socket_.wait_readable(deadline); !st) return fail(st.error());
  }
}

namespace {

Status group_membership(Socket& s, const Endpoint& group, unsigned ifindex, bool join) {
  if (group.kind() == EndpointKind::ipv4) {
    ip_mreqn mreq{};
    std::memcpy(&mreq.imr_multiaddr, &reinterpret_cast<const sockaddr_in*>(group.data())->sin_addr,
                sizeof mreq.imr_multiaddr);
    mreq.imr_ifindex = static_cast<int>(ifindex);
    return s.set_option(IPPROTO_IP, join ? IP_ADD_MEMBERSHIP : IP_DROP_MEMBERSHIP, &mreq, sizeof mreq);
  }
  if (group.kind() == EndpointKind::ipv6) {
    ipv6_mreq mreq{};
    mreq.ipv6mr_multiaddr = reinterpret_cast<const sockaddr_in6*>(group.data())->sin6_addr;
    mreq.ipv6mr_interface = ifindex;
    return s.set_option(IPPROTO_IPV6, join ? IPV6_JOIN_GROUP : IPV6_LEAVE_GROUP, &mreq, sizeof mreq);
  }
  return fail(Errc::address_family);
}

/// AF_INET or AF_INET6 of the socket itself (options differ by family).
Result<int> domain_of(const Socket& s) { return s.int_option(SOL_SOCKET, SO_DOMAIN); }

}  // namespace

Status UdpSocket::join_group(const Endpoint& group, unsigned interface_index) {
  if (!group.is_multicast()) return fail(Errc::bad_address);
  return group_membership(socket_, group, interface_index, true);
}

Status UdpSocket::leave_group(const Endpoint& group, unsigned interface_index) {
  if (!group.is_multicast()) return fail(Errc::bad_address);
  return group_membership(socket_, group, interface_index, false);
}

Status UdpSocket::set_multicast_ttl(int hops) {
  auto d = domain_of(socket_);
  if (!d) return fail(d.error());
  if (*d == AF_INET) return socket_.set_int_option(IPPROTO_IP, IP_MULTICAST_TTL, hops);
  if (*d == AF_INET6) return socket_.set_int_option(IPPROTO_IPV6, IPV6_MULTICAST_HOPS, hops);
  return fail(Errc::address_family);
}

Status UdpSocket::set_multicast_loop(bool on) {
  auto d = domain_of(socket_);
  if (!d) return fail(d.error());
  if (*d == AF_INET) return socket_.set_int_option(IPPROTO_IP, IP_MULTICAST_LOOP, on);
  if (*d == AF_INET6) return socket_.set_int_option(IPPROTO_IPV6, IPV6_MULTICAST_LOOP, on);
  return fail(Errc::address_family);
}

Status UdpSocket::set_multicast_interface(unsigned interface_index) {
  auto d = domain_of(socket_);
  if (!d) return fail(d.error());
  if (*d == AF_INET) {
    ip_mreqn req{};
    req.imr_ifindex = static_cast<int>(interface_index);
    return socket_.set_option(IPPROTO_IP, IP_MULTICAST_IF, &req, sizeof req);
  }
  if (*d == AF_INET6) {
    return socket_.set_int_option(IPPROTO_IPV6, IPV6_MULTICAST_IF, static_cast<int>(interface_index));
  }
  return fail(Errc::address_family);
}

Status UdpSocket::set_multicast_interface(const Endpoint& local_address) {
  auto d = domain_of(socket_);
  if (!d) return fail(d.error());
  if (*d != AF_INET || local_address.kind() != EndpointKind::ipv4) return fail(Errc::address_family);
  ip_mreqn req{};
  req.imr_address = reinterpret_cast<const sockaddr_in*>(local_address.data())->sin_addr;
  return socket_.set_option(IPPROTO_IP, IP_MULTICAST_IF, &req, sizeof req);
}

Status UdpSocket::set_ttl(int hops) {
  auto d = domain_of(socket_);
  if (!d) return fail(d.error());
  if (*d == AF_INET) return socket_.set_int_option(IPPROTO_IP, IP_TTL, hops);
  if (*d == AF_INET6) return socket_.set_int_option(IPPROTO_IPV6, IPV6_UNICAST_HOPS, hops);
  return fail(Errc::address_family);
}

}  // namespace tether
