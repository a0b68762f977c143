// tether::Server with ServerOptions::tls (re-run on io_uring as *.uring, whose 4 KiB lent buffers
// split every full record across reads): echo integrity with many clients, close_notify at the
// handler's end, the "tls" callback, truncation and handshake failures as "closed" events.
#include "server_testing.hpp"
#include "tls_pki.hpp"

#include <tether/server.hpp>
#include <tether/tcp.hpp>
#include <tether/tls.hpp>

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using namespace tether;
namespace tt = tether::testing;

namespace {

struct Recorder {
  std::mutex m;
  std::vector<ServerEvent> closed;
  std::atomic<int> handshakes{0};
  std::vector<ServerEvent> closed_events() {
    std::lock_guard lock(m);
    return closed;
  }
};

ServerOptions tls_options(const tt::TestPki& pki, Recorder& rec, std::size_t threads = 1) {
  ServerOptions o;
  o.address = Endpoint::ipv4_loopback(0);
  o.threads = threads;
  o.handle_signals = false;
  TlsOptions t;
  t.identity = pki.identity("server");
  o.tls = TlsContext::server(t).value();
  o.on_tls = [&rec](const TlsInfo& info, const Endpoint& peer) {
    if (!info.cipher.empty() && peer.is_ip()) ++rec.handshakes;
  };
  o.on_event = [&rec](const ServerEvent& ev) {
    if (ev.kind != ServerEvent::Kind::closed) return;
    std::lock_guard lock(rec.m);
    rec.closed.push_back(ev);
  };
  return o;
}

TlsContext client_ctx(const tt::TestPki& pki) {
  TlsOptions o;
  o.ca_file = pki.cert("ca");
  return TlsContext::client(o).value();
}

Result<TlsStream> dial(const Endpoint& to, const TlsContext& ctx) {
  auto tcp = TcpStream::connect(to, Deadline(5s));
  if (!tcp) return fail(tcp.error());
  return TlsStream::connect(std::move(*tcp), ctx, "localhost", Deadline(10s));
}

/// Writes `data` from a second thread while reading the echo; true when every byte came back.
bool echo_round_trip(TlsStream& s, const std::vector<std::byte>& data) {
  std::thread writer([&] {
    std::size_t off = 0, chunk = 1;
    while (off < data.size()) {  // chunks of 1 byte to 32 KiB: records of every size
      const std::size_t n = std::min(chunk, data.size() - off);
      if (!s.write_all(std::span(data).subspan(off, n), Deadline(10s))) return;
      off += n;
      chunk = chunk >= 32 * 1024 ? 1 : chunk * 3 + 1;
    }
  });
  std::vector<std::byte> got;
  std::array<std::byte, 16 * 1024> buf;
  while (got.size() < data.size()) {
    auto n = s.read_some(buf, Deadline(10s));
    if (!n || *n == 0) break;
    got.insert(got.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*n));
  }
  writer.join();
  return got == data;
}

}  // namespace

TEST(ServerTls, echoes_every_byte_to_concurrent_clients_and_ends_with_close_notify) {
  tt::TestPki pki;
  Recorder rec;
  tt::RunningServer server(tls_options(pki, rec, 2), tt::echo_handler);
  const auto ctx = client_ctx(pki);
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (unsigned i = 0; i < 8; ++i) {
    clients.emplace_back([&, i] {
      auto s = dial(server.endpoint(), ctx);
      ASSERT_TRUE(s.has_value()) << s.error().message();
      EXPECT_EQ(s->info().cipher.empty(), false);
      if (!echo_round_trip(*s, tt::test_pattern(256 * 1024 + i, i))) return;
      // Our close_notify ends the handler, whose end is close_notify: a clean 0, not truncation.
      ASSERT_TRUE(s->shutdown(Deadline(5s)));
      std::array<std::byte, 64> buf;
      auto n = s->read_some(buf, Deadline(5s));
      ASSERT_TRUE(n.has_value()) << n.error().message();
      EXPECT_EQ(*n, 0u);
      ++ok;
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), 8);
  auto stats = server.stop();
  EXPECT_EQ(stats.connections, 8u);
  EXPECT_EQ(stats.errors, 0u);
  std::uint64_t want = 0;
  for (unsigned i = 0; i < 8; ++i) want += 256 * 1024 + i;
  EXPECT_EQ(stats.bytes_in, want);   // plaintext, both ways
  EXPECT_EQ(stats.bytes_out, want);
  EXPECT_EQ(rec.handshakes.load(), 8);
  for (const auto& ev : rec.closed_events()) EXPECT_EQ(ev.reason, "eof");
}

TEST(ServerTls, a_client_gone_without_close_notify_is_closed_as_truncated) {
  tt::TestPki pki;
  Recorder rec;
  tt::RunningServer server(tls_options(pki, rec), tt::echo_handler);
  {
    auto s = dial(server.endpoint(), client_ctx(pki));
    ASSERT_TRUE(s.has_value()) << s.error().message();
    ASSERT_TRUE(echo_round_trip(*s, tt::test_pattern(1000, 7)));
    s->tcp().close();  // no close_notify
  }
  server.stop();
  auto closed = rec.closed_events();
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].reason, "error");
  EXPECT_EQ(closed[0].error, make_error_code(TlsErrc::tls_truncated)) << closed[0].error.message();
  EXPECT_EQ(closed[0].bytes_in, 1000u);
}

TEST(ServerTls, a_client_that_is_not_tls_fails_the_handshake_and_the_server_goes_on) {
  tt::TestPki pki;
  Recorder rec;
  tt::RunningServer server(tls_options(pki, rec), tt::echo_handler);
  {
    auto plain = TcpStream::connect(server.endpoint(), Deadline(5s));
    ASSERT_TRUE(plain.has_value());
    ASSERT_TRUE(plain->write_all(std::string_view("GET / HTTP/1.0\r\n\r\n"), Deadline(5s)));
    std::array<char, 256> buf;
    for (;;) {  // the server answers with an alert, then closes
      auto n = plain->read_some(buf, Deadline(5s));
      if (!n || *n == 0) break;
    }
  }
  auto s = dial(server.endpoint(), client_ctx(pki));
  ASSERT_TRUE(s.has_value()) << s.error().message();
  EXPECT_TRUE(echo_round_trip(*s, tt::test_pattern(70 * 1024, 3)));
  EXPECT_TRUE(s->close(Deadline(5s)));
  server.stop();
  auto closed = rec.closed_events();
  ASSERT_EQ(closed.size(), 2u);
  EXPECT_EQ(closed[0].reason, "handshake");
  EXPECT_EQ(closed[1].reason, "eof");
}
