#include <tether/error.hpp>

#include <netdb.h>

#include <string>

namespace tether {
namespace {

class TetherCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "tether"; }
  std::string message(int value) const override {
    switch (static_cast<Errc>(value)) {
      case Errc::empty_input: return "empty input";
      case Errc::bad_address: return "invalid address";
      case Errc::bad_port: return "invalid port (expected 0..65535 or a service name)";
      case Errc::missing_port: return "missing port";
      case Errc::unknown_service: return "unknown service name";
      case Errc::bad_scope: return "unknown IPv6 scope (interface)";
      case Errc::path_too_long: return "unix socket path too long (107 bytes at most)";
      case Errc::needs_resolution: return "host name needs resolving";
      case Errc::address_family: return "wrong address family for this operation";
      case Errc::no_address: return "no address of the requested family";
      case Errc::end_of_stream: return "connection closed by peer before all data arrived";
      case Errc::frame_too_large: return "frame exceeds the maximum size";
      case Errc::corrupt_frame: return "corrupt frame";
      case Errc::closed: return "operation aborted: object closed";
      case Errc::cancelled: return "operation cancelled";
    }
    return "unknown tether error";
  }
};

class ResolveCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "resolve"; }
  std::string message(int value) const override { return ::gai_strerror(value); }
};

}  // namespace

const std::error_category& error_category() noexcept {
  static const TetherCategory category;
  return category;
}

const std::error_category& resolve_category() noexcept {
  static const ResolveCategory category;
  return category;
}

std::error_code make_error_code(Errc e) noexcept { return {static_cast<int>(e), error_category()}; }

}  // namespace tether
