// trace_ladder.hpp: the packet ladder of `tether trace PORT`, as pure functions of the segments.
//
// Ladder follows TCP connections segment by segment: which side is the client (the one that sent
// the SYN; the side on PORT when the capture began mid-connection), each direction's initial
// sequence number, and where the 3-way handshake and the 4-way close stand. describe() turns one
// segment into a Step (sequence and ack numbers relative to the ISNs, and a note such as
// "handshake 2/3" or "close 3/4: server sends FIN"); draw() turns a Step into one ladder line.
// Threads: one thread at a time per Ladder.
#pragma once

#include <tether/tcp_segment.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace tether::cli {

struct LadderStep {
  double t_ms = 0;                 ///< since the first segment captured
  bool from_client = true;
  std::string client;              ///< endpoint text
  std::string server;
  TcpSegment segment;
  std::uint32_t seq = 0;           ///< relative to the sender's ISN
  std::uint32_t ack = 0;           ///< relative to the receiver's ISN
  std::string note;                ///< "handshake 1/3", "close 2/4", "reset", "data", ...
  bool connection_done = false;    ///< this segment ended the connection (last ACK of the close, RST)
};

class Ladder {
 public:
  /// `server_port`: the port being traced (the server's side when no SYN was seen).
  explicit Ladder(std::uint16_t server_port) : server_port_(server_port) {}
  LadderStep describe(const TcpSegment& s, double t_ms);

 private:
  struct Side {
    std::optional<std::uint32_t> isn;
    bool fin_sent = false;
    std::uint32_t fin_seq = 0;     ///< absolute sequence number of the FIN
    bool fin_acked = false;
  };
  struct Connection {
    Endpoint client, server;
    Side c, s;
    int handshake = 0;             ///< steps seen: 1 SYN, 2 SYN-ACK, 3 ACK
    int close_steps = 0;           ///< of 4
    bool done = false;
  };
  Connection& find(const TcpSegment& s, bool& from_client);
  std::uint16_t server_port_;
  std::map<std::string, Connection> connections_;  // keyed by "client|server"
};

/// One line: time, arrow between the two columns with flags and numbers, the note.
/// `absolute`: print raw sequence numbers instead of relative ones.
std::string draw_step(const LadderStep& step, bool absolute);
/// The two column titles for a connection's first line.
std::string draw_header(const LadderStep& step);
/// One JSON line.
std::string step_json(const LadderStep& step);

}  // namespace tether::cli
