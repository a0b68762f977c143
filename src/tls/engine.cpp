// src/tls/engine.cpp: TlsEngine, one SSL object between two memory BIOs.
#include "tls/engine.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <string>

namespace tether::detail {

namespace {

constexpr std::size_t max_write = 64 * 1024;

bool is_ip_literal(const std::string& name) {
  unsigned char buf[16];
  return ::inet_pton(AF_INET, name.c_str(), buf) == 1 || ::inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

/// An OpenSSL library reason as the TLS error it means.
TlsErrc reason_errc(int reason, bool handshake_done) noexcept {
  switch (reason) {
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
    case SSL_R_TLSV1_ALERT_DECRYPT_ERROR:
    case SSL_R_TLSV1_ALERT_ACCESS_DENIED:
      return TlsErrc::peer_rejected_certificate;
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
      return TlsErrc::peer_requires_certificate;
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
      return TlsErrc::no_peer_certificate;
    case SSL_R_NO_SHARED_CIPHER:
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
      return TlsErrc::no_common_protocol;
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_HTTP_REQUEST:
    case SSL_R_PACKET_LENGTH_TOO_LONG:
      return handshake_done ? TlsErrc::protocol_error : TlsErrc::not_tls;
    case SSL_R_UNEXPECTED_EOF_WHILE_READING:
      return TlsErrc::tls_truncated;
    default:
      return handshake_done ? TlsErrc::protocol_error : TlsErrc::handshake_failed;
  }
}

}  // namespace

TlsErrc verify_errc(long x509_error) noexcept {
  switch (x509_error) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CRL_HAS_EXPIRED:
      return TlsErrc::cert_expired;
    case X509_V_ERR_CERT_NOT_YET_VALID:
    case X509_V_ERR_CRL_NOT_YET_VALID:
      return TlsErrc::cert_not_yet_valid;
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
      return TlsErrc::self_signed;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_CERT_UNTRUSTED:
      return TlsErrc::unknown_ca;
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
    case X509_V_ERR_EMAIL_MISMATCH:
      return TlsErrc::name_mismatch;
    default:
      return TlsErrc::bad_certificate;
  }
}

TlsContextImpl::~TlsContextImpl() { SSL_CTX_free(ctx); }

Result<std::unique_ptr<TlsEngine>> TlsEngine::make(const TlsContext& context,
                                                   std::string_view server_name) {
  const TlsContextImpl* impl = context.impl();
  if (impl == nullptr) return fail(TlsErrc::internal);
  std::unique_ptr<TlsEngine> e(new TlsEngine());
  e->context_ = impl;
  e->ssl_ = SSL_new(impl->ctx);
  e->rbio_ = BIO_new(BIO_s_mem());
  e->wbio_ = BIO_new(BIO_s_mem());
  if (e->ssl_ == nullptr || e->rbio_ == nullptr || e->wbio_ == nullptr) {
    BIO_free(e->rbio_);
    BIO_free(e->wbio_);
    e->rbio_ = e->wbio_ = nullptr;
    return fail(TlsErrc::internal);
  }
  // An empty input BIO means "retry later", never end of file: the stream reports TCP's end.
  BIO_ctrl(e->rbio_, BIO_C_SET_BUF_MEM_EOF_RETURN, -1, nullptr);
  BIO_ctrl(e->wbio_, BIO_C_SET_BUF_MEM_EOF_RETURN, -1, nullptr);
  SSL_set_bio(e->ssl_, e->rbio_, e->wbio_);
  if (impl->server) {
    SSL_set_accept_state(e->ssl_);
  } else {
    SSL_set_connect_state(e->ssl_);
    const std::string name(server_name);
    const bool check = impl->verify && !impl->has_pin;
    if (!name.empty() && is_ip_literal(name)) {
      if (check && X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(e->ssl_), name.c_str()) != 1) {
        return fail(TlsErrc::internal);
      }
    } else if (!name.empty()) {
      if (SSL_ctrl(e->ssl_, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                   const_cast<char*>(name.c_str())) != 1) return fail(TlsErrc::internal);
      if (check && SSL_set1_host(e->ssl_, name.c_str()) != 1) return fail(TlsErrc::internal);
      e->sni_ = name;
    }
  }
  e->started_ = std::chrono::steady_clock::now();
  return e;
}

TlsEngine::~TlsEngine() { SSL_free(ssl_); }

void TlsEngine::feed(std::span<const std::byte> data) {
  while (!data.empty()) {
    const int chunk = static_cast<int>(std::min<std::size_t>(data.size(), 1 << 30));
    const int n = BIO_write(rbio_, data.data(), chunk);
    if (n <= 0) return;  // out of memory: the next read reports what is missing
    data = data.subspan(static_cast<std::size_t>(n));
  }
}

std::size_t TlsEngine::output_pending() const noexcept { return BIO_ctrl_pending(wbio_); }

std::size_t TlsEngine::take_output(std::span<std::byte> out) {
  if (out.empty() || output_pending() == 0) return 0;
  const int n = BIO_read(wbio_, out.data(), static_cast<int>(std::min<std::size_t>(out.size(), 1 << 30)));
  return n > 0 ? static_cast<std::size_t>(n) : 0;
}

std::error_code TlsEngine::error_from(int ret) {
  const int err = SSL_get_error(ssl_, ret);
  std::error_code ec;
  if (err == SSL_ERROR_SSL) {
    const long verify = SSL_get_verify_result(ssl_);
    const unsigned long lib_error = ERR_peek_last_error();
    const int reason = ERR_GET_REASON(lib_error);
    if (!done_ && verify != X509_V_OK && reason == SSL_R_CERTIFICATE_VERIFY_FAILED) {
      ec = make_error_code(verify_errc(verify));
    } else {
      ec = make_error_code(reason_errc(reason, done_));
    }
  } else {
    ec = make_error_code(done_ ? TlsErrc::protocol_error : TlsErrc::handshake_failed);
  }
  ERR_clear_error();
  return ec;
}

Status TlsEngine::check_pin() {
  if (!context_->has_pin) return {};
  X509* peer = SSL_get0_peer_certificate(ssl_);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (peer == nullptr || X509_digest(peer, EVP_sha256(), md, &len) != 1 || len != 32 ||
      std::memcmp(md, context_->pin.data(), 32) != 0) {
    return fail(TlsErrc::pin_mismatch);
  }
  return {};
}

Result<std::size_t> TlsEngine::handshake() {
  if (done_) return 0;
  ERR_clear_error();
  const int r = SSL_do_handshake(ssl_);
  if (r == 1) {
    done_ = true;
    handshake_time_ = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - started_);
    if (auto st = check_pin(); !st) return fail(st.error());
    return 0;
  }
  if (SSL_get_error(ssl_, r) == SSL_ERROR_WANT_READ) return need_input;
  return fail(error_from(r));
}

Result<std::size_t> TlsEngine::read(std::span<std::byte> buf) {
  if (buf.empty()) return 0;
  ERR_clear_error();
  std::size_t n = 0;
  const int r = SSL_read_ex(ssl_, buf.data(), buf.size(), &n);
  if (r == 1) return n;
  const int err = SSL_get_error(ssl_, r);
  if (err == SSL_ERROR_WANT_READ) return need_input;
  if (err == SSL_ERROR_ZERO_RETURN) return 0;
  return fail(error_from(r));
}

Result<std::size_t> TlsEngine::write(std::span<const std::byte> buf) {
  if (sent_close_notify()) return fail(TlsErrc::already_shut_down);
  if (buf.empty()) return 0;
  ERR_clear_error();
  std::size_t n = 0;
  const int r = SSL_write_ex(ssl_, buf.data(), std::min(buf.size(), max_write), &n);
  if (r == 1) return n;
  return fail(error_from(r));
}

bool TlsEngine::has_buffered() const noexcept { return SSL_pending(ssl_) > 0; }

bool TlsEngine::input_pending() const noexcept {
  return BIO_ctrl_pending(rbio_) > 0 || SSL_has_pending(ssl_) == 1;
}

Status TlsEngine::send_close_notify() {
  if (sent_close_notify()) return {};
  ERR_clear_error();
  if (SSL_shutdown(ssl_) < 0) {
    ERR_clear_error();
    // Before the handshake completed there is nothing to close: mark it sent all the same.
    SSL_set_shutdown(ssl_, SSL_get_shutdown(ssl_) | SSL_SENT_SHUTDOWN);
  }
  return {};
}

bool TlsEngine::sent_close_notify() const noexcept {
  return (SSL_get_shutdown(ssl_) & SSL_SENT_SHUTDOWN) != 0;
}

bool TlsEngine::received_close_notify() const noexcept {
  return (SSL_get_shutdown(ssl_) & SSL_RECEIVED_SHUTDOWN) != 0;
}

std::error_code TlsEngine::end_of_input() const noexcept {
  if (received_close_notify()) return {};
  return make_error_code(done_ ? TlsErrc::tls_truncated : TlsErrc::handshake_eof);
}

TlsInfo TlsEngine::info() const {
  TlsInfo i;
  i.version = SSL_get_version(ssl_);
  if (const char* c = SSL_get_cipher_name(ssl_)) i.cipher = c;
  const unsigned char* alpn = nullptr;
  unsigned int alpn_len = 0;
  SSL_get0_alpn_selected(ssl_, &alpn, &alpn_len);
  if (alpn != nullptr) i.alpn.assign(reinterpret_cast<const char*>(alpn), alpn_len);
  if (const char* sni = SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name)) i.sni = sni;
  if (X509* peer = SSL_get0_peer_certificate(ssl_)) {
    if (BIO* mem = BIO_new(BIO_s_mem())) {
      X509_NAME_print_ex(mem, X509_get_subject_name(peer), 0, XN_FLAG_RFC2253);
      char* data = nullptr;
      const long len = BIO_ctrl(mem, BIO_CTRL_INFO, 0, &data);
      if (len > 0) i.peer_subject.assign(data, static_cast<std::size_t>(len));
      BIO_free(mem);
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (X509_digest(peer, EVP_sha256(), md, &len) == 1 && len == 32) {
      Sha256 d;
      std::memcpy(d.data(), md, 32);
      i.peer_fingerprint = to_hex(d);
    }
  }
  i.handshake_time = handshake_time_;
  return i;
}

}  // namespace tether::detail
