// tether/socket.hpp: the RAII owner of one socket file descriptor, with typed options.
//
// Ownership: a Socket owns its fd and closes it in its destructor; it is move-only. release() hands
// the fd to the caller. Every fd tether creates has SOCK_CLOEXEC and SOCK_NONBLOCK set: blocking
// calls in tether wait with poll() against a Deadline, so they never block past it.
// Threads: one Socket may be used from one thread at a time; different Sockets are independent.
// Option setters are thin: each is one setsockopt() and returns its error.
#pragma once

#include <tether/deadline.hpp>
#include <tether/endpoint.hpp>
#include <tether/error.hpp>

#include <chrono>
#include <cstdint>
#include <optional>

#pragma GCC visibility push(default)  // the public API (the shared library hides the rest)

namespace tether {

enum class SocketType : std::uint8_t { stream, datagram };
enum class Shutdown : std::uint8_t { read, write, both };

/// TCP keep-alive probing: first probe after `idle`, then every `interval`, give up after `count`.
struct KeepAlive {
  std::chrono::seconds idle{60};
  std::chrono::seconds interval{10};
  int count = 6;
};

class Socket {
 public:
  Socket() noexcept = default;
  /// Adopts an open fd (the caller gives up ownership).
  explicit Socket(int fd) noexcept : fd_(fd) {}
  ~Socket();
  Socket(Socket&& other) noexcept;
  Socket& operator=(Socket&& other) noexcept;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  /// A new socket of `family` (AF_INET, AF_INET6, AF_UNIX), close-on-exec and non-blocking.
  [[nodiscard]] static Result<Socket> open(int family, SocketType type, int protocol = 0);

  int fd() const noexcept { return fd_; }
  bool is_open() const noexcept { return fd_ >= 0; }
  explicit operator bool() const noexcept { return is_open(); }
  /// Gives up ownership: the caller must close the returned fd.
  int release() noexcept;
  /// Closes now (idempotent). close() errors are not reported: the fd is gone either way.
  void close() noexcept;

  [[nodiscard]] Status bind(const Endpoint& local);
  [[nodiscard]] Status shutdown(Shutdown how);
  [[nodiscard]] Result<Endpoint> local_endpoint() const;
  [[nodiscard]] Result<Endpoint> peer_endpoint() const;
  /// SO_ERROR: the pending asynchronous error, cleared by reading it (0 when none).
  [[nodiscard]] Result<int> take_error() const;
  [[nodiscard]] Result<int> type() const;  ///< SOCK_STREAM or SOCK_DGRAM

  // Options. Each getter reads the kernel's value.
  [[nodiscard]] Status set_reuse_address(bool on);
  [[nodiscard]] Result<bool> reuse_address() const;
  [[nodiscard]] Status set_reuse_port(bool on);
  [[nodiscard]] Result<bool> reuse_port() const;
  [[nodiscard]] Status set_no_delay(bool on);  ///< TCP_NODELAY
  [[nodiscard]] Result<bool> no_delay() const;
  [[nodiscard]] Status set_keep_alive(bool on);
  [[nodiscard]] Status set_keep_alive(const KeepAlive& params);  ///< enables it with these parameters
  [[nodiscard]] Result<bool> keep_alive() const;
  /// SO_LINGER: nullopt turns lingering off; 0 s makes close() send a reset.
  [[nodiscard]] Status set_linger(std::optional<std::chrono::seconds> linger);
  [[nodiscard]] Result<std::optional<std::chrono::seconds>> linger() const;
  [[nodiscard]] Status set_send_buffer_size(int bytes);
  [[nodiscard]] Result<int> send_buffer_size() const;  ///< as the kernel reports it (Linux doubles the request)
  [[nodiscard]] Status set_receive_buffer_size(int bytes);
  [[nodiscard]] Result<int> receive_buffer_size() const;
  [[nodiscard]] Status set_v6_only(bool on);
  [[nodiscard]] Result<bool> v6_only() const;
  [[nodiscard]] Status set_broadcast(bool on);
  [[nodiscard]] Result<bool> broadcast() const;

  /// The default deadline of every receive (send) through tether that passes none of its own;
  /// zero means none. Also sets SO_RCVTIMEO (SO_SNDTIMEO) for code that uses the raw fd.
  [[nodiscard]] Status set_receive_timeout(std::chrono::milliseconds timeout);
  std::chrono::milliseconds receive_timeout() const noexcept { return recv_timeout_; }
  [[nodiscard]] Status set_send_timeout(std::chrono::milliseconds timeout);
  std::chrono::milliseconds send_timeout() const noexcept { return send_timeout_; }

  /// `d`, or when d is never, now + the socket's receive (send) timeout if one is set.
  Deadline receive_deadline(Deadline d) const noexcept;
  Deadline send_deadline(Deadline d) const noexcept;

  /// Waits until the fd is readable (POLLIN) / writable (POLLOUT), or the deadline passes
  /// (std::errc::timed_out). EINTR is retried with the remaining time.
  [[nodiscard]] Status wait_readable(Deadline d) const;
  [[nodiscard]] Status wait_writable(Deadline d) const;

  /// Generic option access for anything without a typed setter.
  [[nodiscard]] Status set_option(int level, int name, const void* value, socklen_t len);
  [[nodiscard]] Status get_option(int level, int name, void* value, socklen_t* len) const;
  [[nodiscard]] Status set_int_option(int level, int name, int value);
  [[nodiscard]] Result<int> int_option(int level, int name) const;

 private:
  int fd_ = -1;
  std::chrono::milliseconds recv_timeout_{0};
  std::chrono::milliseconds send_timeout_{0};
};

}  // namespace tether

#pragma GCC visibility pop
