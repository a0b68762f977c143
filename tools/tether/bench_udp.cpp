// `tether bench udp`: datagrams per second through a UDP echo server, and loss.
//
// Open loop, like `iperf3 -u`: each flow (a connected UDP socket) sends datagrams of -s bytes,
// in batches of up to 32 with sendmmsg(), as fast as possible or at -r datagrams per second in
// total; echoes are read with recvmmsg(). A datagram carries its sequence number in its first 8
// bytes and the pattern after it; each echo is checked. Each sequence number counts once as
// received (a bitmap per flow): duplicated echoes are reported as duplicates, and echoes that come
// after a later one as reordered, neither hiding loss. Loss = sent - received, counted after a
// short drain once sending stops (late echoes are still received).
#include "bench.hpp"
#include "epoll_poller.hpp"

#include <tether/udp.hpp>

#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace tether::cli::bench {

namespace {

constexpr int kBatch = 32;
constexpr std::size_t kSeqBytes = 8;

struct Flow {
  UdpSocket socket;
  int fd = -1;
  std::uint64_t next_seq = 0;
  std::uint64_t flow_id = 0;
  std::uint64_t measure_from = ~std::uint64_t{0};  // first sequence number sent while measuring
  std::vector<std::uint64_t> seen;                 // bit k: an echo of sequence number k came back
  std::uint64_t highest = 0;                       // the highest sequence number echoed, + 1

  /// Records the echo of `seq`: false when it had come back before (a duplicate).
  bool first_echo(std::uint64_t seq) {
    std::uint64_t& word = seen[seq / 64];
    const std::uint64_t bit = std::uint64_t{1} << (seq % 64);
    if ((word & bit) != 0) return false;
    word |= bit;
    return true;
  }
};

class UdpWorker {
 public:
  UdpWorker(const Config& config, Shared& shared, WorkerStats& stats, double rate)
      : config_(config), shared_(shared), stats_(stats), rate_(rate),
        in_(static_cast<std::size_t>(kBatch) * config.size) {}

  void run(int flows) {
    for (int i = 0; i < flows; ++i) {
      auto s = UdpSocket::open(config_.target);
      if (s) {
        if (auto ok = s->connect(config_.target); !ok) s = std::unexpected(ok.error());
      }
      if (!s) {
        error("udp socket: " + s.error().message());
        continue;
      }
      (void)s->socket().set_receive_buffer_size(4 << 20);
      auto f = std::make_unique<Flow>();
      f->fd = s->socket().fd();
      f->socket = std::move(*s);
      f->flow_id = static_cast<std::uint64_t>(i) << 48;
      poller_.add(f->fd, EPOLLIN, f.get());
      flows_.push_back(std::move(f));
      ++stats_.connected;
    }
    shared_.ready.fetch_add(1);
    epoll_event events[64];
    while (shared_.phase.load(std::memory_order_acquire) == Phase::setup) poller_.wait(events, 1).size();

    std::int64_t measure_start = 0;
    std::uint64_t measured_sent = 0;
    for (;;) {
      const Phase phase = shared_.phase.load(std::memory_order_relaxed);
      if (phase == Phase::stop) break;
      const bool measuring = phase == Phase::measure;
      if (measuring && measure_start == 0) {
        measure_start = now_ns();
        for (auto& f : flows_) f->measure_from = f->next_seq;
      }
      // Send: as fast as possible, or what the rate allows by now.
      const int most = kBatch * static_cast<int>(flows_.size());
      int budget = most;
      if (rate_ > 0 && measure_start != 0) {
        const double due = rate_ * static_cast<double>(now_ns() - measure_start) / 1e9;
        budget = static_cast<int>(std::clamp(due - static_cast<double>(measured_sent), 0.0, static_cast<double>(most)));
      } else if (rate_ > 0) {
        budget = 1;  // warm-up: a trickle
      }
      for (auto& f : flows_) {
        const int sent = send_batch(*f, std::min(budget, kBatch));
        budget -= sent;
        if (measuring) {
          measured_sent += static_cast<std::uint64_t>(sent);
          stats_.sent.fetch_add(static_cast<std::uint64_t>(sent), std::memory_order_relaxed);
        }
      }
      const int timeout = rate_ > 0 ? 1 : 0;
      for (auto& ev : poller_.wait(events, timeout)) receive(*static_cast<Flow*>(ev.data.ptr), measuring);
    }
    // Drain: echoes of the last datagrams may still be on their way.
    const std::int64_t drain_until = now_ns() + 200'000'000;
    while (now_ns() < drain_until) {
      for (auto& ev : poller_.wait(events, 20)) receive(*static_cast<Flow*>(ev.data.ptr), true);
    }
  }

 private:
  void error(const std::string& what) {
    if (stats_.first_error.empty()) stats_.first_error = what;
    stats_.errors.fetch_add(1, std::memory_order_relaxed);
  }

  int send_batch(Flow& f, int count) {
    if (count <= 0) return 0;
    const auto& pattern = Pattern::get();
    const std::size_t size = config_.size;
    mmsghdr msgs[kBatch];
    iovec iov[kBatch][2];
    std::uint64_t seqs[kBatch];
    for (int i = 0; i < count; ++i) {
      seqs[i] = f.flow_id | (f.next_seq + static_cast<std::uint64_t>(i));
      iov[i][0] = {&seqs[i], kSeqBytes};
      iov[i][1] = {const_cast<std::byte*>(pattern.at(seqs[i])), size - kSeqBytes};
      msgs[i] = {};
      msgs[i].msg_hdr.msg_iov = iov[i];
      msgs[i].msg_hdr.msg_iovlen = 2;
    }
    const int n = ::sendmmsg(f.fd, msgs, static_cast<unsigned>(count), MSG_DONTWAIT);
    if (n < 0) {
      if (errno != EAGAIN && errno != EINTR && errno != ECONNREFUSED && errno != ENOBUFS) {
        error(std::string("sendmmsg: ") + std::strerror(errno));
      }
      return 0;
    }
    f.next_seq += static_cast<std::uint64_t>(n);
    f.seen.resize((f.next_seq + 63) / 64);
    return n;
  }

  void receive(Flow& f, bool counting) {
    const auto& pattern = Pattern::get();
    const std::size_t size = config_.size;
    mmsghdr msgs[kBatch];
    iovec iov[kBatch];
    for (int i = 0; i < kBatch; ++i) {
      iov[i] = {in_.data() + static_cast<std::size_t>(i) * size, size};
      msgs[i] = {};
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    const int n = ::recvmmsg(f.fd, msgs, kBatch, MSG_DONTWAIT, nullptr);
    if (n <= 0) return;  // EAGAIN, or ECONNREFUSED from an ICMP error: nothing to count
    std::uint64_t good = 0;
    std::uint64_t duplicates = 0;
    std::uint64_t reordered = 0;
    for (int i = 0; i < n; ++i) {
      const std::byte* d = in_.data() + static_cast<std::size_t>(i) * size;
      std::uint64_t seq = 0;
      std::memcpy(&seq, d, kSeqBytes);
      const bool ok = msgs[i].msg_len == size && (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) == 0 &&
                      (seq & ~((std::uint64_t{1} << 48) - 1)) == f.flow_id &&
                      std::memcmp(d + kSeqBytes, pattern.at(seq), size - kSeqBytes) == 0;
      const std::uint64_t k = seq & ((std::uint64_t{1} << 48) - 1);
      if (ok && k >= f.next_seq) {
        if (counting) error("echoed datagram carries a sequence number never sent");
      } else if (ok) {
        // Echoes of warm-up datagrams are not counted: they were not counted as sent either.
        const bool measured = k >= f.measure_from;
        if (!f.first_echo(k)) {
          if (measured) ++duplicates;
          continue;
        }
        if (k + 1 < f.highest) {
          if (measured) ++reordered;
        } else {
          f.highest = k + 1;
        }
        if (measured) ++good;
      } else if (counting) {
        error("echoed datagram differs from the datagram sent");
      }
    }
    if (counting) {
      stats_.messages.fetch_add(good, std::memory_order_relaxed);
      stats_.bytes.fetch_add(good * size, std::memory_order_relaxed);
      stats_.duplicates.fetch_add(duplicates, std::memory_order_relaxed);
      stats_.reordered.fetch_add(reordered, std::memory_order_relaxed);
    }
  }

  const Config& config_;
  Shared& shared_;
  WorkerStats& stats_;
  double rate_;
  EpollPoller poller_;
  std::vector<std::unique_ptr<Flow>> flows_;
  std::vector<std::byte> in_;
};

}  // namespace

void run_udp_worker(const Config& config, int conns, Shared& shared, WorkerStats& stats) {
  UdpWorker(config, shared, stats, config.rate / std::max(1, config.threads)).run(conns);
}

}  // namespace tether::cli::bench
