// cli_support.hpp: helpers for tests that drive the built `tether` binary (tests/cli, tests/interop).
// Header-only so that each test executable stays one file plus this header.
#pragma once

#include "testing.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace tether::testing::cli {

using namespace std::chrono_literals;
using tether::testing::Child;
using tether::testing::TempPath;

inline std::string tether_path() { return TETHER_CLI_PATH; }

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline void write_file(const std::string& path, std::string_view data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

inline long file_size(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<long>(st.st_size) : -1;
}

/// `n` bytes of reproducible pseudo-random data.
inline std::string random_bytes(std::size_t n, unsigned seed = 42) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; i += 8) {
    auto v = rng();
    for (std::size_t k = 0; k < 8 && i + k < n; ++k) s[i + k] = static_cast<char>((v >> (8 * k)) & 0xFF);
  }
  return s;
}

/// SHA-256 of a file, computed by coreutils' sha256sum (hex digest).
inline std::string sha256_file(const std::string& path) {
  std::string cmd = "sha256sum '" + path + "'";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return "popen failed";
  char buf[128] = {};
  std::string out;
  if (std::fgets(buf, sizeof buf, p) != nullptr) out = buf;
  ::pclose(p);
  return out.substr(0, out.find(' '));
}

/// The lines of `text` (without their '\n'); a last line without '\n' counts too.
inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

/// A pipe whose ends close with the object; the test writes a child's stdin through it.
class Pipe {
 public:
  Pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) == 0) {
      read_fd = fds[0];
      write_fd = fds[1];
    }
  }
  ~Pipe() {
    close_read();
    close_write();
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  void close_read() {
    if (read_fd >= 0) ::close(std::exchange(read_fd, -1));
  }
  void close_write() {
    if (write_fd >= 0) ::close(std::exchange(write_fd, -1));
  }
  bool write(std::string_view data) const {
    while (!data.empty()) {
      ssize_t n = ::write(write_fd, data.data(), data.size());
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
  int read_fd = -1;
  int write_fd = -1;
};

/// A child process whose stdout and stderr go to temporary files. stdin: a file path, a pipe's
/// read end, or /dev/null. The Child inside kills the process when the test ends, even on failure.
class Process {
 public:
  static Process start(const std::vector<std::string>& argv, int stdin_fd = -1) {
    Process p;
    int out = ::open(p.out_->str().c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int err = ::open(p.err_->str().c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    p.child_ = Child::spawn(argv, stdin_fd, out, err);
    ::close(out);
    ::close(err);
    return p;
  }
  static Process start_with_input_file(const std::vector<std::string>& argv, const std::string& path) {
    int in = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    Process p = start(argv, in);
    ::close(in);
    return p;
  }

  std::string out() const { return read_file(out_->str()); }
  std::string err() const { return read_file(err_->str()); }
  const std::string& out_path() const { return out_->str(); }
  /// Exit status, or -1 if it did not exit within `timeout`.
  int wait(std::chrono::milliseconds timeout = 10s) { return child_.wait(timeout); }
  pid_t pid() const { return child_.pid(); }

  /// Waits until stderr holds a line containing `needle`; returns that line.
  std::optional<std::string> wait_for_err_line(const std::string& needle,
                                               std::chrono::milliseconds timeout = 5s) const {
    return wait_for_line(err_->str(), needle, timeout);
  }
  /// Waits until stdout is at least `bytes` long.
  bool wait_for_out_size(long bytes, std::chrono::milliseconds timeout = 10s) const {
    auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
      if (file_size(out_->str()) >= bytes) return true;
      std::this_thread::sleep_for(5ms);
    }
    return false;
  }

  static std::optional<std::string> wait_for_line(const std::string& path, const std::string& needle,
                                                  std::chrono::milliseconds timeout) {
    auto until = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      for (const auto& line : lines_of(read_file(path))) {
        if (line.find(needle) != std::string::npos) return line;
      }
      if (std::chrono::steady_clock::now() >= until) return std::nullopt;
      std::this_thread::sleep_for(5ms);
    }
  }

 private:
  Process() = default;
  std::unique_ptr<TempPath> out_ = std::make_unique<TempPath>("out");
  std::unique_ptr<TempPath> err_ = std::make_unique<TempPath>("err");
  Child child_;
};

/// What a finished run left behind.
struct RunResult {
  int status = -1;
  std::string out;
  std::string err;
};

/// Runs `tether ARGS` with `input` on stdin and waits (at most `timeout`) for it to exit.
inline RunResult run_tether(std::vector<std::string> args, std::string_view input = {},
                            std::chrono::milliseconds timeout = 10s) {
  args.insert(args.begin(), tether_path());
  TempPath in("in");
  write_file(in.str(), input);
  Process p = Process::start_with_input_file(args, in.str());
  RunResult r;
  r.status = p.wait(timeout);
  r.out = p.out();
  r.err = p.err();
  return r;
}

// ---- A strict parser for the flat JSON objects tether prints as events. ----

/// Field values: strings unescaped (\uXXXX as UTF-8), numbers and literals as their text.
using JsonObject = std::map<std::string, std::string>;

namespace detail {
inline void append_utf8(std::string& out, unsigned cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

inline bool parse_string(std::string_view s, std::size_t& i, std::string& out) {
  if (i >= s.size() || s[i] != '"') return false;
  ++i;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == '"') {
      ++i;
      return true;
    }
    if (c < 0x20) return false;  // raw control characters are not allowed in JSON strings
    if (c != '\\') {
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    if (++i >= s.size()) return false;
    char e = s[i++];
    switch (e) {
      case '"': out += '"'; break;
      case '\\': out += '\\'; break;
      case '/': out += '/'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'u': {
        if (i + 4 > s.size()) return false;
        unsigned cp = 0;
        for (int k = 0; k < 4; ++k) {
          char h = s[i++];
          cp <<= 4;
          if (h >= '0' && h <= '9') cp |= static_cast<unsigned>(h - '0');
          else if (h >= 'a' && h <= 'f') cp |= static_cast<unsigned>(h - 'a' + 10);
          else if (h >= 'A' && h <= 'F') cp |= static_cast<unsigned>(h - 'A' + 10);
          else return false;
        }
        append_utf8(out, cp);
        break;
      }
      default:
        return false;
    }
  }
  return false;
}
}  // namespace detail

/// Parses one line holding a flat JSON object; nullopt when it is not exactly that.
inline std::optional<JsonObject> parse_json_object(std::string_view s) {
  JsonObject obj;
  std::size_t i = 0;
  auto ws = [&] {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  };
  ws();
  if (i >= s.size() || s[i++] != '{') return std::nullopt;
  ws();
  if (i < s.size() && s[i] == '}') {
    ++i;
  } else {
    for (;;) {
      ws();
      std::string key;
      if (!detail::parse_string(s, i, key)) return std::nullopt;
      ws();
      if (i >= s.size() || s[i++] != ':') return std::nullopt;
      ws();
      std::string value;
      if (i < s.size() && s[i] == '"') {
        if (!detail::parse_string(s, i, value)) return std::nullopt;
      } else {
        std::size_t start = i;
        while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ' ') ++i;
        value = std::string(s.substr(start, i - start));
        bool literal = value == "true" || value == "false" || value == "null";
        bool number = !value.empty() &&
                      value.find_first_not_of("0123456789+-.eE") == std::string::npos &&
                      (std::isdigit(static_cast<unsigned char>(value[0])) != 0 || value[0] == '-');
        if (!literal && !number) return std::nullopt;
      }
      if (obj.count(key) != 0) return std::nullopt;
      obj[key] = value;
      ws();
      if (i >= s.size()) return std::nullopt;
      char c = s[i++];
      if (c == '}') break;
      if (c != ',') return std::nullopt;
    }
  }
  ws();
  if (i != s.size()) return std::nullopt;
  return obj;
}

/// The events of a --json run (every line of `err` must parse; a bad line fails the test).
inline std::vector<JsonObject> json_events(const std::string& err) {
  std::vector<JsonObject> events;
  for (const auto& line : lines_of(err)) {
    auto obj = parse_json_object(line);
    EXPECT_TRUE(obj.has_value()) << "not a JSON object: " << line;
    if (obj) events.push_back(*obj);
  }
  return events;
}

/// The first event named `name`, or nullopt.
inline std::optional<JsonObject> find_event(const std::vector<JsonObject>& events, const std::string& name) {
  for (const auto& e : events) {
    auto it = e.find("event");
    if (it != e.end() && it->second == name) return e;
  }
  return std::nullopt;
}

/// Starts `tether listen ARGS --json` and waits for its "listening" event; returns the endpoint
/// text it reported ("127.0.0.1:40123"), or "" if none came.
inline std::string listening_endpoint(const Process& p, std::chrono::milliseconds timeout = 5s) {
  auto line = p.wait_for_err_line("\"listening\"", timeout);
  if (!line) return {};
  auto obj = parse_json_object(*line);
  if (!obj || obj->count("local") == 0) return {};
  return obj->at("local");
}

/// The port of "ADDR:PORT" / "[ADDR]:PORT" text; 0 when there is none.
inline std::uint16_t port_of(const std::string& endpoint) {
  auto colon = endpoint.rfind(':');
  if (colon == std::string::npos) return 0;
  return static_cast<std::uint16_t>(std::stoul(endpoint.substr(colon + 1)));
}

}  // namespace tether::testing::cli
