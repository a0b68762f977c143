// tether/connection.hpp: one client of a tether::Server, as its handler sees it.
//
//   Task<void> echo(Connection& c) {
//     for (;;) {
//       auto data = co_await c.read();              // waits while the client is a slow reader
//       if (!data || data->empty()) co_return;      // error, idle timeout, or end of stream
//       if (!c.send(*data)) co_return;              // never suspends: buffers what cannot go now
//     }
//   }
//
// Backpressure: send() writes what the socket takes and buffers the rest, written in the
// background. When more than the server's high watermark is buffered, the next read() first waits
// until the buffer drains below the low watermark: a client that does not read stops being read.
// A send() that would buffer more than max_buffered fails (std::errc::no_buffer_space) and closes
// the connection (a slow consumer in a broadcast).
// Broadcast (chat, pub/sub): broadcast() queues a message for every other connection of the
// server; a sender then does `co_await c.broadcast_room()`, which waits while any receiver is
// over the high watermark (until it is back below the low one) or too many broadcast bytes are
// still on their way to other loops. So a fast sender goes at the pace of the slowest reader
// instead of making it a "slow consumer". A receiver over the high watermark that takes no byte
// for the server's stall_timeout is truly stuck: it is closed (slow-consumer), and the senders go on.
// Memory: read() lends the loop's buffer (no read buffer per connection); the output buffers are
// allocated only when the socket cannot take a send() at once, and kept for reuse.
// Ownership: the server owns the Connection and its socket; the handler gets a reference valid
// until its task ends. Threads: the connection's loop thread only.
#pragma once

#include <tether/async_tcp.hpp>
#include <tether/deadline.hpp>
#include <tether/detail/io_op.hpp>
#include <tether/detail/op.hpp>
#include <tether/endpoint.hpp>
#include <tether/error.hpp>

#include <chrono>
#include <memory>
#include <netinet/in.h>
#include <sys/socket.h>

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stop_token>
#include <string_view>
#include <vector>

#pragma GCC visibility push(default)  // the public API (the shared library hides the rest)

namespace tether {

class Connection;
class EventLoop;

namespace detail {

struct __attribute__((visibility("hidden"))) ServerLoop;  // private to the library
class __attribute__((visibility("hidden"))) TlsEngine;    // private to the library (TLS)

/// A peer address in 32 bytes instead of an Endpoint's 136: an IP address and port, or nothing
/// (a Unix peer, which is almost always unnamed).
class PeerAddress {
 public:
  PeerAddress() noexcept = default;
  explicit PeerAddress(const Endpoint& e) noexcept;
  Endpoint endpoint() const;

 private:
  sockaddr_in6 addr_{};  // large enough for sockaddr_in too
  socklen_t len_ = 0;
};

/// Awaitable of Connection::read(): Result<std::span<const std::byte>>, empty at end of stream.
/// Copyable until it is awaited (with_timeout(c.read(), 2s) takes it by value).
class ConnReadOp : public ReadBorrowedOp {
 public:
  explicit ConnReadOp(Connection& c) noexcept;
  ConnReadOp(const ConnReadOp& other) noexcept : ConnReadOp(*other.conn_) {}
  ConnReadOp& operator=(const ConnReadOp&) = delete;
  ~ConnReadOp();
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) noexcept {
    return begin(h, token_of(h));
  }
  [[nodiscard]] Result<std::span<const std::byte>> await_resume() noexcept;

 private:
  friend class tether::Connection;
  bool begin(std::coroutine_handle<> h, std::stop_token token) noexcept;
  // Submits the read; over TLS, reads until a record completes (connection_tls.cpp).
  bool start(std::coroutine_handle<> h, std::stop_token token) noexcept;
  bool tls_step(bool completed) noexcept;  // true: plaintext, an error or the end is ready
  static void on_tls(ReadyNode& node) noexcept;
  void wake() noexcept;  // parked (backpressure): start the read now, through the ready queue
  static void on_wake(ReadyNode& node) noexcept;
  Connection* conn_;
  std::coroutine_handle<> parked_;
  std::stop_token token_;
};

/// Awaitable of Connection::flush(): Status once nothing is buffered; std::errc::timed_out at its
/// deadline, Errc::cancelled when the awaiting task is stopped (so with_timeout bounds it too).
/// Copyable until it is awaited.
class FlushOp : private ReadyNode, private TimerNode {
 public:
  FlushOp(Connection& c, Deadline deadline) noexcept;
  FlushOp(const FlushOp& other) noexcept : FlushOp(*other.conn_, other.deadline_) {}
  FlushOp& operator=(const FlushOp&) = delete;
  ~FlushOp();
  bool await_ready() const noexcept;
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) noexcept {
    return suspend(h, token_of(h));
  }
  [[nodiscard]] Status await_resume() noexcept;

 private:
  friend class tether::Connection;
  struct Stop {
    FlushOp* op;
    void operator()() const noexcept;
  };
  bool suspend(std::coroutine_handle<> h, std::stop_token token) noexcept;
  void unregister() noexcept;  // from the connection and the timer heap
  static void on_ready(ReadyNode& node) noexcept;
  static void on_fire(TimerNode& node) noexcept;
  Connection* conn_;
  Deadline deadline_;
  std::coroutine_handle<> waiter_;
  bool timed_out_ = false;
  bool cancelled_ = false;
  std::optional<std::stop_callback<Stop>> stop_;
};

/// Awaitable of Connection::broadcast_room(): Status once receivers have room again (or the error
/// that closed this connection meanwhile).
class BroadcastRoomOp : private ReadyNode {
 public:
  explicit BroadcastRoomOp(Connection& c) noexcept;
  BroadcastRoomOp(const BroadcastRoomOp&) = delete;
  BroadcastRoomOp& operator=(const BroadcastRoomOp&) = delete;
  ~BroadcastRoomOp();
  bool await_ready() const noexcept;
  bool await_suspend(std::coroutine_handle<> h) noexcept;
  Status await_resume() noexcept;

 private:
  friend class tether::Connection;
  friend struct ServerLoop;
  void wake() noexcept;  // through the ready queue
  static void on_ready(ReadyNode& node) noexcept;
  Connection* conn_;
  std::coroutine_handle<> waiter_;
  bool parked_ = false;
};

}  // namespace detail

class Connection {
 public:
  /// Made by the server for each accepted client; `stream` and `peer` must outlive it. With `tls`
  /// (ServerOptions::tls, after the handshake) read() and send() carry plaintext over TLS.
  Connection(detail::ServerLoop& loop, AsyncTcpStream& stream, const detail::PeerAddress& peer,
             detail::TlsEngine* tls = nullptr);  // owns `tls`
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// The client's address (empty for a Unix client).
  Endpoint peer() const { return peer_->endpoint(); }

  /// Reads what has arrived. Errors: std::errc::timed_out (idle timeout), Errc::closed (closed by
  /// the server, e.g. at the end of a graceful shutdown), or the socket's error (ECONNRESET...).
  detail::ConnReadOp read() noexcept { return detail::ConnReadOp(*this); }
  /// Queues `data` for the client; never suspends. Fails once the connection is broken or closed.
  [[nodiscard]] Status send(std::span<const std::byte> data);
  /// TLS (ServerOptions::tls): queues close_notify, the end of what the server sends (the server
  /// does it when the handler returns); sending ends there. Nothing over plain TCP.
  Status close_notify();
  bool is_tls() const noexcept;
  [[nodiscard]] Status send(std::string_view text) {
    return send(std::as_bytes(std::span(text.data(), text.size())));
  }
  /// Waits until every buffered byte is written (or the deadline passes: std::errc::timed_out).
  detail::FlushOp flush(Deadline deadline = {}) noexcept { return detail::FlushOp(*this, deadline); }
  std::size_t buffered() const noexcept { return buffered_; }

  /// Ends the connection: pending and later operations fail with `why`. Idempotent.
  void close(std::error_code why = make_error_code(Errc::closed)) noexcept;
  bool is_open() const noexcept { return stream_->is_open(); }
  /// Why the connection ended (empty while it is healthy).
  std::error_code error() const noexcept { return error_; }

  /// The client's socket, for its options and tcp_info() (the server owns and closes it).
  const Socket& socket() const noexcept { return stream_->socket(); }

  /// For a handler that moves bytes with its own non-blocking calls on socket().fd() (splice(2)
  /// in tether relay), with nothing buffered here: waits, after such a call said EAGAIN, until the
  /// socket is readable / writable again (Errc::closed or the close reason once closed).
  detail::WaitOp wait_readable() noexcept;
  detail::WaitOp wait_writable() noexcept;
  /// Counts bytes those calls moved (in: from the client, out: to it) as activity for the idle
  /// timeout and in bytes_in() / bytes_out().
  void note_moved(std::size_t in, std::size_t out) noexcept;

  std::uint64_t bytes_in() const noexcept { return bytes_in_; }
  /// Over TLS: plaintext bytes, read and sent (records go out as buffered() shows).
  std::uint64_t bytes_out() const noexcept { return tls_ ? tls_out_ : bytes_out_; }
  /// The server's loop this connection runs on (0-based).
  std::size_t loop_index() const noexcept;
  EventLoop& loop() const noexcept;
  /// Sends `data` to every other connection of the server, on every loop (chat, pub/sub).
  void broadcast(std::span<const std::byte> data);
  void broadcast(std::string_view text) {
    broadcast(std::as_bytes(std::span(text.data(), text.size())));
  }
  /// After broadcast(): waits while receivers are backed up (see the top of this file).
  detail::BroadcastRoomOp broadcast_room() noexcept { return detail::BroadcastRoomOp(*this); }

 private:
  friend class detail::ConnReadOp;
  friend class detail::FlushOp;
  friend class detail::BroadcastRoomOp;
  friend struct detail::ServerLoop;

  // Taken when bytes must wait (the socket did not take a send() at once, or writes complete
  // later on this backend) and handed back to a per-thread spare list once written out.
  struct Output;
  struct IdleTimer : detail::TimerNode {
    Connection* conn;
  };
  struct Link : detail::ListHook {
    Connection* conn;
  };
  struct StallTimer : detail::TimerNode {
    Connection* conn;
    std::uint64_t progress = 0;  // bytes written when it was armed
  };

  detail::FdHandle* stream_handle() const noexcept { return stream_->handle_; }
  [[nodiscard]] Status send_bytes(std::span<const std::byte> data);  // to the socket, as they are
  Status send_tls_output();  // the engine's records to send_bytes
  void start_write() noexcept;
  bool write_finished() noexcept;  // bookkeeping after a write completed; false on error
  void wake_waiters() noexcept;
  void touch() noexcept;
  void take_output();               // out_ from the spare list, or a new one
  void give_back_output() noexcept;  // out_ (idle, empty) to the spare list
  static void on_write(detail::ReadyNode& node) noexcept;
  static void on_idle(detail::TimerNode& node) noexcept;
  // Broadcast congestion (broadcast.cpp): after buffered_ changed, or on close.
  void note_level() noexcept;
  std::uint64_t progress() const noexcept;
  static void on_stall(detail::TimerNode& node) noexcept;

  detail::ServerLoop* loop_;
  AsyncTcpStream* stream_;
  const detail::PeerAddress* peer_;
  detail::TlsEngine* tls_;                  // ServerOptions::tls (owned; a hidden type)
  std::uint64_t tls_out_ = 0;               // plaintext bytes given to send() over TLS
  std::unique_ptr<Output> out_;
  std::size_t buffered_ = 0;
  detail::ConnReadOp* parked_ = nullptr;
  std::error_code error_;
  IdleTimer idle_;
  std::chrono::steady_clock::time_point last_active_;
  Link link_;
  std::unique_ptr<StallTimer> stall_;  // made at the first congestion: idle connections stay small
  detail::BroadcastRoomOp* room_ = nullptr;  // this connection's sender, waiting for room
  bool congested_ = false;                   // counted in the server's congested receivers
  std::uint64_t bytes_in_ = 0;
  std::uint64_t bytes_out_ = 0;
};

}  // namespace tether

#pragma GCC visibility pop
