#include "ss_model.hpp"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <unordered_set>

namespace tether::cli {

SockDiagQuery SsFilter::query() const {
  SockDiagQuery q;
  q.tcp = wants_tcp();
  q.udp = wants_udp();
  q.unix_sockets = wants_unix() && family == IpFamily::any;
  q.family = family;
  q.states = states;
  return q;
}

bool SsFilter::matches(const SocketEntry& e) const {
  if (e.state >= 32 || (states & (1U << e.state)) == 0) return false;
  if (port && e.local.port() != *port && e.peer.port() != *port) return false;
  if (port && !e.local.is_ip()) return false;
  if (!addresses.empty()) {
    auto in_blocks = [&](const Endpoint& ep) {
      return std::any_of(addresses.begin(), addresses.end(), [&](const Cidr& c) { return c.contains(ep); });
    };
    if (!in_blocks(e.local) && !in_blocks(e.peer)) return false;
  }
  return true;
}

std::unordered_map<std::uint64_t, Owner> find_owners(const std::vector<std::uint64_t>& inodes) {
  std::unordered_map<std::uint64_t, Owner> found;
  std::unordered_set<std::uint64_t> wanted(inodes.begin(), inodes.end());
  wanted.erase(0);
  if (wanted.empty()) return found;
  std::error_code ec;
  for (const auto& proc : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string pid_text = proc.path().filename().string();
    int pid = 0;
    auto [end, err] = std::from_chars(pid_text.data(), pid_text.data() + pid_text.size(), pid);
    if (err != std::errc{} || end != pid_text.data() + pid_text.size()) continue;
    std::error_code fd_ec;
    for (const auto& fd : std::filesystem::directory_iterator(proc.path() / "fd", fd_ec)) {
      std::error_code link_ec;
      const std::string target = std::filesystem::read_symlink(fd.path(), link_ec).string();
      if (link_ec || !target.starts_with("socket:[")) continue;
      std::uint64_t inode = 0;
      std::from_chars(target.data() + 8, target.data() + target.size(), inode);
      if (!wanted.contains(inode) || found.contains(inode)) continue;
      std::string name;
      std::ifstream(proc.path() / "comm") >> name;
      found.emplace(inode, Owner{pid, name});
    }
    if (found.size() == wanted.size()) break;
  }
  return found;
}

std::unordered_map<std::uint64_t, Rate> rates_between(const Snapshot& before, const Snapshot& now) {
  std::unordered_map<std::uint64_t, Rate> rates;
  const double seconds = std::chrono::duration<double>(now.taken - before.taken).count();
  if (seconds <= 0) return rates;
  std::unordered_map<std::uint64_t, const SocketEntry*> old;
  for (const auto& e : before.sockets) {
    if (e.tcp_info) old.emplace(e.cookie, &e);
  }
  for (const auto& e : now.sockets) {
    auto it = old.find(e.cookie);
    if (!e.tcp_info || it == old.end()) continue;
    const TcpInfo& a = *it->second->tcp_info;
    const TcpInfo& b = *e.tcp_info;
    auto delta = [](std::uint64_t x, std::uint64_t y) { return y >= x ? static_cast<double>(y - x) : 0.0; };
    rates[e.cookie] = Rate{delta(a.bytes_received, b.bytes_received) / seconds,
                           delta(a.bytes_acked, b.bytes_acked) / seconds};
  }
  return rates;
}

Result<Snapshot> take_snapshot(const SsFilter& filter, bool owners) {
  Snapshot s;
  s.taken = std::chrono::steady_clock::now();
  auto all = list_sockets(filter.query());
  if (!all) return fail(all.error());
  for (auto& e : *all) {
    if (filter.matches(e)) s.sockets.push_back(std::move(e));
  }
  if (owners) {
    std::vector<std::uint64_t> inodes;
    for (const auto& e : s.sockets) inodes.push_back(e.inode);
    s.owners = find_owners(inodes);
  }
  return s;
}

}  // namespace tether::cli
