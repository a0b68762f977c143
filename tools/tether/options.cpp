#include "options.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstdlib>

namespace tether::cli {

IpFamily CommonOptions::family() const noexcept {
  if (ipv4) return IpFamily::ipv4;
  if (ipv6) return IpFamily::ipv6;
  return IpFamily::any;
}

EventFormat CommonOptions::event_format() const noexcept {
  if (json) return EventFormat::json;
  if (verbose) return EventFormat::text;
  return EventFormat::none;
}

std::optional<std::chrono::milliseconds> CommonOptions::timeout() const {
  if (timeout_s <= 0) return std::nullopt;
  auto ms = std::ceil(timeout_s * 1000.0);
  return std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(ms));
}

std::optional<std::chrono::milliseconds> CommonOptions::quit_after_eof() const {
  if (quit_s < 0) return std::nullopt;
  return std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(std::ceil(quit_s * 1000.0)));
}

const char* CommonOptions::proto() const noexcept {
  if (is_unix()) return udp ? "unix-dgram" : "unix";
  return udp ? "udp" : "tcp";
}

CLI::Option* numeric_flag(CLI::Option* option, double min, double max, const char* type, Number kind,
                          bool zero_means_off) {
  for (int i = 0;; ++i) {  // this validator replaces any other
    try {
      option->get_validator(i)->active(false);
    } catch (const CLI::OptionNotFound&) {
      break;
    }
  }
  const bool integer = kind == Number::integer;
  std::string range = fmt::format("{} from {:g} to {:g}", integer ? "a whole number" : "a number", min, max);
  if (zero_means_off) range = fmt::format("0 or {}", range);
  option->type_name(type);
  option->check(CLI::Validator(
      [=](std::string& text) -> std::string {
        const std::string shown = "'" + text_escape(text) + "' is not " + range;
        if (text.empty() || text.size() > 64) return shown;
        // strtod also takes "nan", "inf" and hex floats: allow digits, one sign, '.', and exponents.
        if (text.find_first_not_of("0123456789+-.eE") != std::string::npos) return shown;
        char* end = nullptr;
        const double v = std::strtod(text.c_str(), &end);
        if (end != text.c_str() + text.size() || !std::isfinite(v)) return shown;
        if (integer && (v != std::floor(v) || text.find_first_of(".eE") != std::string::npos)) return shown;
        if (zero_means_off && v == 0) return {};
        if (v < min || v > max) return shown;
        return {};
      },
      ""));
  return option;
}

void add_common_options(CLI::App& cmd, CommonOptions& o, const std::string& source_help,
                        const std::string& port_help) {
  cmd.add_flag("-u,--udp", o.udp, "Use datagrams (UDP, or Unix datagrams with --unix)");
  cmd.add_option("--unix", o.unix_path, "Use the Unix socket PATH instead of HOST PORT (@NAME: abstract)")
      ->type_name("PATH")
      ->check(CLI::Validator([](std::string& v) { return v.empty() ? std::string("needs a PATH, not ''") : std::string(); }, ""));
  auto* v4 = cmd.add_flag("-4", o.ipv4, "IPv4 only");
  auto* v6 = cmd.add_flag("-6", o.ipv6, "IPv6 only");
  v4->excludes(v6);
  numeric_flag(cmd.add_option("-w,--timeout", o.timeout_s,
                              "Connect deadline and idle timeout in seconds (UDP: how long to wait for replies)"),
               0.001, max_seconds, "SECS");
  cmd.add_option("-s,--source", o.source, source_help)->type_name("ADDRESS");
  cmd.add_option("-p,--source-port", o.source_port, port_help)->type_name("PORT");
  cmd.add_flag("-v,--verbose", o.verbose, "Print events (listening, connected, closed...) on stderr");
  cmd.add_flag("--json", o.json, "Print events as JSON lines on stderr");
  // Netcat habits (relay_netcat.cpp documents them).
  numeric_flag(cmd.add_option("-q", o.quit_s, "After stdin's end, quit SECS later even if the peer has not closed (0: at once)"),
               0, max_seconds, "SECS");
  cmd.add_flag("-C,--crlf", o.crlf, "Send stdin's line ends as CRLF");
  cmd.add_flag("-N", o.fin_on_eof, "Accepted for netcat users: FIN at stdin's end is already the default");
}

std::uint16_t port_or_usage(std::string_view text, std::string_view what) {
  auto port = parse_port(text);
  if (!port) {
    throw UsageError(fmt::format("{} '{}': {}", what, text_escape(text), describe(port.error())));
  }
  return *port;
}

void check_host_or_usage(std::string_view host, std::string_view service, std::string_view what) {
  if (host.empty()) throw UsageError(fmt::format("{} is empty", what));
  auto ep = Endpoint::parse(host, service);
  if (ep || ep.error() == make_error_code(Errc::needs_resolution)) return;
  throw UsageError(fmt::format("{} '{}': {}", what, text_escape(host), describe(ep.error())));
}

Endpoint unix_endpoint_or_usage(std::string_view path) {
  if (path.empty()) throw UsageError("--unix needs a PATH");
  auto ep = path.front() == '@' ? Endpoint::unix_abstract(path.substr(1)) : Endpoint::unix_path(path);
  if (!ep) throw UsageError(fmt::format("--unix '{}': {}", text_escape(path), describe(ep.error())));
  return *ep;
}

Result<Endpoint> resolve_first(std::string_view host, std::string_view service, IpFamily family,
                               bool passive) {
  ResolveOptions ro;
  ro.family = family;
  ro.passive = passive;
  auto all = resolve(host, service, ro);
  if (!all) return fail(all.error());
  if (all->empty()) return fail(Errc::no_address);
  return all->front();
}

std::string host_port_text(std::string_view host, std::string_view port) {
  if (host.find(':') != std::string_view::npos && !host.starts_with('[')) {  // "[::1]" is bracketed already
    return fmt::format("[{}]:{}", text_escape(host), text_escape(port));
  }
  return fmt::format("{}:{}", text_escape(host), text_escape(port));
}

}  // namespace tether::cli
