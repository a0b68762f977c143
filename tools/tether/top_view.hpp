// top_view.hpp: one frame of `tether top`, as a pure function of its state.
//
// TopState holds everything a frame shows (rows with their histories, sort, size, clock text);
// render_top_frame() turns it into the exact bytes written to the terminal: plain ANSI escapes
// (home, clear, bold, reverse video), no curses. The same state always gives the same bytes, which
// is what the golden tests (tests/inspect/top_frame_test.cpp) check.
// TopHistory turns successive snapshots into rows, keeping per-connection rate and rtt histories.
#pragma once

#include "ss_model.hpp"

#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tether::cli {

enum class TopSort : std::uint8_t { rate, rtt, queue, state, port };

/// "rate", "rtt", "queue", "state", "port".
const char* top_sort_name(TopSort s) noexcept;
/// The next sort in that order (the `s` key).
TopSort next_sort(TopSort s) noexcept;

struct TopRow {
  SocketEntry socket;
  Owner owner;                        ///< pid 0: unknown
  std::optional<Rate> rate;           ///< none before the second snapshot
  std::vector<double> rate_history;   ///< bytes/s in + out, oldest first
  std::vector<double> rtt_history;    ///< microseconds, oldest first
};

struct TopState {
  std::vector<TopRow> rows;
  TopSort sort = TopSort::rate;
  bool reverse = false;
  bool paused = false;
  std::string filter_text;            ///< the filter, as the header shows it ("tcp port 80")
  std::string clock;                  ///< "12:34:56"
  double interval_s = 1.0;
  int width = 120;
  int height = 40;
};

/// Sorts rows by `sort` (descending for rate, rtt and queue; ascending for state and port),
/// ties broken by the socket cookie so the order is total.
void sort_rows(std::vector<TopRow>& rows, TopSort sort, bool reverse);

/// The whole frame: clear screen, header, column titles, rows cut to the terminal's size.
std::string render_top_frame(const TopState& state);

/// `width` block characters (U+2581..U+2588) for the last `width` values, scaled to their maximum.
std::string sparkline(std::span<const double> values, std::size_t width);

/// Successive snapshots -> rows: rates from the previous snapshot, histories per cookie (at most
/// `depth` values), forgotten when a socket disappears.
class TopHistory {
 public:
  explicit TopHistory(std::size_t depth = 16) : depth_(depth) {}
  std::vector<TopRow> update(const Snapshot& snapshot);

 private:
  struct Track {
    std::deque<double> rates;
    std::deque<double> rtts;
  };
  std::size_t depth_;
  std::optional<Snapshot> previous_;
  std::unordered_map<std::uint64_t, Track> tracks_;
};

}  // namespace tether::cli
