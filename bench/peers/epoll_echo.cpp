// epoll_echo PORT [--discard | --udp]: the floor. A hand-written, single-threaded, level-triggered
// epoll TCP echo server on 0.0.0.0:PORT, as a careful C programmer writes one: non-blocking sockets,
// one read buffer shared by all connections, bytes echoed straight from it; only a partial write
// keeps bytes per connection (and stops reading that connection until they are flushed).
// --discard reads and drops (the sink for bulk and file-transfer runs); --udp echoes datagrams
// with recvmmsg/sendmmsg in batches of 32. Prints nothing but errors.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

struct Conn {
  int fd = -1;
  std::vector<char> pending;  // unsent bytes after a partial write
  size_t sent = 0;
};

constexpr size_t kBuf = 64 * 1024;
char g_buf[kBuf];
bool g_discard = false;  // --discard: read and drop

void die(const char* what) {
  std::fprintf(stderr, "epoll_echo: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

void close_conn(int ep, Conn* c) {
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, nullptr);
  close(c->fd);
  delete c;
}

// Writes what it can; returns false on a fatal error.
bool flush(int ep, Conn* c) {
  while (c->sent < c->pending.size()) {
    ssize_t n = send(c->fd, c->pending.data() + c->sent, c->pending.size() - c->sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return true;
      return false;
    }
    c->sent += static_cast<size_t>(n);
  }
  c->pending.clear();
  c->sent = 0;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = c;
  epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
  return true;
}

// Reads and echoes until the socket is drained; returns false when the connection is done.
bool on_readable(int ep, Conn* c) {
  for (int round = 0; round < 16; ++round) {
    ssize_t n = recv(c->fd, g_buf, kBuf, 0);
    if (n == 0) return false;
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN;
    }
    if (g_discard) {
      if (static_cast<size_t>(n) < kBuf) return true;
      continue;
    }
    size_t off = 0;
    while (off < static_cast<size_t>(n)) {
      ssize_t w = send(c->fd, g_buf + off, static_cast<size_t>(n) - off, MSG_NOSIGNAL);
      if (w < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN) return false;
        // Socket full: keep the rest and wait for EPOLLOUT, reading nothing more meanwhile.
        c->pending.assign(g_buf + off, g_buf + n);
        c->sent = 0;
        epoll_event ev{};
        ev.events = EPOLLOUT;
        ev.data.ptr = c;
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        return true;
      }
      off += static_cast<size_t>(w);
    }
    if (static_cast<size_t>(n) < kBuf) return true;  // drained
  }
  return true;
}


int serve_udp(uint16_t port) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) die("bind");
  int big = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  constexpr int kBatch = 32;
  static char bufs[kBatch][65536];
  mmsghdr msgs[kBatch];
  iovec iov[kBatch];
  sockaddr_in from[kBatch];
  for (;;) {
    for (int i = 0; i < kBatch; ++i) {
      iov[i] = {bufs[i], sizeof bufs[i]};
      msgs[i] = {};
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_name = &from[i];
      msgs[i].msg_hdr.msg_namelen = sizeof from[i];
    }
    int n = recvmmsg(fd, msgs, kBatch, MSG_WAITFORONE, nullptr);  // blocks for the first only
    if (n < 0) {
      if (errno == EINTR) continue;
      die("recvmmsg");
    }
    for (int i = 0; i < n; ++i) iov[i].iov_len = msgs[i].msg_len;
    sendmmsg(fd, msgs, static_cast<unsigned>(n), 0);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const bool udp = argc == 3 && std::strcmp(argv[2], "--udp") == 0;
  g_discard = argc == 3 && std::strcmp(argv[2], "--discard") == 0;
  if (argc < 2 || argc > 3 || (argc == 3 && !udp && !g_discard)) {
    std::fprintf(stderr, "usage: epoll_echo PORT [--discard | --udp]\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  if (udp) return serve_udp(static_cast<uint16_t>(std::atoi(argv[1])));
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (lfd < 0) die("socket");
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::atoi(argv[1])));
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  if (bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) die("bind");
  if (listen(lfd, 4096) < 0) die("listen");
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll_create1");
  epoll_event lev{};
  lev.events = EPOLLIN;
  lev.data.ptr = nullptr;  // the listener
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);

  epoll_event events[256];
  for (;;) {
    int n = epoll_wait(ep, events, 256, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    for (int i = 0; i < n; ++i) {
      if (events[i].data.ptr == nullptr) {
        for (;;) {
          int cfd = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (cfd < 0) {
            if (errno == EMFILE || errno == ENFILE) std::fprintf(stderr, "epoll_echo: accept: %s\n", std::strerror(errno));
            break;
          }
          setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          auto* c = new Conn;
          c->fd = cfd;
          epoll_event ev{};
          ev.events = EPOLLIN;
          ev.data.ptr = c;
          epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &ev);
        }
        continue;
      }
      auto* c = static_cast<Conn*>(events[i].data.ptr);
      bool ok = true;
      if (events[i].events & EPOLLOUT) ok = flush(ep, c);
      else if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) ok = on_readable(ep, c);
      if (!ok) close_conn(ep, c);
    }
  }
}
