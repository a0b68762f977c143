// One relayed flow, both directions at once (relay_flow.hpp).
#include "relay_flow.hpp"

#include <tether/timer.hpp>
#include <tether/when.hpp>

#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstring>
#include <thread>

namespace tether::cli {

namespace {

/// A client's output buffer above this: wait for it to drain before reading the other side.
constexpr std::size_t flush_above = 64 * 1024;

bool closed_or_cancelled(const std::error_code& ec) {
  return ec == Errc::closed || ec == Errc::cancelled;
}

}  // namespace

// ---- StreamSide ----

Task<Result<std::span<const std::byte>>> StreamSide::read() {
  co_return co_await stream_->read_borrowed();
}

Task<Status> StreamSide::write(std::span<const std::byte> data) {
  // Try at once (the common case: the socket has room): no copy of the borrowed bytes.
  const ssize_t n = ::send(stream_->socket().fd(), data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
    co_return fail(std::error_code(errno, std::system_category()));
  }
  if (n > 0) data = data.subspan(static_cast<std::size_t>(n));
  if (data.empty()) co_return Status{};
  pending_.assign(data.begin(), data.end());  // the rest outlives the borrowed buffer
  auto w = co_await stream_->write_all(std::span<const std::byte>(pending_));
  if (!w) co_return fail(w.error());
  co_return Status{};
}

Task<void> StreamSide::shutdown_write() {
  (void)stream_->shutdown(Shutdown::write);
  co_return;
}

void StreamSide::stop_reading() { ::shutdown(stream_->socket().fd(), SHUT_RD); }

void StreamSide::abort() { stream_->close(); }

int StreamSide::splice_fd() noexcept { return stream_->is_open() ? stream_->socket().fd() : -1; }

detail::WaitOp StreamSide::wait_ready(bool writable) noexcept {
  return writable ? stream_->wait_writable() : stream_->wait_readable();
}

// ---- ConnectionSide ----

Task<Result<std::span<const std::byte>>> ConnectionSide::read() { co_return co_await conn_->read(); }

Task<Status> ConnectionSide::write(std::span<const std::byte> data) {
  if (auto st = conn_->send(data); !st) co_return st;
  if (conn_->buffered() > flush_above) co_return co_await conn_->flush();
  co_return Status{};
}

Task<void> ConnectionSide::shutdown_write() {
  if (conn_->buffered() > 0) (void)co_await conn_->flush();
  ::shutdown(conn_->socket().fd(), SHUT_WR);
}

void ConnectionSide::stop_reading() { ::shutdown(conn_->socket().fd(), SHUT_RD); }

void ConnectionSide::abort() { conn_->close(); }

int ConnectionSide::splice_fd() noexcept {
  // A TLS connection (ServerOptions::tls) carries records on its socket: only copying sees plaintext.
  return conn_->is_open() && !conn_->is_tls() && conn_->buffered() == 0 ? conn_->socket().fd() : -1;
}

detail::WaitOp ConnectionSide::wait_ready(bool writable) noexcept {
  return writable ? conn_->wait_writable() : conn_->wait_readable();
}

void ConnectionSide::note_moved(std::size_t in, std::size_t out) noexcept { conn_->note_moved(in, out); }

// ---- the flow ----

RelayCounters& relay_counters() {
  static RelayCounters counters;
  return counters;
}

Task<void> copy_direction(Direction d) {
  FlowSide& from = d.from;
  FlowSide& to = d.to;
  FlowStats& stats = d.stats;
  stats.copied = true;
  auto fail_both = [&](std::error_code ec) {
    if (!stats.error && !closed_or_cancelled(ec)) stats.error = ec;
    from.abort();
    to.abort();
  };
  for (;;) {
    auto data = co_await from.read();
    if (!data) co_return fail_both(data.error());
    if (data->empty()) {
      if (stats.closed_first == FlowEnd::none) stats.closed_first = d.from_end;
      co_await to.shutdown_write();
      if (from.ends_flow) to.stop_reading();
      co_return;
    }
    const std::size_t n = data->size();
    if (auto st = co_await to.write(*data); !st) co_return fail_both(st.error());
    d.bytes += n;
    d.total.fetch_add(n, std::memory_order_relaxed);
    stats.last_activity = std::chrono::steady_clock::now();
  }
}

namespace {

Task<void> both_ways(FlowSide& a, FlowSide& b, FlowStats& stats, bool splice) {
  auto& c = relay_counters();
  Direction ab{a, b, FlowEnd::a, stats.a_to_b, c.a_to_b, stats};
  Direction ba{b, a, FlowEnd::b, stats.b_to_a, c.b_to_a, stats};
  if (splice && a.splice_fd() >= 0 && b.splice_fd() >= 0) {
    co_await when_all(splice_direction(ab), splice_direction(ba));
  } else {
    co_await when_all(copy_direction(ab), copy_direction(ba));
  }
}

Task<void> watchdog(FlowSide& a, FlowSide& b, FlowStats& stats, std::chrono::milliseconds idle) {
  for (;;) {
    const auto due = stats.last_activity + idle;
    const auto now = std::chrono::steady_clock::now();
    if (now >= due) break;
    if (!co_await sleep_for(due - now)) co_return;  // cancelled: the flow ended
  }
  stats.idle_timed_out = true;
  a.abort();
  b.abort();
}

}  // namespace

Task<void> run_flow(FlowSide& a, FlowSide& b, FlowStats& stats,
                    std::optional<std::chrono::milliseconds> idle, bool splice) {
  auto& c = relay_counters();
  c.flows.fetch_add(1, std::memory_order_relaxed);
  c.active.fetch_add(1, std::memory_order_relaxed);
  if (idle) {
    (void)co_await when_any(both_ways(a, b, stats, splice), watchdog(a, b, stats, *idle));
  } else {
    co_await both_ways(a, b, stats, splice);
  }
  if (stats.error || stats.idle_timed_out) c.failed.fetch_add(1, std::memory_order_relaxed);
  c.active.fetch_sub(1, std::memory_order_relaxed);
}

void emit_flow(const EventLog& log, const FlowEnds& ends, const FlowStats& stats) {
  if (!log.enabled()) return;
  Event e("flow");
  e.add("a_proto", ends.a_proto);
  e.add("a_peer", ends.a_peer);
  e.add("a_local", ends.a_local);
  e.add("b_proto", ends.b_proto);
  e.add("b_local", ends.b_local);
  e.add("b_peer", ends.b_peer);
  e.add("bytes_a_to_b", stats.a_to_b);
  e.add("bytes_b_to_a", stats.b_to_a);
  e.add("duration_s", std::chrono::duration<double>(std::chrono::steady_clock::now() - stats.start).count());
  e.add("closed_first", stats.closed_first == FlowEnd::a ? "a" : stats.closed_first == FlowEnd::b ? "b" : "none");
  e.add("path", stats.spliced ? (stats.copied ? "mixed" : "splice") : "copy");
  if (stats.idle_timed_out) e.add("error", "idle timeout");
  else if (stats.error) e.add("error", describe(stats.error));
  log.emit(e);
}

void emit_counters(const EventLog& log, std::string_view name) {
  auto& c = relay_counters();
  Event e(name);
  e.add("flows", c.flows.load());
  e.add("active", c.active.load());
  e.add("failed", c.failed.load());
  e.add("bytes_a_to_b", c.a_to_b.load());
  e.add("bytes_b_to_a", c.b_to_a.load());
  // SIGUSR1 asked for them: print even without -v/--json.
  if (log.enabled()) {
    log.emit(e);
  } else {
    EventLog(EventFormat::text).emit(e);
  }
}

// ---- SIGUSR1 and SIGCHLD ----

struct SignalThread::State {
  EventLog log;
  std::atomic<bool> stop{false};
  std::thread thread;
};

SignalThread::SignalThread(const EventLog& log) : state_(new State{log, {}, {}}) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, SIGCHLD);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  // The thread must never take SIGINT/SIGTERM (a loop handles them): it starts with them blocked.
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGINT);
  sigaddset(&term, SIGTERM);
  sigset_t old;
  pthread_sigmask(SIG_BLOCK, &term, &old);
  state_->thread = std::thread([s = state_, set] {
    while (!s->stop.load()) {
      timespec wait{0, 100'000'000};
      const int sig = ::sigtimedwait(&set, nullptr, &wait);
      if (sig == SIGUSR1) emit_counters(s->log, "counters");
      // Reap every child that has exited (SIGCHLD may coalesce; the timeout sweeps too).
      while (::waitpid(-1, nullptr, WNOHANG) > 0) {
      }
    }
  });
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

SignalThread::~SignalThread() {
  state_->stop = true;
  state_->thread.join();
  delete state_;
}

}  // namespace tether::cli
