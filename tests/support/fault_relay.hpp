// FaultRelay: a TCP relay for tests that injects faults between a client and a real server.
//
// Clients connect to relay.endpoint(); for each, the relay connects to the target and copies bytes
// both ways, re-chunking every write into pieces of chunk_min..chunk_max bytes, sleeping `delay`
// before each piece, and resetting both connections (SO_LINGER 0) once reset_after bytes have gone
// client->server. It uses only the synchronous layer, so it works against any backend.
// Threads: the relay runs its own threads; the destructor stops and joins them all.
#pragma once

#include <tether/tether.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace tether::testing {

struct FaultOptions {
  std::size_t chunk_min = 0;  ///< 0: no re-chunking (write what was read)
  std::size_t chunk_max = 0;
  std::chrono::microseconds delay{0};
  std::size_t reset_after = 0;  ///< 0: never reset
};

class FaultRelay {
 public:
  FaultRelay(Endpoint target, FaultOptions options);
  ~FaultRelay();
  FaultRelay(const FaultRelay&) = delete;
  FaultRelay& operator=(const FaultRelay&) = delete;

  Endpoint endpoint() const { return local_; }
  std::size_t connections() const noexcept { return connections_.load(); }

 private:
  void accept_loop();
  void pump(TcpStream& from, TcpStream& to, bool client_to_server, unsigned seed);

  Endpoint target_;
  FaultOptions options_;
  TcpListener listener_;
  Endpoint local_;
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> connections_{0};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::thread> pumps_;
  std::vector<std::unique_ptr<TcpStream>> streams_;
};

}  // namespace tether::testing
