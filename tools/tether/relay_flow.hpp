// relay_flow.hpp: one relayed flow between two stream sides on an event loop, both directions
// at once (tether relay, listen --exec).
//
// A FlowSide is one end: an accepted client (tether::Connection, with the server's backpressure)
// or a stream the relay opened (AsyncTcpStream: TCP, Unix, an exec child's socketpair, a proxied
// connection). run_flow() pumps A->B and B->A concurrently:
//   - reads borrow the loop's buffer; a write that the socket takes at once copies nothing, the
//     rest is copied once and written in the background, so at most one chunk per direction is
//     in flight: a side that does not read stops the other side being read (backpressure);
//   - end of stream on one side becomes shutdown(write) on the other (half-close carried through);
//     the other direction goes on until its own end;
//   - an error on either side (reset, ...) ends both directions;
//   - a side with ends_flow (an exec child) ends the flow when it closes: its peer is flushed,
//     shut down for writing and no longer read;
//   - idle: with a timeout, a flow in which no byte moved for that long is closed.
// With `splice` (tether relay's default between two plain sockets, relay_splice.cpp) the bytes
// never enter user space: each direction moves socket -> pipe -> socket with splice(2)
// (SPLICE_F_MOVE | SPLICE_F_NONBLOCK), waiting on the loop for readiness after EAGAIN, with the
// same half-close, backpressure (a pipe's worth in flight), idle and counting rules; a direction
// whose splice says EINVAL goes on by copying. --no-splice or TETHER_RELAY_SPLICE=0 copies.
// FlowStats counts both directions, the duration and who closed first; RelayCounters sums every
// flow of the process (for SIGUSR1 and the summary), from any thread.
#pragma once

#include "events.hpp"

#include <tether/async_tcp.hpp>
#include <tether/connection.hpp>
#include <tether/task.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace tether::cli {

class FlowSide {
 public:
  virtual ~FlowSide() = default;
  /// Borrowed bytes (valid until the caller next suspends); empty: end of stream.
  virtual Task<Result<std::span<const std::byte>>> read() = 0;
  /// All of `data`, which may be borrowed (it is copied before any suspension).
  virtual Task<Status> write(std::span<const std::byte> data) = 0;
  /// Flushes, then shutdown(write).
  virtual Task<void> shutdown_write() = 0;
  /// shutdown(read): a pending read ends as at end of stream.
  virtual void stop_reading() = 0;
  /// Ends everything at once (pending operations fail).
  virtual void abort() = 0;
  bool ends_flow = false;  ///< its end of stream ends the whole flow (exec children)

  /// For splice(2): the socket's fd, or -1 when this side can only copy.
  virtual int splice_fd() noexcept { return -1; }
  /// After a splice on splice_fd() said EAGAIN: waits until the socket is ready again.
  virtual detail::WaitOp wait_ready(bool writable) noexcept { return {nullptr, nullptr, writable, Deadline()}; }
  /// Bytes a splice moved from (in) or to (out) this side: activity for the idle timeout.
  virtual void note_moved(std::size_t /*in*/, std::size_t /*out*/) noexcept {}
};

class StreamSide final : public FlowSide {
 public:
  explicit StreamSide(AsyncTcpStream& stream) : stream_(&stream) {}
  Task<Result<std::span<const std::byte>>> read() override;
  Task<Status> write(std::span<const std::byte> data) override;
  Task<void> shutdown_write() override;
  void stop_reading() override;
  void abort() override;
  int splice_fd() noexcept override;
  detail::WaitOp wait_ready(bool writable) noexcept override;

 private:
  AsyncTcpStream* stream_;
  std::vector<std::byte> pending_;
};

class ConnectionSide final : public FlowSide {
 public:
  explicit ConnectionSide(Connection& c) : conn_(&c) {}
  Task<Result<std::span<const std::byte>>> read() override;
  Task<Status> write(std::span<const std::byte> data) override;
  Task<void> shutdown_write() override;
  void stop_reading() override;
  void abort() override;
  int splice_fd() noexcept override;
  detail::WaitOp wait_ready(bool writable) noexcept override;
  void note_moved(std::size_t in, std::size_t out) noexcept override;

 private:
  Connection* conn_;
};

enum class FlowEnd : std::uint8_t { none, a, b };

struct FlowStats {
  std::uint64_t a_to_b = 0;
  std::uint64_t b_to_a = 0;
  FlowEnd closed_first = FlowEnd::none;
  bool idle_timed_out = false;
  bool spliced = false;  ///< a direction moved its bytes with splice(2)
  bool copied = false;   ///< a direction copied through user space
  std::error_code error;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_activity = start;
};

/// Process-wide totals, updated by every flow (relaxed atomics).
struct RelayCounters {
  std::atomic<std::uint64_t> flows{0};
  std::atomic<std::uint64_t> active{0};
  std::atomic<std::uint64_t> failed{0};   ///< flows that ended with an error or could not open
  std::atomic<std::uint64_t> a_to_b{0};
  std::atomic<std::uint64_t> b_to_a{0};
};
RelayCounters& relay_counters();

/// Relays until both directions ended (or an error, or the idle timeout). `splice`: by splice(2)
/// when both sides have a splice_fd() (see above), else by copying.
Task<void> run_flow(FlowSide& a, FlowSide& b, FlowStats& stats,
                    std::optional<std::chrono::milliseconds> idle, bool splice = false);

/// One direction of a flow: relay_flow.cpp copies, relay_splice.cpp splices (and copies after
/// EINVAL).
struct Direction {
  FlowSide& from;
  FlowSide& to;
  FlowEnd from_end;
  std::uint64_t& bytes;
  std::atomic<std::uint64_t>& total;
  FlowStats& stats;
};
Task<void> copy_direction(Direction d);
Task<void> splice_direction(Direction d);

/// False when TETHER_RELAY_SPLICE=0 is in the environment.
bool splice_allowed_by_env() noexcept;

/// The "flow" event: both 5-tuples ("a_peer", "a_local", "b_local", "b_peer"), bytes each way,
/// duration, who closed first, "path" ("splice", "copy" or "mixed"), the error if any.
struct FlowEnds {
  std::string a_proto, a_peer, a_local, b_proto, b_local, b_peer;
};
void emit_flow(const EventLog& log, const FlowEnds& ends, const FlowStats& stats);

/// "counters" (SIGUSR1) and "summary" (at the end): the totals of relay_counters().
void emit_counters(const EventLog& log, std::string_view name);

/// Blocks SIGUSR1 and SIGCHLD in the calling thread (call before any thread starts) and runs a
/// thread that prints the counters on SIGUSR1 and reaps exited children (no zombies), until
/// the object is destroyed.
class SignalThread {
 public:
  explicit SignalThread(const EventLog& log);
  ~SignalThread();
  SignalThread(const SignalThread&) = delete;
  SignalThread& operator=(const SignalThread&) = delete;

 private:
  struct State;
  State* state_;
};

}  // namespace tether::cli
