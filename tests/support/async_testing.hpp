// Helpers for the asynchronous layer's tests: connected stream pairs and raw fd I/O.
#pragma once

#include "testing.hpp"

#include <tether/async_tcp.hpp>
#include <tether/event_loop.hpp>

#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/socket.h>

#include <chrono>
#include <utility>
#include <vector>

namespace tether::testing {

/// A connected pair of Unix stream sockets (non-blocking, close-on-exec).
inline std::pair<Socket, Socket> socket_pair() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) {
    ADD_FAILURE() << "socketpair failed";
    return {};
  }
  return {Socket(fds[0]), Socket(fds[1])};
}

/// One end attached to `loop`, the other returned raw.
inline std::pair<AsyncTcpStream, Socket> async_pair(EventLoop& loop) {
  auto [a, b] = socket_pair();
  auto s = AsyncTcpStream::adopt(loop, TcpStream(std::move(a)));
  EXPECT_TRUE(s.has_value());
  return {std::move(*s), std::move(b)};
}

/// A listener whose accept queue is full, so the kernel drops further SYNs: connecting to it
/// neither succeeds nor fails (a black hole). `fillers` keeps the connections that fill the queue.
struct BlackHole {
  TcpListener listener;
  std::vector<TcpStream> fillers;
  Endpoint endpoint;
};

inline BlackHole black_hole(const Endpoint& where) {
  BlackHole b;
  ListenOptions o;
  o.backlog = 0;
  auto l = TcpListener::bind(where, o);
  if (!l) {
    ADD_FAILURE() << "bind: " << l.error().message();
    return b;
  }
  b.listener = std::move(*l);
  b.endpoint = *b.listener.local_endpoint();
  // With backlog 0 the queue holds one connection; fill it until an attempt hangs.
  for (int i = 0; i < 8; ++i) {
    auto s = TcpStream::connect(b.endpoint, std::chrono::milliseconds(200));
    if (!s) return b;  // timed out: SYNs are being dropped now
    b.fillers.push_back(std::move(*s));
  }
  ADD_FAILURE() << "could not fill the accept queue";
  return b;
}

/// Raises the soft RLIMIT_NOFILE to the hard limit (tests with many sockets).
inline void raise_fd_limit() {
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &rl);
}

}  // namespace tether::testing
