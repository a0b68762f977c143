// TlsStream (synchronous) on loopback: verification outcomes named by reason, pinning, mTLS,
// ALPN/SNI, truncation versus close_notify, half-close, deadlines, SSLKEYLOGFILE, bulk integrity.
#include "testing.hpp"
#include "tls_pki.hpp"

#include <tether/tls.hpp>

#include <gtest/gtest.h>

#include <array>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>

using namespace std::chrono_literals;
using namespace tether;
namespace tt = tether::testing;

namespace {

/// A listener with one server-side handler thread, joined at the end.
class TlsServer {
 public:
  TlsServer(TlsContext ctx, std::function<void(Result<TlsStream>)> handler) {
    auto l = TcpListener::bind(Endpoint::ipv4_loopback(0));
    EXPECT_TRUE(l);
    listener_ = std::move(*l);
    port_ = listener_.local_endpoint()->port();
    thread_ = std::thread([this, ctx = std::move(ctx), handler = std::move(handler)] {
      auto a = listener_.accept(10s);
      if (!a) return handler(fail(a.error()));
      handler(TlsStream::accept(std::move(a->stream), ctx, 10s));
    });
  }
  ~TlsServer() { thread_.join(); }
  std::uint16_t port() const { return port_; }

 private:
  TcpListener listener_;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

TlsContext server_ctx(const tt::TestPki& pki, const std::string& name, TlsOptions o = {}) {
  o.identity = pki.identity(name);
  auto c = TlsContext::server(o);
  EXPECT_TRUE(c) << c.error().message();
  return c ? *c : TlsContext{};
}

TlsContext client_ctx(TlsOptions o) {
  auto c = TlsContext::client(o);
  EXPECT_TRUE(c) << c.error().message();
  return c ? *c : TlsContext{};
}

Result<TlsStream> dial(std::uint16_t port, const TlsContext& ctx, std::string_view name) {
  auto tcp = TcpStream::connect(Endpoint::ipv4_loopback(port), 5s);
  if (!tcp) return fail(tcp.error());
  return TlsStream::connect(std::move(*tcp), ctx, name, 10s);
}

/// Server that answers one line "hello" and closes properly.
void greet(Result<TlsStream> s) {
  if (!s) return;
  (void)s->write_all("hello\n", 5s);
  (void)s->close(2s);
}

std::error_code client_error(const tt::TestPki& pki, const std::string& server_cert,
                             std::string_view name, TlsOptions o) {
  TlsServer server(server_ctx(pki, server_cert), [](Result<TlsStream> s) { greet(std::move(s)); });
  auto c = dial(server.port(), client_ctx(o), name);
  if (!c) return c.error();
  std::array<char, 16> buf;
  auto n = c->read_some(buf, 5s);
  return n ? std::error_code{} : n.error();
}

}  // namespace

TEST(TlsStream, verified_handshake_reports_version_cipher_alpn_sni_and_peer) {
  tt::TestPki pki;
  TlsOptions so;
  so.alpn = {"h2", "echo/1"};
  std::string server_sni;
  TlsServer server(server_ctx(pki, "server", so), [&](Result<TlsStream> s) {
    ASSERT_TRUE(s) << s.error().message();
    server_sni = s->info().sni;
    EXPECT_EQ(s->info().alpn, "echo/1");
    std::array<char, 64> buf;
    auto n = s->read_some(buf, 5s);
    ASSERT_TRUE(n && *n > 0);
    ASSERT_TRUE(s->write_all(std::string_view(buf.data(), *n), 5s));
    (void)s->close(2s);
  });
  TlsOptions co;
  co.ca_file = pki.cert("ca");
  co.alpn = {"echo/1", "http/1.1"};
  auto c = dial(server.port(), client_ctx(co), "localhost");
  ASSERT_TRUE(c) << c.error().message();
  const TlsInfo& i = c->info();
  EXPECT_EQ(i.version, "TLSv1.3");
  EXPECT_FALSE(i.cipher.empty());
  EXPECT_EQ(i.alpn, "echo/1");
  EXPECT_EQ(i.peer_subject, "CN=localhost");
  EXPECT_EQ(i.peer_fingerprint, to_hex(*pki.identity("server").fingerprint()));
  ASSERT_TRUE(c->write_all("ping", 5s));
  std::array<char, 16> buf;
  ASSERT_TRUE(c->read_exact(std::span(buf.data(), 4), 5s));
  EXPECT_EQ(std::string_view(buf.data(), 4), "ping");
  auto end = c->read_some(buf, 5s);
  ASSERT_TRUE(end) << end.error().message();
  EXPECT_EQ(*end, 0u);  // close_notify: a clean end
  (void)c->close(1s);
  EXPECT_EQ(server_sni, "localhost");
}

TEST(TlsStream, client_names_the_reason_a_certificate_is_refused) {
  tt::TestPki pki;
  TlsOptions co;
  co.ca_file = pki.cert("ca");
  EXPECT_EQ(client_error(pki, "expired", "localhost", co), TlsErrc::cert_expired);
  EXPECT_EQ(client_error(pki, "not-yet-valid", "localhost", co), TlsErrc::cert_not_yet_valid);
  EXPECT_EQ(client_error(pki, "wrong-name", "localhost", co), TlsErrc::name_mismatch);
  EXPECT_EQ(client_error(pki, "self-signed", "localhost", co), TlsErrc::self_signed);
  EXPECT_EQ(client_error(pki, "server", "127.0.0.2", co), TlsErrc::name_mismatch);  // IP SAN
  EXPECT_EQ(client_error(pki, "server", "127.0.0.1", co), std::error_code{});
  TlsOptions other;
  other.ca_file = pki.cert("other-ca");
  EXPECT_EQ(client_error(pki, "server", "localhost", other), TlsErrc::unknown_ca);
  TlsOptions system;  // the system store does not know the test CA
  EXPECT_EQ(client_error(pki, "server", "localhost", system), TlsErrc::unknown_ca);
}

TEST(TlsStream, insecure_client_accepts_what_verification_refuses) {
  tt::TestPki pki;
  TlsOptions co;
  co.verify = false;
  for (const char* cert : {"expired", "wrong-name", "self-signed"}) {
    EXPECT_EQ(client_error(pki, cert, "localhost", co), std::error_code{}) << cert;
  }
}

TEST(TlsStream, pin_trusts_exactly_that_certificate) {
  tt::TestPki pki;
  TlsOptions pinned;
  pinned.pin = *pki.identity("self-signed").fingerprint();
  EXPECT_EQ(client_error(pki, "self-signed", "localhost", pinned), std::error_code{});
  EXPECT_EQ(client_error(pki, "server", "localhost", pinned), TlsErrc::pin_mismatch);
  EXPECT_EQ(parse_pin("sha256:" + to_hex(*pinned.pin)).value(), *pinned.pin);
  EXPECT_EQ(parse_pin("sha1:00").error(), TlsErrc::bad_pin);
  EXPECT_EQ(parse_pin("sha256:abcd").error(), TlsErrc::bad_pin);
}

TEST(TlsStream, mutual_tls_accepts_a_known_client_and_refuses_others) {
  tt::TestPki pki;
  TlsOptions so;
  so.ca_file = pki.cert("ca");
  auto run = [&](std::optional<std::string> client_cert, std::error_code& server_err) {
    TlsServer server(server_ctx(pki, "server", so), [&](Result<TlsStream> s) {
      if (!s) {
        server_err = s.error();
        return;
      }
      EXPECT_EQ(s->info().peer_subject, "CN=client");
      greet(std::move(s));
    });
    TlsOptions co;
    co.ca_file = pki.cert("ca");
    if (client_cert) co.identity = pki.identity(*client_cert);
    auto c = dial(server.port(), client_ctx(co), "localhost");
    if (!c) return c.error();
    std::array<char, 16> buf;
    auto n = c->read_some(buf, 5s);  // TLS 1.3: the server's verdict arrives after the handshake
    return n ? std::error_code{} : n.error();
  };
  std::error_code server_err;
  EXPECT_EQ(run("client", server_err), std::error_code{});
  EXPECT_FALSE(server_err);
  EXPECT_EQ(run(std::nullopt, server_err), TlsErrc::peer_requires_certificate);
  EXPECT_EQ(server_err, TlsErrc::no_peer_certificate);
  EXPECT_EQ(run("stranger", server_err), TlsErrc::peer_rejected_certificate);
  EXPECT_EQ(server_err, TlsErrc::unknown_ca);
}

TEST(TlsStream, close_without_close_notify_is_truncation_not_end_of_stream) {
  tt::TestPki pki;
  TlsServer server(server_ctx(pki, "server"), [](Result<TlsStream> s) {
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->write_all("partial", 5s));
    s->tcp().close();  // FIN with no close_notify
  });
  TlsOptions co;
  co.ca_file = pki.cert("ca");
  auto c = dial(server.port(), client_ctx(co), "localhost");
  ASSERT_TRUE(c);
  std::array<char, 7> buf;
  ASSERT_TRUE(c->read_exact(std::span<char>(buf), 5s));
  auto n = c->read_some(buf, 5s);
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error(), TlsErrc::tls_truncated);
}

TEST(TlsStream, half_close_lets_the_peer_answer_after_our_close_notify) {
  tt::TestPki pki;
  TlsServer server(server_ctx(pki, "server"), [](Result<TlsStream> s) {
    ASSERT_TRUE(s);
    std::string got;
    std::array<char, 64> buf;
    for (;;) {  // read until the client's close_notify
      auto n = s->read_some(buf, 5s);
      ASSERT_TRUE(n) << n.error().message();
      if (*n == 0) break;
      got.append(buf.data(), *n);
    }
    ASSERT_TRUE(s->write_all("got:" + got, 5s));
    (void)s->close(2s);
  });
  TlsOptions co;
  co.ca_file = pki.cert("ca");
  auto c = dial(server.port(), client_ctx(co), "localhost");
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->write_all("question", 5s));
  ASSERT_TRUE(c->shutdown(5s));
  EXPECT_EQ(c->write_all("more", 1s).error(), TlsErrc::already_shut_down);
  std::string answer;
  std::array<char, 64> buf;
  for (;;) {
    auto n = c->read_some(buf, 5s);
    ASSERT_TRUE(n) << n.error().message();
    if (*n == 0) break;
    answer.append(buf.data(), *n);
  }
  EXPECT_EQ(answer, "got:question");
}

TEST(TlsStream, read_deadline_passes_on_a_silent_peer_and_close_is_bounded) {
  tt::TestPki pki;
  std::atomic<bool> done{false};
  TlsServer server(server_ctx(pki, "server"), [&](Result<TlsStream> s) {
    ASSERT_TRUE(s);
    for (int i = 0; i < 200 && !done; ++i) std::this_thread::sleep_for(50ms);  // silent, never closes
  });
  TlsOptions co;
  co.ca_file = pki.cert("ca");
  auto c = dial(server.port(), client_ctx(co), "localhost");
  ASSERT_TRUE(c);
  std::array<char, 16> buf;
  auto n = c->read_some(buf, 200ms);
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error(), std::errc::timed_out);
  EXPECT_TRUE(c->close(300ms));  // the peer never answers close_notify: close still returns
  EXPECT_FALSE(c->is_open());
  done = true;
}

TEST(TlsStream, ten_megabytes_each_way_arrive_byte_exact) {
  tt::TestPki pki;
  const auto data = tt::pattern_bytes(10 << 20, 7);
  TlsServer server(server_ctx(pki, "server"), [&](Result<TlsStream> s) {
    ASSERT_TRUE(s);
    std::vector<std::byte> got(data.size());
    ASSERT_TRUE(s->read_exact(got, 30s));
    EXPECT_TRUE(got == data);
    ASSERT_TRUE(s->write_all(got, 30s));
    (void)s->close(5s);
  });
  TlsOptions co;
  co.ca_file = pki.cert("ca");
  auto c = dial(server.port(), client_ctx(co), "localhost");
  ASSERT_TRUE(c);
  std::vector<std::byte> back(data.size());
  std::thread writer([&] { EXPECT_TRUE(c->write_all(data, 30s)); });  // one writer, one reader
  EXPECT_TRUE(c->read_exact(back, 30s));
  writer.join();
  EXPECT_TRUE(back == data);
}

TEST(TlsStream, sslkeylogfile_receives_the_session_secrets) {
  tt::TestPki pki;
  tt::TempPath log("keylog");
  ::setenv("SSLKEYLOGFILE", log.str().c_str(), 1);
  TlsOptions co;
  co.ca_file = pki.cert("ca");
  EXPECT_EQ(client_error(pki, "server", "localhost", co), std::error_code{});
  ::unsetenv("SSLKEYLOGFILE");
  const std::string text = tt::read_text_file(log.str());
  EXPECT_NE(text.find("CLIENT_HANDSHAKE_TRAFFIC_SECRET "), std::string::npos) << text;
  EXPECT_NE(text.find("SERVER_TRAFFIC_SECRET_0 "), std::string::npos);
}

TEST(TlsStream, plain_tcp_peer_is_reported_as_not_tls) {
  auto l = TcpListener::bind(Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(l);
  std::thread peer([&] {
    auto a = l->accept(5s);
    if (!a) return;
    (void)a->stream.write_all("HTTP/1.0 400 Bad Request\r\n\r\n", 5s);
    std::array<char, 4096> sink;
    (void)a->stream.read_some(sink, 2s);
  });
  auto c = dial(l->local_endpoint()->port(), client_ctx({}), "localhost");
  peer.join();
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error(), TlsErrc::not_tls) << c.error().message();
}

TEST(TlsStream, contexts_refuse_unreadable_or_mismatched_files) {
  tt::TestPki pki;
  EXPECT_EQ(TlsIdentity::load(pki.cert("server"), pki.dir() + "/missing.key").error(), TlsErrc::bad_key_file);
  TlsOptions o;
  o.identity = TlsIdentity{pki.identity("server").cert_pem, pki.identity("client").key_pem};
  EXPECT_EQ(TlsContext::server(o).error(), TlsErrc::key_mismatch);
  EXPECT_EQ(TlsContext::server({}).error(), TlsErrc::bad_cert_file);
  TlsOptions bad_ca;
  bad_ca.ca_file = pki.dir() + "/missing.pem";
  EXPECT_EQ(TlsContext::client(bad_ca).error(), TlsErrc::bad_ca_file);
  TlsOptions bad_alpn;
  bad_alpn.alpn = {""};
  EXPECT_EQ(TlsContext::client(bad_alpn).error(), TlsErrc::bad_alpn);
}

TEST(TlsStream, ephemeral_identity_serves_and_its_fingerprint_pins_it) {
  auto id = TlsIdentity::ephemeral();
  ASSERT_TRUE(id);
  auto fp = id->fingerprint();
  ASSERT_TRUE(fp);
  TlsOptions so;
  so.identity = *id;
  auto sctx = TlsContext::server(so);
  ASSERT_TRUE(sctx);
  TlsServer server(*sctx, [](Result<TlsStream> s) { greet(std::move(s)); });
  TlsOptions co;
  co.pin = *fp;
  auto c = dial(server.port(), client_ctx(co), "localhost");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->info().peer_fingerprint, to_hex(*fp));
  EXPECT_EQ(c->info().peer_subject, "CN=localhost");
  std::array<char, 6> buf;
  EXPECT_TRUE(c->read_exact(std::span<char>(buf), 5s));
}
