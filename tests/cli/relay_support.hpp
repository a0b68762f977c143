// relay_support.hpp: starting `tether relay` and the Python peers of relay_peers.py in tests.
#pragma once

#include "cli_support.hpp"

#include <tether/endpoint.hpp>
#include <tether/tcp.hpp>

#include <gtest/gtest.h>

#include <dirent.h>

#include <array>
#include <fstream>
#include <string>
#include <vector>

namespace tether::testing::cli {

inline std::string peers_script() { return std::string(TETHER_SOURCE_DIR) + "/tests/cli/relay_peers.py"; }

/// A relay_peers.py process and the first line it printed (its port, or "ready").
struct Peer {
  Process process;
  std::string first_line;
  std::string port() const { return first_line; }
};

inline Peer start_peer(std::vector<std::string> args) {
  args.insert(args.begin(), {"python3", peers_script()});
  Peer p{Process::start(args), {}};
  auto until = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < until) {
    auto text = p.process.out();
    if (auto nl = text.find('\n'); nl != std::string::npos) {
      p.first_line = text.substr(0, nl);
      break;
    }
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_FALSE(p.first_line.empty()) << "peer did not start: " << p.process.err();
  return p;
}

/// `tether relay --json ARGS`; with a listening side, waits for "listening" and keeps its endpoint.
struct Relay {
  Process process;
  std::string local;
  std::uint16_t port() const { return port_of(local); }
};

inline Relay start_relay(std::vector<std::string> args, bool listens = true) {
  args.insert(args.begin(), {tether_path(), "relay", "--json"});
  Relay r{Process::start(args), {}};
  if (listens) {
    r.local = listening_endpoint(r.process);
    EXPECT_FALSE(r.local.empty()) << r.process.err();
  }
  return r;
}

/// Runs `sh -c COMMAND` and waits; the exit status (-1 on timeout).
inline int shell(const std::string& command, std::chrono::milliseconds timeout = 30s) {
  Process p = Process::start({"sh", "-c", command});
  int rc = p.wait(timeout);
  if (rc != 0) ADD_FAILURE() << command << " -> " << rc << ": " << p.err();
  return rc;
}

/// Reads until end of stream (or an error, or the deadline).
inline std::string read_all(TcpStream& s, Deadline d = Deadline(10s)) {
  std::string out;
  std::array<char, 65536> buf;
  for (;;) {
    auto n = s.read_some(buf, d);
    if (!n || *n == 0) break;
    out.append(buf.data(), *n);
  }
  return out;
}

/// Children of `pid` that are zombies (state Z), from /proc.
inline int zombie_children(pid_t pid) {
  int zombies = 0;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return -1;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::ifstream in(std::string("/proc/") + e->d_name + "/stat");
    std::string line;
    std::getline(in, line);
    auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    char state = 0;
    long ppid = 0;
    if (std::sscanf(line.c_str() + close + 1, " %c %ld", &state, &ppid) != 2) continue;
    if (ppid == pid && state == 'Z') ++zombies;
  }
  ::closedir(d);
  return zombies;
}

/// Waits (bounded) until `pid` has no zombie child; returns the count left.
inline int wait_no_zombies(pid_t pid, std::chrono::milliseconds timeout = 5s) {
  auto until = std::chrono::steady_clock::now() + timeout;
  int z = zombie_children(pid);
  while (z != 0 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(20ms);
    z = zombie_children(pid);
  }
  return z;
}

}  // namespace tether::testing::cli
