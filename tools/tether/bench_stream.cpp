// `tether bench stream`: one-way bulk transfer into a discard server, -s bytes per write.
//
// Counted is what the peer's kernel acknowledged: bytes written minus the bytes still queued in
// our socket (SIOCOUTQ), measured when the measurement starts and when it stops, so the socket
// buffer's contents never inflate the figure.
#include "bench.hpp"
#include "epoll_poller.hpp"

#include <tether/tcp.hpp>

#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace tether::cli::bench {

namespace {

struct StreamConn {
  TcpStream stream;
  int fd = -1;
  std::uint64_t sent = 0;
  bool open = true;
};

class StreamWorker {
 public:
  StreamWorker(const Config& config, Shared& shared, WorkerStats& stats)
      : config_(config), shared_(shared), stats_(stats) {}

  void run(int conns) {
    for (int i = 0; i < conns; ++i) {
      auto stream = TcpStream::connect(config_.target, std::chrono::seconds(5));
      if (!stream) {
        error("connect: " + stream.error().message());
        continue;
      }
      auto c = std::make_unique<StreamConn>();
      c->fd = stream->socket().fd();
      c->stream = std::move(*stream);
      poller_.add(c->fd, EPOLLOUT | EPOLLIN, c.get());  // EPOLLIN: a server that answers
      conns_.push_back(std::move(c));
      ++stats_.connected;
    }
    shared_.ready.fetch_add(1);
    while (shared_.phase.load(std::memory_order_acquire) == Phase::setup) poller_.wait(events_, 1).size();

    Phase seen = Phase::setup;
    std::uint64_t start_mark = 0;
    for (;;) {
      const Phase phase = shared_.phase.load(std::memory_order_relaxed);
      if (phase != seen) {
        if (phase == Phase::measure) start_mark = delivered();
        if (phase == Phase::stop) {
          if (seen == Phase::measure) stats_.bytes.store(delivered() - start_mark, std::memory_order_relaxed);
          break;
        }
        seen = phase;
      }
      for (auto& ev : poller_.wait(events_, 50)) {
        auto& c = *static_cast<StreamConn*>(ev.data.ptr);
        if (c.open && (ev.events & (EPOLLIN | EPOLLRDHUP)) != 0) on_readable(c);
        if (c.open) on_writable(c);
      }
      if (seen == Phase::measure) {
        // Progress: bytes written since the start (acknowledged bytes are counted at the end).
        stats_.messages.store(written() - start_mark, std::memory_order_relaxed);
      }
    }
    for (auto& c : conns_) c->stream.close();
  }

 private:
  void error(const std::string& what) {
    if (stats_.first_error.empty()) stats_.first_error = what;
    stats_.errors.fetch_add(1, std::memory_order_relaxed);
  }

  /// A discard server sends nothing: bytes back mean an echo (or other) server, whose replies
  /// would fill its buffers and throttle the stream to a crawl. Said once, and the stream ends.
  void on_readable(StreamConn& c) {
    char byte = 0;
    const ssize_t n = ::recv(c.fd, &byte, 1, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n > 0) {
      error("the server sends data back (an echo server?): bench stream needs a discard server "
            "(tether listen --discard); use bench rr for an echo server");
    } else if (n == 0) {
      error("the server closed the connection");
    } else {
      error(std::string("recv: ") + std::strerror(errno));
    }
    poller_.remove(c.fd);
    c.open = false;
  }

  void on_writable(StreamConn& c) {
    const auto& pattern = Pattern::get();
    for (int i = 0; i < 8; ++i) {
      // The same -s bytes every time, as iperf3 does: the sink checks nothing, and a source that
      // stays in the cache (and aligned) measures the socket path rather than memory bandwidth.
      const ssize_t n = ::send(c.fd, pattern.at(0), config_.size, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) return;
        error(std::string("send: ") + std::strerror(errno));
        poller_.remove(c.fd);
        c.open = false;
        return;
      }
      c.sent += static_cast<std::uint64_t>(n);
    }
  }

  std::uint64_t written() const {
    std::uint64_t total = 0;
    for (const auto& c : conns_) total += c->sent;
    return total;
  }

  // Bytes written and acknowledged by the peer (written minus our unsent/unacked queue).
  std::uint64_t delivered() const {
    std::uint64_t total = 0;
    for (const auto& c : conns_) {
      int queued = 0;
      if (c->open && ::ioctl(c->fd, SIOCOUTQ, &queued) != 0) queued = 0;
      total += c->sent - static_cast<std::uint64_t>(queued);
    }
    return total;
  }

  const Config& config_;
  Shared& shared_;
  WorkerStats& stats_;
  EpollPoller poller_;
  std::vector<std::unique_ptr<StreamConn>> conns_;
  epoll_event events_[64];
};

}  // namespace

void run_stream_worker(const Config& config, int conns, Shared& shared, WorkerStats& stats) {
  StreamWorker(config, shared, stats).run(conns);
}

}  // namespace tether::cli::bench
