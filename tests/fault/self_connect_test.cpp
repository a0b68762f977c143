// Fault scenario 11: with a tiny ephemeral port range, a connect to a closed local port in that
// range can end connected to itself (TCP simultaneous open). tether must never report that as a
// connection. Runs in a private network namespace (needs root), where the port range is private.
#include <tether/tether.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

namespace {

using namespace std::chrono_literals;
using namespace tether;

bool bring_up_loopback() {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  bool ok = ::ioctl(fd, SIOCGIFFLAGS, &ifr) == 0;
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
  ok = ok && ::ioctl(fd, SIOCSIFFLAGS, &ifr) == 0;
  ::close(fd);
  return ok;
}

bool write_file(const char* path, const char* text) {
  int fd = ::open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::write(fd, text, std::strlen(text)) == static_cast<ssize_t>(std::strlen(text));
  ::close(fd);
  return ok;
}

// Child exit codes.
constexpr int kOk = 0, kSetupFailed = 10, kSelfConnected = 11, kNeverRefused = 12;

int child_main() {
  if (::unshare(CLONE_NEWNET) != 0 || !bring_up_loopback() ||
      !write_file("/proc/sys/net/ipv4/ip_local_port_range", "40000 40001")) {
    return kSetupFailed;
  }
  int refused = 0;
  for (int i = 0; i < 300; ++i) {
    auto s = TcpStream::connect(Endpoint::ipv4_loopback(40000), 1s);
    if (s) return kSelfConnected;
    if (s.error() == std::errc::connection_refused) ++refused;
  }
  return refused > 0 ? kOk : kNeverRefused;
}

TEST(FaultSelfConnect, self_connect_in_tiny_port_range_is_never_reported_as_connected) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root for a private network namespace";
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) ::_exit(child_main());
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  int code = WEXITSTATUS(status);
  if (code == kSetupFailed) GTEST_SKIP() << "cannot create a network namespace here";
  EXPECT_NE(code, kSelfConnected) << "a connect to itself was reported as a connection";
  EXPECT_EQ(code, kOk);
}

}  // namespace
