// Fuzz target: command-line-like endpoint arguments. The input is split on NUL bytes into argv
// tokens and read the way `tether connect|listen [ADDRESS] PORT` reads its positionals: one token
// is a port or service, two are a host and a port, and any token may be a whole endpoint
// ("[::1]:80", "unix:/path"). Properties: no crash, a successful two-part parse keeps its port.
#include <tether/endpoint.hpp>
#include <tether/resolve.hpp>

#include "fuzz_check.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> argv;
  std::size_t start = 0;
  while (start <= input.size() && argv.size() < 8) {
    const std::size_t end = std::min(input.find('\0', start), input.size());
    argv.push_back(input.substr(start, end - start));
    start = end + 1;
  }

  for (auto arg : argv) {
    (void)tether::Endpoint::parse(arg);
    (void)tether::HostPort::parse(arg);
    if (auto port = tether::parse_port(arg); port && !arg.empty() && arg.front() >= '0' &&
                                             arg.front() <= '9') {
      // A numeric service is its own port.
      std::uint32_t n = 0;
      bool digits = true;
      for (char c : arg) {
        if (c < '0' || c > '9' || n > 65535) {
          digits = false;
          break;
        }
        n = n * 10 + static_cast<std::uint32_t>(c - '0');
      }
      if (digits) FUZZ_CHECK(n == *port);
    }
  }
  if (argv.size() >= 2) {
    if (auto ep = tether::Endpoint::parse(argv[0], argv[1])) {
      auto port = tether::parse_port(argv[1]);
      FUZZ_CHECK(port.has_value());
      FUZZ_CHECK(ep->port() == *port);
    }
  }
  return 0;
}
