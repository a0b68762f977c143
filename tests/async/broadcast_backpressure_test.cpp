// Issue 8 item 7: broadcast backpressure (Connection::broadcast_room). A fast sender waits for a
// slow but live reader instead of getting it dropped as a slow consumer; a reader that takes
// nothing at all is dropped after stall_timeout, and then the sender and the other readers go on.
#include "server_testing.hpp"

#include <tether/server.hpp>
#include <tether/tcp.hpp>

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <optional>
#include <string>
#include <thread>

using namespace std::chrono_literals;
using namespace tether;
using tether::testing::RunningServer;

namespace {

// The chat of `tether listen --chat`, reduced: every line goes to the others, then the sender
// waits for room.
Task<void> chat_with_room(Connection& c) {
  // Small kernel buffers: what a reader does not take piles up in the server, not in the kernel.
  const int size = 32 * 1024;
  ::setsockopt(c.socket().fd(), SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  Buffer in;
  LineCodec codec;
  for (;;) {
    auto data = co_await c.read();
    if (!data || data->empty()) co_return;
    in.append(*data);
    for (;;) {
      auto line = codec.decode(in);
      if (!line) co_return;
      if (!*line) break;
      std::string msg = std::string(**line) + "\n";
      c.broadcast(msg);
      if (!co_await c.broadcast_room()) co_return;
    }
  }
}

struct Fixture {
  std::atomic<int> accepted{0};
  std::atomic<int> slow_consumers{0};
  ServerOptions options(std::chrono::milliseconds stall) {
    ServerOptions o;
    o.address = Endpoint::ipv4({127, 0, 0, 1}, 0);
    o.threads = 2;
    o.handle_signals = false;
    o.stall_timeout = stall;
    o.on_event = [this](const ServerEvent& e) {
      if (e.kind == ServerEvent::Kind::accepted) ++accepted;
      if (e.kind == ServerEvent::Kind::closed && e.reason == "slow-consumer") ++slow_consumers;
    };
    return o;
  }
  void wait_accepted(int n) {
    for (int i = 0; i < 500 && accepted.load() < n; ++i) std::this_thread::sleep_for(10ms);
    ASSERT_EQ(accepted.load(), n);
  }
};

std::string lines(std::size_t count) {
  std::string s;
  for (std::size_t i = 0; i < count; ++i) s += std::string(90, static_cast<char>('a' + i % 26)) + "\n";
  return s;
}

// A client with a 16 KiB receive buffer, set before connecting (after, the window would shrink).
std::optional<TcpStream> connect_small(const Endpoint& to) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int size = 16 * 1024;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  if (::connect(fd, to.data(), to.size()) != 0) {
    ::close(fd);
    return std::nullopt;
  }
  return TcpStream(Socket(fd));
}

// Reads until `want` bytes came (or end/error); `pause` between reads makes it a slow reader.
std::size_t read_all(TcpStream& s, std::size_t want, std::chrono::milliseconds pause) {
  std::size_t got = 0;
  std::array<char, 16 * 1024> buf;
  while (got < want) {
    auto n = s.read_some(buf, Deadline(20s));
    if (!n || *n == 0) break;
    got += *n;
    if (pause.count() > 0) std::this_thread::sleep_for(pause);
  }
  return got;
}

}  // namespace

TEST(broadcast_backpressure, a_fast_sender_waits_for_a_slow_reader_instead_of_dropping_it) {
  Fixture f;
  RunningServer server(f.options(10s), chat_with_room);
  auto reader = connect_small(server.endpoint());
  ASSERT_TRUE(reader);
  auto sender = TcpStream::connect(server.endpoint(), 5s);
  ASSERT_TRUE(sender);
  f.wait_accepted(2);
  const std::string data = lines(33'000);  // 3 MB, three times max_buffered
  std::atomic<bool> sent{false};
  std::thread t([&] { sent = sender->write_all(data, 20s).has_value(); });
  // 16 KiB every 8 ms at most (2 MB/s): far slower than the sender, yet always reading.
  EXPECT_EQ(read_all(*reader, data.size(), 8ms), data.size());
  t.join();
  EXPECT_TRUE(sent.load());
  sender->close();
  reader->close();
  const auto stats = server.stop();
  EXPECT_EQ(f.slow_consumers.load(), 0);
  EXPECT_EQ(stats.errors, 0u);
}

TEST(broadcast_backpressure, a_stuck_reader_is_dropped_after_the_stall_timeout_and_the_rest_go_on) {
  Fixture f;
  RunningServer server(f.options(300ms), chat_with_room);
  auto stuck = connect_small(server.endpoint());
  ASSERT_TRUE(stuck);
  auto reader = TcpStream::connect(server.endpoint(), 5s);
  ASSERT_TRUE(reader);
  auto sender = TcpStream::connect(server.endpoint(), 5s);
  ASSERT_TRUE(sender);
  f.wait_accepted(3);
  const std::string data = lines(33'000);
  std::atomic<bool> sent{false};
  std::thread t([&] { sent = sender->write_all(data, 20s).has_value(); });
  EXPECT_EQ(read_all(*reader, data.size(), 0ms), data.size());
  t.join();
  EXPECT_TRUE(sent.load());
  EXPECT_EQ(f.slow_consumers.load(), 1);  // the stuck one, and only it
  sender->close();
  reader->close();
  stuck->close();
  server.stop();
}
