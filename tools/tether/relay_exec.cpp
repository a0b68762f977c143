// Children with a socket as stdin and stdout (relay_exec.hpp).
#include "relay_exec.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <sstream>
#include <vector>

extern char** environ;

namespace tether::cli {

namespace {

std::vector<std::string> words(const std::string& command) {
  std::istringstream in(command);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

void add_endpoint(std::vector<std::string>& env, const char* tether_prefix, const char* ncat_prefix,
                  const Endpoint& ep) {
  if (ep.kind() != EndpointKind::ipv4 && ep.kind() != EndpointKind::ipv6) return;
  const std::string addr = ep.unmapped().address_string();
  const std::string port = std::to_string(ep.port());
  env.push_back(std::string(tether_prefix) + "_ADDR=" + addr);
  env.push_back(std::string(tether_prefix) + "_PORT=" + port);
  env.push_back(std::string(ncat_prefix) + "_ADDR=" + addr);
  env.push_back(std::string(ncat_prefix) + "_PORT=" + port);
}

}  // namespace

Result<ExecChild> spawn_exec(const ExecSpec& spec, std::string_view proto, const Endpoint& peer,
                             const Endpoint& local) {
  std::vector<std::string> argv_s =
      spec.shell ? std::vector<std::string>{"/bin/sh", "-c", spec.command} : words(spec.command);
  if (argv_s.empty()) return fail(std::make_error_code(std::errc::invalid_argument));

  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    return fail(std::error_code(errno, std::system_category()));
  }
  Socket parent(sv[0]);
  Socket child_end(sv[1]);
  ::fcntl(parent.fd(), F_SETFL, ::fcntl(parent.fd(), F_GETFL) | O_NONBLOCK);

  std::vector<std::string> env_s;
  for (char** e = environ; *e != nullptr; ++e) env_s.emplace_back(*e);
  env_s.push_back("TETHER_PROTO=" + std::string(proto));
  env_s.push_back("NCAT_PROTO=" + std::string(proto == "udp" ? "UDP" : "TCP"));
  add_endpoint(env_s, "TETHER_PEER", "NCAT_REMOTE", peer);
  add_endpoint(env_s, "TETHER_LOCAL", "NCAT_LOCAL", local);

  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (auto& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, child_end.fd(), 0);
  posix_spawn_file_actions_adddup2(&fa, child_end.fd(), 1);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  sigset_t all;
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  const int rc = spec.shell ? ::posix_spawn(&pid, argv[0], &fa, &attr, argv.data(), envp.data())
                            : ::posix_spawnp(&pid, argv[0], &fa, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return fail(std::error_code(rc, std::system_category()));
  return ExecChild{pid, std::move(parent)};
}

}  // namespace tether::cli
