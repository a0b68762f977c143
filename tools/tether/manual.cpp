// tether manual (hidden): man pages and shell completions, generated from the very CLI11 tree that
// prints --help, so the three can never disagree. The build runs it (tools/tether/CMakeLists.txt)
// and `make install` installs what it writes.
//   tether manual --man DIR      DIR/tether.1 and DIR/tether-COMMAND.1 (tether-bench-rr.1, ...)
//   tether manual --bash FILE    a bash completion script
//   tether manual --zsh FILE     a zsh completion function (_tether)
#include "commands.hpp"
#include "manual.hpp"
#include "options.hpp"

#include <fmt/format.h>

#include <fstream>
#include <memory>

namespace tether::cli {

namespace {

struct ManualArgs {
  std::string man_dir;
  std::string bash_file;
  std::string zsh_file;
};

bool write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  return static_cast<bool>(out.flush());
}

/// The commands a user sees under `app` (hidden ones, with an empty group, left out).
std::vector<const CLI::App*> visible_subcommands(const CLI::App& app) {
  std::vector<const CLI::App*> out;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App* s) { return !s->get_group().empty(); })) {
    out.push_back(sub);
  }
  return out;
}

void collect(const CLI::App& app, const std::string& path, std::vector<std::pair<std::string, const CLI::App*>>& out) {
  for (const CLI::App* sub : visible_subcommands(app)) {
    const std::string p = path.empty() ? sub->get_name() : path + " " + sub->get_name();
    out.emplace_back(p, sub);
    collect(*sub, p, out);
  }
}

int run_manual(const ManualArgs& a, const CLI::App& root) {
  if (a.man_dir.empty() && a.bash_file.empty() && a.zsh_file.empty()) {
    throw UsageError("nothing to write: give --man DIR, --bash FILE or --zsh FILE");
  }
  std::vector<std::pair<std::string, const CLI::App*>> commands;
  collect(root, "", commands);
  if (!a.man_dir.empty()) {
    if (!write_text(a.man_dir + "/tether.1", man_page(root, "", commands))) {
      EventLog().error(fmt::format("cannot write {}/tether.1", text_escape(a.man_dir)));
      return exit_failure;
    }
    for (const auto& [path, app] : commands) {
      std::string file = "tether-" + path;
      std::replace(file.begin(), file.end(), ' ', '-');
      if (!write_text(a.man_dir + "/" + file + ".1", man_page(*app, path, commands))) return exit_failure;
    }
  }
  if (!a.bash_file.empty() && !write_text(a.bash_file, bash_completion(root, commands))) return exit_failure;
  if (!a.zsh_file.empty() && !write_text(a.zsh_file, zsh_completion(root, commands))) return exit_failure;
  return exit_ok;
}

}  // namespace

void add_manual_command(CLI::App& app) {
  auto args = std::make_shared<ManualArgs>();
  CLI::App* cmd = app.add_subcommand("manual", "Write man pages and completions (used by the build)");
  cmd->group("");  // hidden from --help
  cmd->add_option("--man", args->man_dir, "Directory for the man pages")->type_name("DIR");
  cmd->add_option("--bash", args->bash_file, "File for the bash completion")->type_name("FILE");
  cmd->add_option("--zsh", args->zsh_file, "File for the zsh completion")->type_name("FILE");
  cmd->callback([args, &app] { finish(run_manual(*args, app)); });
}

}  // namespace tether::cli
