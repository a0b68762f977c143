#include <tether/socket.hpp>

#include "sys.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <utility>

namespace tether {

namespace detail {

Status wait_fd(int fd, short events, Deadline deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    int rc = ::poll(&p, 1, deadline.timeout_ms());
    if (rc > 0) return {};  // ready, or POLLERR/POLLHUP: the next call reports the error
    if (rc == 0) {
      if (deadline.expired()) return fail(std::make_error_code(std::errc::timed_out));
      continue;  // poll's millisecond rounding woke us a little early
    }
    if (errno != EINTR) return fail(errno_code(errno));
  }
}

}  // namespace detail

using detail::sys;
using detail::sys_status;

Socket::~Socket() { close(); }

Socket::Socket(Socket&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      recv_timeout_(other.recv_timeout_),
      send_timeout_(other.send_timeout_) {}

Socket& Socket::operator=(Socket&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
    recv_timeout_ = other.recv_timeout_;
    send_timeout_ = other.send_timeout_;
  }
  return *this;
}

Result<Socket> Socket::open(int family, SocketType type, int protocol) {
  int t = (type == SocketType::stream ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC | SOCK_NONBLOCK;
  auto fd = sys([&] { return ::socket(family, t, protocol); });
  if (!fd) return fail(fd.error());
  return Socket(*fd);
}

int Socket::release() noexcept { return std::exchange(fd_, -1); }

void Socket::close() noexcept {
  if (fd_ >= 0) {
    ::close(fd_);  // never retried: on Linux the fd is released even when close() reports EINTR
    fd_ = -1;
  }
}

Status Socket::bind(const Endpoint& local) {
  return sys_status([&] { return ::bind(fd_, local.data(), local.size()); });
}

Status Socket::shutdown(Shutdown how) {
  int h = how == Shutdown::read ? SHUT_RD : how == Shutdown::write ? SHUT_WR : SHUT_RDWR;
  auto st = sys_status([&] { return ::shutdown(fd_, h); });
  if (!st && st.error() == std::errc::not_connected) {
    // A connection the peer reset is "not connected" by now; report the reset itself.
    if (auto pending = take_error(); pending && *pending != 0) return fail(errno_code(*pending));
  }
  return st;
}

namespace {

template <class F>
Result<Endpoint> name_of(F getname) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  auto rc = sys([&] { return getname(reinterpret_cast<sockaddr*>(&ss), &len); });
  if (!rc) return fail(rc.error());
  return Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
}

}  // namespace

Result<Endpoint> Socket::local_endpoint() const {
  return name_of([this](sockaddr* sa, socklen_t* len) { return ::getsockname(fd_, sa, len); });
}

Result<Endpoint> Socket::peer_endpoint() const {
  return name_of([this](sockaddr* sa, socklen_t* len) { return ::getpeername(fd_, sa, len); });
}

Result<int> Socket::take_error() const { return int_option(SOL_SOCKET, SO_ERROR); }
Result<int> Socket::type() const { return int_option(SOL_SOCKET, SO_TYPE); }

Status Socket::set_option(int level, int name, const void* value, socklen_t len) {
  return sys_status([&] { return ::setsockopt(fd_, level, name, value, len); });
}

Status Socket::get_option(int level, int name, void* value, socklen_t* len) const {
  return sys_status([&] { return ::getsockopt(fd_, level, name, value, len); });
}

Status Socket::set_int_option(int level, int name, int value) {
  return set_option(level, name, &value, sizeof value);
}

Result<int> Socket::int_option(int level, int name) const {
  int value = 0;
  socklen_t len = sizeof value;
  if (auto st = get_option(level, name, &value, &len); !st) return fail(st.error());
  return value;
}

namespace {
Result<bool> as_bool(Result<int> r) {
  if (!r) return fail(r.error());
  return *r != 0;
}
}  // namespace

Status Socket::set_reuse_address(bool on) { return set_int_option(SOL_SOCKET, SO_REUSEADDR, on); }
Result<bool> Socket::reuse_address() const { return as_bool(int_option(SOL_SOCKET, SO_REUSEADDR)); }
Status Socket::set_reuse_port(bool on) { return set_int_option(SOL_SOCKET, SO_REUSEPORT, on); }
Result<bool> Socket::reuse_port() const { return as_bool(int_option(SOL_SOCKET, SO_REUSEPORT)); }
Status Socket::set_no_delay(bool on) { return set_int_option(IPPROTO_TCP, TCP_NODELAY, on); }
Result<bool> Socket::no_delay() const { return as_bool(int_option(IPPROTO_TCP, TCP_NODELAY)); }
Status Socket::set_keep_alive(bool on) { return set_int_option(SOL_SOCKET, SO_KEEPALIVE, on); }
Result<bool> Socket::keep_alive() const { return as_bool(int_option(SOL_SOCKET, SO_KEEPALIVE)); }

Status Socket::set_keep_alive(const KeepAlive& params) {
  if (params.idle.count() <= 0 || params.interval.count() <= 0 || params.count <= 0) {
    return fail(std::make_error_code(std::errc::invalid_argument));
  }
  if (auto st = set_int_option(IPPROTO_TCP, TCP_KEEPIDLE, static_cast<int>(params.idle.count())); !st) return st;
  if (auto st = set_int_option(IPPROTO_TCP, TCP_KEEPINTVL, static_cast<int>(params.interval.count())); !st) return st;
  if (auto st = set_int_option(IPPROTO_TCP, TCP_KEEPCNT, params.count); !st) return st;
  return set_keep_alive(true);
}

Status Socket::set_linger(std::optional<std::chrono::seconds> linger) {
  ::linger l{};
  l.l_onoff = linger.has_value() ? 1 : 0;
  l.l_linger = linger ? static_cast<int>(linger->count()) : 0;
  return set_option(SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

Result<std::optional<std::chrono::seconds>> Socket::linger() const {
  ::linger l{};
  socklen_t len = sizeof l;
  if (auto st = get_option(SOL_SOCKET, SO_LINGER, &l, &len); !st) return fail(st.error());
  if (!l.l_onoff) return std::optional<std::chrono::seconds>{};
  return std::optional<std::chrono::seconds>{std::chrono::seconds(l.l_linger)};
}

Status Socket::set_send_buffer_size(int bytes) { return set_int_option(SOL_SOCKET, SO_SNDBUF, bytes); }
Result<int> Socket::send_buffer_size() const { return int_option(SOL_SOCKET, SO_SNDBUF); }
Status Socket::set_receive_buffer_size(int bytes) { return set_int_option(SOL_SOCKET, SO_RCVBUF, bytes); }
Result<int> Socket::receive_buffer_size() const { return int_option(SOL_SOCKET, SO_RCVBUF); }
Status Socket::set_v6_only(bool on) { return set_int_option(IPPROTO_IPV6, IPV6_V6ONLY, on); }
Result<bool> Socket::v6_only() const { return as_bool(int_option(IPPROTO_IPV6, IPV6_V6ONLY)); }
Status Socket::set_broadcast(bool on) { return set_int_option(SOL_SOCKET, SO_BROADCAST, on); }
Result<bool> Socket::broadcast() const { return as_bool(int_option(SOL_SOCKET, SO_BROADCAST)); }

namespace {
timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}
}  // namespace

Status Socket::set_receive_timeout(std::chrono::milliseconds timeout) {
  if (timeout.count() < 0) return fail(std::make_error_code(std::errc::invalid_argument));
  auto tv = to_timeval(timeout);
  if (auto st = set_option(SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv); !st) return st;
  recv_timeout_ = timeout;
  return {};
}

Status Socket::set_send_timeout(std::chrono::milliseconds timeout) {
  if (timeout.count() < 0) return fail(std::make_error_code(std::errc::invalid_argument));
  auto tv = to_timeval(timeout);
  if (auto st = set_option(SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv); !st) return st;
  send_timeout_ = timeout;
  return {};
}

Deadline Socket::receive_deadline(Deadline d) const noexcept {
  return (d.is_never() && recv_timeout_.count() > 0) ? Deadline(recv_timeout_) : d;
}

Deadline Socket::send_deadline(Deadline d) const noexcept {
  return (d.is_never() && send_timeout_.count() > 0) ? Deadline(send_timeout_) : d;
}

Status Socket::wait_readable(Deadline d) const { return detail::wait_fd(fd_, POLLIN, d); }
Status Socket::wait_writable(Deadline d) const { return detail::wait_fd(fd_, POLLOUT, d); }

}  // namespace tether
