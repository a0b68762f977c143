#include "ss_format.hpp"

#include "events.hpp"

#include <fmt/format.h>

#include <vector>

namespace tether::cli {

namespace {

/// A comma-separated JSON member list, built in order.
class JsonObjectText {
 public:
  JsonObjectText& raw(std::string_view key, std::string_view json) {
    if (!body_.empty()) body_ += ',';
    body_ += fmt::format("\"{}\":{}", key, json);
    return *this;
  }
  JsonObjectText& str(std::string_view key, std::string_view value) {
    return raw(key, "\"" + json_escape(value) + "\"");
  }
  JsonObjectText& num(std::string_view key, std::uint64_t value) { return raw(key, std::to_string(value)); }
  JsonObjectText& num(std::string_view key, double value) { return raw(key, fmt::format("{:.1f}", value)); }
  JsonObjectText& boolean(std::string_view key, bool value) { return raw(key, value ? "true" : "false"); }
  std::string text() const { return "{" + body_ + "}"; }

 private:
  std::string body_;
};

std::uint64_t us(std::chrono::microseconds d) { return static_cast<std::uint64_t>(d.count()); }

/// The kernel reports "no pacing" (a listener, no rate yet) as ~0: null, not a number past 2^53.
std::string pacing_json(std::uint64_t rate) {
  return rate == ~std::uint64_t{0} ? "null" : std::to_string(rate);
}

std::string tcp_json(const SocketEntry& e) {
  const TcpInfo& t = *e.tcp_info;
  JsonObjectText options;
  options.boolean("timestamps", t.timestamps).boolean("sack", t.sack).boolean("ecn", t.ecn);
  if (t.window_scaling) {
    options.raw("wscale", fmt::format("[{},{}]", t.send_wscale, t.receive_wscale));
  } else {
    options.raw("wscale", "null");
  }
  JsonObjectText o;
  o.str("congestion", e.congestion)
      .num("rtt_us", us(t.rtt)).num("rttvar_us", us(t.rtt_var)).num("min_rtt_us", us(t.min_rtt))
      .num("rto_us", us(t.rto)).num("cwnd", std::uint64_t{t.send_cwnd})
      .num("ssthresh", std::uint64_t{t.send_ssthresh}).num("mss", std::uint64_t{t.send_mss})
      .num("retransmits", std::uint64_t{t.retransmits}).num("lost", std::uint64_t{t.lost})
      .num("bytes_acked", t.bytes_acked).num("bytes_received", t.bytes_received)
      .num("bytes_sent", t.bytes_sent).num("delivery_rate", t.delivery_rate)
      .raw("pacing_rate", pacing_json(t.pacing_rate)).str("limited_by", tcp_limit_name(t.limited_by()))
      .raw("options", options.text());
  return o.text();
}

std::string owner_cell(const Snapshot& s, const SocketEntry& e) {
  auto it = s.owners.find(e.inode);
  if (it == s.owners.end()) return "";
  return fmt::format("{}/{}", it->second.pid, text_escape(it->second.name));
}

/// The second line of -i / -e: the timer, uid and inode (-e), TCP_INFO (-i); "" when empty.
std::string info_line(const SocketEntry& e, const SsFormat& format) {
  std::vector<std::string> parts;
  const bool listening = e.state == static_cast<std::uint8_t>(TcpState::listen);
  if (e.timer != SocketTimer::none && (format.info || format.extended)) {
    parts.push_back(fmt::format("timer:({},{}ms,{})", socket_timer_name(e.timer), e.timer_expires.count(),
                                e.timer_retransmits));
  }
  if (format.extended) {
    parts.push_back(fmt::format("uid:{}", e.uid));
    parts.push_back(fmt::format("ino:{}", e.inode));
  }
  if (format.info && e.tcp_info && !listening) {
    const TcpInfo& t = *e.tcp_info;
    parts.push_back(fmt::format(
        "{} rtt:{}/{} min_rtt:{} rto:{} cwnd:{} ssthresh:{} mss:{} retrans:{} lost:{} bytes_sent:{} "
        "bytes_acked:{} bytes_received:{} delivery_rate:{}/s limited:{}",
        e.congestion.empty() ? "-" : e.congestion, human_us(t.rtt.count()), human_us(t.rtt_var.count()),
        human_us(t.min_rtt.count()), human_us(t.rto.count()), t.send_cwnd, t.send_ssthresh, t.send_mss,
        t.retransmits, t.lost, t.bytes_sent, t.bytes_acked, t.bytes_received,
        human_bytes(static_cast<double>(t.delivery_rate)), tcp_limit_name(t.limited_by())));
  }
  if (parts.empty()) return "";
  std::string line = "   ";
  for (const auto& p : parts) line += " " + p;
  return line;
}

}  // namespace

std::string human_bytes(double bytes) {
  constexpr const char* units[] = {"", "K", "M", "G", "T"};
  int u = 0;
  while (bytes >= 1000.0 && u < 4) {
    bytes /= 1024.0;
    ++u;
  }
  if (u == 0) return fmt::format("{:.0f}", bytes);
  if (bytes < 10) return fmt::format("{:.1f}{}", bytes, units[u]);
  return fmt::format("{:.0f}{}", bytes, units[u]);
}

std::string human_us(std::int64_t us) {
  if (us >= 1'000'000) return fmt::format("{:.2f}s", static_cast<double>(us) / 1e6);
  if (us >= 10'000) return fmt::format("{:.1f}ms", static_cast<double>(us) / 1e3);
  return fmt::format("{:.3f}ms", static_cast<double>(us) / 1e3);
}

std::string endpoint_text(const Endpoint& ep) {
  if (ep.kind() == EndpointKind::none) return "*";
  if (ep.is_ip() && ep.is_unspecified() && ep.port() == 0) return "*:*";
  return text_escape(ep.to_string());
}

std::string render_table(const Snapshot& s, const std::unordered_map<std::uint64_t, Rate>& rates,
                         const SsFormat& format) {
  std::string out = fmt::format("{:<6} {:<10} {:>7} {:>7} {:<28} {:<28}", "Proto", "State", "Recv-Q",
                                "Send-Q", "Local", "Peer");
  if (format.rates) out += fmt::format(" {:>7} {:>7}", "In/s", "Out/s");
  out += " Process\n";
  for (const auto& e : s.sockets) {
    out += fmt::format("{:<6} {:<10} {:>7} {:>7} {:<28} {:<28}", socket_kind_name(e.kind),
                       tcp_state_name(e.state), e.recv_q, e.send_q, endpoint_text(e.local),
                       e.local.is_ip() ? endpoint_text(e.peer)
                                       : (e.peer_inode ? fmt::format("peer-inode:{}", e.peer_inode) : "*"));
    if (format.rates) {
      auto it = rates.find(e.cookie);
      if (it == rates.end()) {
        out += fmt::format(" {:>7} {:>7}", "-", "-");
      } else {
        out += fmt::format(" {:>7} {:>7}", human_bytes(it->second.in_per_s), human_bytes(it->second.out_per_s));
      }
    }
    out += " " + owner_cell(s, e);
    while (!out.empty() && out.back() == ' ') out.pop_back();
    out += '\n';
    if (auto line = info_line(e, format); !line.empty()) out += line + '\n';
  }
  return out;
}

std::string render_json(const Snapshot& s, const std::unordered_map<std::uint64_t, Rate>& rates,
                        std::int64_t unix_time_ms, bool with_rates) {
  std::string list;
  for (const auto& e : s.sockets) {
    JsonObjectText o;
    o.str("proto", socket_kind_name(e.kind)).str("state", tcp_state_name(e.state))
        .str("local", e.local.kind() == EndpointKind::none ? "" : e.local.to_string());
    if (e.local.is_ip()) {
      o.str("peer", e.peer.to_string());
    } else {
      o.num("peer_inode", e.peer_inode);
    }
    o.num("recv_q", std::uint64_t{e.recv_q}).num("send_q", std::uint64_t{e.send_q})
        .num("uid", std::uint64_t{e.uid}).num("inode", e.inode);
    if (e.timer == SocketTimer::none) {
      o.raw("timer", "null");
    } else {
      JsonObjectText t;
      t.str("name", socket_timer_name(e.timer))
          .num("expires_ms", static_cast<std::uint64_t>(e.timer_expires.count()))
          .num("retransmits", std::uint64_t{e.timer_retransmits});
      o.raw("timer", t.text());
    }
    auto owner = s.owners.find(e.inode);
    if (owner == s.owners.end()) {
      o.raw("owner", "null");
    } else {
      JsonObjectText w;
      w.num("pid", static_cast<std::uint64_t>(owner->second.pid)).str("name", owner->second.name);
      o.raw("owner", w.text());
    }
    if (e.tcp_info) o.raw("tcp", tcp_json(e));
    if (with_rates) {
      auto it = rates.find(e.cookie);
      if (it == rates.end()) {
        o.raw("rate", "null");
      } else {
        JsonObjectText r;
        r.num("in_bytes_per_s", it->second.in_per_s).num("out_bytes_per_s", it->second.out_per_s);
        o.raw("rate", r.text());
      }
    }
    if (!list.empty()) list += ',';
    list += o.text();
  }
  return fmt::format("{{\"time_ms\":{},\"sockets\":[{}]}}\n", unix_time_ms, list);
}

}  // namespace tether::cli
