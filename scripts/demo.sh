#!/usr/bin/env bash
# scripts/demo.sh TETHER: a short guided tour of sockets on loopback, run by `make demo`.
#
# It shows the seeds' system at work with the tether binary: a TCP server and client (socket, bind,
# listen, accept, connect; the 5-tuple; a message each way; the close), then a UDP exchange.
# Port 0 everywhere (the kernel picks free ports); every process it starts is ended on exit.
set -euo pipefail

TETHER=${1:?usage: scripts/demo.sh PATH/TO/tether}
[ -x "$TETHER" ] || { echo "demo.sh: '$TETHER' is not an executable" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/tether-demo.XXXXXX")
pids=()
cleanup() {
  exec 3>&- 4>&- 5>&- 6>&- 2>/dev/null || true
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -t 1 ]; then bold=$'\e[1m' dim=$'\e[2m' off=$'\e[0m'; else bold='' dim='' off=''; fi
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$off"; }
say() { printf '   %s\n' "$*"; }
show() { sed "s/^/     ${dim}|${off} /" "$@"; }  # tether's own output, indented

# Background processes get `3>&- 4>&- ...`: a copy of another's input pipe would keep it open.

# wait_for FILE TEXT: until FILE holds TEXT (at most 5 s).
wait_for() {
  for _ in $(seq 100); do
    grep -qF -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "demo.sh: timed out waiting for '$2' in $1" >&2
  exit 1
}
# field FILE EVENT KEY: the value of KEY= in the first "tether: EVENT" line of FILE.
field() { grep -m1 "^tether: $2 " "$1" | sed -n "s/.* $3=\([^ ]*\).*/\1/p"; }

start=$(date +%s%N)
printf '%stether demo%s: sockets on this machine, step by step (%s)\n' "$bold" "$off" "$("$TETHER" --version)"

# ---------------------------------------------------------------------------------------------------
step "1. A TCP server: socket -> setsockopt(SO_REUSEADDR) -> bind -> listen"
say "tether listen 127.0.0.1 0   (port 0: the kernel picks a free port)"
mkfifo "$work/server.in" "$work/client.in"
"$TETHER" listen -v --trace 127.0.0.1 0 <"$work/server.in" >"$work/server.out" 2>"$work/server.log" 3>&- 4>&- 5>&- 6>&- &
pids+=($!); server=$!
exec 3>"$work/server.in"                      # the server's keyboard
wait_for "$work/server.log" "tether: listening"
show <(grep -v '^trace' "$work/server.log")
server_ep=$(field "$work/server.log" listening local)
port=${server_ep##*:}
say "The server now waits in accept() on port $port. Its backlog queues clients until accepted."
# A packet capture of this port, when the demo may capture (CAP_NET_RAW: root); else it says why.
"$TETHER" trace "$port" -c 1 -w 10 >"$work/ladder.out" 2>"$work/ladder.log" 3>&- 4>&- 5>&- 6>&- &
pids+=($!); tracer=$!
for _ in $(seq 100); do
  grep -q "capturing\|CAP_NET_RAW\|tether" "$work/ladder.log" 2>/dev/null && break
  sleep 0.05
done

# ---------------------------------------------------------------------------------------------------
step "2. A TCP client: socket -> connect (the 3-way handshake: SYN, SYN-ACK, ACK)"
say "tether connect 127.0.0.1 $port"
"$TETHER" connect -v --trace 127.0.0.1 "$port" <"$work/client.in" >"$work/client.out" 2>"$work/client.log" 3>&- 4>&- 5>&- 6>&- &
pids+=($!); client=$!
exec 4>"$work/client.in"                      # the client's keyboard
wait_for "$work/client.log" "tether: connected"
wait_for "$work/server.log" "tether: accepted"
show <(grep -v '^trace' "$work/client.log")
show <(grep accepted "$work/server.log")
client_ep=$(field "$work/client.log" connected local)
say "accept() returned a NEW socket for this client; the listening socket keeps waiting."
say "The connection is named by its 5-tuple (protocol, source IP, source port, destination IP, port):"
say "${bold}(tcp, ${client_ep%:*}, ${client_ep##*:}, ${server_ep%:*}, ${server_ep##*:})${off}"
say "The client's port ${client_ep##*:} is ephemeral: the kernel chose it at connect()."

# ---------------------------------------------------------------------------------------------------
step "3. Full duplex: both sides send, on one connection"
echo "hello, server - this is the client" >&4
wait_for "$work/server.out" "hello, server"
say "client -> server:"; show "$work/server.out"
echo "hello, client - the server here" >&3
wait_for "$work/client.out" "hello, client"
say "server -> client:"; show "$work/client.out"
say "tether ss -ti --port $port: the kernel's view of both ends (sock_diag, TCP_INFO):"
show <("$TETHER" ss -ti --port "$port")

# ---------------------------------------------------------------------------------------------------
step "4. Closing: FIN from each side (the 4-way close)"
say "The client's input ends: it sends FIN (shutdown write) but keeps reading."
exec 4>&-
sleep 0.2
say "The server has read the end of the stream; it sends its last words, then its own FIN."
echo "goodbye" >&3
exec 3>&-
client_rc=0; wait "$client" || client_rc=$?
server_rc=0; wait "$server" || server_rc=$?
pids=("$tracer")   # the capture ends by itself after this connection (or -w 10)
say "The client printed everything, the tail included:"; show "$work/client.out"
say "client:"; show <(grep "tether: closed" "$work/client.log")
say "server:"; show <(grep "tether: closed" "$work/server.log")
if [ "$client_rc" = 0 ] && [ "$server_rc" = 0 ]; then
  say "Both exited with status 0: a clean close. closed_first says who sent FIN first;"
  say "rtt_us and retransmits come from the kernel (TCP_INFO)."
else
  say "Unexpected exit statuses: client $client_rc, server $server_rc"; exit 1
fi

# ---------------------------------------------------------------------------------------------------
step "5. The same connection as the kernel saw it (--trace, and tether trace $port)"
say "tether connect --trace: resolve, SYN, SYN-ACK, the negotiated options, FINs, TIME-WAIT:"
show <(grep '^trace' "$work/client.log")
say "tether listen --trace: the client's SYN as the kernel saved it (TCP_SAVE_SYN), then the close:"
show <(grep '^trace' "$work/server.log")
tracer_rc=0; wait "$tracer" || tracer_rc=$?
if [ "$tracer_rc" = 0 ]; then
  say "tether trace $port: every segment on the wire (AF_PACKET + BPF), relative sequence numbers:"
  show "$work/ladder.out"
else
  say "tether trace $port could not capture here (it needs CAP_NET_RAW: run the demo as root):"
  show "$work/ladder.log"
fi

# ---------------------------------------------------------------------------------------------------
step "6. UDP: datagrams, no connection, no accept, no handshake"
say "tether listen -u 127.0.0.1 0   (socket -> bind; there is no listen() or accept() for UDP)"
mkfifo "$work/userver.in" "$work/uclient.in"
"$TETHER" listen -u -v -w 1 127.0.0.1 0 <"$work/userver.in" >"$work/userver.out" 2>"$work/userver.log" 3>&- 4>&- 5>&- 6>&- &
pids+=($!); userver=$!
exec 5>"$work/userver.in"
wait_for "$work/userver.log" "listening"
show "$work/userver.log"
uport=$(field "$work/userver.log" listening local); uport=${uport##*:}
"$TETHER" connect -u -v -w 1 127.0.0.1 "$uport" <"$work/uclient.in" >"$work/uclient.out" 2>"$work/uclient.log" 3>&- 4>&- 5>&- 6>&- &
pids+=($!); uclient=$!
exec 6>"$work/uclient.in"
wait_for "$work/uclient.log" "connected"
say "The client's connect() only fixes the destination: no packet is sent yet."
show "$work/uclient.log"
echo "ping (one datagram)" >&6
wait_for "$work/userver.out" "ping"
say "The server learns who the client is from the datagram itself:"
show <(grep accepted "$work/userver.log")
show "$work/userver.out"
echo "pong (one datagram back)" >&5
wait_for "$work/uclient.out" "pong"
say "server -> client:"; show "$work/uclient.out"
say "UDP has no close handshake: each side simply stops (here: after 1 s of silence, -w 1)."
exec 6>&- 5>&-
uclient_rc=0; wait "$uclient" || uclient_rc=$?
userver_rc=0; wait "$userver" || userver_rc=$?
pids=()
say "client:"; show <(grep closed "$work/uclient.log")
say "server:"; show <(grep closed "$work/userver.log")
if [ "$uclient_rc" != 0 ] || [ "$userver_rc" != 0 ]; then
  say "Unexpected exit statuses: client $uclient_rc, server $userver_rc"; exit 1
fi

elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
step "Done in ${elapsed} ms. Every process the demo started has ended."
say "Try it yourself:  tether listen -v 127.0.0.1 0   and, in another terminal,  tether connect -v 127.0.0.1 PORT"
