// The datagram relay: one poll() loop over the socket and stdin.
#include "relay.hpp"
#include "stdio.hpp"

#include <poll.h>

#include <cerrno>
#include <vector>

namespace tether::cli {

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t max_send = 65507;          // the largest UDP payload over IPv4
constexpr std::size_t receive_size = 256 * 1024;  // Unix datagrams may exceed UDP's limit

int wait_ms(std::optional<std::chrono::milliseconds> limit, Clock::time_point since) {
  if (!limit) return -1;
  auto left = since + *limit - Clock::now();
  if (left <= Clock::duration::zero()) return 0;
  return static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(left).count());
}

bool transient(const std::error_code& ec) {
  return ec == std::errc::operation_would_block || ec == std::errc::resource_unavailable_try_again ||
         ec == std::errc::interrupted || ec == std::errc::timed_out;
}

/// poll() said ready: the call tries once and never blocks (a spurious wake-up is "timed out").
Deadline no_wait() { return Deadline(std::chrono::milliseconds(0)); }

}  // namespace

RelayStats relay_datagrams(UdpSocket& socket, const DatagramRelayOptions& options) {
  RelayStats stats;
  const auto start = Clock::now();
  auto last = start;
  bool stdin_open = options.in_fd >= 0;
  std::optional<Endpoint> peer;
  bool warned_unnamed = false;
  std::vector<std::byte> rbuf(receive_size);
  std::vector<std::byte> sbuf(max_send);

  auto finish = [&](std::error_code ec, const char* context) {
    stats.error = ec;
    stats.error_context = context;
    stats.duration = Clock::now() - start;
    return stats;
  };

  for (;;) {
    const bool want_stdin = stdin_open && (options.connected || peer.has_value());
    pollfd fds[2] = {{socket.socket().fd(), POLLIN, 0}, {options.in_fd, POLLIN, 0}};
    const auto limit = stdin_open ? options.idle_timeout : options.linger_after_eof;
    int r = ::poll(fds, want_stdin ? 2 : 1, wait_ms(limit, last));
    if (r < 0) {
      if (errno == EINTR) continue;
      return finish({errno, std::system_category()}, "poll");
    }
    if (r == 0) {
      if (limit && Clock::now() >= last + *limit) {
        stats.idle_timed_out = stdin_open;
        break;
      }
      continue;
    }

    if (fds[0].revents != 0) {
      auto d = socket.recv_from(std::span<std::byte>(rbuf), no_wait());
      if (!d) {
        if (!transient(d.error())) return finish(d.error(), "read");
      } else if (!options.admit || options.admit(d->from)) {
        if (d->truncated) ++stats.truncated;
        // -w also bounds a wait on a stdout nobody reads.
        if (auto ec = write_fully_within(options.out_fd, std::span<const std::byte>(rbuf.data(), d->size),
                                         stdin_open ? options.idle_timeout : options.linger_after_eof)) {
          return finish(ec, "stdout");
        }
        stats.bytes_in += d->size;
        ++stats.datagrams_in;
        last = Clock::now();
        if (!options.connected && (!peer || *peer != d->from)) {
          peer = d->from;
          if (options.on_new_peer) options.on_new_peer(*peer);
        }
      }
    }

    if (want_stdin && fds[1].revents != 0) {
      long n = read_some_fd(options.in_fd, sbuf);
      if (n < 0) {
        if (errno == EAGAIN) continue;
        return finish({errno, std::system_category()}, "stdin");
      }
      if (n == 0) {
        stdin_open = false;
        stats.closed_first = Closer::local;
        last = Clock::now();  // the wait for replies starts now
        continue;
      }
      std::span<const std::byte> data(sbuf.data(), static_cast<std::size_t>(n));
      Result<std::size_t> sent = 0;
      if (options.connected) {
        sent = socket.send(data);
      } else if (peer->kind() == EndpointKind::none) {
        if (!warned_unnamed) {
          warned_unnamed = true;
          std::string_view msg = "tether: the last sender has no address to answer; stdin dropped\n";
          (void)write_fully(2, std::as_bytes(std::span(msg.data(), msg.size())));
        }
        continue;
      } else {
        sent = socket.send_to(data, *peer);
      }
      if (!sent) return finish(sent.error(), "write");
      stats.bytes_out += *sent;
      ++stats.datagrams_out;
      last = Clock::now();
    }
  }
  stats.duration = Clock::now() - start;
  return stats;
}

}  // namespace tether::cli
