// Security of the CLI (issue 5): in -v mode, control characters chosen by a peer never reach the
// terminal's event lines raw. Complements cli_listen_test (a Unix stream peer's name with C0
// controls): here a Unix DATAGRAM sender, and the C1 controls (U+0080..U+009F, e.g. U+009B, the
// 8-bit CSI some terminals obey) and DEL.
#include "cli_support.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

using namespace tether;
using namespace tether::testing;
using namespace tether::testing::cli;

// ESC [ 31 m, newline, a forged event, CR, BEL, DEL, and U+009B (CSI) encoded in UTF-8.
const std::string hostile = std::string("evil\x1b[31m\ntether: forged\r\x07\x7f", 27) + "\xc2\x9b" + "2J";

/// True when `err` holds a byte a terminal would act on: C0 controls but the line ends, DEL, or a
/// UTF-8 encoded C1 control.
bool has_raw_controls(const std::string& err) {
  for (std::size_t i = 0; i < err.size(); ++i) {
    const auto c = static_cast<unsigned char>(err[i]);
    if ((c < 0x20 && c != '\n') || c == 0x7f) return true;
    if (c == 0xc2 && i + 1 < err.size()) {
      const auto d = static_cast<unsigned char>(err[i + 1]);
      if (d >= 0x80 && d <= 0x9f) return true;
    }
  }
  return false;
}

TEST(cli_peer_escape, verbose_events_escape_a_unix_datagram_senders_name) {
  TempPath path("dgram");
  Process p = Process::start({tether_path(), "listen", "-u", "-v", "-w", "1", "--unix", path.str()});
  ASSERT_TRUE(p.wait_for_err_line("listening", 5s).has_value()) << p.err();
  auto from = Endpoint::unix_abstract(hostile + std::to_string(::getpid()));
  ASSERT_TRUE(from.has_value());
  auto sender = UnixDatagram::bind(*from);
  ASSERT_TRUE(sender.has_value()) << sender.error().message();
  auto to = Endpoint::unix_path(path.str());
  ASSERT_TRUE(to.has_value());
  ASSERT_TRUE(sender->send_to("hello", *to, 2s));
  ASSERT_TRUE(p.wait_for_err_line("accepted", 5s).has_value()) << p.err();
  EXPECT_EQ(p.wait(), 0) << p.err();
  const std::string err = p.err();
  EXPECT_FALSE(has_raw_controls(err)) << err;
  for (const auto& line : lines_of(err)) EXPECT_EQ(line.rfind("tether: ", 0), 0u) << line;
  for (const auto& line : lines_of(err)) {
    EXPECT_NE(line.rfind("tether: forged", 0), 0u) << "a peer forged an event line";
  }
  EXPECT_NE(err.find("\\x1b[31m\\x0atether: forged\\x0d\\x07\\x7f\\xc2\\x9b2J"), std::string::npos)
      << err;
  EXPECT_EQ(p.out(), "hello");
}

TEST(cli_peer_escape, verbose_events_escape_c1_controls_in_a_unix_stream_peers_name) {
  TempPath path("stream");
  Process p = Process::start({tether_path(), "listen", "-v", "--unix", path.str()});
  ASSERT_TRUE(p.wait_for_err_line("listening", 5s).has_value()) << p.err();
  ConnectOptions co;
  auto from = Endpoint::unix_abstract(hostile + "s" + std::to_string(::getpid()));
  ASSERT_TRUE(from.has_value());
  co.source = *from;
  co.deadline = 5s;
  auto to = Endpoint::unix_path(path.str());
  ASSERT_TRUE(to.has_value());
  auto s = TcpStream::connect(*to, co);
  ASSERT_TRUE(s.has_value()) << s.error().message();
  ASSERT_TRUE(s->write_all("bytes\n", 2s));
  s->close();
  EXPECT_EQ(p.wait(), 0) << p.err();
  const std::string err = p.err();
  EXPECT_FALSE(has_raw_controls(err)) << err;
  for (const auto& line : lines_of(err)) EXPECT_EQ(line.rfind("tether: ", 0), 0u) << line;
  EXPECT_NE(err.find("\\xc2\\x9b2J"), std::string::npos) << err;
}

}  // namespace
