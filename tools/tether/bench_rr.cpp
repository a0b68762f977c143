// `tether bench rr`: request/response against an echo server, -P messages in flight per connection.
//
// Connection c sends the pattern from a per-connection offset, message after message (message k
// is stream bytes [k*size, (k+1)*size)). Every byte that comes back is compared with what was
// sent (memcmp against the pattern); message k is complete when byte (k+1)*size-1 has returned,
// and its latency is that moment minus the moment message k was issued.
#include "bench.hpp"
#include "epoll_poller.hpp"

#include <tether/tcp.hpp>

#include <sys/socket.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace tether::cli::bench {

namespace {

struct RrConn {
  TcpStream stream;
  int fd = -1;
  std::uint64_t base = 0;      // pattern offset of stream byte 0
  std::uint64_t issued = 0;    // messages issued (their bytes are due to be written)
  std::uint64_t done = 0;      // messages fully echoed
  std::uint64_t sent = 0;      // bytes written
  std::uint64_t received = 0;  // bytes echoed and verified
  std::vector<std::int64_t> issued_at;  // ring of issue times, indexed by message % pipeline
  bool want_write = false;
  bool open = true;
};

class RrWorker {
 public:
  RrWorker(const Config& config, Shared& shared, WorkerStats& stats)
      : config_(config), shared_(shared), stats_(stats), scratch_(256 * 1024) {}

  void run(int conns) {
    connect_all(conns);
    shared_.ready.fetch_add(1);
    while (shared_.phase.load(std::memory_order_acquire) == Phase::setup) poll(1);
    // Warm-up and measurement run the same loop; only measured messages are counted.
    for (auto& c : conns_) top_up(*c);
    while (shared_.phase.load(std::memory_order_relaxed) != Phase::stop) poll(50);
  }

 private:
  void connect_all(int conns) {
    const auto& pattern = Pattern::get();
    (void)pattern;
    for (int i = 0; i < conns; ++i) {
      auto stream = TcpStream::connect(config_.target, std::chrono::seconds(5));
      if (!stream) {
        error("connect: " + stream.error().message());
        continue;
      }
      (void)stream->socket().set_no_delay(true);
      auto c = std::make_unique<RrConn>();
      c->fd = stream->socket().fd();
      c->stream = std::move(*stream);
      c->base = static_cast<std::uint64_t>(conns_.size()) * 7919u + static_cast<std::uint64_t>(i) * 104729u;
      c->issued_at.assign(static_cast<std::size_t>(config_.pipeline), 0);
      poller_.add(c->fd, EPOLLIN, c.get());
      conns_.push_back(std::move(c));
      ++stats_.connected;
    }
  }

  void error(const std::string& what) {
    if (stats_.first_error.empty()) stats_.first_error = what;
    stats_.errors.fetch_add(1, std::memory_order_relaxed);
  }

  void close_conn(RrConn& c, const std::string& why) {
    if (!c.open) return;
    if (shared_.phase.load(std::memory_order_relaxed) != Phase::stop) error(why);
    poller_.remove(c.fd);
    c.stream.close();
    c.open = false;
  }

  void poll(int timeout_ms) {
    epoll_event events[256];
    for (auto& ev : poller_.wait(events, timeout_ms)) {
      auto& c = *static_cast<RrConn*>(ev.data.ptr);
      if (!c.open) continue;
      if (ev.events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(c);
      if (c.open && (ev.events & EPOLLOUT)) flush(c);
    }
  }

  void on_readable(RrConn& c) {
    const auto& pattern = Pattern::get();
    const std::size_t size = config_.size;
    const bool measuring = shared_.phase.load(std::memory_order_relaxed) == Phase::measure;
    std::uint64_t messages = 0;
    std::uint64_t bytes = 0;
    for (int round = 0; round < 4; ++round) {
      const ssize_t n = ::recv(c.fd, scratch_.data(), scratch_.size(), 0);
      if (n == 0) return close_conn(c, "server closed the connection");
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) break;
        return close_conn(c, std::string("recv: ") + std::strerror(errno));
      }
      const auto got = static_cast<std::uint64_t>(n);
      const std::int64_t t = now_ns();
      if (c.received + got > c.sent) return close_conn(c, "server sent more bytes than it was sent");
      // Verify: the echo must be the pattern at the same stream offset (period > scratch size).
      if (std::memcmp(scratch_.data(), pattern.at(c.base + c.received), got) != 0) {
        return close_conn(c, "echoed bytes differ from the bytes sent");
      }
      c.received += got;
      bytes += got;
      const std::uint64_t complete = c.received / size;
      for (; c.done < complete; ++c.done) {
        if (measuring) {
          stats_.latency.record(static_cast<std::uint64_t>(t - c.issued_at[c.done % c.issued_at.size()]));
          ++messages;
        }
      }
      if (got < scratch_.size()) break;
    }
    if (measuring) {
      stats_.messages.fetch_add(messages, std::memory_order_relaxed);
      stats_.bytes.fetch_add(bytes, std::memory_order_relaxed);
    }
    top_up(c);
  }

  // Issues messages until `pipeline` are in flight, then writes what is due.
  void top_up(RrConn& c) {
    if (shared_.phase.load(std::memory_order_relaxed) == Phase::stop) return;
    const auto pipeline = static_cast<std::uint64_t>(config_.pipeline);
    if (c.issued - c.done < pipeline) {
      const std::int64_t t = now_ns();
      for (; c.issued - c.done < pipeline; ++c.issued) c.issued_at[c.issued % pipeline] = t;
    }
    flush(c);
  }

  void flush(RrConn& c) {
    const auto& pattern = Pattern::get();
    const std::uint64_t due = c.issued * config_.size;
    while (c.sent < due) {
      const std::size_t len = static_cast<std::size_t>(std::min<std::uint64_t>(due - c.sent, Pattern::period));
      const ssize_t n = ::send(c.fd, pattern.at(c.base + c.sent), len, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) break;
        return close_conn(c, std::string("send: ") + std::strerror(errno));
      }
      c.sent += static_cast<std::uint64_t>(n);
    }
    const bool blocked = c.sent < due;
    if (blocked != c.want_write) {
      c.want_write = blocked;
      poller_.modify(c.fd, blocked ? EPOLLIN | EPOLLOUT : EPOLLIN, &c);
    }
  }

  const Config& config_;
  Shared& shared_;
  WorkerStats& stats_;
  EpollPoller poller_;
  std::vector<std::unique_ptr<RrConn>> conns_;
  std::vector<std::byte> scratch_;
};

}  // namespace

void run_rr_worker(const Config& config, int conns, Shared& shared, WorkerStats& stats) {
  RrWorker(config, shared, stats).run(conns);
}

}  // namespace tether::cli::bench
