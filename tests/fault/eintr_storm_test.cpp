// Fault scenario 2: an EINTR storm (a 1 kHz timer signal without SA_RESTART) during transfers.
// Bytes must arrive exact and deadlines must still be honoured.
#include "fault_common.hpp"
#include "signal_storm.hpp"

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/time.h>

#include <chrono>

namespace {

using namespace std::chrono_literals;
using namespace tether;
using namespace tether::testing;

TEST(FaultEintr, eintr_storm_transfer_is_byte_exact) {
  auto listener = TcpListener::bind(Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(listener);
  const auto data = random_bytes(24u << 20, 42);
  Fnv expected;
  expected.update(data);

  SignalStorm storm;
  long before = SignalStorm::signals();
  std::uint64_t server_hash = 0;
  std::size_t server_bytes = 0;
  std::thread server([&] {
    auto a = listener->accept(10s);
    if (!a) return;
    Fnv h;
    std::vector<std::byte> buf(65536);
    for (;;) {
      auto n = a->stream.read_some(buf, 10s);
      if (!n || *n == 0) break;
      h.update(std::span(buf.data(), *n));
      server_bytes += *n;
    }
    server_hash = h.h;
    (void)a->stream.write_all(std::as_bytes(std::span(&server_hash, 1)), 10s);
  });
  auto s = TcpStream::connect(*listener->local_endpoint(), 10s);
  ASSERT_TRUE(s) << s.error().message();
  for (std::size_t off = 0; off < data.size(); off += 65536) {
    auto piece = std::span(data).subspan(off, std::min<std::size_t>(65536, data.size() - off));
    ASSERT_TRUE(s->write_all(piece, 10s));
  }
  ASSERT_TRUE(s->shutdown(Shutdown::write));
  std::uint64_t reply = 0;
  auto st = s->read_exact(std::as_writable_bytes(std::span(&reply, 1)), 10s);
  server.join();
  ASSERT_TRUE(st) << st.error().message();
  EXPECT_EQ(server_bytes, data.size());
  EXPECT_EQ(server_hash, expected.h);
  EXPECT_EQ(reply, expected.h);
  EXPECT_GT(SignalStorm::signals() - before, 10) << "the storm did not happen";
}

TEST(FaultEintr, eintr_storm_read_deadline_is_honoured) {
  auto listener = TcpListener::bind(Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(listener);
  auto s = TcpStream::connect(*listener->local_endpoint(), 5s);
  ASSERT_TRUE(s);
  auto a = listener->accept(5s);
  ASSERT_TRUE(a);

  SignalStorm storm;
  long before = SignalStorm::signals();
  std::byte buf[16];
  auto t0 = std::chrono::steady_clock::now();
  auto n = s->read_some(buf, 300ms);
  auto elapsed = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error(), std::errc::timed_out);
  EXPECT_GE(elapsed, 300ms) << "a deadline must never end early";
  EXPECT_LE(elapsed, 330ms + 50ms) << "EINTR must not extend the deadline";
  EXPECT_GT(SignalStorm::signals() - before, 50) << "the storm did not happen";
}

}  // namespace
