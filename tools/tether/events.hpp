// events.hpp: what the CLI reports on stderr with -v (readable lines) or --json (JSON lines).
//
// An Event is a name, the time it was made (`ts`, RFC 3339 UTC with microseconds: first after the
// name in JSON, last in text) and ordered fields; docs/events.schema.json lists every event and
// its fields (tests/cli/event_schema_test.cpp checks them). EventLog renders it in one of the two
// formats and writes it with ONE write(2) call, so lines from different threads never interleave.
// Text that comes from the network (a peer's Unix path, an error message) may hold control
// characters: both renderers escape them, so a peer can never inject raw bytes into the event
// stream or the terminal.
// Threads: EventLog::emit() may be called from any thread.
#pragma once

#include <tether/endpoint.hpp>

#include <cstddef>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <variant>
#include <vector>

namespace tether::cli {

enum class EventFormat : std::uint8_t { none, text, json };

class Event {
 public:
  using Value = std::variant<std::string, std::int64_t, std::uint64_t, double, bool>;

  /// Stamps the event with the current time (`ts`, RFC 3339 UTC with microseconds).
  explicit Event(std::string_view name);

  Event& add(std::string_view key, std::string_view value);
  Event& add(std::string_view key, const char* value) { return add(key, std::string_view(value)); }
  Event& add(std::string_view key, const Endpoint& value) { return add(key, endpoint_text(value)); }
  /// A text field at position `index` (0: first; past the end: last).
  Event& insert(std::size_t index, std::string_view key, std::string_view value);
  Event& add(std::string_view key, std::int64_t value);
  Event& add(std::string_view key, std::uint64_t value);
  Event& add(std::string_view key, int value) { return add(key, std::int64_t{value}); }
  Event& add(std::string_view key, unsigned value) { return add(key, std::uint64_t{value}); }
  Event& add(std::string_view key, double value);
  Event& add(std::string_view key, bool value);

  const std::string& name() const noexcept { return name_; }
  const std::string& ts() const noexcept { return ts_; }

  /// An endpoint as events print it: to_string() (a v4-mapped IPv6 address as plain IPv4, as a
  /// dual-stack listener sees IPv4 clients), and "unix:" for an unnamed Unix peer (empty
  /// path) or, when `proto` is a Unix one, for a peer the kernel gave no address for.
  static std::string endpoint_text(const Endpoint& e, std::string_view proto = {});

  /// {"event":"NAME","ts":"...","key":value,...}
  std::string to_json() const;
  /// tether: NAME key=value key=value ... ts=...
  std::string to_text() const;

 private:
  std::string name_;
  std::string ts_;
  std::vector<std::pair<std::string, Value>> fields_;
};

/// The process's event sink on stderr.
class EventLog {
 public:
  explicit EventLog(EventFormat format = EventFormat::none) noexcept : format_(format) {}

  EventFormat format() const noexcept { return format_; }
  bool enabled() const noexcept { return format_ != EventFormat::none; }

  /// Writes the event when events are on; otherwise nothing.
  void emit(const Event& event) const;
  /// A runtime error: always printed, as one line: an "error" event with --json, else
  /// "tether: MESSAGE".
  void error(std::string_view message) const;

 private:
  EventFormat format_;
};

/// The I/O backend every "listening" event names ("backend" field): "epoll" or "io_uring" for the
/// event loops of the serving modes (all loops of a process use the same one), "poll" for the
/// stdin/stdout relays. Set by the command before it listens; unset: no field.
void set_listening_backend(std::string_view name);

/// JSON string escaping (quotes, backslash, every control character, DEL, invalid UTF-8 as \u00XX).
std::string json_escape(std::string_view text);
/// Printable text: control characters, DEL and bytes >= 0x80 become \xNN, backslash becomes \\.
std::string text_escape(std::string_view text);

/// `now` as RFC 3339 UTC with microseconds: 2026-12-02T13:10:35.123456Z.
std::string rfc3339_micros(std::chrono::system_clock::time_point now);

/// A one-line human message for an error code ("Connection refused").
std::string describe(std::error_code ec);

/// Writes all of `line` to stderr in one write() where possible (retrying EINTR and partial writes).
void write_stderr(std::string_view line);

}  // namespace tether::cli
