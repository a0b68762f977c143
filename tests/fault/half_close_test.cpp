// Fault scenario 6: the client sends 50 MB then shuts down writing; the server's full reply,
// which it sends only after seeing the end of the request, still arrives.
#include "fault_common.hpp"

#include <gtest/gtest.h>

namespace {

using namespace std::chrono_literals;
using namespace tether;
using namespace tether::testing;

TEST(FaultHalfClose, client_sends_50mb_then_fin_and_still_gets_full_reply) {
  auto listener = TcpListener::bind(Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(listener);
  constexpr std::size_t kRequest = 50u << 20;
  const auto reply_body = random_bytes(2u << 20, 5);
  Fnv reply_hash;
  reply_hash.update(reply_body);

  std::size_t server_got = 0;
  std::thread server([&] {
    auto a = listener->accept(10s);
    if (!a) return;
    std::vector<std::byte> buf(1 << 16);
    for (;;) {
      auto n = a->stream.read_some(buf, 20s);
      if (!n || *n == 0) break;
      server_got += *n;
    }
    // Only now, after the client's FIN, does the reply go out; then the server closes.
    (void)a->stream.write_all(reply_body, 20s);
  });

  auto s = TcpStream::connect(*listener->local_endpoint(), 5s);
  ASSERT_TRUE(s);
  const auto chunk = random_bytes(1 << 20, 3);
  for (std::size_t sent = 0; sent < kRequest; sent += chunk.size()) {
    ASSERT_TRUE(s->write_all(chunk, 20s));
  }
  ASSERT_TRUE(s->shutdown(Shutdown::write));
  Fnv got;
  std::size_t total = 0;
  std::vector<std::byte> buf(1 << 16);
  for (;;) {
    auto n = s->read_some(buf, 20s);
    ASSERT_TRUE(n) << n.error().message();
    if (*n == 0) break;
    got.update(std::span(buf.data(), *n));
    total += *n;
  }
  server.join();
  EXPECT_EQ(server_got, kRequest);
  EXPECT_EQ(total, reply_body.size());
  EXPECT_EQ(got.h, reply_hash.h);
}

}  // namespace
