#include "top_view.hpp"

#include "ss_format.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <tuple>

namespace tether::cli {

namespace {

constexpr std::string_view clear_screen = "\x1b[H\x1b[2J";
constexpr std::string_view bold = "\x1b[1m";
constexpr std::string_view reverse_video = "\x1b[7m";
constexpr std::string_view reset = "\x1b[0m";
constexpr std::size_t spark_width = 12;

double total_rate(const TopRow& r) { return r.rate ? r.rate->in_per_s + r.rate->out_per_s : -1.0; }
double rtt_of(const TopRow& r) {
  return r.socket.tcp_info ? static_cast<double>(r.socket.tcp_info->rtt.count()) : -1.0;
}

/// `text` cut to `width` terminal columns (every character here is one column wide).
std::string fit(std::string_view text, int width) {
  std::string out;
  int columns = 0;
  for (std::size_t i = 0; i < text.size() && columns < width;) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    out.append(text.substr(i, len));
    i += len;
    ++columns;
  }
  return out;
}

std::string row_text(const TopRow& r) {
  const SocketEntry& e = r.socket;
  // A listener has TCP_INFO but no peer, hence no round trip: "-" as for a socket without TCP_INFO.
  const bool listening = e.state == static_cast<std::uint8_t>(TcpState::listen);
  const std::string rtt = e.tcp_info && !listening ? human_us(e.tcp_info->rtt.count()) : "-";
  const std::string in = r.rate ? human_bytes(r.rate->in_per_s) : "-";
  const std::string out = r.rate ? human_bytes(r.rate->out_per_s) : "-";
  const std::string owner = r.owner.pid != 0 ? fmt::format("{}/{}", r.owner.pid, r.owner.name) : "";
  return fmt::format("{:<5} {:<10} {:>6} {:>6} {:<22} {:<22} {:>6} {:>6} {:>8} {:<12} {:<12} {}",
                     socket_kind_name(e.kind), tcp_state_name(e.state), e.recv_q, e.send_q,
                     endpoint_text(e.local), e.local.is_ip() ? endpoint_text(e.peer) : "*", in, out, rtt,
                     sparkline(r.rate_history, spark_width), sparkline(r.rtt_history, spark_width), owner);
}

}  // namespace

const char* top_sort_name(TopSort s) noexcept {
  switch (s) {
    case TopSort::rate: return "rate";
    case TopSort::rtt: return "rtt";
    case TopSort::queue: return "queue";
    case TopSort::state: return "state";
    case TopSort::port: return "port";
  }
  return "rate";
}

TopSort next_sort(TopSort s) noexcept {
  return s == TopSort::port ? TopSort::rate : static_cast<TopSort>(static_cast<int>(s) + 1);
}

void sort_rows(std::vector<TopRow>& rows, TopSort sort, bool reverse) {
  auto key = [sort](const TopRow& r) {
    const SocketEntry& e = r.socket;
    switch (sort) {
      case TopSort::rate: return std::make_tuple(-total_rate(r), 0, e.cookie);
      case TopSort::rtt: return std::make_tuple(-rtt_of(r), 0, e.cookie);
      case TopSort::queue: return std::make_tuple(-static_cast<double>(e.recv_q + e.send_q), 0, e.cookie);
      case TopSort::state: return std::make_tuple(static_cast<double>(e.state), 0, e.cookie);
      case TopSort::port: return std::make_tuple(static_cast<double>(e.local.port()), int{e.peer.port()}, e.cookie);
    }
    return std::make_tuple(0.0, 0, e.cookie);
  };
  std::stable_sort(rows.begin(), rows.end(), [&](const TopRow& a, const TopRow& b) {
    return reverse ? key(b) < key(a) : key(a) < key(b);
  });
}

std::string sparkline(std::span<const double> values, std::size_t width) {
  static constexpr std::array<std::string_view, 8> blocks = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
  if (values.size() > width) values = values.subspan(values.size() - width);
  const double top = values.empty() ? 0.0 : *std::max_element(values.begin(), values.end());
  std::string out;
  for (double v : values) {
    std::size_t level = top > 0 ? static_cast<std::size_t>(std::clamp(v / top, 0.0, 1.0) * 7.0 + 0.5) : 0;
    out += blocks[level];
  }
  out.append(width - values.size(), ' ');
  return out;
}

std::string render_top_frame(const TopState& s) {
  std::string frame(clear_screen);
  const std::string header = fmt::format(
      "tether top  {}  every {:.1f} s  sort: {}{}  {}  {} sockets{}   keys: q quit, s sort, r reverse, space pause",
      s.clock, s.interval_s, top_sort_name(s.sort), s.reverse ? " (reversed)" : "",
      s.filter_text.empty() ? "all sockets" : s.filter_text, s.rows.size(), s.paused ? "  [paused]" : "");
  frame += fmt::format("{}{}{}\n", bold, fit(header, s.width), reset);
  const std::string titles =
      fmt::format("{:<5} {:<10} {:>6} {:>6} {:<22} {:<22} {:>6} {:>6} {:>8} {:<12} {:<12} {}", "Proto", "State",
                  "Recv-Q", "Send-Q", "Local", "Peer", "In/s", "Out/s", "rtt", "bytes/s", "rtt", "Process");
  frame += fmt::format("{}{}{}", reverse_video, fit(titles, s.width), reset);
  if (!s.rows.empty()) frame += "\n";
  // Header and titles take two lines; the last line gets no newline, so the screen never scrolls.
  const int room = std::max(0, s.height - 2);
  const int total = static_cast<int>(s.rows.size());
  const int shown = total <= room ? total : std::max(0, room - 1);
  std::vector<std::string> lines;
  for (int i = 0; i < shown; ++i) lines.push_back(fit(row_text(s.rows[static_cast<std::size_t>(i)]), s.width));
  if (shown < total) {
    lines.push_back(fit(fmt::format("... {} more (a taller terminal, or a filter, shows them)", total - shown), s.width));
  }
  for (std::size_t i = 0; i < lines.size(); ++i) frame += (i == 0 ? "" : "\n") + lines[i];
  return frame;
}

std::vector<TopRow> TopHistory::update(const Snapshot& snapshot) {
  auto rates = previous_ ? rates_between(*previous_, snapshot) : std::unordered_map<std::uint64_t, Rate>{};
  std::unordered_map<std::uint64_t, Track> kept;
  std::vector<TopRow> rows;
  for (const auto& e : snapshot.sockets) {
    TopRow row;
    row.socket = e;
    if (auto o = snapshot.owners.find(e.inode); o != snapshot.owners.end()) row.owner = o->second;
    Track track = std::move(tracks_[e.cookie]);
    if (auto r = rates.find(e.cookie); r != rates.end()) {
      row.rate = r->second;
      track.rates.push_back(r->second.in_per_s + r->second.out_per_s);
    }
    if (e.tcp_info && e.state != static_cast<std::uint8_t>(TcpState::listen)) {
      track.rtts.push_back(static_cast<double>(e.tcp_info->rtt.count()));
    }
    while (track.rates.size() > depth_) track.rates.pop_front();
    while (track.rtts.size() > depth_) track.rtts.pop_front();
    row.rate_history.assign(track.rates.begin(), track.rates.end());
    row.rtt_history.assign(track.rtts.begin(), track.rtts.end());
    kept[e.cookie] = std::move(track);
    rows.push_back(std::move(row));
  }
  tracks_ = std::move(kept);
  previous_ = snapshot;
  return rows;
}

}  // namespace tether::cli
