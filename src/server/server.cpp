// src/server/server.cpp: Server: loops, accepting, limits, graceful shutdown.
#include "async/loop_impl.hpp"
#include "server/server_loop.hpp"

#include <tether/accept_guard.hpp>
#include <tether/linger.hpp>
#include <tether/port_group.hpp>
#include <tether/server.hpp>
#include <tether/timer.hpp>

#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>

namespace tether {

using namespace std::chrono_literals;

ServerStats& ServerStats::operator+=(const ServerStats& o) noexcept {
  connections += o.connections;
  rejected += o.rejected;
  shed += o.shed;
  bytes_in += o.bytes_in;
  bytes_out += o.bytes_out;
  errors += o.errors;
  idle_timeouts += o.idle_timeouts;
  accept_errors += o.accept_errors;
  backoffs += o.backoffs;
  peak_buffered = std::max(peak_buffered, o.peak_buffered);
  return *this;
}

namespace detail {

namespace {

// errno comparisons without std::error_condition (see AcceptGuard::out_of_fds).
bool is_errno(std::error_code ec, int value) noexcept {
  return ec.value() == value &&
         (ec.category() == std::system_category() || ec.category() == std::generic_category());
}

std::string_view close_reason(std::error_code ec) noexcept {
  if (!ec) return "eof";
  if (is_errno(ec, ETIMEDOUT)) return "idle";
  if (ec == Errc::closed) return "shutdown";
  if (ec == Errc::frame_too_large) return "too-long";  // a handler's input limit (chat --max-line)
  if (is_errno(ec, ENOBUFS)) return "slow-consumer";
  if (is_errno(ec, ECONNRESET)) return "reset";
  return "error";
}

// Not coroutines: what they build lives on the stack, not in every connection's frame.
void emit_accepted(const ServerLoop& ls, const Connection& conn, const AsyncTcpStream& stream) {
  if (!ls.server.options.on_event) return;
  ls.emit({.kind = ServerEvent::Kind::accepted,
           .loop = ls.index,
           .peer = conn.peer(),
           .local = stream.local_endpoint().value_or(Endpoint())});
}

// True unless the peer has already ended its side: then a plain close() cannot meet unread input.
bool peer_may_still_send(const AsyncTcpStream& stream) noexcept {
  char byte;
  return ::recv(stream.socket().fd(), &byte, 1, MSG_PEEK | MSG_DONTWAIT) != 0;
}

void finish_connection(ServerLoop& ls, Connection& conn, AsyncTcpStream& stream, bool threw) {
  std::error_code why = conn.error();
  if (threw && !why) why = std::make_error_code(std::errc::state_not_recoverable);
  Endpoint local;  // taken before the stream may move to a lingering close
  if (ls.server.options.on_event) local = stream.local_endpoint().value_or(Endpoint());
  // A handler that returned while the client may still send (unread request bytes, a pipelined
  // request): closing into unread input makes the kernel reset the connection, destroying the
  // reply still in flight. Hand the socket to a lingering close instead (tether/linger.hpp),
  // owned by the loop and bounded in time; the connection itself ends here.
  if (!why && conn.buffered() == 0 && stream.is_open() && peer_may_still_send(stream)) {
    const auto idle = ls.server.options.idle_timeout;
    const auto bound = idle.count() > 0 ? std::min<std::chrono::milliseconds>(2s, idle) : 2s;
    ls.loop.spawn(linger_close(std::move(stream), bound));
  }
  conn.close();
  const auto reason = close_reason(why);
  if (reason == "reset" || reason == "error" || reason == "slow-consumer") ++ls.stats.errors;
  ls.stats.bytes_in += conn.bytes_in();
  ls.stats.bytes_out += conn.bytes_out();
  if (ls.server.options.on_event) {
    ls.emit({.kind = ServerEvent::Kind::closed,
             .loop = ls.index,
             .peer = conn.peer(),
             .local = local,
             .error = why,
             .reason = reason,
             .bytes_in = conn.bytes_in(),
             .bytes_out = conn.bytes_out()});
  }
  --ls.active;
  if (ls.server.options.max_connections > 0) ls.server.active.fetch_sub(1);
}

// What the handler sent still goes out before the close, within a bound. A separate coroutine:
// only connections that end with unsent bytes pay for its frame.
Task<void> final_flush(Connection& conn, Deadline deadline) { (void)co_await conn.flush(deadline); }

}  // namespace

// One per connection, for its whole life: keep its frame small (it is most of the memory of an
// idle connection). The parameters are the connection's socket and peer address.
Task<void> serve_connection(ServerLoop& ls, AsyncTcpStream stream, PeerAddress peer,
                            std::unique_ptr<TlsEngine> tls) {
  bool threw = false;
  {
    Connection conn(ls, stream, peer, tls.release());
    emit_accepted(ls, conn, stream);
    try {
      co_await ls.server.handler(conn);
    } catch (...) {
      threw = true;
    }
    if (!conn.error() && conn.is_tls()) (void)conn.close_notify();  // the handler's end
    if (!conn.error() && conn.buffered() > 0) {
      const auto& o = ls.server.options;
      co_await final_flush(conn, o.idle_timeout.count() > 0 ? o.idle_timeout : o.drain_timeout);
    }
    finish_connection(ls, conn, stream, threw);
  }
  ls.connection_done();
}

namespace {

Task<void> accept_loop(ServerLoop& ls) {
  ls.accepting = true;
  while (ls.listener.is_open()) {
    auto accepted = co_await ls.listener.accept();
    if (!accepted) {
      const auto ec = accepted.error();
      if (ec == Errc::closed || ec == Errc::cancelled) break;
      ++ls.stats.accept_errors;
      ls.emit({.kind = ServerEvent::Kind::accept_error, .loop = ls.index, .error = ec});
      const auto verdict = ls.guard.on_error(ls.listener.socket().fd(), ec);
      if (verdict.shed) ++ls.stats.shed;
      if (verdict.wait.count() > 0) {
        ++ls.stats.backoffs;
        (void)co_await sleep_for(verdict.wait);
      }
      continue;  // ECONNABORTED and the like: on to the next client
    }
    ls.guard.on_success();
    ls.admit(std::move(accepted->stream), std::move(accepted->peer));
  }
  ls.accepting = false;
  ls.connection_done();
}

}  // namespace

ServerLoop::ServerLoop(ServerImpl& s, std::size_t i) : server(s), index(i), drain_timer(loop) {}

ServerLoop::~ServerLoop() {
  // Connection tasks still suspended refer to this object's members: destroy them first.
  impl_of(loop).shutdown();
  listener.close();
}

void ServerLoop::emit(ServerEvent event) const {
  if (server.options.on_event) server.options.on_event(event);
}

void ServerLoop::admit(AsyncTcpStream stream, Endpoint peer) {
  const auto& o = server.options;
  if (draining) return;
  if (!o.access.permits(peer)) {
    ++stats.rejected;
    emit({.kind = ServerEvent::Kind::rejected, .loop = index, .peer = peer, .reason = "denied"});
    return;
  }
  if (o.max_connections > 0 && server.active.fetch_add(1) >= o.max_connections) {
    server.active.fetch_sub(1);
    ++stats.rejected;
    emit({.kind = ServerEvent::Kind::rejected, .loop = index, .peer = peer, .reason = "max-conns"});
    return;
  }
  // Replies go out as the handler sends them, not held back by Nagle (as every peer server does).
  // Best effort: a Unix socket has no such option.
  if (o.no_delay && peer.is_ip()) (void)stream.socket().set_no_delay(true);
  ServerLoop* target = this;
  if (o.accept_mode == AcceptMode::single_acceptor && server.loops.size() > 1) {
    target = server.loops[next_target++ % server.loops.size()].get();
  }
  if (target == this) {
    ++active;
    ++stats.connections;
    loop.spawn(serve_client(*this, std::move(stream), PeerAddress(peer)));
    return;
  }
  // Hand the socket to the other loop: it registers it with its own backend.
  target->loop.post([target, socket = stream.release(), peer = std::move(peer)]() mutable {
    auto s = AsyncTcpStream::adopt(target->loop, TcpStream(std::move(socket)));
    if (!s || target->draining) {
      if (target->server.options.max_connections > 0) target->server.active.fetch_sub(1);
      return;
    }
    ++target->active;
    ++target->stats.connections;
    target->loop.spawn(serve_client(*target, std::move(*s), PeerAddress(peer)));
  });
}

void ServerLoop::deliver(std::span<const std::byte> data, const Connection* except) {
  connections.for_each([&](ListHook& h) {
    Connection* c = static_cast<Connection::Link&>(h).conn;
    if (c != except && c->is_open()) (void)c->send(data);
  });
}

void ServerLoop::begin_drain() {
  if (draining) return;
  draining = true;
  emit({.kind = ServerEvent::Kind::draining, .loop = index});
  listener.close();  // the accept task ends; new clients are refused by the kernel
  drain_timer.arm(server.options.drain_timeout, [this] { close_all(); });
  connection_done();
}

void ServerLoop::close_all() noexcept {
  connections.for_each([](ListHook& h) { static_cast<Connection::Link&>(h).conn->close(); });
}

void ServerLoop::connection_done() noexcept {
  if (draining && active == 0 && !accepting) loop.stop();
}

void ServerLoop::serve() {
  loop.run();
  // Connections still suspended (none after a drain) are destroyed with the loop.
}

void ServerImpl::request_stop() noexcept {
  stop_requested = true;
  for (auto& l : loops) {
    ServerLoop* target = l.get();
    target->loop.post([target] { target->begin_drain(); });
  }
}

void ServerImpl::note_buffered(std::ptrdiff_t delta) noexcept {
  const auto now = buffered_total.fetch_add(static_cast<std::size_t>(delta)) +
                   static_cast<std::size_t>(delta);
  std::size_t peak = peak_buffered.load(std::memory_order_relaxed);
  while (now > peak && !peak_buffered.compare_exchange_weak(peak, now)) {
  }
}

}  // namespace detail

Server::Server(ServerOptions options)
    : impl_(std::make_unique<detail::ServerImpl>(std::move(options))) {}

Server::~Server() = default;

std::size_t Server::loop_count() const noexcept { return impl_->loops.size(); }

Result<Endpoint> Server::listen() {
  auto& s = *impl_;
  if (s.listening) return s.bound;
  auto& o = s.options;
  std::size_t n = o.threads != 0 ? o.threads : std::max(1u, std::thread::hardware_concurrency());
  if (o.address.is_unix()) o.accept_mode = AcceptMode::single_acceptor;
  for (std::size_t i = 0; i < n; ++i) s.loops.push_back(std::make_unique<detail::ServerLoop>(s, i));
  // Every loop accepts from one exclusively bound socket (tether/port_group.hpp): the listen fails
  // when anything holds the port, and nothing can join it afterwards.
  const bool per_loop = o.accept_mode == AcceptMode::every_loop && n > 1;
  auto listeners = listen_shared(o.address, per_loop ? n : 1, o.listen);
  if (!listeners) {
    s.loops.clear();
    return fail(listeners.error());
  }
  for (std::size_t i = 0; i < listeners->size(); ++i) {
    auto l = AsyncTcpListener::adopt(s.loops[i]->loop, std::move((*listeners)[i]));
    if (!l) {
      s.loops.clear();
      return fail(l.error());
    }
    s.loops[i]->listener = std::move(*l);
  }
  auto where = s.loops[0]->listener.local_endpoint();
  if (!where) {
    s.loops.clear();
    return fail(where.error());
  }
  s.bound = *where;
  s.listening = true;
  s.loops[0]->emit({.kind = ServerEvent::Kind::listening, .loop = 0, .peer = s.bound});
  return s.bound;
}

Result<ServerStats> Server::run(Handler handler) {
  auto& s = *impl_;
  if (!s.listening) {
    auto l = listen();
    if (!l) return fail(l.error());
  }
  s.handler = std::move(handler);
  detail::ServerLoop& first = *s.loops[0];
  if (s.options.handle_signals) {
    // Before the other threads start: they inherit the blocked mask, so signals reach the signalfd.
    auto st = first.loop.handle_signals({SIGINT, SIGTERM}, [&s](int) {
      if (++s.signals_seen == 1) {
        s.request_stop();
      } else {
        for (auto& l : s.loops) {
          detail::ServerLoop* target = l.get();
          target->loop.post([target] { target->close_all(); });
        }
      }
    });
    if (!st) return fail(st.error());
  }
  if (s.stop_requested) {
    for (auto& l : s.loops) l->begin_drain();
  }
  for (auto& l : s.loops) {
    if (l->listener.is_open()) l->loop.spawn(detail::accept_loop(*l));
  }
  std::exception_ptr failure;
  std::mutex failure_mutex;
  auto serve = [&](detail::ServerLoop& l) {
    try {
      l.serve();
    } catch (...) {
      std::lock_guard lock(failure_mutex);
      if (!failure) failure = std::current_exception();
      s.request_stop();
    }
  };
  s.running = true;
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < s.loops.size(); ++i) threads.emplace_back(serve, std::ref(*s.loops[i]));
  serve(first);
  for (auto& t : threads) t.join();
  s.running = false;
  if (failure) std::rethrow_exception(failure);
  ServerStats total;
  for (auto& l : s.loops) total += l->stats;
  total.peak_buffered = s.peak_buffered.load();
  return total;
}

void Server::stop() noexcept { impl_->request_stop(); }

}  // namespace tether
