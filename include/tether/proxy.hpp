// tether/proxy.hpp: connecting through a SOCKS5, SOCKS4(a) or HTTP CONNECT proxy.
//
//   ProxyOptions p{.type = ProxyType::socks5, .host = "127.0.0.1", .port = "1080"};
//   auto stream = connect_via(p, "example.org", "443", Deadline(5s));   // a TcpStream to the target
//
// The handshake is a state machine (ProxyHandshake) that never reads past the proxy's reply, so
// bytes the target sends first (a banner) stay in the socket for the caller. connect_via() drives
// it on a blocking connection, connect_via_async() on an event loop.
// remote_dns (default): the proxy resolves the target name (SOCKS5 domain name, SOCKS4a, HTTP);
// otherwise tether resolves it first and sends the address.
// proxy_from_env(): ALL_PROXY / all_proxy (socks5://, socks5h://, socks4://, socks4a://, http://)
// unless NO_PROXY / no_proxy lists the target (names, .suffixes, "*").
// Errors: the proxy's refusal as the nearest std::errc (connection_refused, permission_denied for
// a refused authentication or HTTP 407, host_unreachable, network_unreachable, ...); a reply that
// is not the protocol: std::errc::protocol_error.
#pragma once

#include <tether/deadline.hpp>
#include <tether/endpoint.hpp>
#include <tether/error.hpp>
#include <tether/task.hpp>
#include <tether/tcp.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#pragma GCC visibility push(default)  // the public API (the shared library hides the rest)

namespace tether {

class EventLoop;
class AsyncTcpStream;

enum class ProxyType : std::uint8_t { socks5, socks4, http };

struct ProxyOptions {
  ProxyType type = ProxyType::socks5;
  std::string host;
  std::string port;
  std::string user;      ///< empty: no authentication
  std::string password;
  bool remote_dns = true;
};

/// "socks5", "socks4" or "http" (case-sensitive); nullopt otherwise.
std::optional<ProxyType> parse_proxy_type(std::string_view text);

/// The proxy from ALL_PROXY/all_proxy for `target_host`, or nullopt (unset, or NO_PROXY matches).
/// Errc::invalid_argument-like failure (std::errc::invalid_argument) for a URL it cannot use.
Result<std::optional<ProxyOptions>> proxy_from_env(std::string_view target_host);

class ProxyHandshake {
 public:
  enum class State : std::uint8_t { send, receive, done, failed };

  /// `resolved`: the target's address when the name is resolved locally (or is a literal).
  ProxyHandshake(const ProxyOptions& options, std::string_view host, std::uint16_t port,
                 std::optional<Endpoint> resolved = std::nullopt);

  State state() const noexcept { return state_; }
  /// State::send: the bytes to write now (then call sent()).
  std::string_view output() const noexcept { return out_; }
  void sent() noexcept;
  /// State::receive: how many bytes to read at most now (never past the reply).
  std::size_t wanted() const noexcept;
  /// State::receive: bytes read (at most wanted()).
  void feed(std::span<const std::byte> data);
  /// State::failed: why.
  std::error_code error() const noexcept { return error_; }
  /// The HTTP status line or SOCKS reply code, for messages.
  const std::string& detail() const noexcept { return detail_; }

 private:
  void fail_with(std::errc e, std::string why);
  void on_reply();
  void start_connect();

  ProxyOptions options_;
  std::string host_;
  std::uint16_t port_;
  std::optional<Endpoint> resolved_;
  State state_ = State::send;
  int step_ = 0;           // protocol-specific phase
  std::string out_;
  std::string in_;         // the reply so far
  std::size_t need_ = 0;   // bytes the current phase still needs (SOCKS)
  std::error_code error_;
  std::string detail_;
};

/// Connects to the proxy and through it to host:service, within `deadline`.
Result<TcpStream> connect_via(const ProxyOptions& proxy, std::string_view host, std::string_view service,
                              Deadline deadline = {});

/// The same on a loop.
Task<Result<AsyncTcpStream>> connect_via_async(EventLoop& loop, ProxyOptions proxy, std::string host,
                                               std::string service, Deadline deadline = {});

}  // namespace tether

#pragma GCC visibility pop
