// Helpers shared by the fault-scenario tests (issue 5): data generation, hashing, a threaded
// loopback echo server on the synchronous layer.
#pragma once

#include <tether/tether.hpp>

#include <atomic>
#include <cstdint>
#include <random>
#include <span>
#include <thread>
#include <vector>

namespace tether::testing {

inline std::vector<std::byte> random_bytes(std::size_t n, std::uint32_t seed) {
  std::vector<std::byte> out(n);
  std::mt19937 rng(seed);
  for (auto& b : out) b = static_cast<std::byte>(rng() & 0xFF);
  return out;
}

/// FNV-1a, 64 bit, incremental.
struct Fnv {
  std::uint64_t h = 1469598103934665603ULL;
  void update(std::span<const std::byte> data) {
    for (auto b : data) {
      h ^= static_cast<std::uint8_t>(b);
      h *= 1099511628211ULL;
    }
  }
};

/// Echoes every connection on its own thread until stopped; joins all threads on destruction.
class EchoServer {
 public:
  EchoServer() {
    listener_ = std::move(*TcpListener::bind(Endpoint::ipv4_loopback(0)));
    endpoint_ = *listener_.local_endpoint();
    acceptor_ = std::thread([this] {
      using namespace std::chrono_literals;
      while (!stop_) {
        auto a = listener_.accept(50ms);
        if (!a) continue;
        workers_.emplace_back([this, s = std::move(a->stream)]() mutable {
          std::vector<std::byte> buf(16384);
          while (!stop_) {
            auto n = s.read_some(buf, 100ms);
            if (!n && n.error() == std::errc::timed_out) continue;
            if (!n || *n == 0) break;
            if (!s.write_all(std::span(buf.data(), *n), 5s)) break;
          }
        });
      }
    });
  }
  ~EchoServer() {
    stop_ = true;
    acceptor_.join();
    for (auto& w : workers_) w.join();
  }
  EchoServer(const EchoServer&) = delete;
  EchoServer& operator=(const EchoServer&) = delete;
  Endpoint endpoint() const { return endpoint_; }

 private:
  TcpListener listener_;
  Endpoint endpoint_;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  std::vector<std::thread> workers_;
};

}  // namespace tether::testing
