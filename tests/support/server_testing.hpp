// Helpers for Server tests: a server running on its own thread, echo and chat handlers, and
// coroutine echo clients that check every byte.
#pragma once

#include "async_testing.hpp"

#include <tether/async_tcp.hpp>
#include <tether/buffer.hpp>
#include <tether/codec_line.hpp>
#include <tether/event_loop.hpp>
#include <tether/server.hpp>
#include <tether/when.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace tether::testing {

inline Task<void> echo_handler(Connection& c) {
  for (;;) {
    auto data = co_await c.read();
    if (!data || data->empty()) co_return;
    if (!c.send(*data)) co_return;
  }
}

inline Task<void> chat_handler(Connection& c) {
  Buffer in;
  LineCodec codec;
  const std::string prefix = "<" + c.peer().to_string() + "> ";
  for (;;) {
    auto data = co_await c.read();
    if (!data || data->empty()) co_return;
    in.append(*data);
    for (;;) {
      auto line = codec.decode(in);
      if (!line) co_return;
      if (!*line) break;
      std::string msg = prefix + std::string(**line) + "\n";
      c.broadcast(std::as_bytes(std::span(msg.data(), msg.size())));
    }
  }
}

/// A Server serving on its own thread; stopped and joined on destruction.
class RunningServer {
 public:
  RunningServer(ServerOptions options, Server::Handler handler)
      : server_(std::move(options)) {
    auto ep = server_.listen();
    EXPECT_TRUE(ep.has_value()) << ep.error().message();
    if (ep) endpoint_ = *ep;
    thread_ = std::thread([this, h = std::move(handler)]() mutable {
      auto r = server_.run(std::move(h));
      EXPECT_TRUE(r.has_value());
      if (r) stats_ = *r;
      finished_ = true;
    });
  }
  ~RunningServer() { stop(); }
  RunningServer(const RunningServer&) = delete;
  RunningServer& operator=(const RunningServer&) = delete;

  /// Graceful stop; waits until run() returned and gives its statistics.
  ServerStats stop() {
    if (thread_.joinable()) {
      server_.stop();
      thread_.join();
    }
    return stats_;
  }
  /// Waits (bounded) for run() to return on its own; joins the thread when it did.
  bool wait_stopped(std::chrono::milliseconds timeout) {
    auto until = std::chrono::steady_clock::now() + timeout;
    while (!done() && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (done() && thread_.joinable()) thread_.join();
    return done();
  }
  const Endpoint& endpoint() const noexcept { return endpoint_; }
  Server& server() noexcept { return server_; }

 private:
  bool done() const { return finished_.load(); }
  Server server_;
  Endpoint endpoint_;
  std::thread thread_;
  ServerStats stats_;
  std::atomic<bool> finished_{false};
};

inline std::vector<std::byte> test_pattern(std::size_t n, unsigned seed) {
  std::vector<std::byte> v(n);
  std::uint32_t x = seed * 2654435761u + 1;
  for (auto& b : v) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    b = static_cast<std::byte>(x);
  }
  return v;
}

/// Connects, writes `bytes` (in chunks of varying size) while reading the echo, checks every byte.
inline Task<bool> echo_client(EventLoop& loop, Endpoint to, unsigned seed, std::size_t bytes) {
  auto s = co_await AsyncTcpStream::connect(loop, to, std::chrono::seconds(10));
  if (!s) co_return false;
  auto data = test_pattern(bytes, seed);
  auto writer = [](AsyncTcpStream& st, const std::vector<std::byte>& d, unsigned sd) -> Task<bool> {
    std::size_t off = 0;
    std::size_t chunk = 1 + sd % 997;
    while (off < d.size()) {
      std::size_t n = std::min(chunk, d.size() - off);
      auto w = co_await st.write_all(std::span(d).subspan(off, n));
      if (!w) co_return false;
      off += n;
      chunk = chunk * 7 % 4093 + 1;
    }
    co_return st.shutdown(Shutdown::write).has_value();
  };
  auto reader = [](AsyncTcpStream& st, const std::vector<std::byte>& d) -> Task<bool> {
    std::vector<std::byte> buf(8192);
    std::size_t got = 0;
    for (;;) {
      auto n = co_await st.read_some(buf, std::chrono::seconds(20));
      if (!n) {
        ADD_FAILURE() << "echo client: " << n.error().message() << " after " << got << " bytes";
        co_return false;
      }
      if (*n == 0) break;
      if (got + *n > d.size()) co_return false;
      if (!std::equal(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*n),
                      d.begin() + static_cast<std::ptrdiff_t>(got))) {
        co_return false;
      }
      got += *n;
    }
    co_return got == d.size();
  };
  auto [w, r] = co_await when_all(writer(*s, data, seed), reader(*s, data));
  co_return w && r;
}

/// Runs `count` echo clients at once on a fresh loop; returns how many saw every byte.
inline std::size_t run_echo_clients(const Endpoint& to, std::size_t count, std::size_t bytes) {
  EventLoop loop;
  auto all = [](EventLoop& l, Endpoint ep, std::size_t n, std::size_t b) -> Task<std::size_t> {
    std::vector<Task<bool>> clients;
    for (std::size_t i = 0; i < n; ++i) {
      clients.push_back(echo_client(l, ep, static_cast<unsigned>(i), b));
    }
    auto results = co_await when_all(std::move(clients));
    std::size_t ok = 0;
    for (bool r : results) ok += r ? 1 : 0;
    co_return ok;
  };
  return loop.run(all(loop, to, count, bytes));
}

}  // namespace tether::testing
