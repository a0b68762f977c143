// ss_model.hpp: what `tether ss` and `tether top` show, apart from how they draw it.
//
// A Snapshot is one list_sockets() answer with the time it was taken. SsFilter decides which
// sockets are shown (protocol, state, port, address block). Owners (pid, command name) are looked
// up in /proc only for the sockets shown. Rates come from the difference of two snapshots: the
// bytes a TCP connection received and had acknowledged since the previous one, per second.
// Threads: plain values and functions; one thread at a time per object.
#pragma once

#include <tether/cidr.hpp>
#include <tether/sock_diag.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace tether::cli {

struct SsFilter {
  bool tcp = false, udp = false, unix_sockets = false;  ///< none set: all three
  IpFamily family = IpFamily::any;
  std::uint32_t states = all_states;
  std::optional<std::uint16_t> port;   ///< local or peer port
  std::vector<Cidr> addresses;         ///< local or peer address in one of the blocks
  bool wants_tcp() const noexcept { return tcp || (!udp && !unix_sockets); }
  bool wants_udp() const noexcept { return udp || (!tcp && !unix_sockets); }
  bool wants_unix() const noexcept { return unix_sockets || (!tcp && !udp); }
  /// The kernel-side part of the filter (protocols, family, states).
  SockDiagQuery query() const;
  /// The whole filter, applied to one entry.
  bool matches(const SocketEntry& e) const;
};

/// The process that holds a socket's inode (the first found when several share it).
struct Owner {
  int pid = 0;
  std::string name;
};

/// inode -> owner for the given inodes, from /proc/PID/fd links "socket:[INODE]". Processes this
/// user may not inspect are skipped: their sockets show no owner.
std::unordered_map<std::uint64_t, Owner> find_owners(const std::vector<std::uint64_t>& inodes);

/// Bytes per second in each direction since the previous snapshot (TCP only).
struct Rate {
  double in_per_s = 0;   ///< bytes_received
  double out_per_s = 0;  ///< bytes_acked
};

struct Snapshot {
  std::chrono::steady_clock::time_point taken;
  std::vector<SocketEntry> sockets;  ///< filtered
  std::unordered_map<std::uint64_t, Owner> owners;  ///< by inode
};

/// cookie -> rate, for sockets present in both snapshots.
std::unordered_map<std::uint64_t, Rate> rates_between(const Snapshot& before, const Snapshot& now);

/// Takes a filtered snapshot (and the owners of what it keeps when `owners` is set).
Result<Snapshot> take_snapshot(const SsFilter& filter, bool owners);

}  // namespace tether::cli
