// ss.hpp: the filter flags that `tether ss` and `tether top` share.
#pragma once

#include "ss_model.hpp"

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace tether::cli {

/// -t -u -x -4 -6 -l --state --port --address, as typed; build() checks them (UsageError).
struct SsFilterArgs {
  bool tcp = false, udp = false, unix_sockets = false, ipv4 = false, ipv6 = false, listening = false;
  std::vector<std::string> states;
  std::string port;
  std::vector<std::string> addresses;

  void add_options(CLI::App& cmd);
  SsFilter build() const;
};

/// Writes all of `text` to stdout; false when stdout is gone (a closed pipe).
bool write_stdout(std::string_view text);

}  // namespace tether::cli
