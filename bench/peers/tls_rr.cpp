// tls_rr HOST PORT [-c CONNS] [-s BYTES] [-P DEPTH] [-t SECS] [--warmup SECS] [--server-pid PID]
// The TLS echo load generator of bench/tls_echo.py: CONNS TLS 1.3 connections (cipher
// TLS_AES_128_GCM_SHA256 only, no certificate verification), each keeping DEPTH messages of BYTES
// in flight against an echo server; one thread, epoll, OpenSSL on the socket directly. The
// messages a read completes are sent again in one SSL_write (one record), as `tether bench rr`
// does in plain TCP. After the warm-up it counts the messages echoed for SECS and, with
// --server-pid, the server's CPU time (every thread's /proc/PID/task/*/schedstat run time).
// Prints one JSON line: msgs_per_s, server_cpu_us_per_msg, server_cpu_percent, version, cipher.
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <string>
#include <vector>

namespace {

struct Conn {
  int fd = -1;
  SSL* ssl = nullptr;
  std::size_t out = 0;      // bytes to send
  std::size_t retry = 0;    // an SSL_write that wanted to write again: retried with this length
  std::size_t partial = 0;  // bytes of a message received so far
  bool want_out = false;    // EPOLLOUT registered
};

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "tls_rr: %s", what);
  if (unsigned long e = ERR_get_error()) std::fprintf(stderr, ": %s", ERR_error_string(e, nullptr));
  std::fprintf(stderr, "\n");
  std::exit(1);
}

std::int64_t process_cpu_ns(int pid) {
  std::string dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return -1;
  std::int64_t total = 0;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    if (FILE* f = std::fopen((dir + "/" + e->d_name + "/schedstat").c_str(), "r")) {
      long long ns = 0;
      if (std::fscanf(f, "%lld", &ns) == 1) total += ns;
      std::fclose(f);
    }
  }
  ::closedir(d);
  return total;
}

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: tls_rr HOST PORT [-c CONNS] [-s BYTES] [-P DEPTH] [-t SECS] [--warmup SECS] [--server-pid PID]\n");
    return 2;
  }
  const char* host = argv[1];
  const int port = std::atoi(argv[2]);
  int conns = 1, pid = 0;
  std::size_t size = 64, depth = 1;
  double secs = 3, warmup = 0.5;
  for (int i = 3; i + 1 < argc; i += 2) {
    std::string f = argv[i];
    const char* v = argv[i + 1];
    if (f == "-c") conns = std::atoi(v);
    else if (f == "-s") size = std::strtoul(v, nullptr, 10);
    else if (f == "-P") depth = std::strtoul(v, nullptr, 10);
    else if (f == "-t") secs = std::atof(v);
    else if (f == "--warmup") warmup = std::atof(v);
    else if (f == "--server-pid") pid = std::atoi(v);
    else return std::fprintf(stderr, "tls_rr: unknown flag %s\n", f.c_str()), 2;
  }
  if (conns < 1 || size < 1 || depth < 1 || secs <= 0) return std::fprintf(stderr, "tls_rr: bad value\n"), 2;

  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) die("SSL_CTX_new");
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  if (SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256") != 1) die("ciphersuites");
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);

  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::inet_pton(AF_INET, host, &sa.sin_addr) != 1) die("HOST must be an IPv4 address");

  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  std::vector<Conn> cs(static_cast<std::size_t>(conns));
  std::string version, cipher;
  for (std::size_t i = 0; i < cs.size(); ++i) {  // blocking connect + handshake, then non-blocking
    Conn& c = cs[i];
    c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c.fd < 0 || ::connect(c.fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) die("connect");
    int one = 1;
    ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c.ssl = SSL_new(ctx);
    SSL_set_fd(c.ssl, c.fd);
    if (SSL_connect(c.ssl) != 1) die("handshake");
    if (i == 0) {
      version = SSL_get_version(c.ssl);
      cipher = SSL_get_cipher_name(c.ssl);
    }
    ::fcntl(c.fd, F_SETFL, ::fcntl(c.fd, F_GETFL) | O_NONBLOCK);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
    c.out = depth * size;
  }

  std::vector<char> payload(1 << 20, 'x');
  std::vector<char> buf(1 << 16);
  std::uint64_t msgs = 0;
  int errors = 0;

  auto send = [&](std::size_t i) {
    Conn& c = cs[i];
    while (c.out > 0) {
      std::size_t len = c.retry != 0 ? c.retry : std::min(c.out, payload.size());
      std::size_t n = 0;
      if (SSL_write_ex(c.ssl, payload.data(), len, &n) == 1) {
        c.out -= n;
        c.retry = 0;
        continue;
      }
      if (SSL_get_error(c.ssl, 0) != SSL_ERROR_WANT_WRITE) return false;
      c.retry = len;
      break;
    }
    const bool need = c.out > 0;
    if (need != c.want_out) {
      epoll_event ev{};
      ev.events = EPOLLIN | (need ? EPOLLOUT : 0u);
      ev.data.u64 = i;
      ::epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
      c.want_out = need;
    }
    return true;
  };
  auto receive = [&](std::size_t i) {
    Conn& c = cs[i];
    for (;;) {
      std::size_t n = 0;
      if (SSL_read_ex(c.ssl, buf.data(), buf.size(), &n) == 1) {
        c.partial += n;
        const std::size_t done = c.partial / size;
        c.partial %= size;
        msgs += done;
        c.out += done * size;
        continue;
      }
      const int e = SSL_get_error(c.ssl, 0);
      ERR_clear_error();
      return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
    }
  };
  auto drop = [&](std::size_t i) {
    ++errors;
    ::epoll_ctl(ep, EPOLL_CTL_DEL, cs[i].fd, nullptr);
  };

  for (std::size_t i = 0; i < cs.size(); ++i) {
    if (!send(i)) drop(i);
  }
  const double start = now_s();
  const double t0 = start + warmup, t1 = t0 + secs;
  bool measuring = false;
  std::uint64_t msgs0 = 0;
  std::int64_t cpu0 = 0, cpu1 = 0;
  double at0 = 0, at1 = 0;
  std::vector<epoll_event> events(1024);
  for (;;) {
    const double t = now_s();
    if (!measuring && t >= t0) {
      measuring = true;
      msgs0 = msgs;
      cpu0 = pid > 0 ? process_cpu_ns(pid) : 0;
      at0 = now_s();
    }
    if (measuring && t >= t1) {
      cpu1 = pid > 0 ? process_cpu_ns(pid) : 0;
      at1 = now_s();
      break;
    }
    const int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), 5);
    for (int k = 0; k < n; ++k) {
      const std::size_t i = events[static_cast<std::size_t>(k)].data.u64;
      if (!receive(i) || !send(i)) drop(i);
    }
    if (errors == conns) break;
  }
  const std::uint64_t counted = msgs - msgs0;
  for (Conn& c : cs) {  // close_notify, best effort, then close
    (void)SSL_shutdown(c.ssl);
    ::close(c.fd);
    SSL_free(c.ssl);
  }
  SSL_CTX_free(ctx);
  const double elapsed = at1 - at0;
  if (errors == conns || elapsed <= 0 || counted == 0) {
    std::fprintf(stderr, "tls_rr: every connection failed\n");
    return 1;
  }
  std::printf("{\"msgs_per_s\": %.1f, \"messages\": %llu, \"seconds\": %.3f, \"conns\": %d, \"size\": %zu, "
              "\"pipeline\": %zu, \"errors\": %d, \"version\": \"%s\", \"cipher\": \"%s\"",
              static_cast<double>(counted) / elapsed, static_cast<unsigned long long>(counted), elapsed, conns, size,
              depth, errors, version.c_str(), cipher.c_str());
  if (pid > 0 && cpu0 >= 0 && cpu1 >= cpu0) {
    const double cpu_s = static_cast<double>(cpu1 - cpu0) / 1e9;
    std::printf(", \"server_cpu_us_per_msg\": %.3f, \"server_cpu_percent\": %.1f", cpu_s * 1e6 / static_cast<double>(counted),
                100.0 * cpu_s / elapsed);
  }
  std::printf("}\n");
  return errors == 0 ? 0 : 1;
}
