// tether bench: the load generator against small in-process servers (echo, corrupting echo,
// discard, UDP echo). Short runs (-t 0.3): these tests check behaviour and reports, never speed.
#include "cli_support.hpp"

#include <tether/tcp.hpp>
#include <tether/udp.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

using namespace tether;
using namespace tether::testing::cli;

namespace {

/// A thread-per-connection TCP server on 127.0.0.1:0. `mode`: echo, corrupt (echo with the 100th
/// byte flipped), or discard. Stops and joins in its destructor.
class TcpServer {
 public:
  enum class Mode { echo, corrupt, discard };

  explicit TcpServer(Mode mode) : mode_(mode) {
    listener_ = *TcpListener::bind(Endpoint::ipv4_loopback(0));
    port_ = listener_.local_endpoint()->port();
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~TcpServer() {
    stop_ = true;
    acceptor_.join();
    for (auto& t : handlers_) t.join();
  }
  std::string port() const { return std::to_string(port_); }

 private:
  void accept_loop() {
    while (!stop_) {
      auto a = listener_.accept(std::chrono::milliseconds(50));
      if (!a) continue;
      handlers_.emplace_back([this, s = std::make_shared<TcpStream>(std::move(a->stream))] { serve(*s); });
    }
  }
  void serve(TcpStream& s) {
    std::vector<char> buf(64 * 1024);
    std::uint64_t total = 0;
    while (!stop_) {
      auto n = s.read_some(std::span(buf), std::chrono::milliseconds(50));
      if (!n) {
        if (n.error() == std::errc::timed_out) continue;
        return;
      }
      if (*n == 0) return;
      if (mode_ == Mode::discard) continue;
      if (mode_ == Mode::corrupt && total <= 100 && total + *n > 100) buf[100 - total] ^= 0x5A;
      total += *n;
      if (!s.write_all(std::as_bytes(std::span(buf.data(), *n)), std::chrono::seconds(2))) return;
    }
  }

  Mode mode_;
  TcpListener listener_;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  std::vector<std::thread> handlers_;
};

class UdpEcho {
 public:
  UdpEcho() {
    socket_ = *UdpSocket::bind(Endpoint::ipv4_loopback(0));
    port_ = socket_.local_endpoint()->port();
    thread_ = std::thread([this] {
      std::vector<std::byte> buf(65536);
      while (!stop_) {
        auto d = socket_.recv_from(std::span(buf), std::chrono::milliseconds(50));
        if (d) (void)socket_.send_to(std::span(buf.data(), d->size), d->from);
      }
    });
  }
  ~UdpEcho() {
    stop_ = true;
    thread_.join();
  }
  std::string port() const { return std::to_string(port_); }

 private:
  UdpSocket socket_;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

double number(const JsonObject& o, const std::string& key) {
  auto it = o.find(key);
  return it == o.end() ? -1 : std::stod(it->second);
}

JsonObject report_of(const RunResult& r) {
  auto obj = parse_json_object(lines_of(r.out).empty() ? "" : lines_of(r.out).front());
  EXPECT_TRUE(obj.has_value()) << "stdout: " << r.out << "\nstderr: " << r.err;
  return obj.value_or(JsonObject{});
}

}  // namespace

TEST(BenchCli, bench_rr_against_echo_verifies_and_reports_latency) {
  TcpServer server(TcpServer::Mode::echo);
  auto r = run_tether({"bench", "rr", "127.0.0.1", server.port(), "-c", "3", "-s", "300", "-P", "4", "-t", "0.3",
                       "--json", "-i", "0.1"});
  ASSERT_EQ(r.status, 0) << r.err;
  auto rep = report_of(r);
  EXPECT_EQ(rep["mode"], "rr");
  EXPECT_EQ(rep["connected"], "3");
  EXPECT_EQ(rep["errors"], "0");
  EXPECT_GT(number(rep, "messages"), 0);
  EXPECT_EQ(number(rep, "bytes"), number(rep, "messages") * 300);
  EXPECT_GT(number(rep, "latency_p50_us"), 0);
  EXPECT_LE(number(rep, "latency_p50_us"), number(rep, "latency_p99_us"));
  EXPECT_LE(number(rep, "latency_p99_us"), number(rep, "latency_max_us"));
  // Progress: JSON interval lines on stderr.
  auto events = json_events(r.err);
  EXPECT_TRUE(find_event(events, "interval").has_value()) << r.err;
}

TEST(BenchCli, bench_rr_detects_a_corrupted_echo_and_exits_1) {
  TcpServer server(TcpServer::Mode::corrupt);
  auto r = run_tether({"bench", "rr", "127.0.0.1", server.port(), "-c", "1", "-s", "64", "-t", "0.3", "-i", "0"});
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("errors       1"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("differ"), std::string::npos) << r.err;
}

TEST(BenchCli, bench_rr_to_a_closed_port_is_one_line_and_exit_1) {
  std::uint16_t port = 0;
  {
    auto l = TcpListener::bind(Endpoint::ipv4_loopback(0));
    port = l->local_endpoint()->port();
  }
  auto r = run_tether({"bench", "rr", "127.0.0.1", std::to_string(port), "-t", "0.2"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
  EXPECT_NE(r.err.find("refused"), std::string::npos) << r.err;
}

TEST(BenchCli, bench_bad_usage_exits_2) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"bench", "rr", "127.0.0.1", "9", "-s", "0"},
           {"bench", "rr", "127.0.0.1", "9", "-P", "0"},
           {"bench", "udp", "127.0.0.1", "9", "-s", "70000"},
           {"bench", "rr", "127.0.0.1"},
           {"bench", "rr", "127.0.0.1", "99999"},
           {"bench", "nosuchmode", "127.0.0.1", "9"}}) {
    auto r = run_tether(args);
    EXPECT_EQ(r.status, 2) << args[1] << " " << r.err;
    EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
  }
}

TEST(BenchCli, bench_stream_into_discard_reports_acknowledged_bytes) {
  TcpServer server(TcpServer::Mode::discard);
  auto r = run_tether({"bench", "stream", "127.0.0.1", server.port(), "-c", "2", "-s", "16384", "-t", "0.3",
                       "--json", "-i", "0"});
  ASSERT_EQ(r.status, 0) << r.err;
  auto rep = report_of(r);
  EXPECT_EQ(rep["connected"], "2");
  EXPECT_GT(number(rep, "bytes"), 16384);
  EXPECT_GT(number(rep, "gbit_per_s"), 0);
}

TEST(BenchCli, bench_connect_counts_connections_and_their_latency) {
  TcpServer server(TcpServer::Mode::discard);
  auto r = run_tether({"bench", "connect", "127.0.0.1", server.port(), "-c", "2", "-t", "0.3", "--json", "-i", "0",
                       "--reset"});
  ASSERT_EQ(r.status, 0) << r.err;
  auto rep = report_of(r);
  EXPECT_GT(number(rep, "messages"), 0);
  EXPECT_GT(number(rep, "conns_per_s"), 0);
  EXPECT_GT(number(rep, "latency_p50_us"), 0);
}

TEST(BenchCli, bench_udp_at_a_low_rate_loses_nothing) {
  UdpEcho echo;
  auto r = run_tether({"bench", "udp", "127.0.0.1", echo.port(), "-r", "2000", "-s", "200", "-t", "0.3", "--json",
                       "-i", "0"});
  ASSERT_EQ(r.status, 0) << r.err;
  auto rep = report_of(r);
  EXPECT_GT(number(rep, "sent"), 100);
  EXPECT_EQ(number(rep, "sent"), number(rep, "messages")) << r.out;
  EXPECT_EQ(number(rep, "loss_percent"), 0);
}

TEST(BenchCli, bench_server_pid_reports_server_cpu_per_message) {
  TcpServer server(TcpServer::Mode::echo);
  // This test process is the server: its CPU time is what --server-pid reads.
  auto r = run_tether({"bench", "rr", "127.0.0.1", server.port(), "-t", "0.3", "--json", "-i", "0", "--server-pid",
                       std::to_string(::getpid())});
  ASSERT_EQ(r.status, 0) << r.err;
  auto rep = report_of(r);
  EXPECT_GT(number(rep, "server_cpu_s"), 0);
  EXPECT_GT(number(rep, "server_cpu_us_per_msg"), 0);
}

TEST(BenchCli, bench_threads_split_connections_and_merge_results) {
  TcpServer server(TcpServer::Mode::echo);
  auto r = run_tether({"bench", "rr", "127.0.0.1", server.port(), "-c", "4", "--threads", "2", "-t", "0.3",
                       "--json", "-i", "0"});
  ASSERT_EQ(r.status, 0) << r.err;
  auto rep = report_of(r);
  EXPECT_EQ(rep["connected"], "4");
  EXPECT_EQ(rep["threads"], "2");
  EXPECT_GT(number(rep, "messages"), 0);
}
