// tether relay udp-listen:PORT udp:HOST:PORT: a session table per client (relay_cmd.hpp).
//
// Each client source endpoint gets its own upstream socket (connected to the target), so replies
// go back to the client that caused them, and a client that changes source port is simply a new
// session. A session ends after --idle-timeout (default 60 s) without a datagram either way; its
// "flow" event then reports its bytes. One socket, one loop: the listening port is never shared
// with another socket (no SO_REUSEPORT), so no stranger can bind into it.
#include "options.hpp"
#include "relay_cmd.hpp"

#include <tether/async_udp.hpp>
#include <tether/timer.hpp>

#include <fmt/format.h>

#include <signal.h>

#include <memory>
#include <unordered_map>
#include <vector>

namespace tether::cli {

namespace {

constexpr std::size_t max_datagram = 65536;
constexpr std::chrono::milliseconds default_ttl{60'000};

struct Session {
  Endpoint client;
  AsyncUdpSocket up;
  FlowStats stats;
  std::string up_local;
};

struct UdpRelay {
  const RelaySettings& s;
  EventLoop& loop;
  AsyncUdpSocket listener;
  Endpoint target;
  AccessList acl;
  std::chrono::milliseconds ttl = default_ttl;
  std::unordered_map<Endpoint, std::shared_ptr<Session>> sessions;
  std::size_t alive = 0;  // reader coroutines still running
  std::uint64_t rejected = 0;
  bool stopping = false;
  std::string local_text;

  void end_session(const std::shared_ptr<Session>& session) {
    auto it = sessions.find(session->client);
    if (it != sessions.end() && it->second == session) sessions.erase(it);
    session->up.close();
  }
};

/// Upstream -> the client, until the session is closed (idle, shutdown) or fails.
Task<void> read_upstream(UdpRelay& r, std::shared_ptr<Session> session) {
  std::vector<std::byte> buf(max_datagram);
  auto& counters = relay_counters();
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
    auto sent = co_await r.listener.send_to(std::span<const std::byte>(buf.data(), d->size), session->client);
    if (!sent) continue;  // the client vanished: its session expires
    session->stats.b_to_a += d->size;
    counters.b_to_a.fetch_add(d->size, std::memory_order_relaxed);
    session->stats.last_activity = std::chrono::steady_clock::now();
  }
  r.end_session(session);
  FlowEnds ends{"udp", session->client.to_string(), r.local_text, "udp", session->up_local, r.target.to_string()};
  emit_flow(r.s.log, ends, session->stats);
  counters.active.fetch_sub(1, std::memory_order_relaxed);
  if (session->stats.error) counters.failed.fetch_add(1, std::memory_order_relaxed);
  --r.alive;
}

/// Closes sessions idle for longer than the TTL.
Task<void> sweep(UdpRelay& r) {
  const auto period = std::max<std::chrono::milliseconds>(std::chrono::milliseconds(20), r.ttl / 4);
  while (!r.stopping) {
    if (!co_await sleep_for(period)) co_return;
    const auto now = std::chrono::steady_clock::now();
    std::vector<std::shared_ptr<Session>> idle;
    for (auto& [client, session] : r.sessions) {
      if (now - session->stats.last_activity >= r.ttl) idle.push_back(session);
    }
    for (auto& session : idle) r.end_session(session);
  }
}

std::shared_ptr<Session> open_session(UdpRelay& r, const Endpoint& client) {
  auto up = AsyncUdpSocket::open(r.loop, r.target);
  if (up) {
    if (auto st = up->connect(r.target); !st) up = fail(st.error());
  }
  if (!up) {
    r.s.log.error(fmt::format("{}: {}", r.s.b.text, describe(up.error())));
    relay_counters().failed.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  auto session = std::make_shared<Session>();
  session->client = client;
  session->up = std::move(*up);
  session->up_local = endpoint_text(session->up.local_endpoint());
  r.sessions.emplace(client, session);
  ++r.alive;
  relay_counters().flows.fetch_add(1, std::memory_order_relaxed);
  relay_counters().active.fetch_add(1, std::memory_order_relaxed);
  r.loop.spawn(read_upstream(r, session));
  return session;
}

Task<void> serve(UdpRelay& r) {
  std::vector<std::byte> buf(max_datagram);
  auto& counters = relay_counters();
  r.loop.spawn(sweep(r));
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
    auto it = r.sessions.find(d->from);
    std::shared_ptr<Session> session;
    if (it != r.sessions.end()) {
      session = it->second;
    } else {
      if (r.s.flags.max_conns > 0 && r.sessions.size() >= r.s.flags.max_conns) {
        ++r.rejected;
        continue;
      }
      session = open_session(r, d->from);
      if (!session) continue;
    }
    auto sent = co_await session->up.send(std::span<const std::byte>(buf.data(), d->size));
    if (!sent) continue;
    session->stats.a_to_b += d->size;
    counters.a_to_b.fetch_add(d->size, std::memory_order_relaxed);
    session->stats.last_activity = std::chrono::steady_clock::now();
  }
  // Shutting down: end every session and wait for their readers (each finishes promptly).
  std::vector<std::shared_ptr<Session>> all;
  for (auto& [client, session] : r.sessions) all.push_back(session);
  for (auto& session : all) r.end_session(session);
  for (int i = 0; i < 1000 && r.alive > 0; ++i) (void)co_await sleep_for(std::chrono::milliseconds(1));
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
  EventLoop loop;
  auto listener = AsyncUdpSocket::bind(loop, *local);
  if (!listener) {
    s.log.error(fmt::format("bind {}: {}", s.a.text, describe(listener.error())));
    return exit_failure;
  }
  UdpRelay r{s, loop, std::move(*listener), *target, {}, default_ttl, {}, 0, 0, false, {}};
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
  (void)loop.handle_signals({SIGINT, SIGTERM}, [&r](int) {
    r.stopping = true;
    r.listener.close();
  });
  loop.run(serve(r));
  if (s.log.enabled()) {
    auto& c = relay_counters();
    Event e("summary");
    e.add("flows", c.flows.load());
    e.add("failed", c.failed.load());
    e.add("rejected", r.rejected);
    e.add("bytes_a_to_b", c.a_to_b.load());
    e.add("bytes_b_to_a", c.b_to_a.load());
    s.log.emit(e);
  }
  return exit_ok;
}

}  // namespace tether::cli
