// Golden frames: render_top_frame() and the trace ladder are pure functions of their input, so a
// fixed state must give byte for byte the frame stored in tests/inspect/golden/. The files show
// ESC as "\e" so that they read as text. TETHER_UPDATE_GOLDEN=1 rewrites them (review the diff).
#include "top_view.hpp"
#include "trace_ladder.hpp"

#include <tether/tcp.hpp>

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <unistd.h>

namespace {

using namespace std::chrono_literals;
using tether::Endpoint;
using tether::cli::TopRow;
using tether::cli::TopState;

std::string visible(const std::string& frame) {
  std::string out;
  for (char c : frame) {
    if (c == '\x1b') out += "\\e";
    else out += c;
  }
  return out;
}

void expect_golden(const std::string& name, const std::string& frame) {
  const std::string path = std::string(TETHER_GOLDEN_DIR) + "/" + name;
  if (std::getenv("TETHER_UPDATE_GOLDEN") != nullptr) std::ofstream(path) << visible(frame);
  std::ifstream in(path);
  ASSERT_TRUE(in) << "missing golden file " << path;
  std::stringstream golden;
  golden << in.rdbuf();
  EXPECT_EQ(visible(frame), golden.str()) << "frame differs from " << path;
}

TopRow tcp_row(std::uint64_t cookie, std::uint16_t local_port, std::uint16_t peer_port, std::uint8_t state,
               std::int64_t rtt_us) {
  TopRow r;
  r.socket.kind = tether::SocketKind::tcp;
  r.socket.state = state;
  r.socket.cookie = cookie;
  r.socket.local = Endpoint::ipv4_loopback(local_port);
  r.socket.peer = Endpoint::ipv4_loopback(peer_port);
  tether::TcpInfo info;
  info.rtt = std::chrono::microseconds(rtt_us);
  r.socket.tcp_info = info;
  return r;
}

TopState sample_state() {
  TopState s;
  s.clock = "12:34:56";
  s.interval_s = 1.0;
  s.width = 150;
  s.height = 10;
  s.filter_text = "tcp port 5000";
  auto busy = tcp_row(1, 5000, 40001, 1, 31);
  busy.socket.recv_q = 12;
  busy.rate = tether::cli::Rate{1536000.0, 2048.0};
  busy.rate_history = {0, 100, 400, 800, 1600, 3200, 1538048};
  busy.rtt_history = {30, 31, 35, 40, 31};
  busy.owner = {4242, "tether"};
  auto idle = tcp_row(2, 5000, 40002, 1, 1200);
  idle.rate = tether::cli::Rate{0, 0};
  idle.rate_history = {0, 0, 0};
  idle.rtt_history = {1200, 1100, 1250};
  TopRow listener;
  listener.socket.kind = tether::SocketKind::tcp;
  listener.socket.state = 10;
  listener.socket.cookie = 3;
  listener.socket.local = Endpoint::ipv4_any(5000);
  listener.socket.peer = Endpoint::ipv4_any(0);
  listener.socket.send_q = 4096;
  s.rows = {idle, listener, busy};
  return s;
}

TEST(TopFrame, rows_sorted_by_rate_with_sparklines_match_the_golden_frame) {
  TopState s = sample_state();
  tether::cli::sort_rows(s.rows, s.sort, s.reverse);
  expect_golden("top_by_rate.txt", tether::cli::render_top_frame(s));
}

TEST(TopFrame, sorting_by_rtt_reversed_and_paused_matches_the_golden_frame) {
  TopState s = sample_state();
  s.sort = tether::cli::TopSort::rtt;
  s.reverse = true;
  s.paused = true;
  tether::cli::sort_rows(s.rows, s.sort, s.reverse);
  expect_golden("top_by_rtt_reversed_paused.txt", tether::cli::render_top_frame(s));
}

TEST(TopFrame, small_terminal_cuts_rows_and_width_and_says_how_many_are_hidden) {
  TopState s = sample_state();
  s.width = 60;
  s.height = 4;
  tether::cli::sort_rows(s.rows, s.sort, s.reverse);
  const std::string frame = tether::cli::render_top_frame(s);
  expect_golden("top_small_terminal.txt", frame);
  EXPECT_NE(frame.find("... 2 more"), std::string::npos);
}

TEST(TopFrame, same_state_gives_the_same_bytes) {
  TopState s = sample_state();
  EXPECT_EQ(tether::cli::render_top_frame(s), tether::cli::render_top_frame(s));
}

TEST(TopFrame, sparkline_scales_to_its_maximum_and_keeps_the_last_values) {
  const std::vector<double> v = {0, 1, 2, 3, 4, 5, 6, 7};
  EXPECT_EQ(tether::cli::sparkline(v, 8), "▁▂▃▄▅▆▇█");
  EXPECT_EQ(tether::cli::sparkline(v, 2), "▇█");
  EXPECT_EQ(tether::cli::sparkline({}, 3), "   ");
}

TEST(TopFrame, history_turns_two_snapshots_into_rates_per_connection) {
  tether::cli::Snapshot a, b;
  a.taken = std::chrono::steady_clock::time_point(10s);
  b.taken = std::chrono::steady_clock::time_point(12s);
  auto row = tcp_row(7, 1, 2, 1, 50);
  row.socket.tcp_info->bytes_received = 1000;
  row.socket.tcp_info->bytes_acked = 10;
  a.sockets = {row.socket};
  row.socket.tcp_info->bytes_received = 5000;
  row.socket.tcp_info->bytes_acked = 2010;
  b.sockets = {row.socket};
  tether::cli::TopHistory h;
  auto first = h.update(a);
  ASSERT_EQ(first.size(), 1U);
  EXPECT_FALSE(first[0].rate.has_value());
  auto second = h.update(b);
  ASSERT_TRUE(second[0].rate.has_value());
  EXPECT_DOUBLE_EQ(second[0].rate->in_per_s, 2000.0);
  EXPECT_DOUBLE_EQ(second[0].rate->out_per_s, 1000.0);
  EXPECT_EQ(second[0].rtt_history.size(), 2U);
}

/// A segment between client 127.0.0.1:40000 and server 127.0.0.1:5000.
tether::TcpSegment seg(bool from_client, std::uint8_t flags, std::uint32_t seq, std::uint32_t ack,
                       std::size_t len = 0) {
  tether::TcpSegment s;
  s.source = from_client ? Endpoint::ipv4_loopback(40000) : Endpoint::ipv4_loopback(5000);
  s.destination = from_client ? Endpoint::ipv4_loopback(5000) : Endpoint::ipv4_loopback(40000);
  s.flags = flags;
  s.seq = seq;
  s.ack = ack;
  s.payload_size = len;
  s.window = 512;
  if (flags & tether::tcp_syn) {
    s.mss = 65495;
    s.window_scale = 7;
    s.sack_permitted = true;
    s.timestamp = 1;
  }
  return s;
}

TEST(TraceLadder, handshake_data_and_close_draw_the_golden_ladder) {
  using namespace tether;
  const std::uint32_t c = 1000000, s = 4000000000U;  // the server's ISN wraps past 2^32
  std::vector<TcpSegment> segments = {
      seg(true, tcp_syn, c, 0),
      seg(false, tcp_syn | tcp_ack, s, c + 1),
      seg(true, tcp_ack, c + 1, s + 1),
      seg(true, tcp_psh | tcp_ack, c + 1, s + 1, 5),
      seg(false, tcp_ack, s + 1, c + 6),
      seg(true, tcp_fin | tcp_ack, c + 6, s + 1),
      seg(false, tcp_fin | tcp_ack, s + 1, c + 7),
      seg(true, tcp_ack, c + 7, s + 2),
  };
  cli::Ladder ladder(5000);
  std::string out;
  bool done = false;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    auto step = ladder.describe(segments[i], 0.25 * static_cast<double>(i));
    if (i == 0) out += cli::draw_header(step);
    out += cli::draw_step(step, false);
    done = step.connection_done;
  }
  EXPECT_TRUE(done) << "the last ACK of the close ends the connection";
  expect_golden("trace_ladder.txt", out);
}

TEST(TraceLadder, absolute_numbers_replace_the_relative_ones) {
  using namespace tether;
  const std::uint32_t c = 1000000, s = 4000000000U;
  cli::Ladder ladder(5000);
  const auto syn = ladder.describe(seg(true, tcp_syn, c, 0), 0);
  const auto syn_ack = ladder.describe(seg(false, tcp_syn | tcp_ack, s, c + 1), 0.1);
  EXPECT_NE(cli::draw_step(syn, false).find("SYN seq=0 (ISN 1000000)"), std::string::npos);
  EXPECT_NE(cli::draw_step(syn, true).find("SYN seq=1000000 "), std::string::npos) << cli::draw_step(syn, true);
  EXPECT_NE(cli::draw_step(syn_ack, true).find("seq=4000000000 ack=1000001"), std::string::npos)
      << cli::draw_step(syn_ack, true);
  EXPECT_EQ(cli::draw_step(syn_ack, true).find("(ISN"), std::string::npos);
}

}  // namespace

namespace {

// The owner (pid, name) comes from /proc only for the rows a filter keeps: the snapshot's owner
// map holds no inode outside its rows, and our own listener's row names this process.
TEST(SsSnapshot, owners_are_resolved_only_for_the_rows_shown) {
  auto listener = tether::TcpListener::bind(Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(listener);
  tether::cli::SsFilter filter;
  filter.tcp = true;
  filter.port = listener->local_endpoint()->port();
  auto snap = tether::cli::take_snapshot(filter, true);
  ASSERT_TRUE(snap);
  ASSERT_EQ(snap->sockets.size(), 1U);
  ASSERT_EQ(snap->owners.size(), 1U);
  const auto& owner = snap->owners.at(snap->sockets[0].inode);
  EXPECT_EQ(owner.pid, ::getpid());
  EXPECT_EQ(owner.name, "top_frame_test");
  auto no_owners = tether::cli::take_snapshot(filter, false);
  ASSERT_TRUE(no_owners);
  EXPECT_TRUE(no_owners->owners.empty());
}

}  // namespace
