// trace_hooks.hpp: `--trace` for connect and listen: the life of tether's own TCP connection.
//
// A timeline on stderr (JSON "trace" events with --json): resolve, connect() and the handshake
// (its duration and the kernel's first RTT sample), the options negotiated (TCP_INFO: MSS, window
// scale, SACK, timestamps, ECN), on the listening side the client's SYN as the kernel saved it
// (TCP_SAVE_SYN: TTL, MSS, options), then the first byte each way, FIN sent and received, the
// states of the close (FIN-WAIT, CLOSE-WAIT, LAST-ACK, TIME-WAIT from sock_diag) or a reset.
// No privilege is needed. While the relay runs, a helper thread samples TCP_INFO every
// millisecond and reports changes, so times are good to about 1 ms.
// Each hook does nothing unless --trace was given. Threads: the command's thread, plus the
// sampler that TraceSession owns and joins.
#pragma once

#include "events.hpp"
#include "relay.hpp"

#include <tether/resolve.hpp>
#include <tether/tcp.hpp>

#include <CLI/CLI.hpp>

#include <atomic>
#include <memory>
#include <string_view>
#include <thread>

namespace tether::cli {

/// Adds --trace to connect or listen.
void add_trace_option(CLI::App& cmd);
bool trace_enabled() noexcept;

/// UsageError when --trace is given where there is no TCP connection to trace (UDP, Unix sockets,
/// a serving mode).
void check_trace_applies(bool applies, std::string_view why_not);

/// connect: times a resolution of host/port and marks the start of connect().
void trace_connect_start(const EventLog& log, std::string_view host, std::string_view port, IpFamily family);
/// listen: asks the kernel to save each client's SYN, and starts the clock.
void trace_listener(const EventLog& log, TcpListener& listener);

/// From established (connected or accepted) to closed: reports the handshake now, samples TCP_INFO
/// while the relay runs, and reports the close in finish().
class TraceSession {
 public:
  TraceSession(const EventLog& log, const TcpStream& stream, bool accepted);
  ~TraceSession();
  TraceSession(const TraceSession&) = delete;
  TraceSession& operator=(const TraceSession&) = delete;
  /// After the relay (before the stream is closed): stops sampling, reports the close.
  void finish(const RelayStats& stats);

 private:
  struct State;
  std::unique_ptr<State> state_;
  std::thread sampler_;
};

}  // namespace tether::cli
