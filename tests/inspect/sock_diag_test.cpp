// tether::list_sockets against sockets the test opens itself, in the states the seeds teach
// (LISTEN, ESTABLISHED, CLOSE-WAIT, TIME-WAIT), with non-empty queues, and compared field by field
// with what `ss -tin` (iproute2) prints for the very same sockets.
#include "../cli/cli_support.hpp"

#include <tether/sock_diag.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <sstream>

namespace {

using namespace std::chrono_literals;
using tether::Endpoint;
using tether::SocketEntry;
using tether::testing::cli::Process;

/// The TCP sockets whose local or peer port is `port`, as list_sockets() reports them.
std::vector<SocketEntry> tcp_sockets_on(std::uint16_t port) {
  tether::SockDiagQuery q;
  q.udp = false;
  q.unix_sockets = false;
  auto all = tether::list_sockets(q);
  EXPECT_TRUE(all) << (all ? "" : all.error().message());
  std::vector<SocketEntry> out;
  if (!all) return out;
  for (auto& e : *all) {
    if (e.local.port() == port || e.peer.port() == port) out.push_back(e);
  }
  return out;
}

const SocketEntry* find(const std::vector<SocketEntry>& v, const Endpoint& local, const Endpoint& peer) {
  for (const auto& e : v) {
    if (e.local == local && e.peer == peer) return &e;
  }
  return nullptr;
}

/// One row of `ss -tinoH` (-o: the timer, and the options ts, sack, ecn): the first line's columns and the info line's words.
struct SsRow {
  std::string state;
  std::uint32_t recv_q = 0;
  std::uint32_t send_q = 0;
  std::string local;
  std::string peer;
  std::map<std::string, std::string> info;  // "mss" -> "65483", "rtt" -> "0.02/0.01", "cubic" -> ""
  std::vector<std::string> words;           // in order: "delivery_rate" is followed by "123bps"
  std::string timer;                        // -o: "timewait" from "timer:(timewait,59sec,0)"
};

std::vector<SsRow> ss_rows(std::uint16_t port) {
  const std::string p = std::to_string(port);
  Process ss = Process::start({"ss", "-tinoH", "state", "all", "( sport = :" + p + " or dport = :" + p + " )"});
  EXPECT_EQ(ss.wait(10s), 0) << ss.err();
  std::vector<SsRow> rows;
  for (const auto& line : tether::testing::cli::lines_of(ss.out())) {
    std::istringstream words(line);
    if (!line.empty() && (line[0] == ' ' || line[0] == '\t')) {
      if (rows.empty()) continue;
      std::string w;
      while (words >> w) {
        auto colon = w.find(':');
        rows.back().info[w.substr(0, colon)] = colon == std::string::npos ? "" : w.substr(colon + 1);
        rows.back().words.push_back(w);
      }
      continue;
    }
    SsRow r;
    words >> r.state >> r.recv_q >> r.send_q >> r.local >> r.peer;
    for (std::string w; words >> w;) {
      if (w.rfind("timer:(", 0) == 0) r.timer = w.substr(7, w.find(',') - 7);
    }
    rows.push_back(r);
  }
  return rows;
}

/// ss writes port 0 as "*" ("0.0.0.0:*").
std::string ss_text(const Endpoint& ep) {
  std::string t = ep.to_string();
  if (ep.port() == 0) t = t.substr(0, t.rfind(':')) + ":*";
  return t;
}

const SsRow* find_ss(const std::vector<SsRow>& rows, const Endpoint& local, const Endpoint& peer) {
  for (const auto& r : rows) {
    if (r.local == ss_text(local) && r.peer == ss_text(peer)) return &r;
  }
  return nullptr;
}

/// ss prints times in milliseconds with %g: compare ours at its precision.
double ms(std::chrono::microseconds us) { return static_cast<double>(us.count()) / 1000.0; }

/// ss leaves a counter out when it is zero ("bytes_acked:0" is never printed).
std::string counter(const SsRow& r, const std::string& key) {
  return r.info.count(key) ? r.info.at(key) : "0";
}

/// The number ss prints after `word` ("delivery_rate 123bps" -> 123), 0 when the word is absent.
double value_after(const SsRow& r, const std::string& word) {
  for (std::size_t i = 0; i + 1 < r.words.size(); ++i) {
    if (r.words[i] == word) return std::strtod(r.words[i + 1].c_str(), nullptr);
  }
  return 0;
}

bool has_word(const SsRow& r, const std::string& word) {
  return std::find(r.words.begin(), r.words.end(), word) != r.words.end();
}

/// The TCP_INFO fields of a connected socket (not LISTEN, not TIME-WAIT), against ss's info line:
/// every field ss prints for it, which ss omits only when it is zero.
void expect_tcp_info_same_as_ss(const SocketEntry& e, const SsRow& r) {
  const tether::TcpInfo& t = *e.tcp_info;
  for (const char* key : {"mss", "cwnd", "rtt", "rto", "minrtt"}) {
    EXPECT_TRUE(r.info.count(key)) << "ss prints no " << key << " for " << r.local;
  }
  EXPECT_EQ(counter(r, "mss"), std::to_string(t.send_mss));
  EXPECT_EQ(counter(r, "cwnd"), std::to_string(t.send_cwnd));
  EXPECT_EQ(counter(r, "bytes_sent"), std::to_string(t.bytes_sent));
  EXPECT_EQ(counter(r, "bytes_acked"), std::to_string(t.bytes_acked));
  EXPECT_EQ(counter(r, "bytes_received"), std::to_string(t.bytes_received));
  EXPECT_EQ(counter(r, "lost"), std::to_string(t.lost));
  const std::string retrans = counter(r, "retrans");  // "now/total"
  EXPECT_EQ(retrans.substr(retrans.find('/') + 1), std::to_string(t.retransmits));
  if (t.send_ssthresh < 0xFFFF) {
    EXPECT_EQ(counter(r, "ssthresh"), std::to_string(t.send_ssthresh));
  } else {
    EXPECT_FALSE(r.info.count("ssthresh")) << "slow start: ss shows no ssthresh";
  }
  double rtt = 0, var = 0;
  ASSERT_EQ(std::sscanf(counter(r, "rtt").c_str(), "%lf/%lf", &rtt, &var), 2);
  EXPECT_NEAR(rtt, ms(t.rtt), 0.0005);
  EXPECT_NEAR(var, ms(t.rtt_var), 0.0005);
  EXPECT_NEAR(std::strtod(counter(r, "minrtt").c_str(), nullptr), ms(t.min_rtt), 0.0005);
  EXPECT_NEAR(std::strtod(counter(r, "rto").c_str(), nullptr), ms(t.rto), 0.0005);
  // ss -n prints rates in bits per second, without rounding.
  EXPECT_EQ(value_after(r, "delivery_rate"), static_cast<double>(t.delivery_rate) * 8);
  EXPECT_EQ(has_word(r, "app_limited"), t.delivery_rate_app_limited);
  // The options of the handshake.
  EXPECT_EQ(has_word(r, "ts"), t.timestamps);
  EXPECT_EQ(has_word(r, "sack"), t.sack);
  EXPECT_EQ(has_word(r, "ecn"), t.ecn);
  if (t.window_scaling) {
    EXPECT_EQ(counter(r, "wscale"), std::to_string(t.send_wscale) + "," + std::to_string(t.receive_wscale));
  } else {
    EXPECT_FALSE(r.info.count("wscale"));
  }
}

/// Checks one socket: ours and ss's must agree on state, queues and the TCP_INFO fields ss shows.
void expect_same_as_ss(const SocketEntry& e, const std::vector<SsRow>& rows) {
  const SsRow* r = find_ss(rows, e.local, e.peer);
  ASSERT_NE(r, nullptr) << "ss has no row for " << e.local.to_string() << " " << e.peer.to_string();
  EXPECT_EQ(r->state, tether::tcp_state_name(e.state));
  EXPECT_EQ(r->recv_q, e.recv_q) << r->local;
  EXPECT_EQ(r->send_q, e.send_q) << r->local;
  EXPECT_EQ(r->timer, tether::socket_timer_name(e.timer)) << r->local;
  const auto state = static_cast<tether::TcpState>(e.state);
  if (state == tether::TcpState::time_wait) {
    EXPECT_FALSE(e.tcp_info.has_value()) << "a TIME-WAIT socket has no TCP_INFO";
    EXPECT_TRUE(r->words.empty()) << "ss shows no TCP_INFO for TIME-WAIT either";
    return;
  }
  ASSERT_TRUE(e.tcp_info.has_value()) << r->local;
  ASSERT_TRUE(r->info.count(e.congestion)) << "ss does not name congestion control " << e.congestion;
  if (state == tether::TcpState::listen) {
    EXPECT_EQ(counter(*r, "cwnd"), std::to_string(e.tcp_info->send_cwnd));
    return;
  }
  expect_tcp_info_same_as_ss(e, *r);
}

TEST(SockDiag, listener_with_waiting_clients_shows_listen_and_its_accept_queue) {
  auto listener = tether::TcpListener::bind(Endpoint::ipv4_loopback(0), 7);
  ASSERT_TRUE(listener);
  const Endpoint local = *listener->local_endpoint();
  auto a = tether::TcpStream::connect(local, 2s);
  auto b = tether::TcpStream::connect(local, 2s);
  ASSERT_TRUE(a && b);

  auto ours = tcp_sockets_on(local.port());
  const SocketEntry* l = find(ours, local, Endpoint::ipv4_any(0));
  ASSERT_NE(l, nullptr);
  EXPECT_EQ(l->state, static_cast<std::uint8_t>(tether::TcpState::listen));
  EXPECT_EQ(l->recv_q, 2U);  // two connections wait in accept()
  EXPECT_EQ(l->send_q, 7U);  // the backlog
  EXPECT_NE(l->inode, 0U);
  EXPECT_EQ(l->uid, ::getuid());
  expect_same_as_ss(*l, ss_rows(local.port()));
}

TEST(SockDiag, established_pair_with_unread_and_unsent_bytes_matches_ss) {
  auto listener = tether::TcpListener::bind(Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(listener);
  const Endpoint where = *listener->local_endpoint();
  auto client = tether::TcpStream::connect(where, 2s);
  ASSERT_TRUE(client);
  // A small receive buffer on the server side, so that the client's send queue backs up.
  auto server = listener->accept(2s);
  ASSERT_TRUE(server);
  ASSERT_TRUE(server->stream.socket().set_receive_buffer_size(4096));
  const std::string chunk(64 * 1024, 'x');
  std::size_t sent = 0;
  for (int i = 0; i < 256; ++i) {  // bounded: until the socket would block
    auto n = ::send(client->socket().fd(), chunk.data(), chunk.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<std::size_t>(n);
  }
  ASSERT_GT(sent, 0U);
  std::this_thread::sleep_for(50ms);  // let loopback settle: queues stop moving

  const Endpoint client_ep = *client->local_endpoint();
  auto ours = tcp_sockets_on(where.port());
  const SocketEntry* c = find(ours, client_ep, where);
  const SocketEntry* s = find(ours, where, client_ep);
  ASSERT_NE(c, nullptr);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(c->state, static_cast<std::uint8_t>(tether::TcpState::established));
  EXPECT_GT(s->recv_q, 0U) << "the server has unread bytes";
  EXPECT_GT(c->send_q, 0U) << "the client has unacknowledged bytes";
  EXPECT_EQ(s->recv_q + c->send_q, sent) << "every byte is in one of the two queues";
  ASSERT_TRUE(c->tcp_info.has_value());
  EXPECT_FALSE(c->congestion.empty());
  EXPECT_GT(c->tcp_info->send_mss, 0U);
  EXPECT_GT(c->tcp_info->bytes_acked, 0U);
  EXPECT_EQ(s->tcp_info->bytes_received, c->tcp_info->bytes_acked - 1);  // bytes_acked counts the SYN
  auto rows = ss_rows(where.port());
  expect_same_as_ss(*c, rows);
  expect_same_as_ss(*s, rows);
}

TEST(SockDiag, peer_that_closed_first_leaves_close_wait_here_and_fin_wait_there) {
  auto pair = tether::testing::connected_pair();
  const Endpoint server_ep = *pair.server.local_endpoint();
  const Endpoint client_ep = *pair.client.local_endpoint();
  ASSERT_TRUE(pair.client.shutdown(tether::Shutdown::write));
  std::this_thread::sleep_for(20ms);

  auto ours = tcp_sockets_on(server_ep.port());
  const SocketEntry* s = find(ours, server_ep, client_ep);
  const SocketEntry* c = find(ours, client_ep, server_ep);
  ASSERT_NE(s, nullptr);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(s->state, static_cast<std::uint8_t>(tether::TcpState::close_wait));
  EXPECT_EQ(c->state, static_cast<std::uint8_t>(tether::TcpState::fin_wait2));
  auto rows = ss_rows(server_ep.port());
  expect_same_as_ss(*s, rows);
  expect_same_as_ss(*c, rows);
}

TEST(SockDiag, side_that_closed_first_stays_in_time_wait_without_an_inode) {
  auto pair = tether::testing::connected_pair();
  const Endpoint server_ep = *pair.server.local_endpoint();
  const Endpoint client_ep = *pair.client.local_endpoint();
  pair.client.close();  // the active close
  char buf[8];
  ASSERT_EQ(pair.server.read_some(std::span(buf), 2s).value_or(99), 0U);  // FIN arrived
  pair.server.close();
  std::this_thread::sleep_for(20ms);

  auto ours = tcp_sockets_on(server_ep.port());
  const SocketEntry* c = find(ours, client_ep, server_ep);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->state, static_cast<std::uint8_t>(tether::TcpState::time_wait));
  EXPECT_EQ(c->inode, 0U);
  EXPECT_EQ(c->timer, tether::SocketTimer::time_wait);
  EXPECT_GT(c->timer_expires, 0ms);
  EXPECT_EQ(find(ours, server_ep, client_ep), nullptr) << "the passive side is gone";
  expect_same_as_ss(*c, ss_rows(server_ep.port()));
}

TEST(SockDiag, keepalive_timer_is_reported_as_ss_reports_it) {
  auto pair = tether::testing::connected_pair();
  const int on = 1;
  ASSERT_EQ(::setsockopt(pair.client.socket().fd(), SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on), 0);
  const Endpoint server_ep = *pair.server.local_endpoint();
  const Endpoint client_ep = *pair.client.local_endpoint();
  auto ours = tcp_sockets_on(server_ep.port());
  const SocketEntry* c = find(ours, client_ep, server_ep);
  const SocketEntry* s = find(ours, server_ep, client_ep);
  ASSERT_NE(c, nullptr);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(c->timer, tether::SocketTimer::keepalive);
  EXPECT_GT(c->timer_expires, 0ms);
  EXPECT_EQ(s->timer, tether::SocketTimer::none);
  auto rows = ss_rows(server_ep.port());
  expect_same_as_ss(*c, rows);
  expect_same_as_ss(*s, rows);
}

TEST(SockDiag, udp_and_unix_sockets_are_listed_with_their_names) {
  auto udp = tether::UdpSocket::bind(Endpoint::ipv4_loopback(0));
  ASSERT_TRUE(udp);
  auto name = Endpoint::unix_abstract("tether-sockdiag-" + std::to_string(::getpid()));
  ASSERT_TRUE(name);
  auto unix_listener = tether::TcpListener::bind(*name);
  ASSERT_TRUE(unix_listener);
  auto all = tether::list_sockets();
  ASSERT_TRUE(all);
  bool saw_udp = false, saw_unix = false;
  for (const auto& e : *all) {
    if (e.kind == tether::SocketKind::udp && e.local == *udp->local_endpoint()) {
      saw_udp = true;
      EXPECT_STREQ(tether::tcp_state_name(e.state), "UNCONN");
    }
    if (e.kind == tether::SocketKind::unix_stream && e.local == *name) {
      saw_unix = true;
      EXPECT_EQ(e.state, static_cast<std::uint8_t>(tether::TcpState::listen));
    }
  }
  EXPECT_TRUE(saw_udp);
  EXPECT_TRUE(saw_unix);
}

TEST(SockDiag, state_filter_is_applied_by_the_kernel) {
  auto pair = tether::testing::connected_pair();
  tether::SockDiagQuery q;
  q.udp = q.unix_sockets = false;
  q.states = tether::state_bit(tether::TcpState::listen);
  auto all = tether::list_sockets(q);
  ASSERT_TRUE(all);
  ASSERT_FALSE(all->empty());
  for (const auto& e : *all) EXPECT_STREQ(tether::tcp_state_name(e.state), "LISTEN");
}

TEST(SockDiag, state_names_parse_in_the_spellings_users_type) {
  EXPECT_EQ(tether::parse_tcp_state("established"), tether::TcpState::established);
  EXPECT_EQ(tether::parse_tcp_state("TIME_WAIT"), tether::TcpState::time_wait);
  EXPECT_EQ(tether::parse_tcp_state("close-wait"), tether::TcpState::close_wait);
  EXPECT_EQ(tether::parse_tcp_state("listening"), tether::TcpState::listen);
  EXPECT_EQ(tether::parse_tcp_state("unconn"), tether::TcpState::close);
  EXPECT_FALSE(tether::parse_tcp_state("sleeping"));
}

}  // namespace
