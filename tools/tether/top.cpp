// tether top: a live view of the machine's sockets, redrawn every -d seconds.
//
// Each frame is render_top_frame(state) (top_view.hpp): this file only takes snapshots, reads keys
// and writes frames. With a terminal on stdin, keys act at once (q quit, s sort, r reverse, space
// pause); the terminal's settings are restored on every way out.
#include "commands.hpp"
#include "options.hpp"
#include "ss.hpp"
#include "top_view.hpp"

#include <fmt/format.h>

#include <ctime>
#include <memory>

#include <poll.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

namespace tether::cli {

namespace {

struct TopArgs {
  SsFilterArgs filter;
  double delay_s = 1.0;
  int iterations = 0;
  std::string sort = "rate";
};

/// Raw-ish keyboard input (no line buffering, no echo) for as long as the object lives.
class KeyboardMode {
 public:
  KeyboardMode() {
    if (::isatty(0) == 0 || ::tcgetattr(0, &saved_) != 0) return;
    termios raw = saved_;
    raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    active_ = ::tcsetattr(0, TCSANOW, &raw) == 0;
  }
  ~KeyboardMode() {
    if (active_) ::tcsetattr(0, TCSANOW, &saved_);
  }
  KeyboardMode(const KeyboardMode&) = delete;
  KeyboardMode& operator=(const KeyboardMode&) = delete;
  bool active() const noexcept { return active_; }

 private:
  termios saved_{};
  bool active_ = false;
};

std::string clock_text() {
  std::time_t now = std::time(nullptr);
  std::tm local{};
  ::localtime_r(&now, &local);
  return fmt::format("{:02}:{:02}:{:02}", local.tm_hour, local.tm_min, local.tm_sec);
}

void terminal_size(TopState& s) {
  winsize ws{};
  if (::ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0) {
    s.width = ws.ws_col;
    s.height = ws.ws_row;
  }
}

std::string filter_text(const SsFilterArgs& f) {
  std::string t;
  auto add = [&](const std::string& part) { t += (t.empty() ? "" : " ") + part; };
  if (f.tcp) add("tcp");
  if (f.udp) add("udp");
  if (f.unix_sockets) add("unix");
  if (f.ipv4) add("ipv4");
  if (f.ipv6) add("ipv6");
  if (f.listening) add("listening");
  for (const auto& s : f.states) add("state " + s);
  if (!f.port.empty()) add("port " + f.port);
  for (const auto& a : f.addresses) add("address " + a);
  return t;
}

TopSort parse_sort(const std::string& text) {
  for (TopSort s = TopSort::rate;; s = next_sort(s)) {
    if (text == top_sort_name(s)) return s;
    if (next_sort(s) == TopSort::rate) break;
  }
  throw UsageError(fmt::format("--sort '{}': one of rate, rtt, queue, state, port", text_escape(text)));
}

/// Waits up to `ms` for a key; applies it to `state`. False when the user quits.
bool handle_keys(TopState& state, int ms, bool keyboard) {
  if (!keyboard) {
    ::poll(nullptr, 0, ms);
    return true;
  }
  pollfd p{0, POLLIN, 0};
  if (::poll(&p, 1, ms) <= 0) return true;
  char key = 0;
  if (::read(0, &key, 1) != 1) return true;
  switch (key) {
    case 'q': case 'Q': return false;
    case 's': state.sort = next_sort(state.sort); break;
    case 'r': state.reverse = !state.reverse; break;
    case ' ': state.paused = !state.paused; break;
    default: break;
  }
  return true;
}

int run_top(const TopArgs& a) {
  const SsFilter filter = a.filter.build();
  TopState state;
  state.sort = parse_sort(a.sort);
  state.interval_s = a.delay_s;
  state.filter_text = filter_text(a.filter);
  // Without a terminal (a pipe, a file) there is no width to fit: wide enough for every column,
  // the process included. A terminal's own size replaces it below.
  state.width = 160;
  TopHistory history;
  KeyboardMode keyboard;
  const int delay_ms = static_cast<int>(a.delay_s * 1000.0);
  for (int frame = 0; a.iterations == 0 || frame < a.iterations; ++frame) {
    if (!state.paused || frame == 0) {
      auto snap = take_snapshot(filter, true);
      if (!snap) {
        EventLog().error(fmt::format("sock_diag: {}", describe(snap.error())));
        return exit_failure;
      }
      state.rows = history.update(*snap);
    }
    sort_rows(state.rows, state.sort, state.reverse);
    state.clock = clock_text();
    terminal_size(state);
    if (!write_stdout(render_top_frame(state))) return exit_failure;
    if (a.iterations != 0 && frame + 1 == a.iterations) break;
    if (!handle_keys(state, delay_ms, keyboard.active())) break;
  }
  return exit_ok;
}

}  // namespace

void add_top_command(CLI::App& app) {
  auto args = std::make_shared<TopArgs>();
  CLI::App* cmd = app.add_subcommand("top", "A live view of the machine's sockets: rates, rtt and their history");
  cmd->footer(
      "Keys: q quit, s next sort, r reverse, space pause. Rates come from the difference between\n"
      "snapshots; the sparklines show the last 12 (bytes/s in+out, rtt). The filter flags are ss's.\n"
      "Exit status: 0 done, 1 sock_diag failed, 2 bad usage.");
  args->filter.add_options(*cmd);
  numeric_flag(cmd->add_option("-d,--delay", args->delay_s, "Seconds between frames (default 1)"),
               0.05, 3600.0, "SECS");
  numeric_flag(cmd->add_option("-n,--iterations", args->iterations, "Stop after N frames (default: until q)"),
               1, 1000000, "N", Number::integer);
  cmd->add_option("--sort", args->sort, "Initial order: rate, rtt, queue, state or port")->type_name("KEY");
  cmd->callback([args] { finish(run_top(*args)); });
}

}  // namespace tether::cli
