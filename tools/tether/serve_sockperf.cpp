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
// leaves. --allow/--deny and --max-conns close refused clients at once ("rejected" event);
// --idle-timeout (else -w) closes a silent client; on SIGINT/SIGTERM it stops accepting and lets
// clients finish for --drain SECS (default 5; a second signal ends it at once), then prints a
// summary event (-v/--json) and exits 0. Out of file descriptors it sheds and backs off
// (tether/accept_guard.hpp). --threads does not apply (one thread by design): exit 2.
// UDP: serve_sockperf_udp.cpp.
#include "epoll_poller.hpp"
#include "listen.hpp"
#include "serve_modes.hpp"
#include "serve_sockperf.hpp"
#include "session.hpp"

#include <tether/accept_guard.hpp>
#include <tether/buffer.hpp>
#include <tether/cidr.hpp>
#include <tether/sockperf.hpp>

#include <fmt/format.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <unordered_map>

namespace tether::cli {

namespace sockperf_detail {

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

void emit_summary(const ListenSettings& s, const Totals& t, bool udp) {
  if (!s.log.enabled()) return;
  Event e("summary");
  e.add("proto", s.proto());
  if (!udp) e.add("connections", t.connections);
  e.add("messages", t.messages);
  e.add("replies", t.replies);
  if (udp) {
    e.add("datagrams_in", t.datagrams_in);
    e.add("datagrams_out", t.datagrams_out);
  }
  e.add("rejected", t.rejected);
  e.add("errors", t.errors);
  s.log.emit(e);
}

void emit_rejected(const ListenSettings& s, const Endpoint& peer, std::string_view reason) {
  if (!s.log.enabled()) return;
  Event e("rejected");
  e.add("proto", s.proto());
  e.add("peer", peer);
  e.add("reason", reason);
  s.log.emit(e);
}

}  // namespace sockperf_detail

namespace {

namespace sp = tether::sockperf;
using namespace sockperf_detail;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::size_t kReadChunk = 64 * 1024;

struct Limits {
  AccessList acl;
  std::size_t max_conns = 0;          ///< 0: none
  std::optional<milliseconds> idle;   ///< close a client silent this long
  milliseconds drain{5000};
};

struct Conn {
  TcpStream stream;
  Endpoint peer;
  Buffer in{kReadChunk};
  Buffer out{kReadChunk};
  sp::MessageDecoder decoder;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  Clock::time_point since = Clock::now();
  Clock::time_point last_input = since;  // --idle-timeout
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

int ms_until(Clock::time_point t) {
  const auto left = std::chrono::duration_cast<milliseconds>(t - Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(left + 1, 0, 60'000));
}

class StreamReflector {
 public:
  StreamReflector(const ListenSettings& s, TcpListener listener, int sigfd, Limits limits)
      : s_(s), listener_(std::move(listener)), sigfd_(sigfd), limits_(std::move(limits)) {}

  int run() {
    poller_.add(listener_.socket().fd(), EPOLLIN, &listener_);
    if (sigfd_ >= 0) poller_.add(sigfd_, EPOLLIN, &sigfd_);
    epoll_event events[128];
    for (;;) {
      if (!s_.keep_open && served_ > 0 && conns_.empty()) return finish();
      if (draining_ && (conns_.empty() || Clock::now() >= drain_until_)) return finish();
      if (conns_.size() == 1 && !conns_.begin()->second->writing) {
        if (serve_solo(*conns_.begin()->second) && on_signal()) return finish();
        if (conns_.empty()) continue;  // the client left: exit without -k, else wait for the next
      }
      resume_accepting_if_due();
      // After solo mode, only a look (unless its client waits for EPOLLOUT).
      int timeout = conns_.size() == 1 && !conns_.begin()->second->writing ? 0 : -1;
      for (auto t : {next_idle_check(), paused_until_, draining_ ? drain_until_ : Clock::time_point{}}) {
        if (t != Clock::time_point{}) timeout = timeout < 0 ? ms_until(t) : std::min(timeout, ms_until(t));
      }
      for (auto& ev : poller_.wait(events, timeout)) {
        if (ev.data.ptr == &sigfd_) {
          if (signal_pending(sigfd_) && on_signal()) return finish();
          continue;
        }
        if (ev.data.ptr == &listener_) {
          accept_all();
          continue;
        }
        auto* c = static_cast<Conn*>(ev.data.ptr);
        if (conns_.count(c) == 0) continue;  // closed earlier in this batch
        if (ev.events & EPOLLOUT) flush(*c);
        else if (ev.events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(*c);
      }
      close_idle();
    }
  }

 private:
  int finish() {
    emit_summary(s_, totals_, false);
    return exit_ok;
  }

  // A signal: the first starts the drain (true when nothing is left to wait for), a second ends.
  bool on_signal() {
    if (draining_ || conns_.empty() || limits_.drain.count() == 0) return true;
    draining_ = true;
    drain_until_ = Clock::now() + limits_.drain;
    if (s_.log.enabled()) {
      Event e("draining");
      e.add("proto", s_.proto());
      s_.log.emit(e);
    }
    if (listener_.is_open()) {
      if (!paused_) poller_.remove(listener_.socket().fd());
      listener_ = TcpListener();  // new clients are refused by the kernel
    }
    return false;
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
        if (draining_ && Clock::now() >= drain_until_) return false;
        if (got < 0 && limits_.idle && Clock::now() - c.last_input >= *limits_.idle) {
          close_conn(c, std::make_error_code(std::errc::timed_out));
          return false;
        }
      }
      if (c.writing) return false;
    }
  }

  // A new client waiting in the accept queue (a zero-timeout poll of the listener alone).
  bool listening_has_more() {
    if (!listener_.is_open() || paused_) return false;
    pollfd p{listener_.socket().fd(), POLLIN, 0};
    return ::poll(&p, 1, 0) > 0;
  }

  // Out of fds or memory: stop watching the listener until the guard's pause is over.
  void pause_accepting(milliseconds wait) {
    if (!paused_) poller_.remove(listener_.socket().fd());
    paused_ = true;
    paused_until_ = Clock::now() + wait;
  }

  void resume_accepting_if_due() {
    if (!paused_ || Clock::now() < paused_until_ || !listener_.is_open()) return;
    paused_ = false;
    paused_until_ = {};
    poller_.add(listener_.socket().fd(), EPOLLIN, &listener_);
  }

  void accept_all() {
    for (int i = 0; i < 64 && !paused_ && listener_.is_open(); ++i) {
      sockaddr_storage addr{};
      socklen_t len = sizeof addr;
      const int fd = ::accept4(listener_.socket().fd(), reinterpret_cast<sockaddr*>(&addr), &len,
                               SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EAGAIN || errno == EINTR) return;
        if (errno == ECONNABORTED) continue;
        const auto ec = errno_code(errno);
        const auto verdict = guard_.on_error(listener_.socket().fd(), ec);
        if (verdict.shed) {
          ++totals_.rejected;
          continue;
        }
        ++totals_.errors;
        if (verdict.wait.count() > 0) {
          // One line per pause (10 ms doubling to 1 s): the log cannot be flooded.
          s_.log.error(fmt::format("accept: {} (pausing {} ms)", describe(ec), verdict.wait.count()));
          pause_accepting(verdict.wait);
        }
        return;
      }
      guard_.on_success();
      Socket socket(fd);
      Endpoint peer;
      if (auto p = Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&addr), len)) peer = *p;
      if (!limits_.acl.empty() && !limits_.acl.permits(peer)) {
        ++totals_.rejected;
        emit_rejected(s_, peer, "denied");
        continue;
      }
      if (limits_.max_conns > 0 && conns_.size() >= limits_.max_conns) {
        ++totals_.rejected;
        emit_rejected(s_, peer, "max-conns");
        continue;
      }
      if (!s_.keep_open && served_ > 0) {  // one client at a time without -k: closed
        ++totals_.rejected;
        emit_rejected(s_, peer, "busy");
        continue;
      }
      auto c = std::make_unique<Conn>();
      make_blocking_with_timeout(fd, milliseconds(10));  // for solo mode
      c->stream = TcpStream(std::move(socket));
      (void)c->stream.socket().set_no_delay(true);
      c->peer = peer;
      emit_endpoints(s_.log, "accepted", s_.proto(), c->stream.local_endpoint(), c->peer);
      poller_.add(fd, EPOLLIN, c.get());
      ++served_;
      ++totals_.connections;
      conns_.emplace(c.get(), std::move(c));
    }
  }

  // --idle-timeout: when the next check is due (a zero time point: never).
  Clock::time_point next_idle_check() const {
    if (!limits_.idle || conns_.empty()) return {};
    Clock::time_point first = Clock::time_point::max();
    for (const auto& [p, c] : conns_) first = std::min(first, c->last_input + *limits_.idle);
    return first;
  }

  void close_idle() {
    if (!limits_.idle) return;
    const auto now = Clock::now();
    std::vector<Conn*> expired;
    for (const auto& [p, c] : conns_) {
      if (now - c->last_input >= *limits_.idle) expired.push_back(p);
    }
    for (Conn* c : expired) close_conn(*c, std::make_error_code(std::errc::timed_out));
  }

  void close_conn(Conn& c, std::error_code error) {
    const bool idle = error == std::errc::timed_out;
    if (error && !idle) ++totals_.errors;
    if (s_.log.enabled()) {
      RelayStats stats;
      stats.bytes_in = c.bytes_in;
      stats.bytes_out = c.bytes_out;
      stats.duration = Clock::now() - c.since;
      stats.closed_first = error ? Closer::none : Closer::peer;
      stats.error = error;
      stats.idle_timed_out = idle;
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
    if (limits_.idle) c.last_input = Clock::now();
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
  Limits limits_;
  EpollPoller poller_;
  AcceptGuard guard_;
  std::unordered_map<Conn*, std::unique_ptr<Conn>> conns_;
  std::uint64_t served_ = 0;
  Totals totals_;
  bool paused_ = false;
  Clock::time_point paused_until_{};
  bool draining_ = false;
  Clock::time_point drain_until_{};
};

int run_sockperf(const ListenSettings& s) {
  Limits limits;
  if (s.common.udp) {
    if (s.keep_open) throw UsageError("-k does not apply to --sockperf -u");
    refuse_flags(s, "--sockperf -u", refuse_threads | refuse_max_conns | refuse_idle | refuse_drain |
                                         refuse_accept_mode | refuse_max_line | refuse_wait);
  } else {
    refuse_flags(s, "--sockperf (one thread by design)", refuse_threads | refuse_accept_mode);
    refuse_flags(s, "--sockperf", refuse_max_line);
    limits.max_conns = serve_flags().max_conns;
    limits.idle = idle_timeout(s);
    limits.drain = drain_timeout();
  }
  limits.acl = access_list();
  const int sigfd = signal_fd();
  int rc = exit_failure;
  if (s.common.udp) {
    if (auto socket = open_datagram_socket(s)) {
      (void)socket->socket().set_receive_buffer_size(4 << 20);
      rc = serve_datagrams(s, std::move(*socket), sigfd, limits.acl);
    }
  } else if (auto listener = open_stream_listener(s)) {
    rc = StreamReflector(s, std::move(*listener), sigfd, std::move(limits)).run();
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
