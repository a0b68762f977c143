// `tether bench connect`: connections opened and closed per second, -c attempts in flight.
//
// Each attempt: a non-blocking socket, connect(), wait for writability, SO_ERROR, close. The
// latency histogram holds the connect times. With --reset the close sends RST (SO_LINGER 0) so
// the client keeps no TIME_WAIT state; otherwise the close is a normal FIN and the kernel's
// tcp_tw_reuse lets loopback connects reuse ports.
#include "bench.hpp"
#include "epoll_poller.hpp"

#include <tether/socket.hpp>

#include <sys/socket.h>

#include <cstring>
#include <string>
#include <vector>

namespace tether::cli::bench {

namespace {

struct Attempt {
  Socket socket;
  std::int64_t started = 0;
  bool active = false;
};

class ConnectWorker {
 public:
  ConnectWorker(const Config& config, Shared& shared, WorkerStats& stats)
      : config_(config), shared_(shared), stats_(stats) {}

  void run(int conns) {
    attempts_.resize(static_cast<std::size_t>(conns));
    stats_.connected = conns;
    shared_.ready.fetch_add(1);
    epoll_event events[256];
    while (shared_.phase.load(std::memory_order_acquire) == Phase::setup) poller_.wait(events, 1).size();
    for (auto& a : attempts_) start(a);
    while (shared_.phase.load(std::memory_order_relaxed) != Phase::stop) {
      std::uint64_t done = 0;
      for (auto& ev : poller_.wait(events, 50)) {
        auto& a = *static_cast<Attempt*>(ev.data.ptr);
        if (finish(a)) ++done;
        start(a);
      }
      for (auto& a : attempts_) {
        if (!a.active) start(a);  // after a failed start (e.g. no free port): retry
      }
      if (done && measuring()) stats_.messages.fetch_add(done, std::memory_order_relaxed);
    }
  }

 private:
  bool measuring() const { return shared_.phase.load(std::memory_order_relaxed) == Phase::measure; }

  void error(const std::string& what) {
    if (!measuring()) return;
    if (stats_.first_error.empty()) stats_.first_error = what;
    stats_.errors.fetch_add(1, std::memory_order_relaxed);
  }

  void start(Attempt& a) {
    if (shared_.phase.load(std::memory_order_relaxed) == Phase::stop) return;
    auto s = Socket::open(config_.target.family(), SocketType::stream);
    if (!s) {
      error("socket: " + s.error().message());
      return;
    }
    a.socket = std::move(*s);
    a.started = now_ns();
    a.active = true;
    const int rc = ::connect(a.socket.fd(), config_.target.data(), config_.target.size());
    if (rc != 0 && errno != EINPROGRESS) {
      error(std::string("connect: ") + std::strerror(errno));
      a.socket.close();
      a.active = false;
      return;
    }
    poller_.add(a.socket.fd(), EPOLLOUT, &a);
  }

  // Completes an attempt; true when it connected.
  bool finish(Attempt& a) {
    poller_.remove(a.socket.fd());
    a.active = false;
    auto err = a.socket.take_error();
    const int code = err ? *err : errno;
    bool ok = code == 0;
    if (ok) {
      if (measuring()) stats_.latency.record(static_cast<std::uint64_t>(now_ns() - a.started));
      if (config_.reset_close) (void)a.socket.set_linger(std::chrono::seconds(0));
    } else {
      error(std::string("connect: ") + std::strerror(code));
    }
    a.socket.close();
    return ok;
  }

  const Config& config_;
  Shared& shared_;
  WorkerStats& stats_;
  EpollPoller poller_;
  std::vector<Attempt> attempts_;
};

}  // namespace

void run_connect_worker(const Config& config, int conns, Shared& shared, WorkerStats& stats) {
  ConnectWorker(config, shared, stats).run(conns);
}

}  // namespace tether::cli::bench
