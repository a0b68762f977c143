// listen_keep_tls.cpp: tether listen --tls -k: TLS clients served at the same time, with the
// contract of the plaintext -k loop (listen_keep.cpp):
//   - each client's plaintext goes to stdout as it arrives (whole chunks, never interleaved);
//   - each stdin chunk is queued to every client; stdin is not read while a client's queue holds
//     more than `high_water` bytes (backpressure);
//   - stdin's end sends close_notify and FIN to every client (and to each later one once its
//     handshake is done);
//   - a client that closes, fails, or stays silent past the idle timeout is closed and forgotten;
//   - --allow/--deny and --max-conns refuse peers ("rejected" events).
// The blocking TlsStream allows one reading and one writing thread at once, so each client has
// two threads (its handshake and reads on one, its writes on the other); the main thread polls the
// listener and stdin. A wake eventfd tells the main thread that a queue drained or a client ended.
// The loop runs until a signal ends the process, or exits 1 when stdout fails.
#include "listen.hpp"

#include "session.hpp"
#include "stdio.hpp"
#include "tls_options.hpp"

#include <tether/tls.hpp>

#include <fmt/format.h>

#include <poll.h>
#include <sys/socket.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tether::cli {

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t chunk_size = 64 * 1024;
constexpr std::size_t high_water = 1024 * 1024;
constexpr std::chrono::seconds handshake_limit{10};

class KeepTls;

struct TlsClient {
  TcpStream tcp;  // until the handshake takes it
  int fd = -1;    // the socket, for close_all (the same number under the TLS layer)
  TlsStream tls;
  Endpoint peer;
  Result<Endpoint> local;
  std::string queue;        // stdin bytes not yet sent (guarded by KeepTls::mutex_)
  bool stop = false;        // guarded: the writer must end
  bool reader_done = false;  // guarded
  std::atomic<bool> finished{false};  // both threads have ended: the main thread reaps it
  Clock::time_point start = Clock::now();
  std::atomic<Clock::rep> last{Clock::now().time_since_epoch().count()};
  RelayStats stats;  // written by the reader (bytes_out by the writer, joined first)
  std::thread reader;
  std::thread writer;

  void touch() { last.store(Clock::now().time_since_epoch().count()); }
  Clock::time_point last_time() const { return Clock::time_point(Clock::duration(last.load())); }
};

class KeepTls {
 public:
  KeepTls(const ListenSettings& s, TcpListener& listener) : s_(s), listener_(listener) {}
  ~KeepTls() {
    if (wake_ >= 0) ::close(wake_);
  }
  KeepTls(const KeepTls&) = delete;
  KeepTls& operator=(const KeepTls&) = delete;

  int run() {
    if (wake_ < 0) {
      s_.log.error(fmt::format("eventfd: {}", describe({errno, std::system_category()})));
      return exit_failure;
    }
    std::vector<std::byte> buf(chunk_size);
    for (;;) {
      bool read_stdin = false;
      {
        std::lock_guard lock(mutex_);
        read_stdin = stdin_open_ && !clients_.empty() && queued_max() < high_water;
      }
      pollfd fds[3] = {{listener_.socket().fd(), POLLIN, 0},
                       {read_stdin ? s_.keep.in_fd : -1, POLLIN, 0},
                       {wake_, POLLIN, 0}};
      int r = ::poll(fds, 3, -1);
      if (r < 0 && errno != EINTR) {
        s_.log.error(fmt::format("poll: {}", describe({errno, std::system_category()})));
        return close_all(exit_failure);
      }
      if (r > 0 && fds[2].revents != 0) {
        std::uint64_t n = 0;
        [[maybe_unused]] auto got = ::read(wake_, &n, sizeof n);
      }
      if (stdout_failed_.load()) return close_all(exit_failure);
      reap();
      if (r > 0 && fds[1].revents != 0) read_stdin_chunk(buf);
      if (r > 0 && fds[0].revents != 0) accept_one();
    }
  }

 private:
  std::size_t queued_max() const {
    std::size_t m = 0;
    for (const auto& c : clients_) m = std::max(m, c->queue.size());
    return m;
  }

  void wake() {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_, &one, sizeof one);
  }

  void accept_one() {
    auto accepted = listener_.accept(Deadline(std::chrono::milliseconds(0)));
    if (!accepted) return;  // a transient failure; the next poll tries again
    const char* refused = nullptr;
    if (s_.keep.access && !s_.keep.access->permits(accepted->peer)) refused = "denied";
    std::lock_guard lock(mutex_);
    if (refused == nullptr && s_.keep.max_conns != 0 && clients_.size() >= s_.keep.max_conns) refused = "max-conns";
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
    auto c = std::make_shared<TlsClient>();
    c->tcp = std::move(accepted->stream);
    c->fd = c->tcp.socket().fd();
    c->peer = accepted->peer;
    c->local = c->tcp.local_endpoint();
    emit_endpoints(s_.log, "accepted", s_.proto(), c->local, c->peer);
    clients_.push_back(c);
    c->reader = std::thread([this, c] { serve(*c); });
  }

  /// The client's thread: handshake, then TLS -> stdout; starts the writer.
  void serve(TlsClient& c) {
    const auto limit = s_.keep.idle_timeout ? Deadline(*s_.keep.idle_timeout) : Deadline(handshake_limit);
    auto tls = TlsStream::accept(std::move(c.tcp), tls_server_context(), limit);
    if (!tls) {
      s_.log.error(fmt::format("TLS handshake with {}: {}", c.peer.to_string(), describe(tls.error())));
      c.stats.error = tls.error();
      c.stats.error_context = "handshake";
      return end_client(c);
    }
    c.tls = std::move(*tls);
    emit_tls(s_.log, c.tls.info(), &c.peer);
    c.touch();
    c.writer = std::thread([this, &c] { write_loop(c); });
    std::vector<std::byte> buf(chunk_size);
    for (;;) {
      Deadline d = s_.keep.idle_timeout ? Deadline::at(c.last_time() + *s_.keep.idle_timeout) : Deadline::never();
      auto n = c.tls.read_some(buf, d);
      if (!n) {
        if (n.error() == std::errc::timed_out) {
          if (Clock::now() < c.last_time() + *s_.keep.idle_timeout) continue;  // the writer moved bytes
          c.stats.idle_timed_out = true;
          c.stats.error_context = "idle";
        } else {
          c.stats.error_context = "read";
        }
        c.stats.error = n.error();
        break;
      }
      if (*n == 0) {
        std::lock_guard lock(mutex_);
        if (c.stats.closed_first == Closer::none) c.stats.closed_first = Closer::peer;
        break;
      }
      {
        std::lock_guard out(stdout_mutex_);
        if (auto ec = write_fully(s_.keep.out_fd, std::span<const std::byte>(buf.data(), *n))) {
          s_.log.error(fmt::format("writing stdout: {}", describe(ec)));
          stdout_failed_ = true;
          wake();
          break;
        }
      }
      c.stats.bytes_in += *n;
      c.touch();
    }
    {
      std::lock_guard lock(mutex_);
      c.reader_done = true;
      c.stop = true;
    }
    cv_.notify_all();
    if (!c.stats.error && !stdout_failed_.load()) {
      // The client ended cleanly: close_notify and FIN (once; the writer may have sent them). The
      // FIN also wakes a writer blocked on a client that reads nothing (its send fails).
      (void)c.tls.shutdown(Deadline(std::chrono::seconds(2)));
    } else {
      (void)c.tls.tcp().shutdown(Shutdown::write);  // wakes a blocked writer
    }
    c.writer.join();
    end_client(c);
  }

  /// stdin's bytes -> TLS; close_notify once stdin ended and the queue is empty.
  void write_loop(TlsClient& c) {
    std::string chunk;
    for (;;) {
      bool shut = false;
      {
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [&] { return c.stop || !c.queue.empty() || !stdin_open_; });
        if (c.stop) return;
        if (c.queue.empty()) {
          shut = true;  // stdin ended and everything was sent
          if (c.stats.closed_first == Closer::none) c.stats.closed_first = Closer::local;
        } else {
          chunk.swap(c.queue);
          c.queue.clear();
        }
      }
      wake();  // the queue drained: stdin may be read again
      if (shut) {
        (void)c.tls.shutdown(Deadline(std::chrono::seconds(5)));
        return;
      }
      if (!c.tls.write_all(chunk)) return;  // the reader meets the reason
      c.stats.bytes_out += chunk.size();
      c.touch();
      chunk.clear();
    }
  }

  void end_client(TlsClient& c) {
    c.stats.duration = Clock::now() - c.start;
    emit_closed(s_.log, s_.proto(), c.local, c.peer, c.stats, c.tls.is_open() ? &c.tls.tcp() : nullptr);
    if (c.tls.is_open()) (void)c.tls.close(std::chrono::seconds(1));
    c.finished = true;
    wake();
  }

  void read_stdin_chunk(std::vector<std::byte>& buf) {
    long n = read_some_fd(s_.keep.in_fd, buf);
    if (n < 0 && errno == EAGAIN) return;
    {
      std::lock_guard lock(mutex_);
      if (n <= 0) {
        stdin_open_ = false;  // close_notify to every client once its queue is sent
      } else {
        const auto* p = reinterpret_cast<const char*>(buf.data());
        for (auto& c : clients_) c->queue.append(p, static_cast<std::size_t>(n));
      }
    }
    cv_.notify_all();
  }

  void reap() {
    std::vector<std::shared_ptr<TlsClient>> gone;
    {
      std::lock_guard lock(mutex_);
      for (auto it = clients_.begin(); it != clients_.end();) {
        if ((*it)->finished.load()) {
          gone.push_back(*it);
          it = clients_.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (auto& c : gone) c->reader.join();
  }

  int close_all(int rc) {
    std::vector<std::shared_ptr<TlsClient>> all;
    {
      std::lock_guard lock(mutex_);
      for (auto& c : clients_) c->stop = true;
      all.assign(clients_.begin(), clients_.end());
      clients_.clear();
    }
    cv_.notify_all();
    for (auto& c : all) {
      // Unblock the client's reads (and a handshake in progress) so that its threads end.
      if (!c->finished.load()) ::shutdown(c->fd, SHUT_RDWR);
      c->reader.join();
    }
    return rc;
  }

  const ListenSettings& s_;
  TcpListener& listener_;
  int wake_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  std::mutex mutex_;
  std::condition_variable cv_;
  std::list<std::shared_ptr<TlsClient>> clients_;
  bool stdin_open_ = true;  // guarded by mutex_
  std::mutex stdout_mutex_;
  std::atomic<bool> stdout_failed_{false};
};

}  // namespace

int serve_tls_concurrently(const ListenSettings& s) {
  auto listener = open_stream_listener(s);
  if (!listener) return exit_failure;
  return KeepTls(s, *listener).run();
}

}  // namespace tether::cli
