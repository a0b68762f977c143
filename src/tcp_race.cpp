// src/tcp_race.cpp: TcpStream::race(), Happy Eyeballs (RFC 8305) with poll() instead of an event
// loop: the blocking twin of AsyncTcpStream::connect(loop, addresses) (async/happy_eyeballs.cpp).
#include <tether/tcp.hpp>

#include "sys.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

namespace tether {

namespace {

using Clock = std::chrono::steady_clock;

// RFC 8305 section 4: the first address's family first, then the families alternate.
std::vector<Endpoint> interleave(std::span<const Endpoint> in) {
  std::vector<Endpoint> out;
  if (in.empty()) return out;
  const int first = in.front().family();
  std::vector<Endpoint> preferred;
  std::vector<Endpoint> other;
  for (const auto& e : in) (e.family() == first ? preferred : other).push_back(e);
  out.reserve(in.size());
  for (std::size_t i = 0; i < preferred.size() || i < other.size(); ++i) {
    if (i < preferred.size()) out.push_back(preferred[i]);
    if (i < other.size()) out.push_back(other[i]);
  }
  return out;
}

struct Attempt {
  Socket socket;
  Endpoint address;
};

// A connected socket that is connected to itself (a local port in the ephemeral range answering
// its own SYN) is no server: refused, as TcpStream::connect says.
std::error_code check_connected(const Socket& s) {
  auto local = s.local_endpoint();
  auto peer = s.peer_endpoint();
  if (!peer) return peer.error();
  if (local && *local == *peer) return std::make_error_code(std::errc::connection_refused);
  return {};
}

}  // namespace

Result<TcpStream> TcpStream::race(std::span<const Endpoint> addresses, const ConnectOptions& options,
                                  std::vector<ConnectFailure>* failures) {
  std::vector<Endpoint> order = interleave(addresses);
  if (options.source) {
    std::erase_if(order, [&](const Endpoint& e) { return e.family() != options.source->family(); });
  }
  if (order.empty()) return fail(Errc::no_address);
  std::error_code last = std::make_error_code(std::errc::timed_out);
  std::vector<Attempt> running;
  std::size_t next = 0;
  Clock::time_point next_start = Clock::now();
  auto record = [&](const Endpoint& where, std::error_code ec, bool bind = false) {
    if (failures != nullptr) failures->push_back({where, ec, bind});
    last = ec;
    next_start = Clock::now();  // a failure starts the next address at once
  };
  for (;;) {
    // Start the next attempt when its time has come or nothing is running.
    while (next < order.size() && (running.empty() || Clock::now() >= next_start)) {
      const Endpoint& where = order[next++];
      next_start = Clock::now() + options.attempt_delay;
      if (!where.is_ip()) {  // a Unix endpoint has nothing to race: one blocking attempt
        auto s = connect(where, options);
        if (s) return s;
        record(where, s.error());
        continue;
      }
      auto sock = Socket::open(where.family(), SocketType::stream);
      if (!sock) {
        record(where, sock.error());
        continue;
      }
      if (options.source) {
        if (auto st = sock->bind(*options.source); !st) {
          record(*options.source, st.error(), true);
          return fail(st.error());
        }
      }
      if (::connect(sock->fd(), where.data(), where.size()) == 0) {
        if (auto ec = check_connected(*sock); ec) {
          record(where, ec);
          continue;
        }
        return TcpStream(std::move(*sock));
      }
      if (errno != EINPROGRESS && errno != EINTR) {
        record(where, errno_code(errno));
        continue;
      }
      running.push_back({std::move(*sock), where});
    }
    if (running.empty()) return fail(last);  // every address failed
    if (options.deadline.expired()) {
      for (const auto& a : running) record(a.address, std::make_error_code(std::errc::timed_out));
      return fail(std::make_error_code(std::errc::timed_out));
    }
    // Wait for a result, the next attempt's start or the deadline, whichever comes first.
    Deadline wake = options.deadline;
    if (next < order.size()) wake = earliest(wake, Deadline::at(next_start));
    std::vector<pollfd> fds;
    fds.reserve(running.size());
    for (const auto& a : running) fds.push_back({a.socket.fd(), POLLOUT, 0});
    int n = ::poll(fds.data(), fds.size(), wake.timeout_ms());
    if (n < 0 && errno != EINTR) return fail(errno_code(errno));
    if (n <= 0) continue;
    for (std::size_t i = fds.size(); i-- > 0;) {
      if (fds[i].revents == 0) continue;
      Attempt& a = running[i];
      std::error_code ec;
      auto err = a.socket.take_error();
      if (!err) {
        ec = err.error();
      } else if (*err != 0) {
        ec = errno_code(*err);
      } else {
        ec = check_connected(a.socket);
      }
      if (!ec) return TcpStream(std::move(a.socket));  // the losers close with `running`
      record(a.address, ec);
      running.erase(running.begin() + static_cast<std::ptrdiff_t>(i));
    }
  }
}

}  // namespace tether
