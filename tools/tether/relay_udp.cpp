// tether relay udp-listen:PORT udp:HOST:PORT: a session table per client on --threads loops
// (relay_cmd.hpp).
//
// Each client source endpoint gets its own upstream socket (connected to the target), so replies
// go back to the client that caused them, and a client that changes source port is simply a new
// session. A session ends after --idle-timeout (default 60 s) without a datagram either way; its
// "flow" event then reports its bytes.
//
// Threads: ONE listening socket on loop 0 (never SO_REUSEPORT: no stranger can bind into the
// port). Loop 0 owns the routing table (client -> worker loop, session id) and hands each
// datagram to the session's loop with post(); a session (its upstream socket, reader coroutine,
// stats and idle sweep) lives on that loop only. What is queued for a loop is bounded in bytes:
// over the bound a datagram is dropped (as UDP does) and counted. Replies leave through a dup()
// of the listening socket, by a non-blocking sendto(2) from the session's loop: the kernel
// serializes datagram sends, and no socket object is shared between threads.
// --drain (given explicitly): the first SIGINT/SIGTERM stops new sessions and lets the others run
// until they end idle, for at most the drain time; a second signal ends them at once.
#include "options.hpp"
#include "relay_cmd.hpp"

#include <tether/async_udp.hpp>
#include <tether/timer.hpp>

#include <fmt/format.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <atomic>
#include <cerrno>
#include <memory>
#include <thread>
#include <unordered_map>
#include <vector>

namespace tether::cli {

namespace {

constexpr std::size_t max_datagram = 65536;
constexpr std::chrono::milliseconds default_ttl{60'000};
/// Bytes handed to one loop and not yet sent on (each datagram counts at least min_charge).
constexpr std::size_t max_queued_bytes = 4 * 1024 * 1024;
constexpr std::size_t min_charge = 512;

struct UdpRelay;

struct Session {
  std::uint64_t id = 0;
  Endpoint client;
  AsyncUdpSocket up;
  FlowStats stats;
  std::string up_local;
};

/// One loop and the sessions that live on it (touched on that loop's thread only, but queued).
struct Worker {
  UdpRelay& r;
  std::size_t index;
  EventLoop& loop;
  std::unordered_map<std::uint64_t, std::shared_ptr<Session>> sessions;
  std::size_t alive = 0;  // reader coroutines still running
  bool stopping = false;
  std::atomic<std::size_t> queued{0};  // bytes posted to this loop, not yet handled (any thread)

  void end_session(const std::shared_ptr<Session>& session) {
    auto it = sessions.find(session->id);
    if (it != sessions.end() && it->second == session) sessions.erase(it);
    session->up.close();
  }
};

struct Route {
  std::size_t worker = 0;
  std::uint64_t id = 0;
};

struct UdpRelay {
  const RelaySettings& s;
  Endpoint target;
  AccessList acl;
  std::chrono::milliseconds ttl = default_ttl;
  std::string local_text;
  std::vector<std::unique_ptr<EventLoop>> loops;  // declared first: destroyed last
  std::vector<std::unique_ptr<Worker>> workers;
  int reply_fd = -1;  // dup() of the listening socket; set before the threads start
  std::atomic<std::uint64_t> dropped{0};
  // Loop 0 only:
  AsyncUdpSocket listener;
  std::unordered_map<Endpoint, Route> routes;
  std::uint64_t next_id = 1;
  std::size_t next_worker = 0;
  std::uint64_t rejected = 0;
  bool stopping = false;
  bool draining = false;  // --drain after SIGINT/SIGTERM: no new sessions, the others until idle
  int signals_seen = 0;

  explicit UdpRelay(const RelaySettings& settings) : s(settings) {}
  UdpRelay(const UdpRelay&) = delete;
  UdpRelay& operator=(const UdpRelay&) = delete;
  ~UdpRelay() {
    workers.clear();  // the sessions' sockets before their loops
    listener = AsyncUdpSocket();
    if (reply_fd >= 0) ::close(reply_fd);
  }

  /// Runs `fn` on loop 0: at once from worker 0, else posted.
  void on_listener(const Worker& from, std::move_only_function<void()> fn) {
    if (from.index == 0) {
      fn();
    } else {
      loops[0]->post(std::move(fn));
    }
  }
  void admit(const Endpoint& from, std::span<const std::byte> data);

  /// Loop 0: stops receiving; serve() then ends every session.
  void finish() {
    if (stopping) return;
    stopping = true;
    listener.close();
  }
  /// Loop 0: forgets the route of session `id` (unless a newer session of `client` took it).
  void forget(const Endpoint& client, std::uint64_t id) {
    auto it = routes.find(client);
    if (it != routes.end() && it->second.id == id) routes.erase(it);
    if (draining && routes.empty()) finish();  // the last session of a drain ended
  }
};

void count_drop(UdpRelay& r) { r.dropped.fetch_add(1, std::memory_order_relaxed); }

/// Upstream -> the client, until the session is closed (idle, shutdown) or fails.
Task<void> read_upstream(Worker& w, std::shared_ptr<Session> session) {
  UdpRelay& r = w.r;
  std::vector<std::byte> buf(max_datagram);
  auto& counters = relay_counters();
  const Endpoint& to = session->client;
  for (;;) {
    auto d = co_await session->up.recv_from(std::span<std::byte>(buf));
    if (!d) {
      if (d.error() != Errc::closed && d.error() != Errc::cancelled &&
          d.error() != std::errc::connection_refused) {
        session->stats.error = d.error();
      }
      if (d.error() == std::errc::connection_refused) continue;  // ICMP: the target is not there yet
      break;
    }
    ssize_t n;
    do {
      n = ::sendto(r.reply_fd, buf.data(), d->size, MSG_DONTWAIT | MSG_NOSIGNAL, to.data(), to.size());
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) count_drop(r);
      continue;  // else the client vanished: its session expires
    }
    session->stats.b_to_a += d->size;
    counters.b_to_a.fetch_add(d->size, std::memory_order_relaxed);
    session->stats.last_activity = std::chrono::steady_clock::now();
  }
  w.end_session(session);
  FlowEnds ends{"udp", session->client.to_string(), r.local_text, "udp", session->up_local, r.target.to_string()};
  emit_flow(r.s.log, ends, session->stats);
  counters.active.fetch_sub(1, std::memory_order_relaxed);
  if (session->stats.error) counters.failed.fetch_add(1, std::memory_order_relaxed);
  --w.alive;
  // Forget the route on loop 0 (unless a newer session of this client took it already).
  r.on_listener(w, [&r, client = session->client, id = session->id] { r.forget(client, id); });
}

/// Closes this loop's sessions idle for longer than the TTL.
Task<void> sweep(Worker& w) {
  const auto period = std::max<std::chrono::milliseconds>(std::chrono::milliseconds(20), w.r.ttl / 4);
  while (!w.stopping) {
    if (!co_await sleep_for(period)) co_return;
    const auto now = std::chrono::steady_clock::now();
    std::vector<std::shared_ptr<Session>> idle;
    for (auto& [id, session] : w.sessions) {
      if (now - session->stats.last_activity >= w.r.ttl) idle.push_back(session);
    }
    for (auto& session : idle) w.end_session(session);
  }
}

/// Client -> upstream, without waiting: a full socket buffer drops the datagram, as UDP does.
void forward(Worker& w, Session& session, std::span<const std::byte> data) {
  ssize_t n;
  do {
    n = ::send(session.up.socket().fd(), data.data(), data.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) count_drop(w.r);
    return;  // ECONNREFUSED from an earlier ICMP and the like: on to the next datagram
  }
  session.stats.a_to_b += data.size();
  relay_counters().a_to_b.fetch_add(data.size(), std::memory_order_relaxed);
  session.stats.last_activity = std::chrono::steady_clock::now();
}

/// On the worker's loop: opens the session's upstream socket, starts its reader.
Session* open_session(Worker& w, std::uint64_t id, const Endpoint& client) {
  UdpRelay& r = w.r;
  auto up = AsyncUdpSocket::open(w.loop, r.target);
  if (up) {
    if (auto st = up->connect(r.target); !st) up = fail(st.error());
  }
  if (!up) {
    r.s.log.error(fmt::format("{}: {}", r.s.b.text, describe(up.error())));
    relay_counters().failed.fetch_add(1, std::memory_order_relaxed);
    r.on_listener(w, [&r, client, id] { r.forget(client, id); });
    return nullptr;
  }
  auto session = std::make_shared<Session>();
  session->id = id;
  session->client = client;
  session->up = std::move(*up);
  session->up_local = endpoint_text(session->up.local_endpoint());
  w.sessions.emplace(id, session);
  ++w.alive;
  relay_counters().flows.fetch_add(1, std::memory_order_relaxed);
  relay_counters().active.fetch_add(1, std::memory_order_relaxed);
  w.loop.spawn(read_upstream(w, session));
  return session.get();
}

/// On the worker's loop: a datagram for session `id` (opened first when `open`).
void deliver(Worker& w, std::uint64_t id, const Endpoint& client, std::span<const std::byte> data, bool open) {
  if (w.stopping) return;
  Session* session = nullptr;
  if (open) {
    session = open_session(w, id, client);
  } else if (auto it = w.sessions.find(id); it != w.sessions.end()) {
    session = it->second.get();
  } else {
    // The session expired while the datagram was on its way: loop 0 routes it afresh.
    UdpRelay& r = w.r;
    r.on_listener(w, [&r, client, id, bytes = std::vector<std::byte>(data.begin(), data.end())] {
      if (r.stopping) return;
      r.forget(client, id);
      if (!r.stopping) r.admit(client, bytes);
    });
    return;
  }
  if (session != nullptr) forward(w, *session, data);
}

/// On loop 0: a datagram from an admitted client: to its session's loop, opening one if new.
void UdpRelay::admit(const Endpoint& from, std::span<const std::byte> data) {
  bool open = false;
  auto it = routes.find(from);
  if (it == routes.end()) {
    if (draining || (s.flags.max_conns > 0 && routes.size() >= s.flags.max_conns)) {
      ++rejected;
      return;
    }
    it = routes.emplace(from, Route{next_worker, next_id++}).first;
    next_worker = (next_worker + 1) % workers.size();
    open = true;
  }
  const Route route = it->second;
  Worker& w = *workers[route.worker];
  if (route.worker == 0) {
    deliver(w, route.id, from, data, open);
    return;
  }
  const std::size_t charge = std::max(data.size(), min_charge);
  if (w.queued.load(std::memory_order_relaxed) + charge > max_queued_bytes) {
    count_drop(*this);
    if (open) forget(from, route.id);  // no session was made for it
    return;
  }
  w.queued.fetch_add(charge, std::memory_order_relaxed);
  w.loop.post([&w, id = route.id, from, charge, open, bytes = std::vector<std::byte>(data.begin(), data.end())] {
    w.queued.fetch_sub(charge, std::memory_order_relaxed);
    deliver(w, id, from, bytes, open);
  });
}

/// On the worker's loop: ends every session, waits (bounded) for their readers, then `done`.
Task<void> stop_worker(Worker& w) {
  w.stopping = true;
  std::vector<std::shared_ptr<Session>> all;
  for (auto& [id, session] : w.sessions) all.push_back(session);
  for (auto& session : all) w.end_session(session);
  for (int i = 0; i < 1000 && w.alive > 0; ++i) (void)co_await sleep_for(std::chrono::milliseconds(1));
  if (w.index != 0) w.loop.stop();
}

/// Loop 0, --drain: ends the relay when the drain time is up (unless the sessions ended first).
Task<void> drain_deadline(UdpRelay& r, std::chrono::milliseconds limit) {
  const Status slept = co_await sleep_for(limit);
  if (slept) r.finish();
}

Task<void> serve(UdpRelay& r) {
  std::vector<std::byte> buf(max_datagram);
  for (auto& w : r.workers) {
    if (w->index == 0) r.loops[0]->spawn(sweep(*w));
  }
  while (!r.stopping) {
    auto d = co_await r.listener.recv_from(std::span<std::byte>(buf));
    if (!d) {
      if (d.error() == Errc::closed || d.error() == Errc::cancelled) break;
      continue;  // ICMP errors and the like: on to the next datagram
    }
    if (!r.acl.permits(d->from)) {
      ++r.rejected;
      continue;
    }
    r.admit(d->from, std::span<const std::byte>(buf.data(), d->size));
  }
  // Shutting down: each loop ends its sessions and waits for their readers; then the others stop.
  r.stopping = true;
  for (auto& w : r.workers) {
    if (w->index != 0) w->loop.post([&w = *w] { w.loop.spawn(stop_worker(w)); });
  }
  co_await stop_worker(*r.workers[0]);
}

}  // namespace

int relay_udp(const RelaySettings& s) {
  SignalThread signals(s.log);
  auto local = resolve_first(s.a.host, s.a.port, IpFamily::any, true);
  if (!local) {
    s.log.error(fmt::format("listen on {}: {}", s.a.text, describe(local.error())));
    return exit_failure;
  }
  auto target = resolve_first(s.b.host, s.b.port, IpFamily::any, false);
  if (!target) {
    s.log.error(fmt::format("{}: {}", s.b.text, describe(target.error())));
    return exit_failure;
  }
  UdpRelay r(s);
  r.target = *target;
  const std::size_t n = s.flags.threads != 0 ? s.flags.threads : std::max(1u, std::thread::hardware_concurrency());
  for (std::size_t i = 0; i < n; ++i) {
    r.loops.push_back(std::make_unique<EventLoop>());
    r.workers.push_back(std::unique_ptr<Worker>(new Worker{r, i, *r.loops.back(), {}, 0, false, {}}));
  }
  EventLoop& loop = *r.loops[0];
  auto listener = AsyncUdpSocket::bind(loop, *local);
  if (!listener) {
    s.log.error(fmt::format("bind {}: {}", s.a.text, describe(listener.error())));
    return exit_failure;
  }
  r.listener = std::move(*listener);
  r.reply_fd = ::fcntl(r.listener.socket().fd(), F_DUPFD_CLOEXEC, 0);
  if (r.reply_fd < 0) {
    s.log.error(fmt::format("relay: {}", describe(std::error_code(errno, std::generic_category()))));
    return exit_failure;
  }
  for (const auto& a : s.flags.allow) {
    if (!r.acl.allow(a)) throw UsageError(fmt::format("--allow {}: not an address or CIDR block", a));
  }
  for (const auto& d : s.flags.deny) {
    if (!r.acl.deny(d)) throw UsageError(fmt::format("--deny {}: not an address or CIDR block", d));
  }
  if (auto idle = s.idle()) r.ttl = *idle;
  r.local_text = endpoint_text(r.listener.local_endpoint());
  if (s.log.enabled()) {
    Event e("listening");
    e.add("proto", "udp");
    e.add("local", r.local_text);
    s.log.emit(e);
  }
  // Before the other threads start: they inherit the blocked signal mask.
  // SIGINT/SIGTERM end every session at once; with --drain the first one lets the sessions run
  // until they go idle (no new ones) for at most the drain time.
  const auto drain = std::chrono::milliseconds(static_cast<long>(std::ceil(s.flags.drain_s * 1000)));
  (void)loop.handle_signals({SIGINT, SIGTERM}, [&r, &loop, drain](int) {
    if (++r.signals_seen == 1 && r.s.flags.drain_given && drain.count() > 0 && !r.routes.empty()) {
      r.draining = true;
      loop.spawn(drain_deadline(r, drain));
    } else {
      r.finish();
    }
  });
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < n; ++i) {
    Worker& w = *r.workers[i];
    w.loop.post([&w] { w.loop.spawn(sweep(w)); });
    threads.emplace_back([&w] { w.loop.run(); });
  }
  loop.run(serve(r));
  for (auto& t : threads) t.join();
  if (s.log.enabled()) {
    auto& c = relay_counters();
    Event e("summary");
    e.add("flows", c.flows.load());
    e.add("failed", c.failed.load());
    e.add("rejected", r.rejected);
    e.add("dropped", r.dropped.load());
    e.add("bytes_a_to_b", c.a_to_b.load());
    e.add("bytes_b_to_a", c.b_to_a.load());
    s.log.emit(e);
  }
  return exit_ok;
}

}  // namespace tether::cli
