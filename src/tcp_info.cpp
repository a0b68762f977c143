#include "tcp_info.hpp"

#include <algorithm>
#include <cstring>

#include <linux/tcp.h>  // the kernel's struct tcp_info (glibc's lacks the byte counters)

namespace tether {

const char* tcp_limit_name(TcpLimit limit) noexcept {
  switch (limit) {
    case TcpLimit::none: return "none";
    case TcpLimit::app: return "app";
    case TcpLimit::rwnd: return "rwnd";
    case TcpLimit::sndbuf: return "sndbuf";
    case TcpLimit::cwnd: return "cwnd";
  }
  return "none";
}

TcpLimit TcpInfo::limited_by() const noexcept {
  if (delivery_rate_app_limited) return TcpLimit::app;
  if (busy_time.count() <= 0) return TcpLimit::none;
  const auto cwnd = busy_time - std::min(busy_time, rwnd_limited + sndbuf_limited);
  if (rwnd_limited >= sndbuf_limited && rwnd_limited > cwnd) return TcpLimit::rwnd;
  if (sndbuf_limited > cwnd) return TcpLimit::sndbuf;
  return TcpLimit::cwnd;
}

namespace detail {

TcpInfo tcp_info_from_kernel(std::span<const std::byte> bytes) noexcept {
  ::tcp_info ti{};
  std::memcpy(&ti, bytes.data(), std::min(bytes.size(), sizeof ti));
  using us = std::chrono::microseconds;
  using ms = std::chrono::milliseconds;
  TcpInfo out;
  out.state = ti.tcpi_state;
  out.rtt = us(ti.tcpi_rtt);
  out.rtt_var = us(ti.tcpi_rttvar);
  out.min_rtt = us(ti.tcpi_min_rtt);
  out.rto = us(ti.tcpi_rto);
  out.retransmits = ti.tcpi_total_retrans;
  out.lost = ti.tcpi_lost;
  out.send_cwnd = ti.tcpi_snd_cwnd;
  out.send_ssthresh = ti.tcpi_snd_ssthresh;
  out.send_mss = ti.tcpi_snd_mss;
  out.receive_mss = ti.tcpi_rcv_mss;
  out.advertised_mss = ti.tcpi_advmss;
  out.unacked = ti.tcpi_unacked;
  out.pmtu = ti.tcpi_pmtu;
  out.bytes_acked = ti.tcpi_bytes_acked;
  out.bytes_received = ti.tcpi_bytes_received;
  out.bytes_sent = ti.tcpi_bytes_sent;
  out.segments_out = ti.tcpi_segs_out;
  out.segments_in = ti.tcpi_segs_in;
  out.notsent_bytes = ti.tcpi_notsent_bytes;
  out.delivery_rate = ti.tcpi_delivery_rate;
  out.pacing_rate = ti.tcpi_pacing_rate;
  out.delivery_rate_app_limited = ti.tcpi_delivery_rate_app_limited != 0;
  out.busy_time = us(ti.tcpi_busy_time);
  out.rwnd_limited = us(ti.tcpi_rwnd_limited);
  out.sndbuf_limited = us(ti.tcpi_sndbuf_limited);
  out.last_data_sent = ms(ti.tcpi_last_data_sent);
  out.last_data_received = ms(ti.tcpi_last_data_recv);
  out.timestamps = (ti.tcpi_options & TCPI_OPT_TIMESTAMPS) != 0;
  out.sack = (ti.tcpi_options & TCPI_OPT_SACK) != 0;
  out.window_scaling = (ti.tcpi_options & TCPI_OPT_WSCALE) != 0;
  out.ecn = (ti.tcpi_options & TCPI_OPT_ECN) != 0;
  out.send_wscale = ti.tcpi_snd_wscale;
  out.receive_wscale = ti.tcpi_rcv_wscale;
  return out;
}

}  // namespace detail
}  // namespace tether
