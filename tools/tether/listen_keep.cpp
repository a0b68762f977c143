// listen_keep.cpp: tether listen -k over TCP or a Unix stream: clients served at the same time, as
// ncat -k does. One thread and one poll(2) set hold the listener, stdin and every client:
//   - each client's bytes go to stdout as they arrive;
//   - each stdin chunk is queued to every connected client; stdin is not read while a client's
//     queue holds more than `high_water` bytes (backpressure, never unbounded memory);
//   - stdin's end sends FIN to every client (and to each later one once accepted);
//   - a client that closes, fails or stays silent past the idle timeout is closed and forgotten;
//   - --allow/--deny refuse peers and --max-conns caps the clients at once ("rejected" events).
// The loop runs until a signal ends the process, or exits 1 when stdout fails (a closed pipe).
#include "listen.hpp"

#include "relay.hpp"
#include "session.hpp"
#include "stdio.hpp"

#include <fmt/format.h>

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <list>
#include <string>
#include <vector>

namespace tether::cli {

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t chunk_size = 64 * 1024;
constexpr std::size_t high_water = 1024 * 1024;

Deadline no_wait() { return Deadline(std::chrono::milliseconds(0)); }

bool transient(const std::error_code& ec) {
  return ec == std::errc::operation_would_block || ec == std::errc::resource_unavailable_try_again ||
         ec == std::errc::interrupted || ec == std::errc::timed_out;
}

struct Client {
  TcpStream stream;
  Endpoint peer;
  Result<Endpoint> local;  // the 5-tuple of the events, taken at accept
  std::string queue;  // stdin bytes not yet sent
  bool fin_sent = false;
  Clock::time_point start = Clock::now();
  Clock::time_point last = start;
  RelayStats stats;
  bool done = false;
};

class KeepServer {
 public:
  KeepServer(const ListenSettings& s, TcpListener& listener) : s_(s), listener_(listener) {}

  int run() {
    std::vector<std::byte> buf(chunk_size);
    for (;;) {
      std::vector<pollfd> fds;
      fds.push_back({listener_.socket().fd(), POLLIN, 0});
      const bool read_stdin = stdin_open_ && !clients_.empty() && queued_max() < high_water;
      fds.push_back({read_stdin ? s_.keep.in_fd : -1, POLLIN, 0});
      for (auto& c : clients_) {
        short ev = POLLIN;
        if (!c.queue.empty() || (!stdin_open_ && !c.fin_sent)) ev |= POLLOUT;
        fds.push_back({c.stream.socket().fd(), ev, 0});
      }
      int r = ::poll(fds.data(), fds.size(), wait_ms());
      if (r < 0 && errno != EINTR) {
        s_.log.error(fmt::format("poll: {}", describe({errno, std::system_category()})));
        return exit_failure;
      }
      std::size_t i = 2;
      for (auto& c : clients_) {
        const short rev = r > 0 ? fds[i++].revents : 0;
        if (rev & (POLLIN | POLLERR | POLLHUP)) {
          if (!on_readable(c, buf)) return close_all(exit_failure);
        }
        if (!c.done && (rev & (POLLOUT | POLLERR))) on_writable(c);
      }
      expire_idle();
      reap();
      if (r > 0 && fds[1].revents != 0) read_stdin_chunk(buf);
      if (r > 0 && fds[0].revents != 0) accept_one();
    }
  }

 private:
  std::size_t queued_max() const {
    std::size_t m = 0;
    for (const auto& c : clients_) m = std::max(m, c.queue.size());
    return m;
  }

  std::optional<std::chrono::milliseconds> idle() const { return s_.keep.idle_timeout; }

  int wait_ms() const {
    if (!idle() || clients_.empty()) return -1;
    auto first = std::min_element(clients_.begin(), clients_.end(),
                                  [](const Client& a, const Client& b) { return a.last < b.last; });
    auto left = first->last + *idle() - Clock::now();
    if (left <= Clock::duration::zero()) return 0;
    return static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(left).count());
  }

  void accept_one() {
    auto accepted = listener_.accept(no_wait());
    if (!accepted) {
      if (!transient(accepted.error()) && accepted.error() != std::errc::connection_aborted) {
        s_.log.error(fmt::format("accept: {}", describe(accepted.error())));
      }
      return;
    }
    const char* refused = nullptr;
    if (s_.keep.access && !s_.keep.access->permits(accepted->peer)) refused = "denied";
    if (refused == nullptr && s_.keep.max_conns != 0 && clients_.size() >= s_.keep.max_conns) {
      refused = "max-conns";
    }
    if (refused != nullptr) {
      if (s_.log.enabled()) {
        Event e("rejected");
        e.add("proto", s_.proto());
        e.add("peer", Event::endpoint_text(accepted->peer, s_.proto()));
        e.add("reason", refused);
        s_.log.emit(e);
      }
      return;  // the stream closes here
    }
    Client& c = clients_.emplace_back();
    c.stream = std::move(accepted->stream);
    c.peer = accepted->peer;
    c.local = c.stream.local_endpoint();
    emit_endpoints(s_.log, "accepted", s_.proto(), c.local, c.peer);
  }

  /// The client's bytes to stdout. False when stdout failed (everything ends).
  bool on_readable(Client& c, std::vector<std::byte>& buf) {
    auto n = c.stream.read_some(buf, no_wait());
    if (!n) {
      if (transient(n.error())) return true;
      finish(c, n.error(), "read");
      return true;
    }
    if (*n == 0) {
      c.stats.closed_first = c.fin_sent ? Closer::local : Closer::peer;
      finish(c, {}, "");
      return true;
    }
    if (auto ec = write_fully(s_.keep.out_fd, std::span<const std::byte>(buf.data(), *n))) {
      s_.log.error(fmt::format("writing stdout: {}", describe(ec)));
      return false;
    }
    c.stats.bytes_in += *n;
    c.last = Clock::now();
    return true;
  }

  void on_writable(Client& c) {
    if (!c.queue.empty()) {
      auto w = c.stream.write_some(std::as_bytes(std::span(c.queue.data(), c.queue.size())), no_wait());
      if (!w) {
        if (!transient(w.error())) finish(c, w.error(), "write");
        return;
      }
      c.queue.erase(0, *w);
      c.stats.bytes_out += *w;
      c.last = Clock::now();
    }
    if (c.queue.empty() && !stdin_open_ && !c.fin_sent) {
      c.fin_sent = true;
      (void)c.stream.shutdown(Shutdown::write);
    }
  }

  void read_stdin_chunk(std::vector<std::byte>& buf) {
    long n = read_some_fd(s_.keep.in_fd, buf);
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) {  // end of stdin (or an unreadable stdin): FIN to every client once sent
      stdin_open_ = false;
      return;
    }
    const auto* p = reinterpret_cast<const char*>(buf.data());
    for (auto& c : clients_) c.queue.append(p, static_cast<std::size_t>(n));
  }

  void expire_idle() {
    if (!idle()) return;
    const auto now = Clock::now();
    for (auto& c : clients_) {
      if (!c.done && now - c.last >= *idle()) {
        c.stats.idle_timed_out = true;
        finish(c, std::make_error_code(std::errc::timed_out), "idle");
      }
    }
  }

  void finish(Client& c, std::error_code ec, const char* context) {
    c.done = true;
    c.stats.error = ec;
    c.stats.error_context = context;
    c.stats.duration = Clock::now() - c.start;
  }

  void reap() {
    for (auto it = clients_.begin(); it != clients_.end();) {
      if (!it->done) {
        ++it;
        continue;
      }
      emit_closed(s_.log, s_.proto(), it->local, it->peer, it->stats, &it->stream);
      it = clients_.erase(it);  // closes the stream
    }
  }

  int close_all(int rc) {
    for (auto& c : clients_) {
      if (!c.done) finish(c, {}, "");
    }
    reap();
    return rc;
  }

  const ListenSettings& s_;
  TcpListener& listener_;
  std::list<Client> clients_;
  bool stdin_open_ = true;
};

}  // namespace

int serve_stream_concurrently(const ListenSettings& s) {
  auto listener = open_stream_listener(s);
  if (!listener) return exit_failure;
  return KeepServer(s, *listener).run();
}

}  // namespace tether::cli
