// tether: the command-line tool. Each subcommand lives in its own file (commands.hpp).
#include "commands.hpp"
#include "events.hpp"
#include "options.hpp"

#include <tether/version.hpp>

#include <fmt/format.h>

#include <string>

namespace {

/// One line on stderr and exit status 2, whatever the usage error.
int usage_error(const CLI::App& app, std::string_view message) {
  std::string command = "tether";
  for (const CLI::App* sub : app.get_subcommands()) command += " " + sub->get_name();
  std::string line(message);
  for (char& c : line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  tether::cli::write_stderr(fmt::format("{}: {} (see '{} --help')\n", command,
                                        tether::cli::text_escape(line), command));
  return tether::cli::exit_usage;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("tether: sockets from the command line (TCP, UDP and Unix sockets).", "tether");
  app.set_version_flag("--version", std::string("tether ") + tether::version_string);
  app.require_subcommand(1);
  app.footer("Run 'tether COMMAND --help' for a command's options.");

  tether::cli::add_connect_command(app);
  tether::cli::add_listen_command(app);
  tether::cli::add_relay_command(app);
  tether::cli::add_bench_command(app);
  tether::cli::add_ss_command(app);
  tether::cli::add_top_command(app);
  tether::cli::add_trace_command(app);
  tether::cli::add_manual_command(app);  // last: it documents the commands added before it

  // CLI11 would call an unknown command "a subcommand is required": name it instead.
  if (argc > 1 && argv[1][0] != '-' && 
      app.get_subcommands([&](CLI::App* sub) { return sub->check_name(argv[1]); }).empty()) {
    return usage_error(app, fmt::format("unknown command '{}'", argv[1]));
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::RuntimeError& e) {  // a command's own exit status
    return e.get_exit_code();
  } catch (const CLI::Success& e) {       // --help, --version
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return usage_error(app, e.what());
  } catch (const tether::cli::UsageError& e) {
    return usage_error(app, e.what());
  }
  return tether::cli::exit_ok;
}
