// tether: the command-line tool. Each subcommand lives in its own file (commands.hpp).
#include "commands.hpp"
#include "events.hpp"
#include "options.hpp"

#include <tether/version.hpp>

#include <fmt/format.h>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <string>
#include <vector>

namespace {

/// The deepest command parsed ("bench rr" is tether -> bench -> rr).
const CLI::App& deepest(const CLI::App& app) {
  const CLI::App* level = &app;
  for (;;) {
    auto subs = level->get_subcommands();
    if (subs.empty()) return *level;
    level = subs.front();
  }
}

/// CLI11's messages, as one short line naming the flag and the value: "--timeout needs a value
/// (SECS)", "unknown flag '-q'", "unexpected argument '4'".
std::string rephrase(const CLI::App& app, const CLI::ParseError& e) {
  std::string m = e.what();
  if (dynamic_cast<const CLI::ExtrasError*>(&e) != nullptr) {
    std::vector<std::string> rest;
    for (const CLI::App* level = &app;; level = level->get_subcommands().front()) {
      for (auto& r : level->remaining()) rest.push_back(r);
      if (level->get_subcommands().empty()) break;
    }
    for (const auto& r : rest) {
      if (r.size() > 1 && r[0] == '-') return fmt::format("unknown flag '{}'", r);
    }
    if (!rest.empty()) return fmt::format("unexpected argument '{}'", rest.front());
  }
  if (auto at = m.find(": 1 required "); at != std::string::npos && m.ends_with(" missing")) {
    const std::string type = m.substr(at + 13, m.size() - 8 - (at + 13));
    return fmt::format("{} needs a value ({})", m.substr(0, at), type);
  }
  if (m == "A subcommand is required") {
    std::string names;
    for (const CLI::App* sub : deepest(app).get_subcommands([](const CLI::App*) { return true; })) {
      if (!sub->get_group().empty()) names += (names.empty() ? "" : ", ") + sub->get_name();
    }
    return "a subcommand is required: " + names;
  }
  if (m.starts_with(": ")) m.erase(0, 2);  // CLI11 names no flag for some options: ours do
  if (!m.empty()) m[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(m[0])));
  return m;
}

/// --help shows human types: a positional (HOST, PORT, ADDRESS) is its own type, never "TEXT".
void humanize_positionals(CLI::App& app) {
  for (CLI::Option* o : app.get_options()) {
    if (o->get_positional() && o->get_lnames().empty() && o->get_snames().empty() && o->get_type_name() == "TEXT") o->type_name("");
  }
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) humanize_positionals(*sub);
}

/// One line on stderr and exit status 2, whatever the usage error.
int usage_error(const CLI::App& app, std::string_view message) {
  std::string command = "tether";
  for (const CLI::App* level = &app;;) {  // "tether bench rr": every parsed level
    auto subs = level->get_subcommands();
    if (subs.empty()) break;
    level = subs.front();
    command += " " + level->get_name();
  }
  std::string line(message);
  for (char& c : line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  tether::cli::write_stderr(fmt::format("{}: {} (see '{} --help')\n", command,
                                        tether::cli::text_escape(line), command));
  return tether::cli::exit_usage;
}

/// A closed fd 0, 1 or 2 would be taken by the first socket we open, so that peer data or log
/// lines went to the peer: each closed one is opened on /dev/null (stdin read-only, the others
/// write-only).
void reopen_closed_std_fds() {
  for (int fd = 0; fd <= 2; ++fd) {
    if (::fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
    int null = ::open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
    if (null >= 0 && null != fd) {  // lower fds are open by now, so `null` is normally `fd`
      ::dup2(null, fd);
      ::close(null);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  reopen_closed_std_fds();
  // A closed stdout or stderr pipe is an error each write handles (EPIPE), never a signal death.
  ::signal(SIGPIPE, SIG_IGN);
  CLI::App app("tether: sockets from the command line (TCP, UDP and Unix sockets).", "tether");
  app.set_version_flag("--version", std::string("tether ") + tether::version_string);
  app.require_subcommand(1);
  app.footer("Run 'tether COMMAND --help' for a command's options.");

  tether::cli::add_connect_command(app);
  tether::cli::add_listen_command(app);
  tether::cli::add_bench_command(app);
  tether::cli::add_ss_command(app);
  tether::cli::add_top_command(app);
  tether::cli::add_trace_command(app);
  tether::cli::add_manual_command(app);  // last: it documents the commands added before it
  humanize_positionals(app);

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
    return usage_error(app, rephrase(app, e));
  } catch (const tether::cli::UsageError& e) {
    return usage_error(app, e.what());
  }
  return tether::cli::exit_ok;
}
