// Issue 8 items 2 and 7: `tether listen --chat` bounds a line (--max-line, default 64 KiB: a longer
// line closes its sender with reason "too-long" and the server's memory stays bounded), and a fast
// sender is slowed to its readers' pace (a normal `tether connect > file` reader is never dropped).
#include "cli_support.hpp"

#include <tether/tcp.hpp>

#include <gtest/gtest.h>

#include <poll.h>
#include <signal.h>

#include <array>
#include <atomic>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using namespace tether;
using namespace tether::testing::cli;

namespace {

struct Chat {
  Process process;
  std::uint16_t port = 0;
};

Chat start_chat(std::vector<std::string> extra = {}) {
  std::vector<std::string> argv{tether_path(), "listen", "--chat", "--threads", "2", "--json"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.emplace_back("127.0.0.1");
  argv.emplace_back("0");
  Chat c{Process::start(argv), 0};
  c.port = port_of(listening_endpoint(c.process));
  EXPECT_NE(c.port, 0) << c.process.err();
  return c;
}

// Waits until the server reported `n` accepted clients: only then do they receive broadcasts.
void wait_accepted(const Chat& c, int n) {
  for (int i = 0; i < 500; ++i) {
    int seen = 0;
    for (const auto& line : lines_of(c.process.err())) seen += line.find("\"accepted\"") != std::string::npos;
    if (seen >= n) return;
    std::this_thread::sleep_for(10ms);
  }
  ADD_FAILURE() << "fewer than " << n << " clients accepted: " << c.process.err();
}

Endpoint at(std::uint16_t port) { return Endpoint::ipv4({127, 0, 0, 1}, port); }

// kB of the peak resident memory of `pid` (VmHWM).
long peak_rss_kb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  long value = -1;
  while (in >> key) {
    if (key == "VmHWM:") {
      in >> value;
      break;
    }
  }
  return value;
}

// True once the server ended `s` (end of stream or reset) within 10 s.
bool closed_by_server(TcpStream& s) {
  std::array<char, 4096> buf;
  for (;;) {
    auto n = s.read_some(buf, Deadline(10s));
    if (!n) return n.error() == std::errc::connection_reset;
    if (*n == 0) return true;
  }
}

std::string read_line(TcpStream& s) {
  std::string out;
  char c;
  while (out.size() < 4096) {
    auto n = s.read_some(std::span(&c, 1), Deadline(5s));
    if (!n || *n == 0 || c == '\n') break;
    out += c;
  }
  return out;
}

std::vector<JsonObject> stop(Chat& c) {
  ::kill(c.process.pid(), SIGTERM);
  EXPECT_EQ(c.process.wait(10s), 0) << c.process.err();
  return json_events(c.process.err());
}

}  // namespace

TEST(chat_limits, a_line_longer_than_64_kib_closes_its_sender_and_memory_stays_bounded) {
  auto chat = start_chat();
  auto alice = TcpStream::connect(at(chat.port), 5s);
  auto bob = TcpStream::connect(at(chat.port), 5s);
  ASSERT_TRUE(alice && bob);
  wait_accepted(chat, 2);
  const long before = peak_rss_kb(chat.process.pid());
  auto hog = TcpStream::connect(at(chat.port), 5s);
  ASSERT_TRUE(hog);
  const std::string chunk(1 << 20, 'x');  // no newline anywhere: 64 MB of one line
  std::thread writer([&] {
    for (int i = 0; i < 64; ++i) {
      if (!hog->write_all(chunk, 10s)) break;
    }
  });
  EXPECT_TRUE(closed_by_server(*hog));
  writer.join();
  const long after = peak_rss_kb(chat.process.pid());
  EXPECT_LT(after - before, 16 * 1024) << "peak RSS grew from " << before << " kB to " << after << " kB";
  // The others still chat.
  ASSERT_TRUE(alice->write_all("still here\n", 5s));
  EXPECT_NE(read_line(*bob).find("> still here"), std::string::npos);
  alice->close();
  bob->close();
  auto events = stop(chat);
  int too_long = 0;
  for (const auto& e : events) {
    if (e.at("event") == "closed" && e.at("reason") == "too-long") {
      ++too_long;
      EXPECT_LT(std::stoull(e.at("bytes_in")), 8ull << 20);
    }
  }
  EXPECT_EQ(too_long, 1) << chat.process.err();
}

TEST(chat_limits, max_line_sets_the_limit_and_is_refused_outside_chat) {
  auto chat = start_chat({"--max-line", "100"});
  auto alice = TcpStream::connect(at(chat.port), 5s);
  auto bob = TcpStream::connect(at(chat.port), 5s);
  ASSERT_TRUE(alice && bob);
  wait_accepted(chat, 2);
  ASSERT_TRUE(alice->write_all(std::string(100, 'a') + "\n", 5s));  // exactly the limit: relayed
  EXPECT_NE(read_line(*bob).find(std::string(100, 'a')), std::string::npos);
  ASSERT_TRUE(alice->write_all(std::string(101, 'b') + "\n", 5s));  // one more: closed
  EXPECT_TRUE(closed_by_server(*alice));
  bob->close();
  stop(chat);
  for (const char* mode : {"--echo", "--discard", "--sockperf"}) {
    auto r = run_tether({"listen", mode, "--max-line", "10", "127.0.0.1", "0"});
    EXPECT_EQ(r.status, 2) << mode << ": " << r.err;
  }
}

// The reader is `tether connect` whose stdout is a pipe that is not read for a while (a consumer
// that pauses: `tether connect | less`), then read to the end. Without backpressure the 24 MB the
// sender pushes meanwhile overflow what the kernel buffers hold and the reader is dropped as a
// slow consumer; with it the sender waits, and both complete.
TEST(chat_limits, a_fast_sender_and_a_pausing_tether_connect_reader_both_complete) {
  auto chat = start_chat();
  Pipe reader_in;   // held open: the reader keeps reading until the server closes
  Pipe reader_out;  // the reader's stdout, read by this test
  auto reader = tether::testing::Child::spawn(
      {tether_path(), "connect", "127.0.0.1", std::to_string(chat.port)}, reader_in.read_fd, reader_out.write_fd, 2);
  reader_in.close_read();
  reader_out.close_write();
  // Wait until the reader is a participant: its line reaches a probe client.
  auto probe = TcpStream::connect(at(chat.port), 5s);
  ASSERT_TRUE(probe);
  bool joined = false;
  for (int i = 0; i < 100 && !joined; ++i) {
    ASSERT_TRUE(reader_in.write("hi\n"));
    joined = read_line(*probe).find("> hi") != std::string::npos;
  }
  ASSERT_TRUE(joined);
  probe->close();
  constexpr int kLines = 240'000;  // 24 MB
  std::string data;
  data.reserve(kLines * 100);
  for (int i = 0; i < kLines; ++i) data += std::string(99, static_cast<char>('a' + i % 26)) + "\n";
  TempPath input("input");
  write_file(input.str(), data);
  auto sender = Process::start_with_input_file(
      {tether_path(), "connect", "127.0.0.1", std::to_string(chat.port)}, input.str());
  std::this_thread::sleep_for(1500ms);  // the reader's consumer pauses
  const std::size_t prefix = std::string("<127.0.0.1:12345> ").size();  // ephemeral ports: 5 digits
  const std::size_t want = kLines * (100 + prefix);
  std::size_t got = 0;
  std::array<char, 65536> buf;
  for (;;) {
    pollfd p{reader_out.read_fd, POLLIN, 0};
    if (::poll(&p, 1, 10'000) <= 0) break;  // nothing for 10 s: the reader was cut off
    const ssize_t n = ::read(reader_out.read_fd, buf.data(), buf.size());
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
    if (got >= want) break;
  }
  EXPECT_EQ(got, want);
  EXPECT_EQ(sender.wait(60s), 0) << sender.err();
  reader_in.close_write();
  EXPECT_EQ(reader.wait(10s), 0);
  auto events = stop(chat);
  for (const auto& e : events) {
    if (e.at("event") == "closed") {
      EXPECT_EQ(e.at("reason"), "eof") << e.at("peer");
    }
  }
}
