// src/tls/engine.hpp: one TLS connection's state machine over two memory BIOs, with no I/O of its
// own. The caller moves ciphertext: what arrives from the network goes in with feed(), what the
// engine produced (handshake messages, records, alerts) comes out with take_output(). The sync
// TlsStream, AsyncTlsStream and the fuzz target drive the same engine.
//
//   network --feed()--> [rbio] --SSL--> read() plaintext
//   write() plaintext --SSL--> [wbio] --take_output()--> network
//
// Threads: one at a time (the streams serialize their calls).
#pragma once

#include <tether/error.hpp>
#include <tether/tls.hpp>

#include <openssl/ssl.h>

#include <chrono>
#include <cstddef>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace tether::detail {

struct TlsContextImpl {
  SSL_CTX* ctx = nullptr;
  bool server = false;
  bool verify = true;
  bool has_pin = false;
  Sha256 pin{};
  std::string alpn_wire;  // the server's ALPN list, in wire format
  ~TlsContextImpl();
};

class TlsEngine {
 public:
  /// read()/handshake(): more ciphertext must be fed first.
  static constexpr std::size_t need_input = std::numeric_limits<std::size_t>::max();

  static Result<std::unique_ptr<TlsEngine>> make(const TlsContext& context, std::string_view server_name);
  ~TlsEngine();
  TlsEngine(const TlsEngine&) = delete;
  TlsEngine& operator=(const TlsEngine&) = delete;

  /// Ciphertext from the network.
  void feed(std::span<const std::byte> data);
  /// Bytes waiting to be sent.
  std::size_t output_pending() const noexcept;
  /// Moves up to out.size() bytes of ciphertext into `out`; returns how many.
  std::size_t take_output(std::span<std::byte> out);

  /// Advances the handshake: 0 when it is complete, need_input, or the reason it failed.
  Result<std::size_t> handshake();
  bool handshake_done() const noexcept { return done_; }
  /// Plaintext: n > 0, 0 after the peer's close_notify, need_input, or an error.
  Result<std::size_t> read(std::span<std::byte> buf);
  /// Encrypts up to 64 KiB of `buf` into the output; returns how many bytes it took.
  Result<std::size_t> write(std::span<const std::byte> buf);
  /// Plaintext decrypted and not yet read.
  bool has_buffered() const noexcept;
  /// Input read() could use without more ciphertext (fed bytes not yet decrypted, or plaintext).
  bool input_pending() const noexcept;
  /// Queues close_notify (once).
  Status send_close_notify();
  bool sent_close_notify() const noexcept;
  bool received_close_notify() const noexcept;
  /// The TCP stream ended: the error to report (handshake_eof / tls_truncated), or {} after
  /// close_notify.
  std::error_code end_of_input() const noexcept;

  /// Filled once the handshake is complete.
  TlsInfo info() const;

 private:
  TlsEngine() = default;
  std::error_code error_from(int ret);
  Status check_pin();
  SSL* ssl_ = nullptr;
  BIO* rbio_ = nullptr;  // owned by ssl_
  BIO* wbio_ = nullptr;  // owned by ssl_
  const TlsContextImpl* context_ = nullptr;
  std::string sni_;
  bool done_ = false;
  std::chrono::steady_clock::time_point started_;
  std::chrono::microseconds handshake_time_{0};
};

/// The reason an OpenSSL verification result names (X509_V_ERR_*).
TlsErrc verify_errc(long x509_error) noexcept;

}  // namespace tether::detail
