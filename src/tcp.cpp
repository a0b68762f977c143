#include <tether/tcp.hpp>

#include "sys.hpp"
#include "tcp_info.hpp"

#include <algorithm>

#include <linux/tcp.h>  // the kernel's struct tcp_info (glibc's lacks the byte counters)
#include <poll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>

namespace tether {

using detail::sys;
using detail::would_block;

namespace {

/// The second half of a non-blocking connect: wait for writability, then read SO_ERROR.
Status finish_connect(Socket& s, Deadline deadline) {
  if (auto st = s.wait_writable(deadline); !st) return st;
  auto err = s.take_error();
  if (!err) return fail(err.error());
  if (*err != 0) return fail(errno_code(*err));
  return {};
}

Status start_connect(Socket& s, const Endpoint& remote, Deadline deadline) {
  int rc = ::connect(s.fd(), remote.data(), remote.size());
  if (rc == 0) return {};
  int err = errno;
  // EINTR: the connection attempt goes on in the kernel, exactly as with EINPROGRESS.
  // EAGAIN: a Unix socket whose listener's queue is full; waiting for writability covers it.
  if (err == EINPROGRESS || err == EINTR) return finish_connect(s, deadline);
  if (would_block(err) && remote.is_unix()) {
    // The kernel gives no readiness event for room in a Unix listener's queue: retry every 10 ms
    // until there is room or the deadline passes.
    for (;;) {
      if (deadline.expired()) return fail(std::make_error_code(std::errc::timed_out));
      int wait_ms = deadline.is_never() ? 10 : std::min(10, deadline.timeout_ms());
      ::poll(nullptr, 0, wait_ms);
      if (::connect(s.fd(), remote.data(), remote.size()) == 0) return {};
      if (errno != EINTR && !would_block(errno)) return fail(errno_code(errno));
    }
  }
  return fail(errno_code(err));
}

}  // namespace

Result<TcpStream> TcpStream::connect(const Endpoint& remote, Deadline deadline) {
  ConnectOptions options;
  options.deadline = deadline;
  return connect(remote, options);
}

Result<TcpStream> TcpStream::connect(const Endpoint& remote, const ConnectOptions& options) {
  if (remote.kind() == EndpointKind::none) return fail(Errc::address_family);
  auto sock = Socket::open(remote.family(), SocketType::stream);
  if (!sock) return fail(sock.error());
  if (options.source) {
    if (options.source->family() != remote.family()) return fail(Errc::address_family);
    if (auto st = sock->bind(*options.source); !st) return fail(st.error());
  }
  if (auto st = start_connect(*sock, remote, options.deadline); !st) return fail(st.error());
  if (remote.is_ip()) {
    // A connect to a local port in the ephemeral range can "succeed" by connecting the socket to
    // itself (TCP simultaneous open). That is never a connection to a server: report it refused.
    auto local = sock->local_endpoint();
    auto peer = sock->peer_endpoint();
    if (local && peer && *local == *peer) return fail(std::make_error_code(std::errc::connection_refused));
  }
  return TcpStream(std::move(*sock));
}

Result<TcpStream> TcpStream::connect(std::string_view host, std::string_view service,
                                     const ConnectOptions& options) {
  ResolveOptions ro;
  ro.family = options.family;
  auto addrs = resolve(host, service, ro);
  if (!addrs) return fail(addrs.error());
  if (options.source) {
    // Only addresses of the source's family can be reached from it.
    std::erase_if(*addrs, [&](const Endpoint& e) { return e.family() != options.source->family(); });
    if (addrs->empty()) return fail(Errc::no_address);
  }
  std::error_code last = make_error_code(Errc::no_address);
  const std::size_t n = addrs->size();
  for (std::size_t i = 0; i < n; ++i) {
    if (options.deadline.expired()) return fail(std::make_error_code(std::errc::timed_out));
    ConnectOptions attempt = options;
    if (!options.deadline.is_never()) {
      // An equal share of the time left for each address still to try.
      auto share = options.deadline.remaining() / static_cast<long>(n - i);
      attempt.deadline = earliest(options.deadline, Deadline(share));
    }
    auto s = connect((*addrs)[i], attempt);
    if (s) return s;
    last = s.error();
  }
  return fail(last);
}

Result<std::size_t> TcpStream::read_some(std::span<std::byte> buf, Deadline deadline) {
  if (buf.empty()) return std::size_t{0};
  deadline = socket_.receive_deadline(deadline);
  for (;;) {
    ssize_t n = ::recv(socket_.fd(), buf.data(), buf.size(), 0);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno == EINTR) continue;
    if (!would_block(errno)) return fail(errno_code(errno));
    if (auto st = socket_.wait_readable(deadline); !st) return fail(st.error());
  }
}

Result<std::size_t> TcpStream::write_some(std::span<const std::byte> buf, Deadline deadline) {
  if (buf.empty()) return std::size_t{0};
  deadline = socket_.send_deadline(deadline);
  for (;;) {
    ssize_t n = ::send(socket_.fd(), buf.data(), buf.size(), MSG_NOSIGNAL);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno == EINTR) continue;
    if (!would_block(errno)) return fail(errno_code(errno));
    if (auto st = socket_.wait_writable(deadline); !st) return fail(st.error());
  }
}

Result<std::size_t> TcpStream::send_file(int file_fd, std::size_t count, Deadline deadline) {
  if (count == 0) return std::size_t{0};
  deadline = socket_.send_deadline(deadline);
  for (;;) {
    ssize_t n = ::sendfile(socket_.fd(), file_fd, nullptr, count);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno == EINTR) continue;
    if (!would_block(errno)) return fail(errno_code(errno));
    if (auto st = socket_.wait_writable(deadline); !st) return fail(st.error());
  }
}

Status TcpStream::read_exact(std::span<std::byte> buf, Deadline deadline) {
  deadline = socket_.receive_deadline(deadline);
  while (!buf.empty()) {
    auto n = read_some(buf, deadline);
    if (!n) return fail(n.error());
    if (*n == 0) return fail(Errc::end_of_stream);
    buf = buf.subspan(*n);
  }
  return {};
}

Status TcpStream::write_all(std::span<const std::byte> buf, Deadline deadline) {
  deadline = socket_.send_deadline(deadline);
  while (!buf.empty()) {
    auto n = write_some(buf, deadline);
    if (!n) return fail(n.error());
    buf = buf.subspan(*n);
  }
  return {};
}

Result<TcpInfo> TcpStream::tcp_info() const {
  ::tcp_info ti{};
  socklen_t len = sizeof ti;
  if (auto st = socket_.get_option(IPPROTO_TCP, TCP_INFO, &ti, &len); !st) return fail(st.error());
  return detail::tcp_info_from_kernel(std::as_bytes(std::span(&ti, 1)).first(len));
}

Result<TcpListener> TcpListener::bind(const Endpoint& local, const ListenOptions& options) {
  if (local.kind() == EndpointKind::none) return fail(Errc::address_family);
  auto sock = Socket::open(local.family(), SocketType::stream);
  if (!sock) return fail(sock.error());
  if (local.is_ip()) {
    if (options.reuse_address) {
      if (auto st = sock->set_reuse_address(true); !st) return fail(st.error());
    }
    if (options.reuse_port) {
      if (auto st = sock->set_reuse_port(true); !st) return fail(st.error());
    }
    if (options.v6_only && local.kind() == EndpointKind::ipv6) {
      if (auto st = sock->set_v6_only(*options.v6_only); !st) return fail(st.error());
    }
  }
  if (auto st = sock->bind(local); !st) return fail(st.error());
  if (auto st = detail::sys_status([&] { return ::listen(sock->fd(), options.backlog); }); !st) {
    return fail(st.error());
  }
  return TcpListener(std::move(*sock));
}

Result<Accepted> TcpListener::accept(Deadline deadline) {
  deadline = socket_.receive_deadline(deadline);
  for (;;) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    int fd = ::accept4(socket_.fd(), reinterpret_cast<sockaddr*>(&ss), &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd >= 0) {
      Socket s(fd);
      auto peer = Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
      return Accepted{TcpStream(std::move(s)), peer ? *peer : Endpoint()};
    }
    // ECONNABORTED: the client gave up while queued; take the next one.
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (!would_block(errno)) return fail(errno_code(errno));
    if (auto st = socket_.wait_readable(deadline); !st) return fail(st.error());
  }
}

}  // namespace tether
