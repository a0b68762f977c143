#include "trace_ladder.hpp"

#include "events.hpp"

#include <fmt/format.h>

namespace tether::cli {

namespace {

constexpr std::size_t arrow_width = 66;

/// True when ack acknowledges the FIN at fin_seq (sequence arithmetic modulo 2^32).
bool acks(std::uint32_t ack, std::uint32_t fin_seq) {
  return static_cast<std::int32_t>(ack - (fin_seq + 1)) >= 0;
}

std::string options_text(const TcpSegment& s) {
  std::string t;
  if (s.mss) t += fmt::format(" mss={}", *s.mss);
  if (s.window_scale) t += fmt::format(" wscale={}", *s.window_scale);
  if (s.sack_permitted) t += " sackOK";
  if (s.timestamp) t += " TS";
  if (s.ecn_setup) t += " ECN";
  return t;
}

}  // namespace

Ladder::Connection& Ladder::find(const TcpSegment& s, bool& from_client) {
  const std::string fwd = s.source.to_string() + "|" + s.destination.to_string();
  const std::string rev = s.destination.to_string() + "|" + s.source.to_string();
  if (auto it = connections_.find(fwd); it != connections_.end() && !it->second.done) {
    from_client = true;
    return it->second;
  }
  if (auto it = connections_.find(rev); it != connections_.end() && !it->second.done) {
    from_client = false;
    return it->second;
  }
  // A new connection: the SYN's sender is the client; mid-stream, the side on the port is the server.
  from_client = s.has(tcp_syn) ? !s.has(tcp_ack) : s.destination.port() == server_port_;
  Connection c;
  c.client = from_client ? s.source : s.destination;
  c.server = from_client ? s.destination : s.source;
  auto& slot = connections_[from_client ? fwd : rev];
  slot = c;
  return slot;
}

LadderStep Ladder::describe(const TcpSegment& s, double t_ms) {
  LadderStep step;
  step.t_ms = t_ms;
  step.segment = s;
  Connection& c = find(s, step.from_client);
  step.client = c.client.to_string();
  step.server = c.server.to_string();
  Side& me = step.from_client ? c.c : c.s;
  Side& other = step.from_client ? c.s : c.c;
  const char* who = step.from_client ? "client" : "server";
  if (s.has(tcp_syn)) me.isn = s.seq;
  if (!me.isn) me.isn = s.seq - 1;  // joined mid-stream: the first byte seen counts as 1
  step.seq = s.seq - *me.isn;
  step.ack = s.has(tcp_ack) && other.isn ? s.ack - *other.isn : (s.has(tcp_ack) ? s.ack : 0);

  std::string note;
  if (s.has(tcp_rst)) {
    note = fmt::format("reset: the {} aborts the connection", who);
    c.done = true;
  } else if (s.has(tcp_syn) && !s.has(tcp_ack)) {
    c.handshake = 1;
    note = "handshake 1/3: SYN, the client's ISN";
  } else if (s.has(tcp_syn)) {
    c.handshake = 2;
    note = "handshake 2/3: SYN-ACK, the server's ISN";
  } else if (c.handshake == 2 && step.from_client && s.has(tcp_ack)) {
    c.handshake = 3;
    note = "handshake 3/3: ACK, established";
  }
  // The close: FINs and the ACKs of FINs, counted in order (a segment may do both).
  std::string close;
  if (s.has(tcp_ack) && other.fin_sent && !other.fin_acked && acks(s.ack, other.fin_seq)) {
    other.fin_acked = true;
    ++c.close_steps;
    close = fmt::format("close {}/4: the {} acknowledges the FIN", c.close_steps, who);
  }
  if (s.has(tcp_fin) && !me.fin_sent) {
    me.fin_sent = true;
    me.fin_seq = s.seq + static_cast<std::uint32_t>(s.payload_size);
    ++c.close_steps;
    close = close.empty() ? fmt::format("close {}/4: the {} sends FIN", c.close_steps, who)
                          : fmt::format("close {}+{}/4: the {} acknowledges and sends its own FIN",
                                        c.close_steps - 1, c.close_steps, who);
  }
  if (!close.empty()) note = close;
  if (c.c.fin_acked && c.s.fin_acked && !s.has(tcp_rst)) {
    c.done = true;
    note += "; closed (the side that sent the first FIN waits in TIME-WAIT)";
  }
  if (note.empty() && s.payload_size > 0) note = fmt::format("data: {} bytes", s.payload_size);
  step.note = note;
  step.connection_done = c.done;
  return step;
}

std::string draw_header(const LadderStep& step) {
  const std::string left = "client " + step.client;
  const std::string right = "server " + step.server;
  const std::size_t gap = left.size() + right.size() < arrow_width ? arrow_width - left.size() - right.size() : 1;
  return fmt::format("{:>10}  {}{}{}\n", "ms", left, std::string(gap, ' '), right);
}

std::string draw_step(const LadderStep& step, bool absolute) {
  const TcpSegment& s = step.segment;
  const std::uint32_t seq = absolute ? s.seq : step.seq;
  std::string label = fmt::format(" {} seq={}", s.flags_text(), seq);
  if (s.has(tcp_ack)) label += fmt::format(" ack={}", absolute ? s.ack : step.ack);
  if (s.has(tcp_syn) && !absolute) label += fmt::format(" (ISN {})", s.seq);
  if (s.payload_size > 0) label += fmt::format(" len={}", s.payload_size);
  label += fmt::format(" win={}", s.window);
  if (s.has(tcp_syn)) label += options_text(s);
  label += ' ';
  std::string arrow;
  const std::size_t inner = arrow_width - 2;
  const std::size_t dashes = label.size() < inner ? inner - label.size() : 0;
  if (step.from_client) {
    arrow = "|--" + label + std::string(dashes > 2 ? dashes - 2 : 0, '-') + ">|";
  } else {
    arrow = "|<" + std::string(dashes > 2 ? dashes - 2 : 0, '-') + label + "--|";
  }
  return fmt::format("{:>10.3f}  {}  {}\n", step.t_ms, arrow, step.note);
}

std::string step_json(const LadderStep& step) {
  const TcpSegment& s = step.segment;
  return fmt::format(
      "{{\"event\":\"segment\",\"t_ms\":{:.3f},\"from\":\"{}\",\"to\":\"{}\",\"flags\":\"{}\",\"seq\":{},"
      "\"ack\":{},\"seq_abs\":{},\"ack_abs\":{},\"len\":{},\"win\":{},\"note\":\"{}\"}}\n",
      step.t_ms, json_escape(s.source.to_string()), json_escape(s.destination.to_string()), s.flags_text(),
      step.seq, step.ack, s.seq, s.ack, s.payload_size, s.window, json_escape(step.note));
}

}  // namespace tether::cli
