// The echo path allocates nothing per message in steady state: operator new is counted while a
// client exchanges 20,000 messages with a Server running tether's echo handler.
#include "server_testing.hpp"

#include <tether/server.hpp>
#include <tether/tcp.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

namespace {
std::atomic<long> allocations{0};
}  // namespace

void* operator new(std::size_t n) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

using namespace std::chrono_literals;
using namespace tether;
namespace tt = tether::testing;

TEST(EchoAllocations, steady_state_echo_allocates_nothing_per_message) {
  ServerOptions o;
  o.address = Endpoint::ipv4_loopback(0);
  o.threads = 1;
  o.handle_signals = false;
  tt::RunningServer server(o, tt::echo_handler);
  auto c = TcpStream::connect(server.endpoint(), 5s);
  ASSERT_TRUE(c);
  std::array<std::byte, 64> msg{};
  std::array<std::byte, 64> back{};
  auto round = [&] {
    if (!c->write_all(msg)) return false;
    return c->read_exact(back).has_value();
  };
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(round());  // warm-up: frames, pools, vectors
  const long before = allocations.load();
  for (int i = 0; i < 20000; ++i) ASSERT_TRUE(round());
  const long during = allocations.load() - before;
  EXPECT_EQ(during, 0) << during << " allocations in 20,000 echo round trips";
  c->close();
}
