// Fuzz target: the TLS engine (src/tls/engine.hpp) fed from memory BIOs, as a peer would feed it.
// Input: byte 0 picks the side and the phase, byte 1..4 chunk sizes, then the peer's bytes.
//   mode 0: a server engine receives the bytes as a ClientHello and what follows;
//   mode 1: a client engine, its ClientHello sent, receives them as the server's answer;
//   mode 2: a server engine after a complete in-memory handshake receives them as records.
// Properties: no crash, leak or sanitizer report; read() never returns more than asked; once the
// engine reported an error it keeps failing (never yields plaintext afterwards); a clean end
// (close_notify) only after the handshake.
#include "tls/engine.hpp"

#include "fuzz_check.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace {

using tether::detail::TlsEngine;

struct Contexts {
  tether::TlsContext server;
  tether::TlsContext client;
  Contexts() {
    tether::TlsOptions so;
    so.identity = tether::TlsIdentity::ephemeral().value();
    so.alpn = {"h2", "http/1.1"};
    server = tether::TlsContext::server(so).value();
    tether::TlsOptions co;
    co.verify = false;
    co.alpn = {"http/1.1"};
    client = tether::TlsContext::client(co).value();
  }
};

const Contexts& contexts() {
  static const Contexts c;
  return c;
}

void drain(TlsEngine& e, std::vector<std::byte>* into = nullptr) {
  std::array<std::byte, 4096> buf;
  while (e.output_pending() > 0) {
    const std::size_t n = e.take_output(buf);
    FUZZ_CHECK(n > 0 && n <= buf.size());
    if (into) into->insert(into->end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
  }
}

/// Runs a client and a server engine against each other in memory until both are done.
bool handshake_pair(TlsEngine& client, TlsEngine& server) {
  for (int round = 0; round < 20; ++round) {
    std::vector<std::byte> wire;
    auto c = client.handshake();
    drain(client, &wire);
    server.feed(wire);
    wire.clear();
    auto s = server.handshake();
    drain(server, &wire);
    client.feed(wire);
    if (!c || !s) return false;
    if (*c == 0 && *s == 0) return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 5) return 0;
  const Contexts& ctx = contexts();
  const int mode = data[0] % 3;
  const std::span<const std::uint8_t> chunks(data + 1, 4);
  std::span<const std::byte> peer(reinterpret_cast<const std::byte*>(data + 5), size - 5);

  auto engine = TlsEngine::make(mode == 1 ? ctx.client : ctx.server, mode == 1 ? "localhost" : "");
  FUZZ_CHECK(engine.has_value());
  TlsEngine& e = **engine;
  if (mode == 1) {
    auto first = e.handshake();  // the ClientHello
    FUZZ_CHECK(first && *first == TlsEngine::need_input);
    drain(e);
  } else if (mode == 2) {
    auto client = TlsEngine::make(ctx.client, "localhost");
    FUZZ_CHECK(client.has_value());
    FUZZ_CHECK(handshake_pair(**client, e));
  }

  bool failed = false;
  std::array<std::byte, 1024> plain;
  for (std::size_t i = 0; !peer.empty(); ++i) {
    const std::size_t want = chunks[i % 4] == 0 ? peer.size() : chunks[i % 4];
    const std::size_t n = want < peer.size() ? want : peer.size();
    e.feed(peer.first(n));
    peer = peer.subspan(n);
    if (!e.handshake_done()) {
      auto step = e.handshake();
      drain(e);
      if (!step) {
        failed = true;
        break;
      }
      if (*step != 0) continue;
    }
    for (int reads = 0; reads < 64; ++reads) {
      auto r = e.read(plain);
      drain(e);
      if (!r) {
        failed = true;
        break;
      }
      if (*r == TlsEngine::need_input) break;
      FUZZ_CHECK(*r <= plain.size());
      if (*r == 0) {
        FUZZ_CHECK(e.handshake_done() && e.received_close_notify());
        break;
      }
    }
    if (failed) break;
  }
  if (failed) {
    auto again = e.read(plain);  // a broken connection stays broken
    FUZZ_CHECK(!again || *again == 0 || *again == TlsEngine::need_input);
    FUZZ_CHECK(!again || *again != 0 || e.received_close_notify());
  }
  (void)e.end_of_input();
  (void)e.send_close_notify();
  drain(e);
  return 0;
}
