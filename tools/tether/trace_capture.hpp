// trace_capture.hpp: capturing the TCP segments of one port with AF_PACKET and a classic BPF filter.
//
// The filter runs in the kernel, so only IPv4/IPv6 TCP packets to or from the port reach tether.
// It is attached before the socket is bound to an interface, so no packet slips in unfiltered.
// On a loopback interface every packet passes twice (sent, then received): the sent copy is
// dropped. Needs CAP_NET_RAW: without it open() fails with EPERM.
// Threads: one thread at a time.
#pragma once

#include <tether/deadline.hpp>
#include <tether/socket.hpp>
#include <tether/tcp_segment.hpp>

#include <cstdint>
#include <string>

namespace tether::cli {

class PortCapture {
 public:
  /// `interface`: a name ("lo", "eth0") or "any".
  static Result<PortCapture> open(std::uint16_t port, const std::string& interface);
  /// The next TCP segment, or timed_out at the deadline.
  Result<TcpSegment> next(Deadline deadline);

 private:
  Socket socket_;
  int loopback_index_ = 0;  ///< where sent copies are skipped (0: none)
};

}  // namespace tether::cli
