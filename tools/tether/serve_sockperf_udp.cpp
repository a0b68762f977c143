// serve_sockperf_udp.cpp: `tether listen --sockperf -u`, the datagram reflector (serve_sockperf.hpp).
//
// Each datagram gets at most ONE reply datagram, never larger than it: the messages in it that
// want an answer (Header::wants_reply), each with its client flag cleared, back to back in their
// order. The sockperf client sends one message per datagram, so it sees exactly what the stock
// `sockperf server` sends it; a crafted datagram packing thousands of small messages cannot turn
// into thousands of reply datagrams (the stock server 3.7 sends one per message). Bytes after the
// last whole message, and datagrams that hold no whole message, get nothing. --allow/--deny drop
// the datagrams of refused senders unanswered.
#include "serve_sockperf.hpp"

#include <tether/sockperf.hpp>

#include <sys/socket.h>

#include <cstring>
#include <span>
#include <vector>

namespace tether::cli::sockperf_detail {

namespace sp = tether::sockperf;

namespace {

// Turns the datagram in `dgram` into its reply, in place; returns the reply's size (0: none).
std::size_t make_datagram_reply(std::span<std::byte> dgram, Totals& totals) {
  std::size_t read = 0;
  std::size_t written = 0;
  while (read < dgram.size()) {
    auto message = sp::first_message(dgram.subspan(read));
    if (!message || !*message) {
      if (read == 0) ++totals.errors;  // no whole message at all: dropped, as sockperf does
      break;
    }
    const std::size_t len = (*message)->bytes.size();
    ++totals.messages;
    if ((*message)->header.wants_reply()) {
      if (written != read) std::memmove(dgram.data() + written, dgram.data() + read, len);
      sp::make_reply(dgram.subspan(written, len));
      written += len;
      ++totals.replies;
    }
    read += len;
  }
  return written;
}

}  // namespace

int serve_datagrams(const ListenSettings& s, UdpSocket socket, int sigfd, const AccessList& acl) {
  constexpr int kBatch = 32;
  const int fd = socket.socket().fd();
  make_blocking_with_timeout(fd, std::chrono::milliseconds(20));
  std::vector<std::byte> storage(static_cast<std::size_t>(kBatch) * sp::default_max_size);
  mmsghdr msgs[kBatch];
  iovec iov[kBatch];
  sockaddr_storage from[kBatch];
  Totals totals;
  for (std::uint64_t round = 1;; ++round) {
    for (int i = 0; i < kBatch; ++i) {
      iov[i] = {storage.data() + static_cast<std::size_t>(i) * sp::default_max_size, sp::default_max_size};
      msgs[i] = {};
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_name = &from[i];
      msgs[i].msg_hdr.msg_namelen = sizeof from[i];
    }
    // Blocks (20 ms at most) for the first datagram, then takes what else is queued.
    const int n = ::recvmmsg(fd, msgs, kBatch, MSG_WAITFORONE, nullptr);
    if (n <= 0 || round % kSoloChecks == 0) {
      if (signal_pending(sigfd)) {
        emit_summary(s, totals, true);
        return exit_ok;
      }
      if (n <= 0) continue;  // timeout, or an ICMP error from an earlier reply: keep serving
    }
    for (int i = 0; i < n; ++i) {
      const auto* name = static_cast<const sockaddr*>(msgs[i].msg_hdr.msg_name);
      const socklen_t name_len = msgs[i].msg_hdr.msg_namelen;
      if (!acl.empty()) {
        auto peer = Endpoint::from_sockaddr(name, name_len);
        if (!peer || !acl.permits(*peer)) {
          ++totals.rejected;
          continue;
        }
      }
      std::span<std::byte> dgram(static_cast<std::byte*>(iov[i].iov_base), msgs[i].msg_len);
      const std::size_t reply = make_datagram_reply(dgram, totals);
      if (reply == 0) continue;
      if (::sendto(fd, dgram.data(), reply, MSG_NOSIGNAL | MSG_DONTWAIT, name, name_len) >= 0) {
        ++totals.datagrams_out;
      }
    }
  }
}

}  // namespace tether::cli::sockperf_detail
