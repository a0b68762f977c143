// Fuzz target: Endpoint::parse and HostPort::parse on arbitrary text.
// Properties: no crash; a parsed IP endpoint formats to text that parses back to the same
// endpoint; a parse never accepts text with an embedded NUL for IP endpoints.
#include <tether/endpoint.hpp>
#include <tether/resolve.hpp>

#include "fuzz_check.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  if (auto ep = tether::Endpoint::parse(text)) {
    FUZZ_CHECK(ep->kind() != tether::EndpointKind::none);
    const std::string formatted = ep->to_string();
    auto again = tether::Endpoint::parse(formatted);
    FUZZ_CHECK(again.has_value());
    FUZZ_CHECK(*again == *ep);
    FUZZ_CHECK(again->hash() == ep->hash());
    if (ep->is_ip()) FUZZ_CHECK(text.find('\0') == std::string_view::npos);
  }

  if (auto hp = tether::HostPort::parse(text)) {
    FUZZ_CHECK(hp->host.size() + hp->service.size() <= text.size());
  }
  return 0;
}
