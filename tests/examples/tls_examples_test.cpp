// The TLS examples as a user runs them: https_get against a local `openssl s_server -www` (never
// the internet), tls_echo_server with a client that pins its printed fingerprint.
#include "testing.hpp"
#include "tls_pki.hpp"

#include <tether/tcp.hpp>
#include <tether/tls.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <string>
#include <thread>

using namespace std::chrono_literals;
using namespace tether;
namespace tt = tether::testing;

namespace {

std::string example(const char* name) { return std::string(TETHER_BINARY_DIR) + "/examples/" + name; }

/// Runs `argv` to its end (at most 10 s); stdout and stderr together.
std::string run_capture(const std::vector<std::string>& argv, int* exit_code) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return {};
  tt::Child c = tt::Child::spawn(argv, -1, p[1], p[1]);
  ::close(p[1]);
  std::string out;
  char buf[4096];
  pollfd pfd{p[0], POLLIN, 0};
  while (::poll(&pfd, 1, 10000) > 0) {
    ssize_t n = ::read(p[0], buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(p[0]);
  *exit_code = c.wait(10s);
  return out;
}

tt::Child s_server_www(const tt::TestPki& pki, const std::string& cert, std::uint16_t port) {
  return tt::Child::spawn({"openssl", "s_server", "-accept", "127.0.0.1:" + std::to_string(port), "-www",
                           "-cert", pki.cert(cert), "-key", pki.key(cert), "-quiet"});
}

/// Runs https_get for "/" on localhost against a local s_server -www that serves the test PKI's
/// `cert`, verifying it with the test CA: its output, and its exit code in *code (-1: s_server
/// never came up).
std::string https_get_from(const std::string& cert, int* code) {
  *code = -1;
  tt::TestPki pki;
  const auto port = tt::free_port();
  tt::Child server = s_server_www(pki, cert, port);
  if (!tt::wait_listening(port)) return "openssl s_server did not listen";
  return run_capture({example("https_get"), "localhost", std::to_string(port), "/", pki.cert("ca")}, code);
}

}  // namespace

TEST(TlsExamples, https_get_fetches_a_page_from_a_local_openssl_server_and_verifies_it) {
  ASSERT_TRUE(tt::have_program("openssl"));
  int code = -1;
  auto out = https_get_from("server", &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("HTTP/1.0 200 ok"), std::string::npos) << out;
  EXPECT_NE(out.find("TLSv1.3"), std::string::npos) << out;
}

TEST(TlsExamples, https_get_refuses_an_expired_certificate_naming_the_reason) {
  ASSERT_TRUE(tt::have_program("openssl"));
  int code = -1;
  auto out = https_get_from("expired", &code);
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find("expired"), std::string::npos) << out;
}

TEST(TlsExamples, tls_echo_server_echoes_to_a_client_pinning_its_printed_fingerprint) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  tt::Child server = tt::Child::spawn({example("tls_echo_server"), "0"}, -1, p[1]);
  ::close(p[1]);
  std::string text;
  char ch;
  pollfd pfd{p[0], POLLIN, 0};
  while (text.find("listening") == std::string::npos || text.back() != '\n') {
    if (::poll(&pfd, 1, 5000) <= 0 || ::read(p[0], &ch, 1) != 1) break;
    text += ch;
  }
  ::close(p[0]);
  const auto fp = text.find("sha256:");
  const auto colon = text.rfind(':');
  ASSERT_NE(fp, std::string::npos) << text;
  auto pin = parse_pin(text.substr(fp, 7 + 64));
  ASSERT_TRUE(pin) << text;
  const auto port = static_cast<std::uint16_t>(std::stoul(text.substr(colon + 1)));
  TlsOptions o;
  o.pin = *pin;
  auto tcp = TcpStream::connect(Endpoint::ipv4_loopback(port), 5s);
  ASSERT_TRUE(tcp);
  auto tls = TlsStream::connect(std::move(*tcp), *TlsContext::client(o), "localhost", 5s);
  ASSERT_TRUE(tls) << tls.error().message();
  ASSERT_TRUE(tls->write_all("echo over tls", 5s));
  char buf[13];
  ASSERT_TRUE(tls->read_exact(std::span<char>(buf), 5s));
  EXPECT_EQ(std::string(buf, 13), "echo over tls");
  ASSERT_TRUE(tls->shutdown(5s));
  auto end = tls->read_some(std::span<char>(buf), 5s);
  ASSERT_TRUE(end) << end.error().message();
  EXPECT_EQ(*end, 0u);  // the server's close_notify after ours
}
