// AsyncTlsStream on an EventLoop (re-run on io_uring as *.uring): echo with half-close, bulk
// integrity, verification failures, truncation, deadlines, cancellation, closing with a read pending.
#include "async_testing.hpp"
#include "tls_pki.hpp"

#include <tether/async_tls.hpp>
#include <tether/event_loop.hpp>
#include <tether/timer.hpp>
#include <tether/when.hpp>

#include <gtest/gtest.h>

#include <array>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using namespace tether;
namespace tt = tether::testing;

namespace {

TlsContext server_ctx(const tt::TestPki& pki, const std::string& name) {
  TlsOptions o;
  o.identity = pki.identity(name);
  return TlsContext::server(o).value();
}

TlsContext client_ctx(const tt::TestPki& pki) {
  TlsOptions o;
  o.ca_file = pki.cert("ca");
  return TlsContext::client(o).value();
}

/// Accepts one client and completes the server side of its handshake.
Task<Result<AsyncTlsStream>> accept_tls(AsyncTcpListener& listener, TlsContext ctx) {
  auto a = co_await listener.accept(10s);
  if (!a) co_return fail(a.error());
  co_return co_await AsyncTlsStream::accept(std::move(a->stream), std::move(ctx), 10s);
}

/// Accepts one client and echoes until its close_notify, then closes properly.
Task<Status> echo_server(AsyncTcpListener& listener, TlsContext ctx) {
  auto tls = co_await accept_tls(listener, std::move(ctx));
  if (!tls) co_return fail(tls.error());
  std::vector<std::byte> buf(16 * 1024);
  for (;;) {
    auto n = co_await tls->read_some(buf, 10s);
    if (!n) co_return fail(n.error());
    if (*n == 0) break;
    auto w = co_await tls->write_all(std::span(buf).first(*n), 10s);
    if (!w) co_return w;
  }
  co_return co_await tls->close(2s);
}

Task<Result<AsyncTlsStream>> dial(EventLoop& loop, Endpoint to, TlsContext ctx, std::string name) {
  auto tcp = co_await AsyncTcpStream::connect(loop, to, 5s);
  if (!tcp) co_return fail(tcp.error());
  co_return co_await AsyncTlsStream::connect(std::move(*tcp), std::move(ctx), std::move(name), 10s);
}

Task<Status> write_then_shutdown(AsyncTlsStream& s, const std::vector<std::byte>& data) {
  auto w = co_await s.write_all(data, 10s);
  if (!w) co_return w;
  co_return co_await s.shutdown(5s);
}

Task<Result<std::vector<std::byte>>> read_to_end(AsyncTlsStream& s) {
  std::vector<std::byte> out;
  std::array<std::byte, 8192> buf;
  for (;;) {
    auto n = co_await s.read_some(buf, 10s);
    if (!n) co_return fail(n.error());
    if (*n == 0) co_return out;
    out.insert(out.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*n));
  }
}

Task<std::error_code> read_error(AsyncTlsStream* s) {
  std::array<std::byte, 64> buf;
  auto n = co_await s->read_some(buf, 10s);
  co_return n ? std::error_code{} : n.error();
}

Task<Result<std::size_t>> destroy_later(std::optional<AsyncTlsStream>& s) {
  co_await sleep_for(50ms);
  s.reset();  // destroys the stream while the read waits
  co_return std::size_t{0};
}

struct Fixture {
  tt::TestPki pki;
  EventLoop loop;
  AsyncTcpListener listener = AsyncTcpListener::bind(loop, Endpoint::ipv4_loopback(0)).value();
  Endpoint at = *listener.local_endpoint();
};

}  // namespace

TEST(AsyncTls, echo_of_four_megabytes_with_half_close_is_byte_exact) {
  Fixture f;
  auto client = [](EventLoop& l, Endpoint to, TlsContext ctx) -> Task<bool> {
    auto s = co_await dial(l, to, std::move(ctx), "localhost");
    if (!s) {
      ADD_FAILURE() << s.error().message();
      co_return false;
    }
    EXPECT_EQ(s->info().version, "TLSv1.3");
    EXPECT_EQ(s->info().peer_subject, "CN=localhost");
    const auto data = tt::pattern_bytes(4 << 20, 3);
    auto [w, back] = co_await when_all(write_then_shutdown(*s, data), read_to_end(*s));
    co_return w.has_value() && back.has_value() && *back == data;
  };
  auto server = echo_server(f.listener, server_ctx(f.pki, "server"));
  auto [served, ok] = f.loop.run(when_all(std::move(server), client(f.loop, f.at, client_ctx(f.pki))));
  EXPECT_TRUE(ok);
  EXPECT_TRUE(served) << served.error().message();
}

TEST(AsyncTls, expired_and_misnamed_certificates_are_refused_by_reason) {
  Fixture f;
  auto attempt = [](EventLoop& l, AsyncTcpListener& listener, Endpoint to, TlsContext sctx,
                    TlsContext cctx, std::string name) -> Task<std::error_code> {
    auto [served, c] = co_await when_all(echo_server(listener, std::move(sctx)),
                                         dial(l, to, std::move(cctx), std::move(name)));
    EXPECT_FALSE(served);  // the client's alert ends the server's handshake
    co_return c ? std::error_code{} : c.error();
  };
  EXPECT_EQ(f.loop.run(attempt(f.loop, f.listener, f.at, server_ctx(f.pki, "expired"), client_ctx(f.pki), "localhost")),
            TlsErrc::cert_expired);
  EXPECT_EQ(f.loop.run(attempt(f.loop, f.listener, f.at, server_ctx(f.pki, "server"), client_ctx(f.pki), "other.example")),
            TlsErrc::name_mismatch);
}

TEST(AsyncTls, peer_closing_without_close_notify_is_truncation) {
  Fixture f;
  auto server = [](AsyncTcpListener& listener, TlsContext ctx) -> Task<void> {
    auto tls = co_await accept_tls(listener, std::move(ctx));
    if (!tls) co_return;
    (void)co_await tls->write_all("cut", 5s);
    tls->tcp().close();  // no close_notify
  };
  auto client = [](EventLoop& l, Endpoint to, TlsContext ctx) -> Task<std::error_code> {
    auto s = co_await dial(l, to, std::move(ctx), "localhost");
    if (!s) co_return s.error();
    auto all = co_await read_to_end(*s);
    co_return all ? std::error_code{} : all.error();
  };
  auto [_, ec] = f.loop.run(when_all(server(f.listener, server_ctx(f.pki, "server")),
                                     client(f.loop, f.at, client_ctx(f.pki))));
  EXPECT_EQ(ec, TlsErrc::tls_truncated);
}

TEST(AsyncTls, deadline_and_cancellation_end_a_pending_read) {
  Fixture f;
  auto server = [](AsyncTcpListener& listener, TlsContext ctx) -> Task<void> {
    auto tls = co_await accept_tls(listener, std::move(ctx));
    if (!tls) co_return;
    std::array<std::byte, 64> buf;
    (void)co_await tls->read_some(buf, 10s);  // until the client's close_notify
    (void)co_await tls->close(1s);
  };
  auto client = [](EventLoop& l, Endpoint to, TlsContext ctx) -> Task<bool> {
    auto s = co_await dial(l, to, std::move(ctx), "localhost");
    if (!s) co_return false;
    std::array<std::byte, 64> buf;
    auto timed = co_await s->read_some(buf, 100ms);
    EXPECT_EQ(timed.error(), std::errc::timed_out);
    auto raced = co_await when_any(s->read_some(buf), [](EventLoop&) -> Task<Result<std::size_t>> {
      co_await sleep_for(50ms);
      co_return std::size_t{0};
    }(l));
    EXPECT_EQ(raced.index(), 1u);  // the sleep won; the read was cancelled
    auto still = co_await s->write_all("after", 5s);  // the stream works after a cancelled read
    EXPECT_TRUE(still);
    co_return (co_await s->close(2s)).has_value();
  };
  auto [_, ok] = f.loop.run(when_all(server(f.listener, server_ctx(f.pki, "server")),
                                     client(f.loop, f.at, client_ctx(f.pki))));
  EXPECT_TRUE(ok);
}

TEST(AsyncTls, destroying_the_stream_ends_a_pending_read_with_closed) {
  Fixture f;
  auto server = [](AsyncTcpListener& listener, TlsContext ctx) -> Task<void> {
    auto tls = co_await accept_tls(listener, std::move(ctx));
    if (!tls) co_return;
    co_await sleep_for(300ms);
  };
  auto client = [](EventLoop& l, Endpoint to, TlsContext ctx) -> Task<std::error_code> {
    auto s = co_await dial(l, to, std::move(ctx), "localhost");
    if (!s) co_return s.error();
    std::optional<AsyncTlsStream> held(std::move(*s));
    auto [ec, _] = co_await when_all(read_error(&*held), destroy_later(held));
    co_return ec;
  };
  auto [_, ec] = f.loop.run(when_all(server(f.listener, server_ctx(f.pki, "server")),
                                     client(f.loop, f.at, client_ctx(f.pki))));
  EXPECT_EQ(ec, Errc::closed);
}
