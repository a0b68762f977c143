// ss_format.hpp: `tether ss` output: a table for people, JSON for programs.
//
// Both are pure functions of a Snapshot (and the rates of a watch): the same input gives the same
// text. The JSON shape is fixed by tests/inspect/ss.schema.json.
#pragma once

#include "ss_model.hpp"

#include <string>
#include <unordered_map>

namespace tether::cli {

struct SsFormat {
  bool info = false;    ///< -i: a second line per TCP socket with its TCP_INFO (and the timer)
  bool extended = false;  ///< -e: uid, inode and the timer on the second line, for every socket
  bool rates = false;   ///< --watch: In/s and Out/s columns
};

/// The table: a header line, then one line per socket (two with `info` or `extended`).
std::string render_table(const Snapshot& s, const std::unordered_map<std::uint64_t, Rate>& rates,
                         const SsFormat& format);

/// One JSON document on one line: {"time_ms":..., "sockets":[...]}.
std::string render_json(const Snapshot& s, const std::unordered_map<std::uint64_t, Rate>& rates,
                        std::int64_t unix_time_ms, bool with_rates);

/// "1.2K", "34.5M": a byte count or rate in 4-5 characters.
std::string human_bytes(double bytes);
/// "0.031ms", "12.4ms", "1.20s" for a duration in microseconds.
std::string human_us(std::int64_t us);
/// What a socket's local or peer endpoint column shows: "127.0.0.1:80", "[::1]:80", "*:*",
/// "unix:/run/x.sock", "*".
std::string endpoint_text(const Endpoint& ep);

}  // namespace tether::cli
