#!/usr/bin/env python3
"""make bench, relay part: client -> relay -> sink, tether relay against socat (fork) and the
hand-written splice(2) relay (bench/peers/splice_relay.cpp).

The client is `tether bench stream` (1 stream, then 100 connections), the sink `tether listen
--discard`; both pinned to CPU 1, the relay to CPU 0. Throughput is the client's; CPU is the relay's
utime+stime (+ its reaped children's, for socat's forks) over the run, from /proc. Rounds interleave
the relays; medians over rounds. Writes bench/results/relay.md and relay.jsonl.

  bench/relay_bench.py --build build/bench [--rounds 3] [--seconds 3]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")
RELAY_CPU, CLIENT_CPU = "0", ("1" if (os.cpu_count() or 1) > 1 else "0")
_port = [23000 + os.getpid() % 2000]


def port():
    _port[0] += 1
    return _port[0]


def listening(p):
    want = f":{p:04X}"
    for f in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(f).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[1].endswith(want) and fields[3] == "0A":
                return True
    return False


def start(argv, p, cpu):
    proc = subprocess.Popen(["taskset", "-c", cpu] + argv, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not listening(p):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop(proc)
            raise RuntimeError("did not start: " + " ".join(argv))
        time.sleep(0.01)
    return proc


def stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cpu_seconds(pid):
    """utime + stime + cutime + cstime of pid (its threads and its reaped children)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / TICK


def relays(build, sink):
    tether = str(build / "tools/tether/tether")
    splice = build / "bench/peers/splice_relay"
    out = {
        "tether": lambda p: [tether, "relay", "--threads", "1", f"tcp-listen:127.0.0.1:{p}", f"tcp:127.0.0.1:{sink}"],
        "socat": lambda p: ["socat", f"tcp-listen:{p},bind=127.0.0.1,reuseaddr,fork", f"tcp:127.0.0.1:{sink}"],
    }
    if splice.exists():
        out["splice"] = lambda p: [str(splice), str(p), str(sink)]
    return out


def measure(build, name, argv_of, conns, seconds, sink):
    p = port()
    relay = start(argv_of(p), p, RELAY_CPU)
    try:
        before = cpu_seconds(relay.pid)
        client = subprocess.run(["taskset", "-c", CLIENT_CPU, str(build / "tools/tether/tether"), "bench", "stream",
                                 "-c", str(conns), "-t", str(seconds), "--warmup", "0.3", "-i", "0", "--json",
                                 "127.0.0.1", str(p)], capture_output=True, text=True, timeout=seconds + 60)
        time.sleep(0.3)  # socat reaps its children: their CPU joins cutime/cstime
        after = cpu_seconds(relay.pid)
    finally:
        stop(relay)
    report = json.loads(client.stdout)
    cpu = after - before
    return {"relay": name, "conns": conns, "gbit_per_s": report["gbit_per_s"], "bytes": report["bytes"],
            "relay_cpu_s": cpu, "relay_cpu_ns_per_kib": cpu * 1e9 / (report["bytes"] / 1024) if report["bytes"] else 0,
            "errors": report["errors"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build/bench")
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", "3")))
    ap.add_argument("--seconds", type=float, default=float(os.environ.get("BENCH_SECONDS", "3")))
    args = ap.parse_args()
    build = (ROOT / args.build).resolve()
    if shutil.which("socat") is None:
        sys.exit("relay_bench: socat is not installed (scripts/install-deps.sh --bench)")
    sink_port = port()
    sink = start([str(build / "tools/tether/tether"), "listen", "--discard", "--threads", "1", "127.0.0.1",
                  str(sink_port)], sink_port, CLIENT_CPU)
    rows = []
    try:
        names = relays(build, sink_port)
        for r in range(args.rounds):
            order = list(names)
            order = order[r % len(order):] + order[:r % len(order)]
            for conns in (1, 100):
                for name in order:
                    row = measure(build, name, names[name], conns, args.seconds, sink_port)
                    row["round"] = r
                    rows.append(row)
                    print(f"relay_bench: {json.dumps(row)}", file=sys.stderr, flush=True)
    finally:
        stop(sink)
    results = ROOT / "bench/results"
    results.mkdir(exist_ok=True)
    with open(results / "relay.jsonl", "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    lines = ["# Relay: client -> relay -> sink (loopback)", "",
             f"Medians of {args.rounds} rounds of {args.seconds:g} s; relay on CPU {RELAY_CPU}, client and sink on CPU {CLIENT_CPU}.", "",
             "| conns | relay | Gbit/s | relay CPU ns/KiB | throughput vs socat | CPU/byte vs splice |",
             "|---|---|---|---|---|---|"]
    for conns in (1, 100):
        med = {}
        for name in names:
            sel = [x for x in rows if x["relay"] == name and x["conns"] == conns]
            med[name] = (statistics.median(x["gbit_per_s"] for x in sel),
                         statistics.median(x["relay_cpu_ns_per_kib"] for x in sel))
        for name, (g, c) in med.items():
            vs_socat = g / med["socat"][0] if med["socat"][0] else 0
            vs_splice = c / med["splice"][1] if "splice" in med and med["splice"][1] else 0
            lines.append(f"| {conns} | {name} | {g:.2f} | {c:.0f} | {vs_socat:.2f}x | {vs_splice:.2f}x |")
    lines += ["", "Targets (issue 11): tether >= 1.2x socat's throughput; tether's CPU per byte within 1.1x of splice's."]
    (results / "relay.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
