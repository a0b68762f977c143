// tether/async_tls.hpp: TLS over an AsyncTcpStream, for coroutines, on either loop backend.
//
//   auto tls = (co_await AsyncTlsStream::connect(std::move(tcp), ctx, "localhost", 5s)).value();
//   co_await tls.write_all(request);
//   auto n = co_await tls.read_some(buf);   // 0: the peer's close_notify; tls_truncated: no close_notify
//   co_await tls.close();                   // close_notify, waits at most 2 s for the peer's
//
// The same shape as AsyncTcpStream: Result values, an optional Deadline on every operation, and
// Errc::cancelled when the awaiting task's stop token is stopped. The engine is the one the
// synchronous TlsStream uses (memory BIOs); reads use the loop's lent buffer, so an idle
// connection holds no read buffer.
// Ownership: the stream owns its AsyncTcpStream. Operations keep the connection's state alive
// while they run; destroying or closing the stream makes pending operations end with Errc::closed.
// Threads: the loop's thread only. One read and one write may be pending at once.
#pragma once

#include <tether/async_tcp.hpp>
#include <tether/deadline.hpp>
#include <tether/error.hpp>
#include <tether/task.hpp>
#include <tether/tls.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#pragma GCC visibility push(default)  // the public API (the shared library hides the rest)

namespace tether {

namespace detail {
struct __attribute__((visibility("hidden"))) AsyncTlsState;  // private to the library
}

class AsyncTlsStream {
 public:
  AsyncTlsStream() noexcept;
  AsyncTlsStream(AsyncTlsStream&&) noexcept;
  AsyncTlsStream& operator=(AsyncTlsStream&&) noexcept;
  ~AsyncTlsStream();  ///< closes the TCP stream (no close_notify: use close() for that)

  /// Client handshake; `server_name` gives SNI and the name verified (see TlsStream::connect).
  static Task<Result<AsyncTlsStream>> connect(AsyncTcpStream tcp, TlsContext context,
                                              std::string server_name, Deadline deadline = {});
  /// Server handshake on an accepted stream.
  static Task<Result<AsyncTlsStream>> accept(AsyncTcpStream tcp, TlsContext context,
                                             Deadline deadline = {});

  /// Up to buf.size() bytes of plaintext; 0 after the peer's close_notify.
  Task<Result<std::size_t>> read_some(std::span<std::byte> buf, Deadline deadline = {});
  /// Encrypts at least one byte (at most 64 KiB) and sends it.
  Task<Result<std::size_t>> write_some(std::span<const std::byte> buf, Deadline deadline = {});
  /// Every byte of `buf` (which must stay valid until the task completes).
  Task<Status> write_all(std::span<const std::byte> buf, Deadline deadline = {});
  Task<Status> write_all(std::string_view text, Deadline deadline = {}) {
    return write_all(std::as_bytes(std::span(text.data(), text.size())), deadline);
  }
  /// Half-close: close_notify and FIN; reading goes on.
  Task<Status> shutdown(Deadline deadline = {});
  /// shutdown(), then waits for the peer's close_notify or end of stream until `deadline`, then
  /// closes the socket.
  Task<Status> close(Deadline deadline = std::chrono::seconds(2));

  const TlsInfo& info() const noexcept;
  /// The TCP stream under the TLS layer (for its endpoints and options; do not read or write it).
  AsyncTcpStream& tcp() noexcept;
  bool is_open() const noexcept;

 private:
  std::shared_ptr<detail::AsyncTlsState> s_;
};

}  // namespace tether

#pragma GCC visibility pop
