#include "trace_hooks.hpp"

#include "options.hpp"

#include <tether/sock_diag.hpp>
#include <tether/tcp_segment.hpp>

#include <fmt/format.h>

#include <chrono>
#include <optional>
#include <utility>

namespace tether::cli {

namespace {

using Clock = std::chrono::steady_clock;

struct Trace {
  bool enabled = false;
  Clock::time_point origin = Clock::now();
  Clock::time_point connect_start = origin;
};

Trace& trace() {
  static Trace t;
  return t;
}

double ms_since(Clock::time_point since, Clock::time_point now = Clock::now()) {
  return std::chrono::duration<double, std::milli>(now - since).count();
}

double ms(std::chrono::microseconds us) { return static_cast<double>(us.count()) / 1000.0; }

/// One timeline line: "trace  +1.234 ms  STEP  detail" (or a JSON "trace" event), at `at`.
void say(const EventLog& log, std::string_view step, const std::string& detail, Clock::time_point at = Clock::now()) {
  const double t = ms_since(trace().origin, at);
  if (log.format() == EventFormat::json) {
    Event e("trace");
    e.add("t_ms", t).add("step", step).add("detail", detail);
    log.emit(e);
    return;
  }
  write_stderr(fmt::format("trace {:>10.3f} ms  {:<12} {}\n", t, step, detail));
}

std::string yes_no(bool v) { return v ? "yes" : "no"; }

std::string negotiated(const TcpInfo& t) {
  std::string wscale = t.window_scaling ? fmt::format("{} (ours) / {} (peer's)", t.receive_wscale, t.send_wscale) : "off";
  return fmt::format("MSS {} out / {} in, window scale {}, SACK {}, timestamps {}, ECN {}", t.send_mss,
                     t.receive_mss, wscale, yes_no(t.sack), yes_no(t.timestamps), yes_no(t.ecn));
}

std::string syn_text(const TcpSegment& s) {
  std::string opts;
  if (s.mss) opts += fmt::format(", MSS {}", *s.mss);
  opts += s.window_scale ? fmt::format(", window scale {}", *s.window_scale) : ", no window scale";
  opts += s.sack_permitted ? ", SACK permitted" : ", no SACK";
  opts += s.timestamp ? ", timestamps" : ", no timestamps";
  opts += s.ecn_setup ? ", ECN requested" : ", no ECN";
  return fmt::format("client's SYN from {}: TTL {}, window {}{}", s.source.to_string(), s.ttl, s.window, opts);
}

/// What a state change on this side means, in the words of the 4-way close.
std::string state_meaning(std::uint8_t from, std::uint8_t to) {
  switch (static_cast<TcpState>(to)) {
    case TcpState::fin_wait1: return "FIN sent: this side closed its write direction (FIN-WAIT-1)";
    case TcpState::fin_wait2: return "our FIN was acknowledged (FIN-WAIT-2): waiting for the peer's FIN";
    case TcpState::close_wait: return "FIN received: the peer closed its side (CLOSE-WAIT)";
    case TcpState::last_ack: return "FIN sent after the peer's (LAST-ACK): waiting for its ACK";
    case TcpState::closing: return "the two FINs crossed (CLOSING)";
    case TcpState::time_wait: return "TIME-WAIT";
    case TcpState::close:
      if (from == static_cast<std::uint8_t>(TcpState::fin_wait2) ||
          from == static_cast<std::uint8_t>(TcpState::fin_wait1) ||
          from == static_cast<std::uint8_t>(TcpState::closing)) {
        return "the peer's FIN arrived: both sides closed, the connection moved to TIME-WAIT";
      }
      if (from == static_cast<std::uint8_t>(TcpState::last_ack)) return "our FIN was acknowledged: closed";
      if (from == static_cast<std::uint8_t>(TcpState::established)) {
        return "FINs exchanged both ways within one sample (< 1 ms): closed";
      }
      return "closed";
    default: return fmt::format("state {}", tcp_state_name(to));
  }
}

}  // namespace

void add_trace_option(CLI::App& cmd) {
  cmd.add_flag("--trace", trace().enabled,
               "Print a timeline of the TCP connection: handshake, options, first bytes, FINs, TIME-WAIT");
}

bool trace_enabled() noexcept { return trace().enabled; }

void check_trace_applies(bool applies, std::string_view why_not) {
  if (trace().enabled && !applies) throw UsageError(fmt::format("--trace {}", why_not));
}

void trace_connect_start(const EventLog& log, std::string_view host, std::string_view port, IpFamily family) {
  if (!trace().enabled) return;
  trace().origin = Clock::now();
  ResolveOptions ro;
  ro.family = family;
  auto addresses = resolve(host, port, ro);
  const double took = ms_since(trace().origin);
  if (addresses) {
    say(log, "resolve", fmt::format("{}: {} address(es) in {:.3f} ms, first {}", host_port_text(host, port),
                                    addresses->size(), took, addresses->empty() ? "-" : addresses->front().to_string()));
  } else {
    say(log, "resolve", fmt::format("{}: {}", host_port_text(host, port), describe(addresses.error())));
  }
  trace().connect_start = Clock::now();
  say(log, "SYN ->", "connect(): the kernel sends SYN with its initial sequence number");
}

void trace_listener(const EventLog& log, TcpListener& listener) {
  if (!trace().enabled) return;
  trace().origin = Clock::now();
  auto st = save_syns(listener);
  say(log, "listen", st ? "listening; the kernel saves each client's SYN (TCP_SAVE_SYN)"
                        : "listening; saving SYNs failed: " + describe(st.error()));
}

struct TraceSession::State {
  const EventLog& log;
  const TcpStream& stream;
  Result<Endpoint> local;
  Result<Endpoint> peer;
  std::atomic<bool> stop{false};
  std::uint8_t state = 0;
  /// The move to CLOSE, told in finish(): only the relay knows whether FINs or a reset did it.
  std::optional<std::pair<std::uint8_t, Clock::time_point>> closed_from;
  bool first_in = false;
  bool first_out = false;

  State(const EventLog& l, const TcpStream& s) : log(l), stream(s) {}

  /// Reports what changed since the last sample.
  void sample() {
    auto info = stream.tcp_info();
    if (!info) return;
    if (!first_in && info->bytes_received > 0) {
      first_in = true;
      say(log, "<- data", fmt::format("first byte received ({} bytes so far)", info->bytes_received));
    }
    if (!first_out && info->bytes_sent > 0) {
      first_out = true;
      say(log, "data ->", fmt::format("first byte sent ({} bytes so far)", info->bytes_sent));
    }
    if (info->state != state) {
      if (info->state == static_cast<std::uint8_t>(TcpState::close)) {
        closed_from = {state, Clock::now()};
      } else {
        say(log, tcp_state_name(info->state), state_meaning(state, info->state));
      }
      state = info->state;
    }
  }
};

TraceSession::TraceSession(const EventLog& log, const TcpStream& stream, bool accepted) {
  if (!trace().enabled) return;
  state_ = std::make_unique<State>(log, stream);
  state_->local = stream.local_endpoint();
  state_->peer = stream.peer_endpoint();
  if (accepted) {
    if (auto syn = saved_syn(stream)) say(log, "<- SYN", syn_text(*syn));
    say(log, "accepted", "handshake complete (SYN, SYN-ACK, ACK): accept() returned the new socket");
  }
  auto info = stream.tcp_info();
  if (info) {
    if (!accepted) {
      say(log, "<- SYN-ACK", fmt::format("established: connect() took {:.3f} ms; the kernel's RTT sample {:.3f} ms",
                                         ms_since(trace().connect_start), ms(info->rtt)));
    }
    say(log, "options", negotiated(*info));
    state_->state = info->state;
  }
  sampler_ = std::thread([s = state_.get()] {
    while (!s->stop.load(std::memory_order_relaxed)) {
      s->sample();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
}

TraceSession::~TraceSession() {
  if (sampler_.joinable()) {
    state_->stop = true;
    sampler_.join();
  }
}

void TraceSession::finish(const RelayStats& stats) {
  if (!state_) return;
  state_->stop = true;
  if (sampler_.joinable()) sampler_.join();
  state_->sample();
  const EventLog& log = state_->log;
  const auto& closed = state_->closed_from;
  if (stats.error == std::errc::connection_reset) {
    const auto from = closed ? closed->first : state_->state;
    say(log, "<- RST", fmt::format("the peer reset the connection in {}: closed at once, no 4-way close",
                                   tcp_state_name(from)), closed ? closed->second : Clock::now());
  } else if (closed) {
    say(log, "CLOSED", state_meaning(closed->first, static_cast<std::uint8_t>(TcpState::close)), closed->second);
  }
  say(log, "closed", fmt::format("{} bytes in, {} bytes out; {} closed first", stats.bytes_in, stats.bytes_out,
                                 closer_name(stats.closed_first)));
  if (!state_->local || !state_->peer) return;
  SockDiagQuery q;
  q.udp = q.unix_sockets = false;
  q.tcp_info = false;
  q.family = state_->local->family() == AF_INET6 ? IpFamily::ipv6 : IpFamily::ipv4;
  q.states = state_bit(TcpState::time_wait);
  if (auto all = list_sockets(q)) {
    for (const auto& e : *all) {
      if (e.local == *state_->local && e.peer == *state_->peer) {
        say(log, "TIME-WAIT", fmt::format("this side closed first: the kernel keeps {} -> {} for {} ms more (sock_diag)",
                                          e.local.to_string(), e.peer.to_string(), e.timer_expires.count()));
      }
    }
  }
}

}  // namespace tether::cli
