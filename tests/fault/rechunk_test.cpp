// Fault scenario 3 (short reads): a relay re-chunks every write into 1..7 bytes with the
// synchronous layer on both ends; the bytes must come back exact and in order.
#include "fault_common.hpp"
#include "fault_relay.hpp"

#include <gtest/gtest.h>

namespace {

using namespace std::chrono_literals;
using namespace tether;
using namespace tether::testing;

TEST(FaultRechunk, relay_rechunking_to_1_7_bytes_keeps_stream_byte_exact) {
  EchoServer echo;
  FaultRelay relay(echo.endpoint(), FaultOptions{.chunk_min = 1, .chunk_max = 7});
  auto s = TcpStream::connect(relay.endpoint(), 5s);
  ASSERT_TRUE(s);
  const auto data = random_bytes(256 * 1024, 7);
  std::vector<std::byte> back(data.size());
  std::thread writer([&] { (void)s->write_all(data, 20s); });
  auto st = s->read_exact(back, 20s);
  writer.join();
  ASSERT_TRUE(st) << st.error().message();
  EXPECT_EQ(back, data);
}

TEST(FaultRechunk, relay_reset_after_n_bytes_is_reported_as_reset_not_eof) {
  EchoServer echo;
  FaultRelay relay(echo.endpoint(), FaultOptions{.reset_after = 64 * 1024});
  auto s = TcpStream::connect(relay.endpoint(), 5s);
  ASSERT_TRUE(s);
  const auto data = random_bytes(1 << 20, 9);
  auto w = s->write_all(data, 10s);
  std::vector<std::byte> buf(65536);
  std::error_code err;
  std::size_t got = 0;
  for (;;) {
    auto n = s->read_some(buf, 10s);
    if (!n) {
      err = n.error();
      break;
    }
    if (*n == 0) break;
    got += *n;
  }
  // A reset: either the write or the read reports it; a clean EOF (0) must never be reported.
  bool reset_seen = err == std::errc::connection_reset || (!w && (w.error() == std::errc::connection_reset ||
                                                                  w.error() == std::errc::broken_pipe));
  EXPECT_TRUE(reset_seen) << "read error: " << err.message() << ", bytes echoed: " << got;
  EXPECT_LT(got, data.size());
}

}  // namespace
