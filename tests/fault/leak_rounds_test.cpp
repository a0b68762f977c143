// Fault scenario 16: 10,000 rounds of every error path of the synchronous layer; the fd count
// returns to its baseline (LeakSanitizer checks memory in the asan build).
#include <tether/tether.hpp>

#include "testing.hpp"

#include <gtest/gtest.h>

namespace {

using namespace std::chrono_literals;
using namespace tether;

TEST(FaultLeaks, ten_thousand_rounds_of_every_error_path_leak_no_fd) {
  // A closed port: bind, learn the port, close.
  Endpoint closed;
  {
    auto l = TcpListener::bind(Endpoint::ipv4_loopback(0));
    ASSERT_TRUE(l);
    closed = *l->local_endpoint();
  }
  auto busy = TcpListener::bind(Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(busy);
  auto busy_ep = *busy->local_endpoint();
  auto udp = UdpSocket::bind(Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(udp);
  auto missing_unix = *Endpoint::unix_path("/nonexistent-tether-dir/socket");

  const int baseline = tether::testing::open_fd_count();
  std::byte buf[64];
  for (int i = 0; i < 10000; ++i) {
    auto refused = TcpStream::connect(closed, 1s);
    ASSERT_FALSE(refused);
    ASSERT_EQ(refused.error(), std::errc::connection_refused);
    auto in_use = TcpListener::bind(busy_ep, ListenOptions{.reuse_address = false});
    ASSERT_FALSE(in_use);
    ASSERT_EQ(in_use.error(), std::errc::address_in_use);
    auto no_client = busy->accept(Deadline(0ms));
    ASSERT_FALSE(no_client);
    ASSERT_EQ(no_client.error(), std::errc::timed_out);
    auto no_datagram = udp->recv_from(buf, Deadline(0ms));
    ASSERT_FALSE(no_datagram);
    auto no_file = TcpStream::connect(missing_unix, 1s);
    ASSERT_FALSE(no_file);
    ASSERT_EQ(no_file.error(), std::errc::no_such_file_or_directory);
    ASSERT_FALSE(Endpoint::parse("300.1.1.1:80"));
    ASSERT_FALSE(TcpStream::connect("127.0.0.1", "99999"));
    ASSERT_FALSE(resolve("[::1:80"));
  }
  EXPECT_EQ(tether::testing::open_fd_count(), baseline);
}

}  // namespace
