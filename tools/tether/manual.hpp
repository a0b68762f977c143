// manual.hpp: rendering a CLI11 command tree as a man page and as shell completions.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <utility>
#include <vector>

namespace tether::cli {

/// Every visible command below the root, as ("bench rr", app), parents before children.
using CommandList = std::vector<std::pair<std::string, const CLI::App*>>;

/// roff for `app`; `path` is "" for tether itself, else "connect", "bench rr", ...
std::string man_page(const CLI::App& app, const std::string& path, const CommandList& all);
std::string bash_completion(const CLI::App& root, const CommandList& all);
std::string zsh_completion(const CLI::App& root, const CommandList& all);

}  // namespace tether::cli
