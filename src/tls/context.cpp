// src/tls/context.cpp: TlsContext, an SSL_CTX set up secure by default (TLS >= 1.2, peer
// verification on the client, no renegotiation), ALPN, mTLS, pinning and SSLKEYLOGFILE.
#include "tls/engine.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>

namespace tether {

namespace {

using detail::TlsContextImpl;

/// SSLKEYLOGFILE: one file per process, opened on first use, lines appended under a lock.
void keylog_line(const SSL* /*ssl*/, const char* line) {
  static std::mutex mutex;
  static std::FILE* file = nullptr;
  std::lock_guard lock(mutex);
  if (file == nullptr) {
    const char* path = std::getenv("SSLKEYLOGFILE");
    if (path == nullptr || *path == '\0') return;
    file = std::fopen(path, "ae");
    if (file == nullptr) return;
  }
  std::fputs(line, file);
  std::fputc('\n', file);
  std::fflush(file);
}

Result<std::string> alpn_wire(const std::vector<std::string>& protocols) {
  std::string wire;
  for (const auto& p : protocols) {
    if (p.empty() || p.size() > 255) return fail(TlsErrc::bad_alpn);
    wire.push_back(static_cast<char>(p.size()));
    wire += p;
  }
  return wire;
}

int select_alpn(SSL* /*ssl*/, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned int inlen, void* arg) {
  const auto* impl = static_cast<const TlsContextImpl*>(arg);
  unsigned char* selected = nullptr;
  const auto* server = reinterpret_cast<const unsigned char*>(impl->alpn_wire.data());
  if (SSL_select_next_proto(&selected, outlen, server, static_cast<unsigned int>(impl->alpn_wire.size()),
                            in, inlen) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

int accept_any(int /*preverify*/, X509_STORE_CTX* /*store*/) { return 1; }

/// The certificate chain and key from PEM text.
Status use_identity(SSL_CTX* ctx, const TlsIdentity& id) {
  BIO* certs = BIO_new_mem_buf(id.cert_pem.data(), static_cast<int>(id.cert_pem.size()));
  if (certs == nullptr) return fail(TlsErrc::internal);
  X509* leaf = PEM_read_bio_X509(certs, nullptr, nullptr, nullptr);
  bool ok = leaf != nullptr && SSL_CTX_use_certificate(ctx, leaf) == 1;
  X509_free(leaf);
  while (ok) {  // the rest of the chain, if any
    X509* extra = PEM_read_bio_X509(certs, nullptr, nullptr, nullptr);
    if (extra == nullptr) break;
    if (SSL_CTX_ctrl(ctx, SSL_CTRL_CHAIN_CERT, 0, extra) != 1) {
      X509_free(extra);
      ok = false;
    }
  }
  BIO_free(certs);
  ERR_clear_error();
  if (!ok) return fail(TlsErrc::bad_cert_file);
  BIO* keys = BIO_new_mem_buf(id.key_pem.data(), static_cast<int>(id.key_pem.size()));
  if (keys == nullptr) return fail(TlsErrc::internal);
  EVP_PKEY* key = PEM_read_bio_PrivateKey(keys, nullptr, nullptr, nullptr);
  BIO_free(keys);
  ok = key != nullptr && SSL_CTX_use_PrivateKey(ctx, key) == 1;
  EVP_PKEY_free(key);
  if (!ok) {
    ERR_clear_error();
    return fail(key == nullptr ? TlsErrc::bad_key_file : TlsErrc::key_mismatch);
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    ERR_clear_error();
    return fail(TlsErrc::key_mismatch);
  }
  return {};
}

Result<std::shared_ptr<TlsContextImpl>> make_context(const TlsOptions& o, bool server) {
  auto impl = std::make_shared<TlsContextImpl>();
  impl->server = server;
  impl->verify = o.verify;
  impl->ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
  if (impl->ctx == nullptr) return fail(TlsErrc::internal);
  SSL_CTX* ctx = impl->ctx;
  SSL_CTX_ctrl(ctx, SSL_CTRL_SET_MIN_PROTO_VERSION, TLS1_2_VERSION, nullptr);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
  if (std::getenv("SSLKEYLOGFILE") != nullptr) SSL_CTX_set_keylog_callback(ctx, keylog_line);
  if (o.pin) {
    impl->has_pin = true;
    impl->pin = *o.pin;
  }
  if (o.identity) {
    if (auto st = use_identity(ctx, *o.identity); !st) return fail(st.error());
  } else if (server) {
    return fail(TlsErrc::bad_cert_file);
  }
  auto wire = alpn_wire(o.alpn);
  if (!wire) return fail(wire.error());
  if (server) {
    impl->alpn_wire = std::move(*wire);
    if (!impl->alpn_wire.empty()) SSL_CTX_set_alpn_select_cb(ctx, select_alpn, impl.get());
    if (!o.ca_file.empty()) {  // mTLS: require a client certificate signed by these CAs
      if (SSL_CTX_load_verify_locations(ctx, o.ca_file.c_str(), nullptr) != 1) {
        ERR_clear_error();
        return fail(TlsErrc::bad_ca_file);
      }
      if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(o.ca_file.c_str())) {
        SSL_CTX_set_client_CA_list(ctx, names);
      }
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    } else if (o.pin) {  // a pinned client certificate: any chain, checked by its hash
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, accept_any);
    }
    ERR_clear_error();
    return impl;
  }
  if (!wire->empty() &&
      SSL_CTX_set_alpn_protos(ctx, reinterpret_cast<const unsigned char*>(wire->data()),
                              static_cast<unsigned int>(wire->size())) != 0) {
    return fail(TlsErrc::internal);
  }
  if (o.verify && !o.pin) {
    const bool loaded = o.ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx) == 1
                                          : SSL_CTX_load_verify_locations(ctx, o.ca_file.c_str(), nullptr) == 1;
    if (!loaded) {
      ERR_clear_error();
      return fail(TlsErrc::bad_ca_file);
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  ERR_clear_error();
  return impl;
}

}  // namespace

Result<TlsContext> TlsContext::client(const TlsOptions& options) {
  auto impl = make_context(options, false);
  if (!impl) return fail(impl.error());
  TlsContext c;
  c.impl_ = std::move(*impl);
  return c;
}

Result<TlsContext> TlsContext::server(const TlsOptions& options) {
  auto impl = make_context(options, true);
  if (!impl) return fail(impl.error());
  TlsContext c;
  c.impl_ = std::move(*impl);
  return c;
}

bool TlsContext::is_server() const noexcept { return impl_ && impl_->server; }

}  // namespace tether
