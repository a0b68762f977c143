// tether/udp.hpp: datagram sockets (UDP, and Unix datagram sockets through the same type).
//
// recv_from() REPORTS truncation: a datagram larger than the buffer fills the buffer, and the
// result says so and gives the datagram's full size (MSG_TRUNC). Sends never raise SIGPIPE.
// An ICMP error from an earlier send (ECONNREFUSED on a connected socket) is reported by the call
// that sees it and leaves the socket usable.
// Threads: one thread at a time per socket. Ownership: the object owns its Socket.
#pragma once

#include <tether/datagram_batch.hpp>
#include <tether/deadline.hpp>
#include <tether/endpoint.hpp>
#include <tether/error.hpp>
#include <tether/resolve.hpp>
#include <tether/socket.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <utility>

#pragma GCC visibility push(default)  // the public API (the shared library hides the rest)

namespace tether {

struct Datagram {
  std::size_t size = 0;       ///< bytes copied into the buffer
  std::size_t full_size = 0;  ///< the datagram's real size (> size when truncated)
  bool truncated = false;
  Endpoint from;              ///< the sender (empty for an unnamed Unix sender)
};

struct UdpBindOptions {
  bool reuse_address = false;
  bool reuse_port = false;
  std::optional<bool> v6_only;
};

class UdpSocket {
 public:
  UdpSocket() noexcept = default;
  explicit UdpSocket(Socket socket) noexcept : socket_(std::move(socket)) {}

  /// An unbound socket of the family of `like` (the kernel picks a port at the first send).
  [[nodiscard]] static Result<UdpSocket> open(const Endpoint& like);
  [[nodiscard]] static Result<UdpSocket> bind(const Endpoint& local, const UdpBindOptions& options = {});

  /// Fixes the peer: send() goes there and only its datagrams are received.
  [[nodiscard]] Status connect(const Endpoint& remote);

  [[nodiscard]] Result<std::size_t> send_to(std::span<const std::byte> data, const Endpoint& to,
                              Deadline deadline = {});
  [[nodiscard]] Result<std::size_t> send_to(std::string_view text, const Endpoint& to, Deadline deadline = {}) {
    return send_to(std::as_bytes(std::span(text.data(), text.size())), to, deadline);
  }
  [[nodiscard]] Result<std::size_t> send(std::span<const std::byte> data, Deadline deadline = {});
  [[nodiscard]] Result<std::size_t> send(std::string_view text, Deadline deadline = {}) {
    return send(std::as_bytes(std::span(text.data(), text.size())), deadline);
  }
  [[nodiscard]] Result<Datagram> recv_from(std::span<std::byte> buf, Deadline deadline = {});
  [[nodiscard]] Result<Datagram> recv_from(std::span<char> buf, Deadline deadline = {}) {
    return recv_from(std::as_writable_bytes(buf), deadline);
  }

  /// Many datagrams in one system call (recvmmsg): waits up to `deadline` for the first, then
  /// takes what else is queued, up to batch.capacity(), without waiting. Their count (>= 1).
  [[nodiscard]] Result<std::size_t> recv_batch(DatagramBatch& batch, Deadline deadline = {});
  /// Sends slots [first, first + count) of `batch` (sendmmsg), each to its peer (or, on a
  /// connected socket, to the peer when the slot's is empty), waiting up to `deadline` while the
  /// socket is full. The number sent: all of them, or fewer when an error stopped the rest (the
  /// error when none was sent).
  [[nodiscard]] Result<std::size_t> send_batch(DatagramBatch& batch, std::size_t first, std::size_t count,
                                 Deadline deadline = {});

  // Broadcast and multicast. `interface_index` 0 lets the kernel choose.
  [[nodiscard]] Status set_broadcast(bool on) { return socket_.set_broadcast(on); }
  [[nodiscard]] Status join_group(const Endpoint& group, unsigned interface_index = 0);
  [[nodiscard]] Status leave_group(const Endpoint& group, unsigned interface_index = 0);
  [[nodiscard]] Status set_multicast_ttl(int hops);        ///< IP_MULTICAST_TTL / IPV6_MULTICAST_HOPS
  [[nodiscard]] Status set_multicast_loop(bool on);        ///< IP_MULTICAST_LOOP / IPV6_MULTICAST_LOOP
  /// The interface multicast datagrams leave by: IP_MULTICAST_IF (struct ip_mreqn) on an IPv4
  /// socket, IPV6_MULTICAST_IF on an IPv6 one; 0 lets the kernel choose again. Use
  /// if_nametoindex("eth0") for a name.
  [[nodiscard]] Status set_multicast_interface(unsigned interface_index);
  /// IPv4 only: the interface that has this local address (IP_MULTICAST_IF by address).
  [[nodiscard]] Status set_multicast_interface(const Endpoint& local_address);
  [[nodiscard]] Status set_ttl(int hops);                  ///< IP_TTL / IPV6_UNICAST_HOPS

  [[nodiscard]] Result<Endpoint> local_endpoint() const { return socket_.local_endpoint(); }
  [[nodiscard]] Result<Endpoint> peer_endpoint() const { return socket_.peer_endpoint(); }
  Socket& socket() noexcept { return socket_; }
  const Socket& socket() const noexcept { return socket_; }
  bool is_open() const noexcept { return socket_.is_open(); }
  void close() noexcept { socket_.close(); }

 private:
  Socket socket_;
};

using UnixDatagram = UdpSocket;

}  // namespace tether

#pragma GCC visibility pop
