#include "events.hpp"

#include <fmt/format.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <ctime>
#include <type_traits>

namespace tether::cli {

namespace {

/// Length of the valid UTF-8 sequence starting at text[i] (2..4), or 0 if it is not one.
std::size_t utf8_sequence(std::string_view text, std::size_t i) {
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  unsigned char b = byte(i);
  std::size_t len = 0;
  char32_t cp = 0;
  if (b >= 0xC2 && b <= 0xDF) {
    len = 2;
    cp = b & 0x1Fu;
  } else if (b >= 0xE0 && b <= 0xEF) {
    len = 3;
    cp = b & 0x0Fu;
  } else if (b >= 0xF0 && b <= 0xF4) {
    len = 4;
    cp = b & 0x07u;
  } else {
    return 0;
  }
  if (i + len > text.size()) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xC0u) != 0x80u) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3Fu);
  }
  // Overlong forms, surrogates, beyond U+10FFFF, and the C1 control characters are not accepted.
  if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
      (cp >= 0xD800 && cp <= 0xDFFF) || (cp >= 0x80 && cp <= 0x9F)) {
    return 0;
  }
  return len;
}

std::string format_double(double v) {
  if (!std::isfinite(v)) return "0";
  return fmt::format("{:.6f}", v);
}

}  // namespace

std::string json_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  for (std::size_t i = 0; i < text.size();) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c == '"') {
      out += "\\\"";
    } else if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7F) {
      out += fmt::format("\\u{:04x}", c);
    } else if (c >= 0x80) {
      std::size_t len = utf8_sequence(text, i);
      if (len == 0) {
        out += fmt::format("\\u{:04x}", c);  // a stray byte, shown as its Latin-1 code point
      } else {
        out.append(text.substr(i, len));
        i += len;
        continue;
      }
    } else {
      out += static_cast<char>(c);
    }
    ++i;
  }
  return out;
}

std::string text_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c == '\\') {
      out += "\\\\";
    } else if (c < 0x20 || c == 0x7F) {
      out += fmt::format("\\x{:02x}", c);
    } else if (c >= 0x80) {
      std::size_t len = utf8_sequence(text, i);
      if (len == 0) {
        out += fmt::format("\\x{:02x}", c);
      } else {
        out.append(text.substr(i, len));
        i += len;
        continue;
      }
    } else {
      out += static_cast<char>(c);
    }
    ++i;
  }
  return out;
}

std::string rfc3339_micros(std::chrono::system_clock::time_point now) {
  using namespace std::chrono;
  const auto us = duration_cast<microseconds>(now.time_since_epoch());
  const auto secs = floor<seconds>(us);
  const std::time_t t = static_cast<std::time_t>(secs.count());
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (us - secs).count());
}

Event::Event(std::string_view name)
    : name_(name), ts_(rfc3339_micros(std::chrono::system_clock::now())) {}

std::string Event::endpoint_text(const Endpoint& e, std::string_view proto) {
  const bool unnamed_path = e.kind() == EndpointKind::unix_path && e.unix_name().empty();
  const bool unix_proto = proto.starts_with("unix");
  if (unnamed_path || (unix_proto && e.kind() == EndpointKind::none)) return "unix:";
  return e.unmapped().to_string();  // an IPv4 client of a dual-stack listener: 127.0.0.1:P
}

Event& Event::add(std::string_view key, std::string_view value) {
  fields_.emplace_back(std::string(key), std::string(value));
  return *this;
}
Event& Event::insert(std::size_t index, std::string_view key, std::string_view value) {
  index = std::min(index, fields_.size());
  fields_.emplace(fields_.begin() + static_cast<std::ptrdiff_t>(index), std::string(key), std::string(value));
  return *this;
}
Event& Event::add(std::string_view key, std::int64_t value) {
  fields_.emplace_back(std::string(key), value);
  return *this;
}
Event& Event::add(std::string_view key, std::uint64_t value) {
  fields_.emplace_back(std::string(key), value);
  return *this;
}
Event& Event::add(std::string_view key, double value) {
  fields_.emplace_back(std::string(key), value);
  return *this;
}
Event& Event::add(std::string_view key, bool value) {
  fields_.emplace_back(std::string(key), value);
  return *this;
}

namespace {

// Appends one field's value: strings through `quote`, booleans as `yes` / `no`, numbers as they
// are (the same in both formats).
template <class Quote>
void append_value(std::string& out, const Event::Value& value, Quote quote, const char* yes,
                  const char* no) {
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>) {
          out += quote(v);
        } else if constexpr (std::is_same_v<T, bool>) {
          out += v ? yes : no;
        } else if constexpr (std::is_same_v<T, double>) {
          out += format_double(v);
        } else {
          out += fmt::format("{}", v);
        }
      },
      value);
}

}  // namespace

std::string Event::to_json() const {
  std::string out = fmt::format("{{\"event\":\"{}\",\"ts\":\"{}\"", json_escape(name_), ts_);
  for (const auto& [key, value] : fields_) {
    out += fmt::format(",\"{}\":", json_escape(key));
    append_value(out, value, [](const std::string& v) { return '"' + json_escape(v) + '"'; },
                 "true", "false");
  }
  out += "}\n";
  return out;
}

std::string Event::to_text() const {
  std::string out = "tether: " + text_escape(name_);
  for (const auto& [key, value] : fields_) {
    out += fmt::format(" {}=", text_escape(key));
    // Values that would otherwise be ambiguous (spaces, empty) are quoted.
    append_value(out, value, [](const std::string& v) {
          const bool quote = v.empty() || v.find(' ') != std::string::npos;
          return quote ? '"' + text_escape(v) + '"' : text_escape(v);
        }, "yes", "no");
  }
  out += " ts=" + ts_ + '\n';
  return out;
}

namespace {
// Set once a write to stderr failed (a closed pipe: EPIPE, SIGPIPE being ignored): events stop.
std::atomic<bool> g_stderr_gone{false};
}  // namespace

void write_stderr(std::string_view line) {
  while (!line.empty() && !g_stderr_gone.load(std::memory_order_relaxed)) {
    ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      g_stderr_gone = true;  // nowhere left to report to
      return;
    }
    line.remove_prefix(static_cast<std::size_t>(n));
  }
}

namespace {
std::string g_listening_backend;  // written before any loop starts, read only afterwards
}  // namespace

void set_listening_backend(std::string_view name) { g_listening_backend = name; }

void EventLog::emit(const Event& event) const {
  if (format_ == EventFormat::none) return;
  if (event.name() == "listening" && !g_listening_backend.empty()) {
    Event with_backend = event;
    // After "proto", before "local": readers that take the port after the last ':' keep working.
    with_backend.insert(1, "backend", g_listening_backend);
    write_stderr(format_ == EventFormat::json ? with_backend.to_json() : with_backend.to_text());
    return;
  }
  write_stderr(format_ == EventFormat::json ? event.to_json() : event.to_text());
}

void EventLog::error(std::string_view message) const {
  if (format_ == EventFormat::json) {
    write_stderr(Event("error").add("message", message).to_json());
  } else {
    write_stderr("tether: " + text_escape(message) + "\n");
  }
}

std::string describe(std::error_code ec) {
  std::string m = ec.message();
  if (!m.empty()) m[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(m[0])));
  return m;
}

}  // namespace tether::cli
