// Fuzz target: the sock_diag reply parsers and the TCP packet parser on arbitrary bytes.
// Properties: no crash, no read outside the input; every parsed entry has a known kind; a parsed
// segment's payload fits in the input.
#include <tether/sock_diag.hpp>
#include <tether/tcp_segment.hpp>

#include "fuzz_check.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include <netinet/in.h>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto bytes = std::as_bytes(std::span(data, size));
  std::vector<tether::SocketEntry> entries;
  (void)tether::sock_diag::parse_inet_reply(bytes, IPPROTO_TCP, entries);
  (void)tether::sock_diag::parse_unix_reply(bytes, entries);
  for (const auto& e : entries) FUZZ_CHECK(tether::socket_kind_name(e.kind)[0] != '\0');
  if (auto s = tether::parse_tcp_packet(bytes)) {
    FUZZ_CHECK(s->payload_size <= size);
    FUZZ_CHECK(!s->flags_text().empty());
  }
  return 0;
}
