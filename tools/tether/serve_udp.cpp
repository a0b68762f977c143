// serve_udp.cpp: datagram echo and discard servers (serve_udp.hpp).
#include "serve_udp.hpp"

#include "serve_modes.hpp"
#include "unix_cleanup.hpp"

#include <tether/async_udp.hpp>
#include <tether/datagram_batch.hpp>
#include <tether/event_loop.hpp>
#include <tether/port_group.hpp>

#include <fmt/format.h>

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

namespace tether::cli {

namespace {

struct UdpLoop {
  EventLoop loop;
  AsyncUdpSocket socket;
  std::uint64_t datagrams_in = 0;
  std::uint64_t datagrams_out = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::uint64_t denied = 0;
  std::uint64_t errors = 0;
};

// Counts one datagram in; false when the ACL refuses its sender.
bool admit(UdpLoop& u, const AccessList& acl, const Endpoint& from, std::size_t size) {
  if (!acl.permits(from)) {
    ++u.denied;
    return false;
  }
  ++u.datagrams_in;
  u.bytes_in += size;
  return true;
}

// Echoes slots [first, last) of `batch` back to their senders: sendmmsg for as many as the socket
// takes, and send_to (which waits for room) for the one it refused.
Task<void> echo_back(UdpLoop& u, DatagramBatch& batch, std::size_t first, std::size_t last) {
  while (first < last) {
    auto n = u.socket.try_send_batch(batch, first, last - first);
    if (n && *n > 0) {
      for (std::size_t i = first; i < first + *n; ++i) u.bytes_out += batch.payload(i).size();
      u.datagrams_out += *n;
      first += *n;
      continue;
    }
    // Full (0) or an error for datagram `first`: send it alone, which waits or reports.
    auto sent = co_await u.socket.send_to(batch.payload(first), batch.peer(first));
    if (sent) {
      ++u.datagrams_out;
      u.bytes_out += *sent;
    } else {
      ++u.errors;
    }
    ++first;
  }
}

// Receives in batches (recvmmsg) and echoes each run of admitted datagrams with one sendmmsg, as
// the hand-written servers do. The backend's per-fd budget keeps one busy socket from holding
// the loop.
Task<void> serve(UdpLoop& u, const AccessList& acl, UdpMode mode) {
  DatagramBatch batch(32);
  const bool echo = mode == UdpMode::echo;
  for (;;) {
    auto n = co_await u.socket.recv_batch(batch);
    if (!n) {
      if (n.error() == Errc::closed || n.error() == Errc::cancelled) co_return;
      ++u.errors;  // e.g. ECONNREFUSED from an ICMP error: the socket stays usable
      continue;
    }
    // Runs of admitted datagrams with a sender go back in one sendmmsg each.
    std::size_t run = 0;
    for (std::size_t i = 0; i < *n; ++i) {
      bool keep;
      if (acl.empty()) {  // no Endpoint to build: the common case stays cheap
        ++u.datagrams_in;
        u.bytes_in += batch.payload(i).size();
        keep = echo && batch.has_peer(i);
      } else {
        const Endpoint from = batch.peer(i);
        keep = admit(u, acl, from, batch.payload(i).size()) && echo &&
               from.kind() != EndpointKind::none;
      }
      if (!keep) {
        if (run < i) co_await echo_back(u, batch, run, i);
        run = i + 1;
      }
    }
    if (echo && run < *n) co_await echo_back(u, batch, run, *n);
  }
}

}  // namespace

int serve_udp(const ListenSettings& s, UdpMode mode) {
  const AccessList acl = access_list();
  std::size_t n = serve_flags().threads != 0 ? serve_flags().threads
                                             : std::max(1u, std::thread::hardware_concurrency());
  if (s.local.is_unix()) n = 1;
  std::vector<std::unique_ptr<UdpLoop>> loops;
  // One socket bound without SO_REUSEPORT, shared by every loop: nothing else can hold the port.
  UdpBindOptions bo;
  bo.v6_only = s.v6_only;
  auto handles = bind_shared(s.local, n, bo);
  if (!handles) {
    s.log.error(fmt::format("bind {}: {}", s.local.to_string(), describe(handles.error())));
    return exit_failure;
  }
  Endpoint where = s.local;
  if (auto ep = handles->front().local_endpoint()) where = *ep;
  if (s.local.kind() == EndpointKind::unix_path) remove_on_exit(std::string(s.local.unix_name()));
  for (std::size_t i = 0; i < n; ++i) {
    auto u = std::make_unique<UdpLoop>();
    auto sock = AsyncUdpSocket::adopt(u->loop, std::move((*handles)[i]));
    if (!sock) {
      s.log.error(fmt::format("bind {}: {}", where.to_string(), describe(sock.error())));
      return exit_failure;
    }
    u->socket = std::move(*sock);
    loops.push_back(std::move(u));
  }
  if (s.log.enabled()) {
    Event e("listening");
    e.add("proto", s.proto());
    e.add("local", where);
    e.add("threads", std::uint64_t{n});
    s.log.emit(e);
  }
  auto stop_all = [&loops](int) {
    for (auto& u : loops) u->loop.stop();
  };
  if (auto st = loops[0]->loop.handle_signals({SIGINT, SIGTERM}, stop_all); !st) {
    s.log.error(fmt::format("signals: {}", describe(st.error())));
    return exit_failure;
  }
  const auto start = std::chrono::steady_clock::now();
  for (auto& u : loops) u->loop.spawn(serve(*u, acl, mode));
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < n; ++i) threads.emplace_back([&u = *loops[i]] { u.loop.run(); });
  loops[0]->loop.run();
  for (auto& t : threads) t.join();
  if (s.log.enabled()) {
    UdpLoop total;
    for (auto& u : loops) {
      total.datagrams_in += u->datagrams_in;
      total.datagrams_out += u->datagrams_out;
      total.bytes_in += u->bytes_in;
      total.bytes_out += u->bytes_out;
      total.denied += u->denied;
      total.errors += u->errors;
    }
    Event e("summary");
    e.add("proto", s.proto());
    e.add("datagrams_in", total.datagrams_in);
    e.add("datagrams_out", total.datagrams_out);
    e.add("bytes_in", total.bytes_in);
    e.add("bytes_out", total.bytes_out);
    e.add("rejected", total.denied);
    e.add("errors", total.errors);
    e.add("duration_s", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    s.log.emit(e);
  }
  return exit_ok;
}

}  // namespace tether::cli
