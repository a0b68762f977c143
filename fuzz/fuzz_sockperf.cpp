// Fuzz target: the sockperf message parser. Input: 4 bytes of chunk sizes, then a stream (TCP) or
// a datagram (UDP). Properties: no crash; chunked stream decoding equals whole decoding; every
// message's length is within 14..max and matches its header; the reply of a message parses back
// to the same header with only the client flag cleared.
#include <tether/sockperf.hpp>

#include "decode_all.hpp"
#include "fuzz_check.hpp"

#include <cstddef>
#include <cstdint>

namespace sp = tether::sockperf;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 4) return 0;
  const std::span<const std::uint8_t> chunks(data, 4);
  const std::span<const std::uint8_t> stream(data + 4, size - 4);
  auto make = [] { return sp::MessageDecoder(); };
  auto text = [](const sp::Message& m) { return tether::fuzz::bytes_text(m.bytes); };

  const auto whole = tether::fuzz::decode_all(make, stream, {}, text);
  const auto chunked = tether::fuzz::decode_all(make, stream, chunks, text);
  FUZZ_CHECK(whole == chunked);

  // Datagram view: walk the messages of one datagram.
  auto bytes = std::as_bytes(stream);
  tether::Buffer out;
  for (int guard = 0; guard < 100000 && !bytes.empty(); ++guard) {
    auto m = sp::first_message(bytes);
    if (!m || !*m) break;
    const sp::Message& msg = **m;
    FUZZ_CHECK(msg.bytes.size() == msg.header.length);
    FUZZ_CHECK(msg.header.length >= sp::header_size && msg.header.length <= sp::default_max_size);
    out.clear();
    sp::append_reply(msg, out);
    auto reply = sp::parse_header(out.readable());
    FUZZ_CHECK(reply.has_value());
    FUZZ_CHECK(reply->sequence == msg.header.sequence);
    FUZZ_CHECK(reply->length == msg.header.length);
    FUZZ_CHECK(reply->flags == (msg.header.flags & ~sp::flag_client));
    FUZZ_CHECK(!reply->wants_reply());
    bytes = bytes.subspan(msg.bytes.size());
  }
  return 0;
}
