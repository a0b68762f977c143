// tether/tls.hpp: TLS (OpenSSL 3) over TcpStream, secure by default.
//
//   auto ctx = TlsContext::client({}).value();                  // system trust store, TLS >= 1.2
//   auto tcp = TcpStream::connect("example.org", "443").value();
//   auto tls = TlsStream::connect(std::move(tcp), ctx, "example.org", 5s).value();
//   tls.write_all("GET / HTTP/1.1\r\n...");
//   ... tls.read_some(buf) ...                                  // 0: the peer's close_notify
//   tls.close(1s);                                              // close_notify, bounded wait
//
// A client sets SNI and verifies the server's certificate chain and name (IP SANs for an IP
// literal) from the name given to connect(); a failure is a TlsErrc naming the reason (expired,
// unknown CA, name mismatch...). A peer that closes the TCP connection without close_notify makes
// read_some() fail with TlsErrc::tls_truncated: never a silent clean end of stream.
// SSLKEYLOGFILE, when set in the environment, receives the session keys (NSS key log format).
// The record layer runs over memory BIOs (src/tls/engine.hpp): the same engine serves this
// synchronous stream and AsyncTlsStream (async_tls.hpp) on either event-loop backend.
// Threads: a TlsContext is immutable once made and may be shared by any threads. A TlsStream may
// be read from one thread while written from another (like TcpStream); otherwise one at a time.
#pragma once

#include <tether/deadline.hpp>
#include <tether/error.hpp>
#include <tether/socket.hpp>
#include <tether/tcp.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#pragma GCC visibility push(default)  // the public API (the shared library hides the rest)

namespace tether {

/// TLS failures. Each value names the reason, for a one-line message.
enum class TlsErrc {
  handshake_failed = 1,      ///< the handshake failed for another reason (see the message)
  cert_expired,              ///< the peer's certificate (or one in its chain) has expired
  cert_not_yet_valid,        ///< ... is not valid yet
  unknown_ca,                ///< the chain does not lead to a trusted CA
  self_signed,               ///< the peer's certificate is self-signed and not trusted
  name_mismatch,             ///< the certificate is not for the name (or IP) connected to
  bad_certificate,           ///< the certificate failed verification for another reason
  pin_mismatch,              ///< the certificate's SHA-256 is not the pinned one
  no_peer_certificate,       ///< a client certificate is required and none was sent
  peer_rejected_certificate, ///< the peer refused our certificate (or sent none it accepts)
  peer_requires_certificate, ///< the server requires a client certificate
  no_common_protocol,        ///< no TLS version or cipher both sides accept
  not_tls,                   ///< the peer does not speak TLS
  handshake_eof,             ///< the peer closed the connection during the handshake
  tls_truncated,             ///< the peer closed without close_notify (possible truncation attack)
  protocol_error,            ///< a record failed to decrypt or parse after the handshake
  already_shut_down,         ///< a write after shutdown()
  bad_cert_file,             ///< the certificate file (PEM) cannot be read
  bad_key_file,              ///< the private key file (PEM) cannot be read
  key_mismatch,              ///< the private key does not belong to the certificate
  bad_ca_file,               ///< the CA file cannot be read
  bad_pin,                   ///< a pin is not "sha256:" and 64 hex digits
  bad_alpn,                  ///< an ALPN protocol name is empty or longer than 255 bytes
  internal,                  ///< OpenSSL failed (out of memory...)
};

const std::error_category& tls_category() noexcept;
std::error_code make_error_code(TlsErrc e) noexcept;
inline std::unexpected<std::error_code> fail(TlsErrc e) noexcept {
  return std::unexpected(make_error_code(e));
}

/// A SHA-256 certificate fingerprint.
using Sha256 = std::array<std::uint8_t, 32>;

/// "sha256:" and 64 hex digits (colons between bytes allowed) as a fingerprint.
Result<Sha256> parse_pin(std::string_view text);
/// 64 lowercase hex digits.
std::string to_hex(const Sha256& digest);

/// A certificate and its private key, as PEM text.
struct TlsIdentity {
  std::string cert_pem;
  std::string key_pem;

  /// Reads both PEM files (checked when a context is made).
  static Result<TlsIdentity> load(const std::string& cert_file, const std::string& key_file);
  /// A fresh self-signed ECDSA P-256 certificate, valid from an hour ago for 30 days, for the
  /// given DNS names and IP addresses (SANs; the first name is also the subject CN).
  static Result<TlsIdentity> ephemeral(const std::vector<std::string>& names = {"localhost", "127.0.0.1", "::1"});
  /// The SHA-256 of the certificate (DER).
  Result<Sha256> fingerprint() const;
};

struct TlsOptions {
  /// Trusted CAs (PEM file) for verifying the peer; empty: the system trust store (client) or
  /// none (server). A server with a CA file requires and verifies client certificates (mTLS).
  std::string ca_file;
  /// This side's certificate: required on a server, optional on a client (mTLS).
  std::optional<TlsIdentity> identity;
  /// Client only: false skips every check of the server's certificate (--insecure).
  bool verify = true;
  /// Trust exactly the certificate with this SHA-256 (the chain and name are not checked).
  std::optional<Sha256> pin;
  /// ALPN protocols in order of preference ("h2", "http/1.1"). A server picks the first of its
  /// own list that the client offers, and goes on without ALPN when there is none.
  std::vector<std::string> alpn;
};

namespace detail {
struct __attribute__((visibility("hidden"))) TlsContextImpl;  // private to the library
class __attribute__((visibility("hidden"))) TlsEngine;
}  // namespace detail

/// Settings and certificates shared by many connections (an SSL_CTX). Cheap to copy (shared).
class TlsContext {
 public:
  TlsContext() noexcept = default;
  static Result<TlsContext> client(const TlsOptions& options);
  static Result<TlsContext> server(const TlsOptions& options);

  bool is_server() const noexcept;
  bool valid() const noexcept { return impl_ != nullptr; }
  const detail::TlsContextImpl* impl() const noexcept { return impl_.get(); }

 private:
  std::shared_ptr<detail::TlsContextImpl> impl_;
};

/// What the handshake settled, for logs and events.
struct TlsInfo {
  std::string version;           ///< "TLSv1.3"
  std::string cipher;            ///< "TLS_AES_256_GCM_SHA384"
  std::string alpn;              ///< empty: none
  std::string sni;               ///< the server name the client sent (empty: none)
  std::string peer_subject;      ///< the peer certificate's subject, one line; empty: none
  std::string peer_fingerprint;  ///< its SHA-256 in hex; empty: none
  std::chrono::microseconds handshake_time{0};
};

/// A TLS connection over a TcpStream (which it owns). Blocking calls take a Deadline like
/// TcpStream's; read_some returns 0 only after the peer's close_notify.
class TlsStream {
 public:
  TlsStream() noexcept;
  TlsStream(TlsStream&&) noexcept;
  TlsStream& operator=(TlsStream&&) noexcept;
  ~TlsStream();

  /// Client handshake. `server_name` gives SNI and the name verified (an IP literal: the IP SAN,
  /// no SNI); empty: neither. On failure the TCP stream is closed.
  static Result<TlsStream> connect(TcpStream tcp, const TlsContext& context,
                                   std::string_view server_name, Deadline deadline = {});
  /// Server handshake on an accepted stream.
  static Result<TlsStream> accept(TcpStream tcp, const TlsContext& context, Deadline deadline = {});

  Result<std::size_t> read_some(std::span<std::byte> buf, Deadline deadline = {});
  Result<std::size_t> read_some(std::span<char> buf, Deadline deadline = {}) {
    return read_some(std::as_writable_bytes(buf), deadline);
  }
  Result<std::size_t> write_some(std::span<const std::byte> buf, Deadline deadline = {});
  Status read_exact(std::span<std::byte> buf, Deadline deadline = {});
  Status read_exact(std::span<char> buf, Deadline deadline = {}) {
    return read_exact(std::as_writable_bytes(buf), deadline);
  }
  Status write_all(std::span<const std::byte> buf, Deadline deadline = {});
  Status write_all(std::string_view text, Deadline deadline = {}) {
    return write_all(std::as_bytes(std::span(text.data(), text.size())), deadline);
  }
  /// Plaintext already decrypted and waiting: a read_some now would not block.
  bool has_buffered() const noexcept;

  /// Half-close: sends close_notify and FIN; reading goes on until the peer's close_notify.
  Status shutdown(Deadline deadline = {});
  /// shutdown(), then waits (at most until `deadline`) for the peer's close_notify or end of
  /// stream, discarding data, and closes the socket. Bounded: never hangs on a silent peer.
  Status close(Deadline deadline = std::chrono::seconds(2));

  const TlsInfo& info() const noexcept { return info_; }
  TcpStream& tcp() noexcept { return tcp_; }
  const TcpStream& tcp() const noexcept { return tcp_; }
  bool is_open() const noexcept { return tcp_.is_open(); }

 private:
  struct Locks;
  static Result<TlsStream> handshake(TcpStream tcp, std::unique_ptr<detail::TlsEngine> engine,
                                     Deadline deadline);
  Status flush(Deadline deadline);
  Status flush_locked(Deadline deadline);
  TcpStream tcp_;
  std::unique_ptr<detail::TlsEngine> engine_;
  std::unique_ptr<Locks> locks_;
  TlsInfo info_;
};

}  // namespace tether

template <>
struct std::is_error_code_enum<tether::TlsErrc> : std::true_type {};

#pragma GCC visibility pop
