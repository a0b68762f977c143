// src/server/server_loop.hpp (private): the state of a Server and of each of its loops.
#pragma once

#include <tether/accept_guard.hpp>
#include <tether/async_tcp.hpp>
#include <tether/connection.hpp>
#include <tether/detail/list.hpp>
#include <tether/event_loop.hpp>
#include <tether/server.hpp>
#include <tether/timer.hpp>

#include "tls/engine.hpp"

#include <atomic>
#include <cstddef>
#include <memory>
#include <span>
#include <thread>
#include <vector>

namespace tether::detail {

struct __attribute__((visibility("hidden"))) ServerImpl;  // private to the library

/// One loop of a server: its listener, its connections, its share of the statistics.
/// Everything here is touched only by the loop's thread (after run() starts it).
// Hidden although connection.hpp names it: its members stay out of libtether.so's exports.
struct __attribute__((visibility("hidden"))) ServerLoop {
  ServerLoop(ServerImpl& server, std::size_t index);
  ~ServerLoop();

  // Runs on the loop's thread until it has drained.
  void serve();
  /// Stops accepting; arms the drain deadline; the loop ends when no connection is left.
  void begin_drain();
  /// Closes every connection now.
  void close_all() noexcept;
  /// Called when a connection ends; stops the loop once draining and empty.
  void connection_done() noexcept;
  /// A connection accepted elsewhere (single acceptor) or here.
  void admit(AsyncTcpStream stream, Endpoint peer);
  void deliver(std::span<const std::byte> data, const Connection* except);
  void emit(ServerEvent event) const;
  /// Resumes this loop's senders waiting in broadcast_room() while the server has room.
  void wake_room_waiters() noexcept;

  ServerImpl& server;
  std::size_t index;
  EventLoop loop;
  AsyncTcpListener listener;
  HookList connections;
  HookList room_waiters;  // BroadcastRoomOps (as ReadyNodes) parked on this loop
  std::size_t active = 0;
  std::size_t buffered = 0;  // bytes buffered for writing by this loop's connections
  ServerStats stats;
  AcceptGuard guard;  // accept errors: shed with a reserved fd, back off
  bool draining = false;
  bool accepting = false;  // the accept task is alive
  Timer drain_timer;
  std::size_t next_target = 0;  // single acceptor: round-robin position
};

/// One client's whole life on `ls`: the handler on a Connection (server.cpp), over TLS when
/// `tls` is given (the engine after its handshake).
Task<void> serve_connection(ServerLoop& ls, AsyncTcpStream stream, PeerAddress peer,
                            std::unique_ptr<TlsEngine> tls = nullptr);
/// ServerOptions::tls: the server's side of the handshake (connection_tls.cpp).
Task<Result<std::unique_ptr<TlsEngine>>> tls_accept(AsyncTcpStream& tcp, const TlsContext& context,
                                                    Deadline deadline);
/// What admit() spawns: ServerOptions::wrap first when set, then the TLS handshake when
/// ServerOptions::tls is set, then serve_connection (server_wrap.cpp).
Task<void> serve_client(ServerLoop& ls, AsyncTcpStream stream, PeerAddress peer);

struct __attribute__((visibility("hidden"))) ServerImpl {
  explicit ServerImpl(ServerOptions o) : options(std::move(o)) {}

  ServerOptions options;
  Server::Handler handler;
  std::vector<std::unique_ptr<ServerLoop>> loops;
  Endpoint bound;
  bool listening = false;
  std::atomic<std::size_t> active{0};
  std::atomic<bool> stop_requested{false};
  std::atomic<bool> running{false};
  int signals_seen = 0;  // loop 0 only
  std::atomic<std::size_t> buffered_total{0};
  std::atomic<std::size_t> peak_buffered{0};
  // Broadcast backpressure (broadcast.cpp).
  std::atomic<bool> broadcasting{false};       // set by the first broadcast(): congestion is tracked
  std::atomic<std::size_t> congested{0};       // connections over the high watermark
  std::atomic<std::size_t> in_transit{0};      // broadcast bytes posted to other loops, not delivered
  std::atomic<std::size_t> room_waiting{0};    // senders parked in broadcast_room()

  bool has_room() const noexcept {
    return congested.load() == 0 && in_transit.load() <= options.high_watermark;
  }
  /// Any thread: after congestion eased, wakes the parked senders of every loop.
  void release_room() noexcept;

  /// Posts begin_drain to every loop (any thread).
  void request_stop() noexcept;
  void note_buffered(std::ptrdiff_t delta) noexcept;
};

}  // namespace tether::detail
