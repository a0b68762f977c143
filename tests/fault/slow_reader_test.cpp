// Fault scenario 14 (issue 5): slow readers. 32 clients send as fast as they can to
// `tether listen --echo` and never read the echo. The server must stop reading them (backpressure)
// instead of buffering: its memory (peak RSS, VmHWM of the server process) grows by no more than
// the high watermark (256 KiB) plus one read (64 KiB) per connection, plus the backend's fixed read
// pool and an allowance for the allocator. And it must not drop them either: once they read, every byte they sent comes back.
#include "../cli/cli_support.hpp"
#include "server_testing.hpp"

#include <tether/tcp.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using namespace tether;
using namespace tether::testing::cli;
namespace tt = tether::testing;

namespace {

/// A field of /proc/PID/status in bytes ("VmRSS:", "VmHWM:"), or -1.
long status_bytes(pid_t pid, const std::string& field) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  while (status >> key) {
    if (key == field) {
      long kb = 0;
      status >> kb;
      return kb * 1024;
    }
    std::string rest;
    std::getline(status, rest);
  }
  return -1;
}

constexpr int clients = 32;
constexpr std::size_t per_client_max = 64u << 20;  // far beyond what all the buffers can hold
constexpr long high_watermark = 256 * 1024;        // ServerOptions' default, used by the CLI
constexpr long read_size = 64 * 1024;              // the loop's read buffer
constexpr long allocator_allowance = 4 << 20;

/// What the server's one loop thread maps for reads, once, whatever the number of connections:
/// epoll lends one 64 KiB buffer; io_uring registers a ring of 64 provided 64 KiB buffers
/// (src/backend/uring_buffers.hpp) that the kernel fills in turn, so all of them end up resident.
long backend_read_pool() {
  const char* b = std::getenv("TETHER_BACKEND");
  const bool uring = b != nullptr && std::string(b) == "io_uring";
  return uring ? 64 * read_size : read_size;
}

}  // namespace

TEST(FaultSlowReader, slow_readers_keep_server_memory_under_the_high_watermark_per_connection) {
  auto p = Process::start({tether_path(), "listen", "--echo", "--threads", "1", "--json", "127.0.0.1", "0"});
  auto ep = Endpoint::parse(listening_endpoint(p));
  ASSERT_TRUE(ep) << p.err();

  std::vector<TcpStream> streams;
  for (int i = 0; i < clients; ++i) {
    auto c = TcpStream::connect(*ep, 5s);
    ASSERT_TRUE(c) << c.error().message();
    // Small client buffers: the server's output, not the kernel, has to absorb a non-reader.
    ASSERT_TRUE(c->socket().set_receive_buffer_size(32 * 1024));
    ASSERT_TRUE(c->socket().set_send_buffer_size(32 * 1024));
    ASSERT_TRUE(c->write_all("w", 5s));  // warm-up: each connection exists in the server
    std::array<char, 1> b{};
    ASSERT_TRUE(c->read_exact(std::span(b), 5s));
    streams.push_back(std::move(*c));
  }
  const long baseline = status_bytes(p.pid(), "VmRSS:");
  ASSERT_GT(baseline, 0);

  // Each client sends until a write stays blocked for a second: the server stopped reading it.
  const auto data = tt::test_pattern(per_client_max, 5);
  std::vector<std::size_t> sent(clients, 0);
  std::atomic<int> throttled{0};
  {
    std::vector<std::thread> writers;
    for (int i = 0; i < clients; ++i) {
      writers.emplace_back([&, i] {
        auto& s = streams[static_cast<std::size_t>(i)];
        std::size_t& n = sent[static_cast<std::size_t>(i)];
        while (n < data.size()) {
          const std::size_t len = std::min<std::size_t>(64 * 1024, data.size() - n);
          auto w = s.write_some(std::span(data).subspan(n, len), 1s);
          if (!w) {
            if (w.error() == std::errc::timed_out) {
              ++throttled;
            } else {
              ADD_FAILURE() << "writer " << i << ": " << w.error().message() << " after " << n;
            }
            return;
          }
          n += *w;
        }
        ADD_FAILURE() << "writer " << i << " sent all " << n << " bytes unthrottled";
      });
    }
    for (auto& w : writers) w.join();
  }
  const long peak = status_bytes(p.pid(), "VmHWM:");
  const long growth = peak - baseline;
  const long bound =
      clients * (high_watermark + read_size) + backend_read_pool() + allocator_allowance;
  std::printf("server RSS %ld, peak %ld: growth %ld bytes for %d slow readers (bound %ld)\n",
              baseline, peak, growth, clients, bound);
  EXPECT_EQ(throttled.load(), clients) << "some writers were never throttled";
  if (tt::sanitized_build) {
    // The server is a sanitized build too: its RSS is mostly shadow memory and quarantine.
    std::printf("sanitizer build: the memory bound is checked only in the dev build\n");
  } else {
    EXPECT_LE(growth, bound) << "the server buffered for slow readers instead of pausing them";
  }

  // Now they read: every byte comes back, in order; nobody was dropped.
  std::atomic<int> exact{0};
  {
    std::vector<std::thread> readers;
    for (int i = 0; i < clients; ++i) {
      readers.emplace_back([&, i] {
        auto& s = streams[static_cast<std::size_t>(i)];
        const std::size_t want = sent[static_cast<std::size_t>(i)];
        if (!s.shutdown(Shutdown::write)) return;
        std::vector<std::byte> back;
        back.reserve(want);
        std::vector<std::byte> buf(65536);
        for (;;) {
          auto n = s.read_some(buf, 10s);
          if (!n || *n == 0) break;
          back.insert(back.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*n));
        }
        if (back.size() == want && std::equal(back.begin(), back.end(), data.begin())) ++exact;
      });
    }
    for (auto& r : readers) r.join();
  }
  EXPECT_EQ(exact.load(), clients) << "a slow reader lost or got corrupted echo";
}
