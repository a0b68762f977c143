// tether/server.hpp: a multi-core TCP server: N event loops, one coroutine per connection.
//
//   Server server({.address = Endpoint::ipv4_any(7000)});
//   auto stats = server.run([](Connection& c) -> Task<void> { ... });  // until SIGINT/SIGTERM
//
// Loops: `threads` loops (default: one per core), loop 0 on the thread that calls run(). All
// loops accept from one listening socket bound without SO_REUSEPORT (tether/port_group.hpp): the
// listen fails with EADDRINUSE when anything holds the port, and no other process can join it
// (AcceptMode::single_acceptor instead accepts on loop 0 and hands connections out round-robin;
// Unix sockets always use it). Limits: max_connections (extra clients are closed at once),
// idle_timeout (a silent client is closed; the others go on), high/low watermarks (see
// connection.hpp), accept errors such as EMFILE never spin: a reserved fd lets the server accept
// and close the excess client, and when even that fails accepting backs off (10 ms doubling to 1 s).
// Shutdown: stop() or SIGINT/SIGTERM stops accepting, lets connections finish for up to
// drain_timeout, then closes the rest (a second signal closes them at once); run() then returns.
// Threads: run() blocks; stop() may be called from any thread; on_event is called on the loops'
// threads (serialize in it if needed). The handler object is shared by all loops and lives until
// run() returns: it may keep state, but must be safe to call from several threads.
#pragma once

#include <tether/cidr.hpp>
#include <tether/connection.hpp>
#include <tether/endpoint.hpp>
#include <tether/error.hpp>
#include <tether/task.hpp>
#include <tether/tcp.hpp>
#include <tether/tls.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <system_error>

#pragma GCC visibility push(default)  // the public API (the shared library hides the rest)

namespace tether {

/// every_loop: each loop accepts from the one listening socket (whichever loop is free takes the
/// client); single_acceptor: loop 0 accepts and hands clients out round-robin. reuse_port is the
/// old name of every_loop: no mode uses SO_REUSEPORT, so no other process can share the port.
enum class AcceptMode : std::uint8_t { every_loop, single_acceptor, reuse_port = every_loop };

struct ServerStats {
  std::uint64_t connections = 0;    ///< clients served (accepted and handed to the handler)
  std::uint64_t rejected = 0;       ///< closed at once: over max_connections or denied
  std::uint64_t shed = 0;           ///< accepted and closed at once while out of file descriptors
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::uint64_t errors = 0;         ///< connections that ended with an error (reset, ...)
  std::uint64_t idle_timeouts = 0;  ///< connections closed by the idle timeout
  std::uint64_t accept_errors = 0;  ///< failed accept() calls (EMFILE, ...)
  std::uint64_t backoffs = 0;       ///< pauses of accepting after an accept error
  std::size_t peak_buffered = 0;    ///< most bytes buffered for writing at once, all loops summed

  ServerStats& operator+=(const ServerStats& o) noexcept;
};

struct ServerEvent {
  enum class Kind : std::uint8_t { listening, accepted, rejected, closed, accept_error, draining };
  Kind kind;
  std::size_t loop = 0;
  Endpoint peer;          ///< accepted, rejected, closed; the bound address for listening
  Endpoint local;         ///< accepted, closed: the connection's own address
  std::error_code error;  ///< closed with an error, accept_error
  std::string_view reason;  ///< rejected: "denied" / "max-conns"; closed: "eof", "idle", ...
  std::uint64_t bytes_in = 0;   ///< closed
  std::uint64_t bytes_out = 0;  ///< closed
};

struct ServerOptions {
  Endpoint address;
  std::size_t threads = 0;                      ///< 0: one loop per core
  std::size_t max_connections = 0;              ///< 0: no limit
  std::chrono::milliseconds idle_timeout{0};    ///< 0: none
  std::chrono::milliseconds drain_timeout{5000};
  std::size_t high_watermark = 256 * 1024;      ///< stop reading a client above this
  std::size_t low_watermark = 64 * 1024;        ///< resume below this
  std::size_t max_buffered = 1024 * 1024;       ///< a send beyond this closes the connection
  /// Broadcast: a receiver over the high watermark that takes no byte for this long is closed
  /// (slow-consumer) so that the senders waiting for it go on (connection.hpp).
  std::chrono::milliseconds stall_timeout{10000};
  bool no_delay = true;                         ///< TCP_NODELAY on every accepted TCP client
  bool handle_signals = true;                   ///< SIGINT/SIGTERM start a graceful shutdown
  AcceptMode accept_mode = AcceptMode::every_loop;
  ListenOptions listen;                         ///< backlog, v6_only (reuse_port is never set)
  AccessList access;                            ///< --allow / --deny
  std::function<void(const ServerEvent&)> on_event;
  /// Optional: runs on each accepted client, on its loop, before the handler (a TLS handshake,
  /// say): returns the stream the handler's Connection uses instead, or an error that closes the
  /// client (event "closed", reason "handshake"). It must end within a bounded time.
  std::function<Task<Result<AsyncTcpStream>>(AsyncTcpStream)> wrap;
  /// Optional (a TlsContext::server): TLS for every client. The handshake runs on the client's
  /// loop (after wrap) within tls_handshake_timeout; a failure closes the client (event
  /// "closed", reason "handshake"). The handler's Connection then reads and sends plaintext,
  /// records encrypted and decrypted on the loop, and close_notify goes out when it returns.
  TlsContext tls;
  std::chrono::milliseconds tls_handshake_timeout{10000};
  /// Optional, with tls: called on the client's loop after each completed handshake.
  std::function<void(const TlsInfo& info, const Endpoint& peer)> on_tls;
};

namespace detail {
struct __attribute__((visibility("hidden"))) ServerImpl;  // private to the library
}

class Server {
 public:
  using Handler = std::function<Task<void>(Connection&)>;

  explicit Server(ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Creates the loops and binds their listeners; returns the bound address (port 0 resolved).
  /// run() calls it if it was not called.
  [[nodiscard]] Result<Endpoint> listen();
  /// Serves until stop() or a signal, then returns the totals.
  [[nodiscard]] Result<ServerStats> run(Handler handler);
  /// Any thread: graceful shutdown (as SIGTERM). Safe before run() too: run() then returns at once.
  void stop() noexcept;
  /// The number of loops (known after listen()).
  std::size_t loop_count() const noexcept;

 private:
  std::unique_ptr<detail::ServerImpl> impl_;
};

}  // namespace tether

#pragma GCC visibility pop
