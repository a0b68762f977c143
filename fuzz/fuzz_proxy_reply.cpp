// Fuzz target: the SOCKS5 / SOCKS4 / HTTP CONNECT reply parser (tether::ProxyHandshake).
// Input: byte 0 picks the proxy type, authentication and a literal or named target; byte 1 the
// chunk size; the rest is what the "proxy" answers. Properties: no crash; the handshake never asks
// for more than it will consume (wanted() bounds each feed) and never reads past the reply (the
// bytes consumed before done/failed are the same whatever the chunking); it ends in done or
// failed, or waits for more, and a failure carries an error code.
#include <tether/proxy.hpp>

#include "fuzz_check.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>

namespace {

struct Outcome {
  tether::ProxyHandshake::State state;
  std::size_t consumed;
  std::error_code error;
};

Outcome drive(std::uint8_t mode, std::span<const std::byte> reply, std::size_t chunk) {
  tether::ProxyOptions o;
  o.type = static_cast<tether::ProxyType>(mode % 3);
  if ((mode & 4) != 0) {
    o.user = "user";
    o.password = "secret";
  }
  std::optional<tether::Endpoint> resolved;
  if ((mode & 8) != 0) resolved = tether::Endpoint::ipv4_loopback(80);
  if ((mode & 16) != 0 && o.type != tether::ProxyType::socks4) resolved = tether::Endpoint::ipv6_loopback(80);
  tether::ProxyHandshake hs(o, "example.org", 443, resolved);
  std::size_t at = 0;
  for (int guard = 0; guard < 1'000'000; ++guard) {
    const auto st = hs.state();
    if (st == tether::ProxyHandshake::State::send) {
      FUZZ_CHECK(!hs.output().empty());
      hs.sent();
      continue;
    }
    if (st != tether::ProxyHandshake::State::receive) break;
    const std::size_t want = hs.wanted();
    FUZZ_CHECK(want > 0);
    if (at >= reply.size()) break;
    const std::size_t n = std::min({want, chunk, reply.size() - at});
    hs.feed(reply.subspan(at, n));
    at += n;
  }
  if (hs.state() == tether::ProxyHandshake::State::failed) FUZZ_CHECK(static_cast<bool>(hs.error()));
  return {hs.state(), at, hs.error()};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::uint8_t mode = data[0];
  const std::size_t chunk = 1 + data[1] % 64;
  const auto reply = std::as_bytes(std::span(data + 2, size - 2));
  const Outcome whole = drive(mode, reply, reply.size() + 1);
  const Outcome chunked = drive(mode, reply, chunk);
  FUZZ_CHECK(whole.state == chunked.state);
  FUZZ_CHECK(whole.consumed == chunked.consumed);
  FUZZ_CHECK(whole.error == chunked.error);
  return 0;
}
