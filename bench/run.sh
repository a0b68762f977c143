#!/usr/bin/env bash
# make bench: tether side by side with its peers, in one run, on this machine.
#   bench/run.sh                 the full grid (~12-15 minutes)
#   BENCH_QUICK=1 bench/run.sh   a smoke run (~3 minutes): one round, short runs
# Other knobs: BENCH_ROUNDS=N, BENCH_SECONDS=S (per measurement), BENCH_ONLY="echo bulk transfer
# latency connect udp micro relay tlsecho" (a subset), BENCH_BUILD=DIR (default build/bench).
# Writes bench/results/latest.md, latest.png and latest.jsonl (every raw measurement).
# Method (issue 4): server pinned to CPU 0, client to CPU 1; rounds interleave the servers; each
# figure is the median over rounds; comparisons are ratios measured in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BENCH_BUILD:-build/bench}
if [ ! -x "$build/tools/tether/tether" ] || [ ! -x "$build/bench/peers/epoll_echo" ] ||
   [ ! -x "$build/bench/peers/tls_rr" ]; then
  cmake --preset bench >/dev/null
  cmake --build --preset bench -j "$(nproc)"
fi
# run.py's steps (latest.md) run unless BENCH_ONLY names only the separate comparisons below.
main=1
if [ -n "${BENCH_ONLY:-}" ]; then
  main=0
  for step in echo bulk transfer tls latency connect udp micro; do
    case " $BENCH_ONLY " in *" $step "*) main=1 ;; esac
  done
fi
[ "$main" = 0 ] || python3 bench/run.py --build "$build" "$@"
# The relay comparison (issue 11): tether relay vs socat (fork) vs a splice(2) relay.
# BENCH_QUICK: one round of 1 s; else BENCH_ROUNDS / BENCH_SECONDS (default 5 x 3 s). Writes
# bench/results/relay.md and relay.jsonl.
relay_args=()
if [ -n "${BENCH_QUICK:-}" ]; then relay_args=(--rounds 1 --seconds 1); fi
case " ${BENCH_ONLY:-relay} " in *" relay "*) python3 bench/relay_bench.py --build "$build" "${relay_args[@]}" ;; esac
# TLS echo server CPU per message (issue 10): tether vs an Asio SSL echo server.
case " ${BENCH_ONLY:-tlsecho} " in *" tlsecho "*) python3 bench/tls_echo.py --build "$build" ;; esac
