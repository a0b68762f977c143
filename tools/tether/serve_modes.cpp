// serve_modes.cpp: tether listen --echo | --chat | --discard, on tether::Server (serve_modes.hpp).
#include "serve_modes.hpp"
#include "tls_options.hpp"

#include "serve_udp.hpp"
#include "unix_cleanup.hpp"

#include <tether/buffer.hpp>
#include <tether/cidr.hpp>
#include <tether/codec_line.hpp>
#include <tether/server.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

namespace tether::cli {

namespace {

Task<void> echo(Connection& c) {
  for (;;) {
    auto data = co_await c.read();
    if (!data || data->empty()) co_return;
    if (!c.send(*data)) co_return;
  }
}

Task<void> discard(Connection& c) {
  for (;;) {
    auto data = co_await c.read();
    if (!data || data->empty()) co_return;
  }
}

// Lines longer than --max-line close their sender (reason "too-long"): the input buffer never
// holds more than one line's limit plus one read. After each line the sender waits while a
// receiver is backed up (Connection::broadcast_room), so a fast sender slows to the slowest reader.
Task<void> chat(Connection& c) {
  // Only a Unix peer can be without an address: it shows as "unix:", as in the events.
  const std::string prefix = "<" + Event::endpoint_text(c.peer().unmapped(), "unix") + "> ";
  Buffer in;
  LineCodec lines(serve_flags().max_line != 0 ? serve_flags().max_line : LineCodec::default_max_length);
  std::string message;
  for (;;) {
    auto data = co_await c.read();
    if (!data) co_return;
    const bool eof = data->empty();
    if (!eof) in.append(*data);
    for (;;) {
      auto line = eof ? lines.decode_eof(in) : lines.decode(in);
      if (!line) {
        c.close(make_error_code(Errc::frame_too_large));  // the only error of LineCodec
        co_return;
      }
      if (!*line) break;
      message.assign(prefix).append(**line).push_back('\n');
      c.broadcast(message);
      if (!co_await c.broadcast_room()) co_return;
    }
    if (eof) co_return;
  }
}

std::chrono::milliseconds seconds_flag(double s) {
  return std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(std::ceil(s * 1000.0)));
}

}  // namespace

AccessList access_list() {
  AccessList acl;
  for (const auto& a : serve_flags().allow) {
    if (!acl.allow(a)) throw UsageError(fmt::format("--allow {}: not an address or CIDR block", a));
  }
  for (const auto& d : serve_flags().deny) {
    if (!acl.deny(d)) throw UsageError(fmt::format("--deny {}: not an address or CIDR block", d));
  }
  return acl;
}

namespace {

void emit(const ListenSettings& s, const ServerEvent& ev) {
  using K = ServerEvent::Kind;
  const char* names[] = {"listening", "accepted", "rejected", "closed", "accept_error", "draining"};
  Event e(names[static_cast<int>(ev.kind)]);
  e.add("proto", s.proto());
  switch (ev.kind) {
    case K::listening:
      e.add("local", ev.peer);
      e.add("threads", std::uint64_t{serve_flags().loops});
      break;
    case K::accepted:
      e.add("local", Event::endpoint_text(ev.local, s.proto()));
      e.add("peer", Event::endpoint_text(ev.peer, s.proto()));
      e.add("loop", std::uint64_t{ev.loop});
      break;
    case K::rejected:
      e.add("peer", Event::endpoint_text(ev.peer, s.proto()));
      e.add("reason", ev.reason);
      break;
    case K::closed:
      e.add("local", Event::endpoint_text(ev.local, s.proto()));
      e.add("peer", Event::endpoint_text(ev.peer, s.proto()));
      e.add("bytes_in", ev.bytes_in);
      e.add("bytes_out", ev.bytes_out);
      e.add("reason", ev.reason);
      if (ev.error && ev.reason != "idle" && ev.reason != "shutdown") e.add("error", describe(ev.error));
      break;
    case K::accept_error:
      e.add("error", describe(ev.error));
      break;
    case K::draining:
      e.add("loop", std::uint64_t{ev.loop});
      break;
  }
  s.log.emit(e);
}

int serve_stream(const ListenSettings& s, Server::Handler handler) {
  auto& f = serve_flags();
  ServerOptions o;
  o.address = s.local;
  o.listen.v6_only = s.v6_only;
  o.threads = f.threads;
  o.max_connections = f.max_conns;
  if (auto idle = idle_timeout(s)) o.idle_timeout = *idle;
  o.drain_timeout = drain_timeout();
  o.access = access_list();
  if (f.accept_mode == "single") o.accept_mode = AcceptMode::single_acceptor;
  if (s.log.enabled()) o.on_event = [&s](const ServerEvent& ev) { emit(s, ev); };
  install_tls(o, s);  // --tls: the handshake before each client's handler
  f.loops = f.threads != 0 ? f.threads : std::max(1u, std::thread::hardware_concurrency());
  Server server(std::move(o));
  auto where = server.listen();
  if (!where) {
    s.log.error(fmt::format("listen on {}: {}", s.local.to_string(), describe(where.error())));
    return exit_failure;
  }
  f.loops = server.loop_count();
  if (s.local.kind() == EndpointKind::unix_path) remove_on_exit(std::string(s.local.unix_name()));
  const auto start = std::chrono::steady_clock::now();
  auto stats = server.run(std::move(handler));
  if (!stats) {
    s.log.error(fmt::format("serve: {}", describe(stats.error())));
    return exit_failure;
  }
  if (s.log.enabled()) {
    Event e("summary");
    e.add("proto", s.proto());
    e.add("connections", stats->connections);
    e.add("rejected", stats->rejected + stats->shed);
    e.add("bytes_in", stats->bytes_in);
    e.add("bytes_out", stats->bytes_out);
    e.add("errors", stats->errors + stats->accept_errors);
    e.add("idle_timeouts", stats->idle_timeouts);
    e.add("duration_s", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    s.log.emit(e);
  }
  return exit_ok;
}

}  // namespace

void refuse_flags(const ListenSettings& s, std::string_view mode, unsigned flags) {
  const auto& f = serve_flags();
  const std::pair<unsigned, const char*> given[] = {
      {f.threads != 0 ? refuse_threads : 0u, "--threads"},
      {f.max_conns != 0 ? refuse_max_conns : 0u, "--max-conns"},
      {f.idle_s > 0 ? refuse_idle : 0u, "--idle-timeout"},
      {f.drain_s >= 0 ? refuse_drain : 0u, "--drain"},
      {!f.accept_mode.empty() ? refuse_accept_mode : 0u, "--accept-mode"},
      {f.max_line != 0 ? refuse_max_line : 0u, "--max-line"},
      {s.common.timeout() ? refuse_wait : 0u, "-w"},
  };
  for (const auto& [bit, flag] : given) {
    if ((bit & flags) != 0) throw UsageError(fmt::format("{} does not apply to {}", flag, mode));
  }
}

std::chrono::milliseconds drain_timeout() {
  const double d = serve_flags().drain_s;
  return d < 0 ? std::chrono::milliseconds(5000) : seconds_flag(d);
}

std::optional<std::chrono::milliseconds> idle_timeout(const ListenSettings& s) {
  if (serve_flags().idle_s > 0) return seconds_flag(serve_flags().idle_s);
  return s.common.timeout();
}

namespace {

// What a datagram server cannot honour: it has no connections to limit, time out or drain.
constexpr unsigned udp_refused = refuse_max_conns | refuse_idle | refuse_drain | refuse_accept_mode |
                                 refuse_max_line | refuse_wait;

int run_echo(const ListenSettings& s) {
  if (s.common.udp) {
    refuse_flags(s, "--echo -u", udp_refused);
    return serve_udp(s, UdpMode::echo);
  }
  refuse_flags(s, "--echo", refuse_max_line);
  return serve_stream(s, echo);
}

int run_discard(const ListenSettings& s) {
  if (s.common.udp) {
    refuse_flags(s, "--discard -u", udp_refused);
    return serve_udp(s, UdpMode::discard);
  }
  refuse_flags(s, "--discard", refuse_max_line);
  return serve_stream(s, discard);
}

int run_chat(const ListenSettings& s) {
  if (s.common.udp) throw UsageError("--chat works over streams (TCP or --unix), not -u");
  return serve_stream(s, chat);
}

void add_serve_options(CLI::App& cmd) {
  auto& f = serve_flags();
  cmd.add_option("--threads", f.threads, "--echo/--chat/--discard: event loops (default: one per core)")
      ->check(CLI::Range(1, 1024));
  cmd.add_option("--max-conns", f.max_conns, "--echo/--chat/--discard/--sockperf (TCP): close clients beyond N at once")
      ->check(CLI::Range(1, 10'000'000));
  cmd.add_option("--idle-timeout", f.idle_s, "--echo/--chat/--discard/--sockperf (TCP): close a client silent for SECS (default: -w)")
      ->check(CLI::NonNegativeNumber);
  cmd.add_option("--drain", f.drain_s, "--echo/--chat/--discard/--sockperf (TCP): on SIGINT/SIGTERM, let clients finish for SECS (default 5)")
      ->check(CLI::NonNegativeNumber);
  cmd.add_option("--allow", f.allow, "--echo/--chat/--discard/--sockperf: serve only peers in CIDR (repeatable)")
      ->allow_extra_args(false);
  cmd.add_option("--deny", f.deny, "--echo/--chat/--discard/--sockperf: refuse peers in CIDR (repeatable; wins over --allow)")
      ->allow_extra_args(false);
  cmd.add_option("--max-line", f.max_line, "--chat: close a client whose line exceeds BYTES (default 65536)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{64} << 20));
  cmd.add_option("--accept-mode", f.accept_mode, "--echo/--chat/--discard: reuseport (default: every loop accepts) or single")
      ->check(CLI::IsMember({"reuseport", "single"}))
      ->group("");  // for measurements; hidden from --help
}

}  // namespace

ServeFlags& serve_flags() {
  static ServeFlags flags;
  return flags;
}

ListenMode echo_listen_mode() {
  return {"--echo", "Echo every client's bytes back (TCP, or UDP with -u); serves clients concurrently until SIGINT/SIGTERM", run_echo,
          add_serve_options};
}

ListenMode chat_listen_mode() {
  return {"--chat", "Relay each line a client sends to every other client, prefixed <address:port>",
          run_chat, nullptr};
}

ListenMode discard_listen_mode() {
  return {"--discard", "Read and drop everything clients send (TCP, or UDP with -u)", run_discard,
          nullptr};
}

}  // namespace tether::cli
