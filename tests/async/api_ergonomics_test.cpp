// The library as an application uses it: one umbrella include, with_timeout on every awaitable a
// Connection returns, the typed multicast interface setter, one error category for timeouts.
// The umbrella is checked against the directory of public headers (a header left out fails).
#include <tether/tether.hpp>

#include "server_testing.hpp"

#include <gtest/gtest.h>

#include <net/if.h>
#include <netinet/in.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

using namespace std::chrono_literals;
using namespace tether;

namespace {

TEST(ApiErgonomics, the_umbrella_header_includes_every_public_header) {
  const std::filesystem::path dir = std::filesystem::path(TETHER_SOURCE_DIR) / "include" / "tether";
  std::ifstream in(dir / "tether.hpp");
  std::stringstream text;
  text << in.rdbuf();
  int headers = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_regular_file() || entry.path().extension() != ".hpp" || name == "tether.hpp") continue;
    ++headers;
    EXPECT_NE(text.str().find("#include <tether/" + name + ">"), std::string::npos)
        << "tether/tether.hpp does not include tether/" << name;
  }
  EXPECT_GT(headers, 20);
}

struct Outcome {
  std::atomic<bool> done{false};
  std::error_code read;
  std::error_code flush;
};

TEST(ApiErgonomics, with_timeout_bounds_connection_read_and_flush) {
  Outcome out;
  ServerOptions o;
  o.address = Endpoint::ipv4_loopback(0);
  o.threads = 1;
  o.handle_signals = false;
  o.max_buffered = 64u << 20;  // room to queue more than the client will ever take
  tether::testing::RunningServer server(std::move(o), [&out](Connection& c) -> Task<void> {
    // The client sends nothing: the read times out.
    auto r = co_await with_timeout(c.read(), 200ms);
    out.read = r ? std::error_code{} : r.error();
    // The client reads nothing: 32 MiB cannot all leave, the flush times out.
    const std::string big(32u << 20, 'x');
    if (!c.send(big)) co_return;
    auto f = co_await with_timeout(c.flush(), 200ms);
    out.flush = f ? std::error_code{} : f.error();
    out.done = true;
  });
  auto client = TcpStream::connect(server.endpoint(), 5s);
  ASSERT_TRUE(client) << client.error().message();
  for (int i = 0; i < 1000 && !out.done; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(out.done) << "with_timeout did not end the flush";
  EXPECT_EQ(out.read, make_error_code(std::errc::timed_out)) << out.read.message();
  EXPECT_EQ(out.flush, make_error_code(std::errc::timed_out)) << out.flush.message();
  client->close();
  server.stop();
}

TEST(ApiErgonomics, timed_out_has_one_error_category_everywhere) {
  const std::error_code expected = std::make_error_code(std::errc::timed_out);
  // The kernel's ETIMEDOUT.
  EXPECT_EQ(errno_code(ETIMEDOUT), expected);
  EXPECT_EQ(errno_code(ETIMEDOUT).category(), std::generic_category());
  // A blocking read past its deadline.
  auto l = TcpListener::bind(Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(l);
  auto c = TcpStream::connect(*l->local_endpoint(), 5s);
  ASSERT_TRUE(c);
  char buf[8];
  auto r = c->read_some(std::span<char>(buf), 20ms);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), expected);
  // An async read past its deadline, and with_timeout.
  EventLoop loop;
  auto async_errors = loop.run([&]() -> Task<std::pair<std::error_code, std::error_code>> {
    auto s = co_await AsyncTcpStream::connect(loop, *l->local_endpoint(), Deadline(5s));
    if (!s) co_return std::pair{s.error(), s.error()};
    std::byte b[8];
    auto own = co_await s->read_some(std::span(b), Deadline(20ms));
    auto wrapped = co_await with_timeout(s->read_some(std::span(b)), 20ms);
    co_return std::pair{own ? std::error_code{} : own.error(), wrapped ? std::error_code{} : wrapped.error()};
  }());
  EXPECT_EQ(async_errors.first, expected) << async_errors.first.message();
  EXPECT_EQ(async_errors.second, expected) << async_errors.second.message();
}

TEST(ApiErgonomics, multicast_interface_is_a_typed_setter_for_ipv4_and_ipv6) {
  const unsigned lo = if_nametoindex("lo");
  ASSERT_NE(lo, 0u);
  // IPv6: IPV6_MULTICAST_IF reads back as the index.
  auto v6 = UdpSocket::open(Endpoint::ipv6_loopback(0));
  ASSERT_TRUE(v6);
  ASSERT_TRUE(v6->set_multicast_interface(lo));
  EXPECT_EQ(v6->socket().int_option(IPPROTO_IPV6, IPV6_MULTICAST_IF).value_or(-1), static_cast<int>(lo));
  ASSERT_TRUE(v6->set_multicast_interface(0u));
  EXPECT_EQ(v6->socket().int_option(IPPROTO_IPV6, IPV6_MULTICAST_IF).value_or(-1), 0);
  EXPECT_EQ(v6->set_multicast_interface(Endpoint::ipv4_loopback(0)).error(), Errc::address_family);

  // IPv4, by index and by address: a datagram to a group joined on lo arrives through lo.
  auto r = UdpSocket::bind(Endpoint::ipv4_any(0));
  ASSERT_TRUE(r);
  const auto group = Endpoint::ipv4({239, 255, 43, static_cast<std::uint8_t>(getpid() % 250 + 1)},
                                    r->local_endpoint()->port());
  ASSERT_TRUE(r->join_group(group, lo));
  for (bool by_index : {true, false}) {
    auto s = UdpSocket::open(Endpoint::ipv4_any(0));
    ASSERT_TRUE(s);
    auto set = by_index ? s->set_multicast_interface(lo) : s->set_multicast_interface(Endpoint::ipv4_loopback(0));
    ASSERT_TRUE(set) << set.error().message();
    ASSERT_TRUE(s->set_multicast_loop(true));
    ASSERT_TRUE(s->set_multicast_ttl(0));
    ASSERT_TRUE(s->send_to("group", group));
    char buf[16];
    auto d = r->recv_from(std::span(buf), 5s);
    ASSERT_TRUE(d) << d.error().message();
    EXPECT_EQ(std::string_view(buf, d->size), "group");
  }
}

}  // namespace
