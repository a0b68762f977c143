// Man pages and completions are generated from the same CLI11 tree as --help (tether manual): every
// option that --help lists must be in the command's man page, the pages must render cleanly, and
// the completions must complete what --help offers.
#include "../cli/cli_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <sstream>

namespace {

using namespace std::chrono_literals;
using namespace tether::testing::cli;

const std::string manual_dir = std::string(TETHER_BINARY_DIR) + "/manual";

/// "-t,--tcp" and "--state STATE" style names in the Options: section of `help`.
std::vector<std::string> help_options(const std::string& help) {
  std::vector<std::string> names;
  for (const auto& line : lines_of(help)) {
    if (line.rfind("  -", 0) != 0) continue;
    std::istringstream words(line);
    std::string first;
    words >> first;
    std::stringstream parts(first);
    std::string name;
    while (std::getline(parts, name, ',')) {
      if (name.rfind("-", 0) == 0) names.push_back(name);
    }
  }
  return names;
}

std::string roff_name(const std::string& option) {
  std::string out;
  for (char c : option) out += c == '-' ? std::string("\\-") : std::string(1, c);
  return out;
}

/// The subcommand names listed under "Subcommands:" in a --help text.
std::vector<std::string> subcommands_in(const std::string& help) {
  std::vector<std::string> names;
  bool in_list = false;
  for (const auto& line : lines_of(help)) {
    if (line.rfind("Subcommands:", 0) == 0) {
      in_list = true;
      continue;
    }
    if (!in_list) continue;
    if (line.rfind("  ", 0) != 0 || line.size() < 3 || line[2] == ' ' || line[2] == '-') break;
    std::istringstream words(line);
    std::string name;
    words >> name;
    names.push_back(name);
  }
  return names;
}

/// Every command path --help shows, read from --help itself (a new command cannot be missed):
/// "connect", ..., "bench", "bench rr", ...
std::vector<std::string> commands() {
  std::vector<std::string> out;
  for (const auto& c : subcommands_in(run_tether({"--help"}).out)) {
    out.push_back(c);
    for (const auto& sub : subcommands_in(run_tether({c, "--help"}).out)) out.push_back(c + " " + sub);
  }
  return out;
}

TEST(Manual, every_option_in_help_is_in_the_commands_man_page) {
  for (const auto& path : commands()) {
    std::vector<std::string> args;
    std::istringstream words(path);
    for (std::string w; words >> w;) args.push_back(w);
    args.push_back("--help");
    auto help = run_tether(args);
    ASSERT_EQ(help.status, 0) << path;
    std::string file = "tether-" + path;
    std::replace(file.begin(), file.end(), ' ', '-');
    const std::string page = read_file(manual_dir + "/man1/" + file + ".1");
    ASSERT_FALSE(page.empty()) << "no man page " << file << ".1";
    const auto options = help_options(help.out);
    EXPECT_GE(options.size(), 2U) << path;
    for (const auto& o : options) {
      EXPECT_NE(page.find("\\fB" + roff_name(o) + "\\fR"), std::string::npos) << o << " missing from " << file;
    }
  }
  const auto all = commands();
  for (const std::string c : {"connect", "listen", "relay", "bench", "bench rr", "ss", "top", "trace"}) {
    EXPECT_NE(std::find(all.begin(), all.end(), c), all.end()) << "--help does not list " << c;
  }
  const std::string main_page = read_file(manual_dir + "/man1/tether.1");
  for (const auto& c : subcommands_in(run_tether({"--help"}).out)) {
    EXPECT_NE(main_page.find(".B " + c), std::string::npos) << "tether(1) does not list " << c;
  }
  EXPECT_EQ(main_page.find(".B manual"), std::string::npos) << "the hidden command stays hidden";
  EXPECT_FALSE(std::filesystem::exists(manual_dir + "/man1/tether-manual.1"));
}

TEST(Manual, man_pages_render_without_groff_warnings) {
  if (!tether::testing::have_program("groff")) GTEST_SKIP() << "groff is not installed";
  int pages = 0;
  for (const auto& entry : std::filesystem::directory_iterator(manual_dir + "/man1")) {
    Process p = Process::start({"groff", "-man", "-Tutf8", "-ww", "-z", entry.path().string()});
    EXPECT_EQ(p.wait(10s), 0) << entry.path();
    EXPECT_EQ(p.err(), "") << entry.path();
    ++pages;
  }
  EXPECT_GE(pages, 10);
}

/// COMPREPLY of the generated bash completion for the words typed so far.
std::string bash_complete(const std::string& words) {
  Process p = Process::start({"bash", "-c",
                              "source \"$0\"; COMP_WORDS=(" + words + "); COMP_CWORD=$((${#COMP_WORDS[@]}-1)); "
                              "_tether; echo \"${COMPREPLY[*]}\"",
                              manual_dir + "/tether.bash"});
  EXPECT_EQ(p.wait(10s), 0) << p.err();
  std::string out = p.out();
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

TEST(Manual, bash_completion_completes_commands_nested_commands_and_options) {
  EXPECT_EQ(bash_complete("tether tr"), "trace");
  EXPECT_EQ(bash_complete("tether listen --keep"), "--keep-open");
  EXPECT_EQ(bash_complete("tether bench s"), "stream");
  EXPECT_EQ(bash_complete("tether ss --sta"), "--state");
  EXPECT_EQ(bash_complete("tether trace --abs"), "--absolute");
  EXPECT_EQ(bash_complete("tether rel"), "relay");
  EXPECT_EQ(bash_complete("tether ss --ext"), "--extended");
}

TEST(Manual, zsh_completion_is_valid_zsh_naming_every_command) {
  if (!tether::testing::have_program("zsh")) GTEST_SKIP() << "zsh is not installed";
  Process p = Process::start({"zsh", "-n", manual_dir + "/_tether"});
  EXPECT_EQ(p.wait(10s), 0) << p.err();
  const std::string text = read_file(manual_dir + "/_tether");
  EXPECT_EQ(text.rfind("#compdef tether", 0), 0U);
  for (const std::string f : {"_tether_connect()", "_tether_ss()", "_tether_bench_rr()", "_tether_trace()", "_tether_relay()"}) {
    EXPECT_NE(text.find(f), std::string::npos) << f;
  }
}

}  // namespace
