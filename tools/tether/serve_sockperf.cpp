// tether listen --sockperf: a reflector for the stock `sockperf` client (ping-pong, throughput,
// under-load), over TCP or UDP (-u), using libtether's sockperf codec (tether/sockperf.hpp).
//
// It answers exactly the messages that ask for an answer (client flag and pong request, not a
// warm-up) with the same bytes and the client flag cleared, as `sockperf server` does. A corrupt
// stream (a length below 14 or above 65507) closes that connection only.
// One thread and no layer between the socket and the codec: this mode exists to be measured
// against `sockperf server`, which, serving one socket, blocks in recvfrom() and answers with
// sendto(): two system calls per message. So does this reflector while it serves ONE socket (UDP,
// or a single TCP client: "solo" mode, a blocking recv() with a 10 ms timeout, looking at the
// listener and signals between timeouts and every 64 messages); with several TCP clients it runs
// a level-triggered epoll loop. Sends never block (MSG_DONTWAIT): a client that does not read its
// replies leaves solo mode and stops being read until they are flushed.
// TCP clients are served concurrently; without -k the process exits after the first client
// leaves. SIGINT/SIGTERM end it with a summary event (-v/--json) and status 0.
#include "epoll_poller.hpp"
#include "listen.hpp"
#include "session.hpp"

#include <tether/buffer.hpp>
#include <tether/sockperf.hpp>

#include <fmt/format.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <fcntl.h>
#include <sys/socket.h>

#include <cstring>
#include <memory>
#include <unordered_map>

namespace tether::cli {

namespace {

namespace sp = tether::sockperf;

constexpr std::size_t kReadChunk = 64 * 1024;
constexpr int kSoloChecks = 64;  // solo mode: look at the listener and signals every 64 messages

/// Blocking mode with a receive timeout: a plain recv() waits at most `timeout`, while
/// MSG_DONTWAIT calls stay non-blocking.
void make_blocking_with_timeout(int fd, std::chrono::milliseconds timeout) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0) ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

bool signal_pending(int sigfd) {
  signalfd_siginfo info{};
  return sigfd >= 0 && ::read(sigfd, &info, sizeof info) == static_cast<ssize_t>(sizeof info);
}

struct Totals {
  std::uint64_t connections = 0;
  std::uint64_t messages = 0;
  std::uint64_t replies = 0;
  std::uint64_t errors = 0;
};

struct Conn {
  TcpStream stream;
  Endpoint peer;
  Buffer in{kReadChunk};
  Buffer out{kReadChunk};
  sp::MessageDecoder decoder;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::chrono::steady_clock::time_point since = std::chrono::steady_clock::now();
  bool writing = false;  // waiting for EPOLLOUT; reading paused meanwhile
};

/// Blocks SIGINT and SIGTERM and returns a signalfd that reports them (or -1).
int signal_fd() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  if (::sigprocmask(SIG_BLOCK, &set, nullptr) != 0) return -1;
  return ::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

void emit_summary(const ListenSettings& s, const Totals& t) {
  if (!s.log.enabled()) return;
  Event e("summary");
  e.add("proto", s.proto());
  e.add("connections", t.connections);
  e.add("messages", t.messages);
  e.add("replies", t.replies);
  e.add("errors", t.errors);
  s.log.emit(e);
}

class StreamReflector {
 public:
  StreamReflector(const ListenSettings& s, TcpListener listener, int sigfd)
      : s_(s), listener_(std::move(listener)), sigfd_(sigfd) {}

  int run() {
    poller_.add(listener_.socket().fd(), EPOLLIN, &listener_);
    if (sigfd_ >= 0) poller_.add(sigfd_, EPOLLIN, &sigfd_);
    epoll_event events[128];
    for (;;) {
      if (!s_.keep_open && served_ > 0 && conns_.empty()) return finish();
      if (conns_.size() == 1 && !conns_.begin()->second->writing) {
        if (serve_solo(*conns_.begin()->second)) return finish();
        if (conns_.empty()) continue;  // the client left: exit without -k, else wait for the next
      }
      // After solo mode, only a look (unless its client waits for EPOLLOUT).
      const int timeout = conns_.size() == 1 && !conns_.begin()->second->writing ? 0 : -1;
      for (auto& ev : poller_.wait(events, timeout)) {
        if (ev.data.ptr == &sigfd_) return finish();
        if (ev.data.ptr == &listener_) {
          accept_all();
          continue;
        }
        auto* c = static_cast<Conn*>(ev.data.ptr);
        if (conns_.count(c) == 0) continue;  // closed earlier in this batch
        if (ev.events & EPOLLOUT) flush(*c);
        else if (ev.events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(*c);
      }
    }
  }

 private:
  int finish() {
    emit_summary(s_, totals_);
    return exit_ok;
  }

  // Serves the only client with blocking receives until something else needs the loop: another
  // client or a signal (checked on each timeout and every kSoloChecks messages), the client
  // leaving, or a reply that cannot be sent at once. Returns true on a signal.
  bool serve_solo(Conn& c) {
    const int fd = c.stream.socket().fd();
    for (int n = 1;; ++n) {
      auto space = c.in.prepare(kReadChunk);
      const ssize_t got = ::recv(fd, space.data(), space.size(), 0);  // waits 10 ms at most
      if (got >= 0) {
        if (!handle_input(c, static_cast<std::size_t>(got))) return false;  // 0: end of stream
      } else if (errno != EAGAIN && errno != EINTR) {
        close_conn(c, errno_code(errno));
        return false;
      }
      if (got < 0 || n % kSoloChecks == 0) {
        if (signal_pending(sigfd_)) return true;
        if (listening_has_more()) return false;
      }
      if (c.writing) return false;
    }
  }

  // A new client waiting in the accept queue (a zero-timeout poll of the listener alone).
  bool listening_has_more() {
    pollfd p{listener_.socket().fd(), POLLIN, 0};
    return ::poll(&p, 1, 0) > 0;
  }

  void accept_all() {
    for (int i = 0; i < 64; ++i) {
      sockaddr_storage addr{};
      socklen_t len = sizeof addr;
      const int fd = ::accept4(listener_.socket().fd(), reinterpret_cast<sockaddr*>(&addr), &len,
                               SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
          s_.log.error(fmt::format("accept: {}", describe(errno_code(errno))));
        }
        return;
      }
      if (!s_.keep_open && served_ > 0) {  // one client at a time without -k
        ::close(fd);
        continue;
      }
      auto c = std::make_unique<Conn>();
      make_blocking_with_timeout(fd, std::chrono::milliseconds(10));  // for solo mode
      c->stream = TcpStream(Socket(fd));
      (void)c->stream.socket().set_no_delay(true);
      if (auto peer = Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&addr), len)) c->peer = *peer;
      emit_endpoints(s_.log, "accepted", s_.proto(), c->stream.local_endpoint(), c->peer);
      poller_.add(fd, EPOLLIN, c.get());
      ++served_;
      ++totals_.connections;
      conns_.emplace(c.get(), std::move(c));
    }
  }

  void close_conn(Conn& c, std::error_code error) {
    if (error) ++totals_.errors;
    if (s_.log.enabled()) {
      RelayStats stats;
      stats.bytes_in = c.bytes_in;
      stats.bytes_out = c.bytes_out;
      stats.duration = std::chrono::steady_clock::now() - c.since;
      stats.closed_first = error ? Closer::none : Closer::peer;
      stats.error = error;
      stats.error_context = "read";
      emit_closed(s_.log, s_.proto(), c.stream.local_endpoint(), c.peer, stats, &c.stream);
    }
    poller_.remove(c.stream.socket().fd());
    conns_.erase(&c);
  }

  void on_readable(Conn& c) {
    auto space = c.in.prepare(kReadChunk);
    const ssize_t n = ::recv(c.stream.socket().fd(), space.data(), space.size(), MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      return close_conn(c, errno_code(errno));
    }
    handle_input(c, static_cast<std::size_t>(n));
  }

  // Decodes `n` bytes just received into c.in (0: end of stream) and answers. False when the
  // connection was closed.
  bool handle_input(Conn& c, std::size_t n) {
    if (n == 0) {
      // End of stream: a message cut short is a truncated stream.
      auto rest = c.decoder.decode_eof(c.in);
      close_conn(c, rest ? std::error_code{} : rest.error());
      return false;
    }
    c.in.commit(n);
    c.bytes_in += static_cast<std::uint64_t>(n);
    for (;;) {
      auto message = c.decoder.decode(c.in);
      if (!message) {
        close_conn(c, message.error());
        return false;
      }
      if (!*message) break;
      ++totals_.messages;
      if ((*message)->header.wants_reply()) {
        sp::append_reply(**message, c.out);
        ++totals_.replies;
      }
    }
    return flush(c);
  }

  bool flush(Conn& c) {
    while (!c.out.empty()) {
      const auto bytes = c.out.readable();
      const ssize_t n = ::send(c.stream.socket().fd(), bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) break;
        close_conn(c, errno_code(errno));
        return false;
      }
      c.out.consume(static_cast<std::size_t>(n));
      c.bytes_out += static_cast<std::uint64_t>(n);
    }
    const bool blocked = !c.out.empty();
    if (blocked != c.writing) {
      c.writing = blocked;
      // A client that does not read its replies stops being read: memory stays bounded.
      poller_.modify(c.stream.socket().fd(), blocked ? EPOLLOUT : EPOLLIN, &c);
    }
    return true;
  }

  const ListenSettings& s_;
  TcpListener listener_;
  int sigfd_;
  EpollPoller poller_;
  std::unordered_map<Conn*, std::unique_ptr<Conn>> conns_;
  std::uint64_t served_ = 0;
  Totals totals_;
};

int serve_datagrams(const ListenSettings& s, UdpSocket socket, int sigfd) {
  constexpr int kBatch = 32;
  const int fd = socket.socket().fd();
  make_blocking_with_timeout(fd, std::chrono::milliseconds(20));
  // Datagrams up to the largest sockperf message; replies are patched in place and sent back.
  std::vector<std::byte> storage(static_cast<std::size_t>(kBatch) * sp::default_max_size);
  mmsghdr msgs[kBatch];
  iovec iov[kBatch];
  sockaddr_storage from[kBatch];
  Totals totals;
  for (std::uint64_t round = 1;; ++round) {
    for (int i = 0; i < kBatch; ++i) {
      iov[i] = {storage.data() + static_cast<std::size_t>(i) * sp::default_max_size, sp::default_max_size};
      msgs[i] = {};
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_name = &from[i];
      msgs[i].msg_hdr.msg_namelen = sizeof from[i];
    }
    // Blocks (20 ms at most) for the first datagram, then takes what else is queued.
    const int n = ::recvmmsg(fd, msgs, kBatch, MSG_WAITFORONE, nullptr);
    if (n <= 0 || round % kSoloChecks == 0) {
      if (signal_pending(sigfd)) {
        emit_summary(s, totals);
        return exit_ok;
      }
      if (n <= 0) continue;  // timeout, or an ICMP error from an earlier reply: keep serving
    }
    for (int i = 0; i < n; ++i) {
      std::span<std::byte> dgram(static_cast<std::byte*>(iov[i].iov_base), msgs[i].msg_len);
      while (!dgram.empty()) {
        auto message = sp::first_message(dgram);
        if (!message || !*message) {
          ++totals.errors;  // a datagram that holds no whole message: dropped, as sockperf does
          break;
        }
        const std::size_t len = (*message)->bytes.size();
        ++totals.messages;
        if ((*message)->header.wants_reply()) {
          sp::make_reply(dgram.first(len));
          if (::sendto(fd, dgram.data(), len, MSG_NOSIGNAL | MSG_DONTWAIT,
                       static_cast<const sockaddr*>(msgs[i].msg_hdr.msg_name), msgs[i].msg_hdr.msg_namelen) >= 0) {
            ++totals.replies;
          }
        }
        dgram = dgram.subspan(len);
      }
    }
  }
}

int run_sockperf(const ListenSettings& s) {
  const int sigfd = signal_fd();
  int rc = exit_failure;
  if (s.common.udp) {
    if (auto socket = open_datagram_socket(s)) {
      (void)socket->socket().set_receive_buffer_size(4 << 20);
      rc = serve_datagrams(s, std::move(*socket), sigfd);
    }
  } else if (auto listener = open_stream_listener(s)) {
    rc = StreamReflector(s, std::move(*listener), sigfd).run();
  }
  if (sigfd >= 0) ::close(sigfd);
  return rc;
}

}  // namespace

ListenMode sockperf_listen_mode() {
  return {"--sockperf", "Reflect sockperf messages (for the stock `sockperf ping-pong` client), TCP or -u UDP",
          run_sockperf};
}

}  // namespace tether::cli
