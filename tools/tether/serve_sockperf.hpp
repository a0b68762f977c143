// serve_sockperf.hpp: what the two halves of `tether listen --sockperf` share (serve_sockperf.cpp
// for TCP, serve_sockperf_udp.cpp for UDP): signals, blocking receives with a timeout, totals.
#pragma once

#include "listen.hpp"

#include <tether/cidr.hpp>

#include <chrono>
#include <cstdint>

namespace tether::cli::sockperf_detail {

constexpr int kSoloChecks = 64;  // look at the listener and signals every 64 messages

struct Totals {
  std::uint64_t connections = 0;
  std::uint64_t messages = 0;
  std::uint64_t replies = 0;          ///< messages answered
  std::uint64_t datagrams_out = 0;    ///< UDP: reply datagrams (at most one per datagram received)
  std::uint64_t rejected = 0;         ///< denied peers, clients over --max-conns, shed clients
  std::uint64_t errors = 0;
};

/// Blocking mode with a receive timeout: a plain recv() waits at most `timeout`, while
/// MSG_DONTWAIT calls stay non-blocking.
void make_blocking_with_timeout(int fd, std::chrono::milliseconds timeout);
/// True when SIGINT or SIGTERM arrived on `sigfd` (consumes it).
bool signal_pending(int sigfd);
void emit_summary(const ListenSettings& s, const Totals& t, bool udp);
/// "rejected" event (-v/--json).
void emit_rejected(const ListenSettings& s, const Endpoint& peer, std::string_view reason);

/// The UDP reflector: one reply datagram per datagram received (serve_sockperf_udp.cpp).
int serve_datagrams(const ListenSettings& s, UdpSocket socket, int sigfd, const AccessList& acl);

}  // namespace tether::cli::sockperf_detail
