// AsyncTcpStream::wait_readable / wait_writable: readiness for a caller that makes its own
// non-blocking system calls (tether relay's splice(2) path). Runs on epoll and, as every async
// test, on io_uring (suffix ".uring").
#include "async_testing.hpp"

#include <tether/async_tcp.hpp>
#include <tether/event_loop.hpp>
#include <tether/timer.hpp>
#include <tether/when.hpp>

#include <gtest/gtest.h>

#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using namespace tether;
namespace tt = tether::testing;

namespace {

/// Our own recv() until EAGAIN, then the loop's wait, then recv() again: the bytes sent late.
Task<std::string> recv_after_wait(AsyncTcpStream& s) {
  char buf[64];
  std::string got;
  for (int round = 0; round < 100; ++round) {
    const ssize_t n = ::recv(s.socket().fd(), buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      got.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n == 0) break;  // end of stream
    if (errno != EAGAIN) break;
    if (auto w = co_await s.wait_readable(Deadline(10s)); !w) break;
  }
  co_return got;
}

/// recv() and the loop's wait until `want` bytes came (no end of stream needed), each wait 2 s.
Task<std::string> recv_count(AsyncTcpStream& s, std::size_t want) {
  char buf[64];
  std::string got;
  while (got.size() < want) {
    const ssize_t n = ::recv(s.socket().fd(), buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      got.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n == 0 || errno != EAGAIN) break;
    if (auto w = co_await s.wait_readable(Deadline(2s)); !w) break;
  }
  co_return got;
}

/// The wait as a task, for when_all.
Task<Status> wait_for(AsyncTcpStream& s, bool writable) {
  co_return co_await (writable ? s.wait_writable(Deadline(10s)) : s.wait_readable(Deadline(10s)));
}

Task<void> send_later(Socket& peer, std::string text) {
  for (char c : text) {
    (void)co_await sleep_for(2ms);
    (void)::send(peer.fd(), &c, 1, MSG_NOSIGNAL);
  }
  ::shutdown(peer.fd(), SHUT_WR);
}

}  // namespace

TEST(Readiness, wait_readable_wakes_for_each_byte_after_eagain_and_at_the_end) {
  EventLoop loop;
  auto [stream, peer] = tt::async_pair(loop);
  auto both = [](AsyncTcpStream& s, Socket& p) -> Task<std::string> {
    auto [got, sent] = co_await when_all(recv_after_wait(s), send_later(p, "edges"));
    (void)sent;
    co_return got;
  };
  EXPECT_EQ(loop.run(both(stream, peer)), "edges");
}

TEST(Readiness, wait_writable_wakes_once_the_peer_drains_a_full_socket) {
  EventLoop loop;
  auto [stream, peer] = tt::async_pair(loop);
  auto fill_then_wait = [](AsyncTcpStream& s, Socket& p) -> Task<bool> {
    std::vector<char> chunk(65536, 'x');
    std::size_t sent = 0;
    for (int i = 0; i < 10000; ++i) {  // fill until the socket says EAGAIN
      const ssize_t n = ::send(s.socket().fd(), chunk.data(), chunk.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n < 0) break;
      sent += static_cast<std::size_t>(n);
    }
    if (errno != EAGAIN || sent == 0) co_return false;
    auto drain = [](Socket& peer_sock, std::size_t total) -> Task<void> {
      (void)co_await sleep_for(5ms);
      std::vector<char> buf(1 << 20);
      std::size_t got = 0;
      while (got < total) {
        const ssize_t n = ::recv(peer_sock.fd(), buf.data(), buf.size(), MSG_DONTWAIT);
        if (n > 0) {
          got += static_cast<std::size_t>(n);
        } else if (!co_await sleep_for(1ms)) {
          co_return;
        }
      }
    };
    auto [w, drained] = co_await when_all(wait_for(s, true), drain(p, sent));
    (void)drained;
    if (!w) co_return false;
    co_return ::send(s.socket().fd(), "y", 1, MSG_DONTWAIT | MSG_NOSIGNAL) == 1;
  };
  EXPECT_TRUE(loop.run(fill_then_wait(stream, peer)));
}

TEST(Readiness, a_wait_ends_with_its_deadline_or_when_the_stream_closes) {
  EventLoop loop;
  auto [stream, peer] = tt::async_pair(loop);
  auto timed = [](AsyncTcpStream& s) -> Task<std::error_code> {
    auto w = co_await s.wait_readable(Deadline(20ms));
    co_return w ? std::error_code() : w.error();
  };
  EXPECT_EQ(loop.run(timed(stream)), std::errc::timed_out);
  auto closed = [](AsyncTcpStream& s) -> Task<std::error_code> {
    auto closer = [](AsyncTcpStream& st) -> Task<void> {
      (void)co_await sleep_for(5ms);
      st.close();
    };
    auto [w, done] = co_await when_all(wait_for(s, false), closer(s));
    (void)done;
    co_return w ? std::error_code() : w.error();
  };
  EXPECT_EQ(loop.run(closed(stream)), Errc::closed);
}

TEST(Readiness, data_nobody_reads_does_not_wake_the_loop_per_packet_and_a_later_reader_gets_it_all) {
  EventLoop loop;
  auto [stream, peer] = tt::async_pair(loop);
  constexpr int packets = 40;
  // 40 packets, 3 ms apart, to a stream nobody reads: each is an edge; after two the loop stops
  // asking for them (epoll: EPOLLIN muted; io_uring arms nothing without a reader).
  std::thread sender([fd = peer.fd()] {
    for (int i = 0; i < packets; ++i) {
      std::this_thread::sleep_for(3ms);
      (void)::send(fd, "x", 1, MSG_NOSIGNAL);
    }
  });
  bool over = false;
  loop.spawn([](bool& flag) -> Task<void> {
    (void)co_await sleep_for(300ms);
    flag = true;
  }(over));
  int iterations = 0;
  while (!over && loop.run_once(true) && iterations < 1000) ++iterations;
  sender.join();
  EXPECT_LT(iterations, packets / 4) << "the loop woke for packets nobody reads";
  // A reader now finds all of them, then waits (the interest comes back) and wakes for each
  // byte sent later (no end of stream: the peer's FIN would wake it anyway).
  auto both = [](AsyncTcpStream& s, Socket& p) -> Task<std::string> {
    auto bytes = [](Socket& peer_sock) -> Task<void> {
      for (char c : std::string("more")) {
        (void)co_await sleep_for(5ms);
        (void)::send(peer_sock.fd(), &c, 1, MSG_NOSIGNAL);
      }
    };
    auto [got, sent] = co_await when_all(recv_count(s, packets + 4), bytes(p));
    (void)sent;
    co_return got;
  };
  EXPECT_EQ(loop.run(both(stream, peer)), std::string(packets, 'x') + "more");
}
