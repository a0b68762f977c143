// Fault scenario 8 (issue 5): closing with unread input pending still delivers the whole response
// first. The server reads only the head of the request, sends a 3 MB reply and closes while the
// rest of the request is still unread: a plain close() would make the kernel send a reset that
// destroys the reply in flight. linger_close() (tether/linger.hpp) must deliver every byte and a
// clean end of stream, and must give up within its time bound on a peer that never stops sending.
#include "async_testing.hpp"
#include "fault_common.hpp"
#include "server_testing.hpp"

#include <tether/async_tcp.hpp>
#include <tether/event_loop.hpp>
#include <tether/linger.hpp>
#include <tether/server.hpp>

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using namespace tether;
namespace tt = tether::testing;

namespace {

constexpr std::size_t reply_size = 3u << 20;

/// Accepts one client, reads only the 4-byte request head, replies and closes with linger_close.
Task<Status> reply_and_close(AsyncTcpListener& listener, const std::vector<std::byte>& reply) {
  auto a = co_await listener.accept(5s);
  if (!a) co_return fail(a.error());
  std::array<std::byte, 4> head{};
  std::size_t got = 0;
  while (got < head.size()) {
    auto n = co_await a->stream.read_some(std::span(head).subspan(got), 5s);
    if (!n) co_return fail(n.error());
    if (*n == 0) co_return fail(Errc::end_of_stream);
    got += *n;
  }
  if (auto w = co_await a->stream.write_all(reply, 10s); !w) co_return fail(w.error());
  // The rest of the request (64 KB) is unread here.
  co_return co_await linger_close(std::move(a->stream), 5s);
}

struct ClientView {
  std::size_t bytes = 0;
  tt::Fnv hash;
  std::error_code error;  // empty: a clean end of stream
};

}  // namespace

TEST(FaultLingerClose, closing_with_unread_input_still_delivers_the_whole_reply_then_eof) {
  EventLoop loop;
  auto listener = AsyncTcpListener::bind(loop, Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(listener);
  const auto reply = tt::random_bytes(reply_size, 8);
  tt::Fnv expected;
  expected.update(reply);

  ClientView view;
  std::thread client([&, to = *listener->local_endpoint()] {
    auto s = TcpStream::connect(to, 5s);
    if (!s) {
      view.error = s.error();
      return;
    }
    std::string request = "GET\n" + std::string(64 * 1024, 'q');
    if (auto w = s->write_all(request, 5s); !w) {
      view.error = w.error();
      return;
    }
    std::this_thread::sleep_for(100ms);  // the server finishes and closes before we read
    std::vector<std::byte> buf(65536);
    for (;;) {
      auto n = s->read_some(buf, 5s);
      if (!n) {
        view.error = n.error();
        return;
      }
      if (*n == 0) return;
      view.hash.update(std::span(buf.data(), *n));
      view.bytes += *n;
    }
  });
  auto server_status = loop.run(reply_and_close(*listener, reply));
  client.join();

  EXPECT_FALSE(view.error) << "the client saw " << view.error.message() << " after " << view.bytes
                           << " of " << reply_size << " bytes";
  EXPECT_EQ(view.bytes, reply_size);
  EXPECT_EQ(view.hash.h, expected.h);
  EXPECT_TRUE(server_status.has_value()) << server_status.error().message();
}

TEST(FaultLingerClose, linger_close_gives_up_at_its_bound_on_a_peer_that_never_stops_sending) {
  EventLoop loop;
  auto listener = AsyncTcpListener::bind(loop, Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(listener);
  std::atomic<bool> client_done{false};
  std::error_code client_error;
  std::thread client([&, to = *listener->local_endpoint()] {
    auto s = TcpStream::connect(to, 5s);
    if (!s) return;
    const std::string chunk(16384, 'z');
    for (int i = 0; i < 100000; ++i) {  // about 1.6 GB at most; ends when the server closes
      if (auto w = s->write_all(chunk, 5s); !w) {
        client_error = w.error();
        break;
      }
    }
    client_done = true;
  });
  auto body = [](AsyncTcpListener& l) -> Task<std::pair<Status, std::chrono::nanoseconds>> {
    auto a = co_await l.accept(5s);
    if (!a) co_return std::make_pair(Status(fail(a.error())), std::chrono::nanoseconds(0));
    const auto t0 = std::chrono::steady_clock::now();
    auto st = co_await linger_close(std::move(a->stream), 300ms);
    co_return std::make_pair(st, std::chrono::steady_clock::now() - t0);
  };
  auto [status, elapsed] = loop.run(body(*listener));
  client.join();
  ASSERT_FALSE(status.has_value());
  EXPECT_EQ(status.error(), std::errc::timed_out);
  EXPECT_GE(elapsed, 300ms);
  EXPECT_LT(elapsed, 1s) << "the linger bound was not honoured";
  EXPECT_TRUE(client_done.load());
  EXPECT_TRUE(client_error == std::errc::connection_reset || client_error == std::errc::broken_pipe)
      << client_error.message();
}

// The same at the Server: a handler that answers the head of a request and returns while the
// rest of it is unread. The server's close after the handler must linger.
TEST(FaultLingerClose, server_handler_returning_with_unread_input_still_delivers_its_reply) {
  static const auto reply = tt::random_bytes(reply_size, 9);
  ServerOptions o;
  o.address = Endpoint::ipv4_loopback(0);
  o.threads = 1;
  o.handle_signals = false;
  o.max_buffered = 2 * reply_size;
  tt::RunningServer server(o, [](Connection& c) -> Task<void> {
    auto head = co_await c.read();  // one read: most of the request stays unread
    if (!head || head->empty()) co_return;
    (void)c.send(reply);
  });
  tt::Fnv expected;
  expected.update(reply);
  ClientView view;
  {
    auto s = TcpStream::connect(server.endpoint(), 5s);
    ASSERT_TRUE(s);
    const std::string request = "GET\n" + std::string(200 * 1024, 'q');
    if (auto w = s->write_all(request, 5s); !w) view.error = w.error();
    std::this_thread::sleep_for(100ms);  // the handler has returned before we read
    std::vector<std::byte> buf(65536);
    while (!view.error) {
      auto n = s->read_some(buf, 5s);
      if (!n) {
        view.error = n.error();
        break;
      }
      if (*n == 0) break;
      view.hash.update(std::span(buf.data(), *n));
      view.bytes += *n;
    }
  }
  EXPECT_FALSE(view.error) << "the client saw " << view.error.message() << " after " << view.bytes
                           << " of " << reply_size << " bytes";
  EXPECT_EQ(view.bytes, reply_size);
  EXPECT_EQ(view.hash.h, expected.h);
  auto stats = server.stop();
  EXPECT_EQ(stats.connections, 1u);
  EXPECT_EQ(stats.errors, 0u);
}
