// An HTTPS GET with the synchronous layer: the certificate and the host name are verified.
//   https_get HOST [PORT [PATH [CA_FILE]]]    (default port 443, path /, the system trust store)
#include <tether/tcp.hpp>
#include <tether/tls.hpp>

#include <cstdio>
#include <string>

using namespace std::chrono_literals;

int main(int argc, char** argv) {
  if (argc < 2) return std::fprintf(stderr, "usage: https_get HOST [PORT [PATH [CA_FILE]]]\n"), 2;
  const std::string host = argv[1], port = argc > 2 ? argv[2] : "443", path = argc > 3 ? argv[3] : "/";
  tether::TlsOptions options;  // verify = true by default
  if (argc > 4) options.ca_file = argv[4];
  auto ctx = tether::TlsContext::client(options);
  if (!ctx) return std::fprintf(stderr, "https_get: %s\n", ctx.error().message().c_str()), 1;

  tether::ConnectOptions co;
  co.deadline = 10s;
  auto tcp = tether::TcpStream::connect(host, port, co);
  if (!tcp) return std::fprintf(stderr, "https_get: connect: %s\n", tcp.error().message().c_str()), 1;
  // SNI and the name check come from `host`; a refusal names its reason (expired, name mismatch...).
  auto tls = tether::TlsStream::connect(std::move(*tcp), *ctx, host, 10s);
  if (!tls) return std::fprintf(stderr, "https_get: %s\n", tls.error().message().c_str()), 1;
  std::fprintf(stderr, "%s %s\n", tls->info().version.c_str(), tls->info().cipher.c_str());

  const std::string request = "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n";
  if (auto st = tls->write_all(request, 10s); !st) {
    return std::fprintf(stderr, "https_get: send: %s\n", st.error().message().c_str()), 1;
  }
  char buf[16384];
  for (;;) {
    auto n = tls->read_some(buf, 30s);
    if (!n) return std::fprintf(stderr, "https_get: %s\n", n.error().message().c_str()), 1;  // tls_truncated too
    if (*n == 0) break;  // the server's close_notify
    std::fwrite(buf, 1, *n, stdout);
  }
  (void)tls->close(1s);
}
