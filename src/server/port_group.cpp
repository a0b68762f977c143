// src/server/port_group.cpp: several handles on one exclusively bound socket (port_group.hpp).
#include <tether/port_group.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace tether {

namespace {

// `count` handles on `first`'s socket: itself and count - 1 close-on-exec duplicates.
template <class Handle>
Result<std::vector<Handle>> duplicate(Handle first, std::size_t count) {
  std::vector<Handle> handles;
  handles.reserve(count);
  const int fd = first.socket().fd();
  for (std::size_t i = 1; i < count; ++i) {
    const int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (copy < 0) return fail(errno_code(errno));
    handles.emplace_back(Socket(copy));
  }
  handles.insert(handles.begin(), std::move(first));
  return handles;
}

}  // namespace

Result<std::vector<TcpListener>> listen_shared(const Endpoint& local, std::size_t count,
                                               ListenOptions options) {
  options.reuse_port = false;
  auto listener = TcpListener::bind(local, options);
  if (!listener) return fail(listener.error());
  return duplicate(std::move(*listener), count == 0 ? 1 : count);
}

Result<std::vector<UdpSocket>> bind_shared(const Endpoint& local, std::size_t count,
                                           UdpBindOptions options) {
  options.reuse_port = false;
  options.reuse_address = false;
  auto socket = UdpSocket::bind(local, options);
  if (!socket) return fail(socket.error());
  return duplicate(std::move(*socket), count == 0 ? 1 : count);
}

}  // namespace tether
