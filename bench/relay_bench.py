#!/usr/bin/env python3
"""make bench, relay part: client -> relay -> sink, tether relay against socat (fork) and the
hand-written splice(2) relay (bench/peers/splice_relay.cpp).

The client is `tether bench stream` (1 stream, then 100 connections), the sink `tether listen
--discard`; both pinned to CPU 1, the relay to CPU 0. Throughput is the client's (after its warm-up).
CPU per byte is exact for whole process trees: each relay runs under bench/cpu_tree.py (a child
subreaper that reaps every descendant and reports getrusage(RUSAGE_CHILDREN): socat's forks, the
splice relay's threads, tether's loops alike) for its whole life, divided by every byte the relay
carried in that life (the sink's "closed" events, warm-up included). Each measurement has its own
relay and sink. Rounds interleave the relays; medians over rounds. Writes bench/results/relay.md
and relay.jsonl.

  bench/relay_bench.py --build build/bench [--rounds 5] [--seconds 3] [--only tether,socat,splice]
"""
import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from benchlib import Ports, rotated, start, stop  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
RELAY_CPU, CLIENT_CPU = "0", ("1" if (os.cpu_count() or 1) > 1 else "0")
port = Ports(23000)


def relays(build):
    tether = str(build / "tools/tether/tether")
    splice = build / "bench/peers/splice_relay"
    out = {
        "tether": lambda p, sink: [tether, "relay", "--threads", "1", f"tcp-listen:127.0.0.1:{p}",
                                   f"tcp:127.0.0.1:{sink}"],
        "tether-copy": lambda p, sink: [tether, "relay", "--no-splice", "--threads", "1",
                                        f"tcp-listen:127.0.0.1:{p}", f"tcp:127.0.0.1:{sink}"],
        "socat": lambda p, sink: ["socat", f"tcp-listen:{p},bind=127.0.0.1,reuseaddr,fork", f"tcp:127.0.0.1:{sink}"],
    }
    if splice.exists():
        out["splice"] = lambda p, sink: [str(splice), str(p), str(sink)]
    return out


def sink_bytes(path):
    """Bytes the sink received: the sum of its "closed" events' bytes_in."""
    total = 0
    for line in Path(path).read_text().splitlines():
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if ev.get("event") == "closed":
            total += int(ev.get("bytes_in", 0))
    return total


def measure(build, name, argv_of, conns, seconds, tmp):
    tether = str(build / "tools/tether/tether")
    sink_port, p = port(), port()
    sink_log, cpu_out = tmp / f"sink-{sink_port}.log", tmp / f"cpu-{p}.json"
    with open(sink_log, "w") as log:
        sink = start([tether, "listen", "--discard", "--json", "--threads", "1", "127.0.0.1", str(sink_port)],
                     sink_port, CLIENT_CPU, stderr=log)
    try:
        relay = start([sys.executable, str(ROOT / "bench/cpu_tree.py"), str(cpu_out), "--"] + argv_of(p, sink_port),
                      p, RELAY_CPU)
        try:
            client = subprocess.run(["taskset", "-c", CLIENT_CPU, tether, "bench", "stream", "-c", str(conns),
                                     "-t", str(seconds), "--warmup", "0.3", "-i", "0", "--json", "127.0.0.1", str(p)],
                                    capture_output=True, text=True, timeout=seconds + 60)
            time.sleep(0.3)  # the last flows close and socat reaps its children
        finally:
            stop(relay)
        time.sleep(0.2)
    finally:
        stop(sink)
    report = json.loads(client.stdout)
    cpu = json.loads(cpu_out.read_text())
    carried = sink_bytes(sink_log)
    return {"relay": name, "conns": conns, "gbit_per_s": report["gbit_per_s"], "bytes": report["bytes"],
            "carried_bytes": carried, "relay_cpu_s": cpu["cpu_s"], "relay_user_s": cpu["user_s"],
            "relay_sys_s": cpu["sys_s"],
            "relay_cpu_ns_per_kib": cpu["cpu_s"] * 1e9 / (carried / 1024) if carried else 0,
            "errors": report["errors"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build/bench")
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", "5")))
    ap.add_argument("--seconds", type=float, default=float(os.environ.get("BENCH_SECONDS", "3")))
    ap.add_argument("--only", default="", help="comma-separated relays (default: all)")
    ap.add_argument("--out", default="bench/results/relay", help="path stem of the .md and .jsonl written")
    args = ap.parse_args()
    build = (ROOT / args.build).resolve()
    if shutil.which("socat") is None:
        sys.exit("relay_bench: socat is not installed (scripts/install-deps.sh --bench)")
    names = relays(build)
    if args.only:
        names = {k: v for k, v in names.items() if k in args.only.split(",")}
    rows = []
    with tempfile.TemporaryDirectory(prefix="relay_bench") as tmpdir:
        tmp = Path(tmpdir)
        for r in range(args.rounds):
            order = rotated(names, r)
            for conns in (1, 100):
                for name in order:
                    row = measure(build, name, names[name], conns, args.seconds, tmp)
                    row["round"] = r
                    rows.append(row)
                    print(f"relay_bench: {json.dumps(row)}", file=sys.stderr, flush=True)
    stem = ROOT / args.out
    stem.parent.mkdir(parents=True, exist_ok=True)
    with open(stem.with_suffix(".jsonl"), "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    cmd = "python3 bench/relay_bench.py " + " ".join(sys.argv[1:])
    lines = ["# Relay: client -> relay -> sink (loopback)", "",
             f"`{cmd.strip()}` on {os.cpu_count()} CPUs ({platform.release()}). Medians of {args.rounds} "
             f"interleaved rounds of {args.seconds:g} s; relay on CPU {RELAY_CPU}, client (`tether bench stream`) "
             f"and sink (`tether listen --discard`) on CPU {CLIENT_CPU}. CPU is the relay's whole process tree "
             "(bench/cpu_tree.py: user+system of every descendant) over its life, per KiB the sink received in "
             "that life. `tether` splices (the default), `tether-copy` is `--no-splice`.", "",
             "| conns | relay | Gbit/s | relay CPU ns/KiB | throughput vs socat | CPU/byte vs splice relay |",
             "|---|---|---|---|---|---|"]
    for conns in (1, 100):
        med = {}
        for name in names:
            sel = [x for x in rows if x["relay"] == name and x["conns"] == conns]
            med[name] = (statistics.median(x["gbit_per_s"] for x in sel),
                         statistics.median(x["relay_cpu_ns_per_kib"] for x in sel))
        for name, (g, c) in med.items():
            vs_socat = f"{g / med['socat'][0]:.2f}x" if "socat" in med and med["socat"][0] else "-"
            vs_splice = f"{c / med['splice'][1]:.2f}x" if "splice" in med and med["splice"][1] else "-"
            lines.append(f"| {conns} | {name} | {g:.2f} | {c:.0f} | {vs_socat} | {vs_splice} |")
    lines += ["", "Targets (issue 11): tether >= 1.2x socat's throughput; tether's CPU per byte within 1.1x of "
              "the splice relay's."]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
