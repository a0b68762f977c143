// TcpStream::send_file: zero-copy file transmission (sendfile) and its fallback signal.
#include "fault_common.hpp"
#include "testing.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>

namespace {

using namespace std::chrono_literals;
using namespace tether;
using namespace tether::testing;

TEST(SendFile, send_file_delivers_a_whole_file_byte_exact_then_reports_its_end) {
  TempPath path("sendfile");
  const auto data = random_bytes(3u << 20, 11);
  {
    FILE* f = std::fopen(path.str().c_str(), "wb");
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(std::fwrite(data.data(), 1, data.size(), f), data.size());
    std::fclose(f);
  }
  int fd = ::open(path.str().c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  auto listener = TcpListener::bind(Endpoint::ipv4_loopback(0));
  auto s = TcpStream::connect(*listener->local_endpoint(), 5s);
  auto a = listener->accept(5s);
  ASSERT_TRUE(s && a);
  std::vector<std::byte> got;
  std::thread reader([&] {
    std::vector<std::byte> buf(65536);
    for (;;) {
      auto n = a->stream.read_some(buf, 10s);
      if (!n || *n == 0) break;
      got.insert(got.end(), buf.begin(), buf.begin() + static_cast<long>(*n));
    }
  });
  std::size_t total = 0;
  for (;;) {
    auto n = s->send_file(fd, 1u << 20, 10s);
    ASSERT_TRUE(n) << n.error().message();
    if (*n == 0) break;
    total += *n;
  }
  ::close(fd);
  ASSERT_TRUE(s->shutdown(Shutdown::write));
  reader.join();
  EXPECT_EQ(total, data.size());
  EXPECT_EQ(got, data);
}

TEST(SendFile, send_file_from_a_pipe_is_einval_so_callers_fall_back) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  auto listener = TcpListener::bind(Endpoint::ipv4_loopback(0));
  auto s = TcpStream::connect(*listener->local_endpoint(), 5s);
  ASSERT_TRUE(s);
  ASSERT_EQ(::write(p[1], "x", 1), 1);
  auto n = s->send_file(p[0], 100, 1s);
  ::close(p[0]);
  ::close(p[1]);
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error(), std::errc::invalid_argument);
}

}  // namespace
