"""Turns bench/run.py's measurements into bench/results/latest.md and latest.png (gnuplot).

Figures are medians over rounds of the runs that ended cleanly; every comparison is a ratio of two
figures measured in the same run, oriented so that > 1.00 means tether did better.
"""
import datetime
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def machine_description():
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
    except OSError:
        commit = "?"
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1048576:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"), "cpu": model,
            "cpus": os.cpu_count(), "memory": mem, "kernel": platform.release(), "commit": commit}


class Table:
    def __init__(self, records, test):
        self.values = defaultdict(list)  # (config, server, metric) -> [values]
        self.failed = defaultdict(int)   # (config, server) -> failed runs
        self.configs, self.servers = [], []
        for r in records:
            if r.get("test") != test or r.get("round", -1) < 0:
                continue
            key = (r["config"], r["server"])
            if r["config"] not in self.configs:
                self.configs.append(r["config"])
            if r["server"] not in self.servers:
                self.servers.append(r["server"])
            if r.get("exit", 0) != 0:
                self.failed[key] += 1
                continue
            for metric, v in r.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    self.values[(r["config"], r["server"], metric)].append(v)

    def median(self, config, server, metric):
        vals = [v for v in self.values.get((config, server, metric), []) if v is not None and v >= 0]
        return statistics.median(vals) if vals else None


def fmt(v, spec=".0f", missing="-"):
    return missing if v is None else format(v, spec)


def ratio(a, b):
    return a / b if a and b else None


def section_echo(md, t, targets):
    has_tether = "tether" in t.servers
    peers = [s for s in t.servers if s != "tether"]
    md.append("## Echo server: msgs/s and server CPU per message\n")
    md.append("`tether bench rr` (one client thread, CPU 1) against each single-threaded server (CPU 0). "
              "Server CPU is from /proc/PID (user + system) divided by the messages echoed, so it stays "
              "meaningful when the client is the bottleneck.\n")
    head = "| config | " + " | ".join(f"{s} msgs/s" for s in t.servers) + " | " + \
           " | ".join(f"{s} us/msg" for s in t.servers) + " |"
    md += [head, "|" + "---|" * (1 + 2 * len(t.servers))]
    for c in t.configs:
        row = [c] + [fmt(t.median(c, s, "msgs_per_s")) for s in t.servers] + \
              [fmt(t.median(c, s, "server_cpu_us_per_msg"), ".2f") for s in t.servers]
        md.append("| " + " | ".join(row) + " |")
    base = "tether" if has_tether else (peers[0] if peers else None)
    if base:
        md.append(f"\nRatios, {base} vs each peer (msgs/s ratio; CPU ratio = peer us/msg / {base} us/msg; "
                  "> 1.00 means " + base + " is better):\n")
        others = [s for s in t.servers if s != base]
        md += ["| config | " + " | ".join(f"vs {s} msgs/s | vs {s} CPU" for s in others) + " |",
               "|" + "---|" * (1 + 2 * len(others))]
        for c in t.configs:
            cells = []
            for s in others:
                cells.append(fmt(ratio(t.median(c, base, "msgs_per_s"), t.median(c, s, "msgs_per_s")), ".2f"))
                cells.append(fmt(ratio(t.median(c, s, "server_cpu_us_per_msg"), t.median(c, base, "server_cpu_us_per_msg")), ".2f"))
            md.append(f"| {c} | " + " | ".join(cells) + " |")
    if not has_tether:
        md.append("\n**tether's echo server is not in this build** (`tether listen --echo` comes with the async "
                  "core); the peers are measured and ratios are against the hand-written epoll floor.\n")
    for c in t.configs:
        if "64 B" not in c:
            continue
        for s, bar in (("epoll", 1.0), ("asio", 1.0), ("libuv", 1.15)):
            for metric, label, inverse in (("msgs_per_s", "msgs/s", False), ("server_cpu_us_per_msg", "CPU/msg", True)):
                a, b = t.median(c, "tether", metric), t.median(c, s, metric)
                r = ratio(b, a) if inverse else ratio(a, b)
                targets.append((f"echo {c}: {label} vs {s}", f">= {bar:.2f}", r, r is not None and r >= bar))


def section_simple(md, t, title, intro, metric, unit, spec, base, better_low=False):
    md.append(f"## {title}\n")
    md.append(intro + "\n")
    md += ["| config | " + " | ".join(t.servers) + " | " + " | ".join(f"{base} vs {s}" for s in t.servers if s != base) + " |",
           "|" + "---|" * (1 + len(t.servers) + len([s for s in t.servers if s != base]))]
    for c in t.configs:
        vals = [fmt(t.median(c, s, metric), spec) for s in t.servers]
        rats = []
        for s in t.servers:
            if s == base:
                continue
            a, b = t.median(c, base, metric), t.median(c, s, metric)
            rats.append(fmt(ratio(b, a) if better_low else ratio(a, b), ".2f"))
        md.append(f"| {c} | " + " | ".join(vals) + " | " + " | ".join(rats) + " |")
    md.append(f"\n({unit}; ratios > 1.00 mean {base} did better)\n")


def chart(t, out):
    gnuplot = shutil.which("gnuplot")
    if not gnuplot or not t.configs:
        return False
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "echo.dat"
        lines = ["# config " + " ".join(f"{s}_rate {s}_cpu" for s in t.servers)]
        for c in t.configs:
            cells = []
            for s in t.servers:
                rate, cpu = t.median(c, s, "msgs_per_s"), t.median(c, s, "server_cpu_us_per_msg")
                cells += [f"{rate / 1000:.1f}" if rate else "0", f"{cpu:.3f}" if cpu else "0"]
            lines.append('"' + c.replace(" conns", "c").replace(", ", " ") + '" ' + " ".join(cells))
        data.write_text("\n".join(lines) + "\n")
        n = len(t.servers)
        rate_cols = ", ".join(f"'{data}' using {2 + 2 * i}:xtic(1) title '{s}'" if i == 0 else f"'' using {2 + 2 * i} title '{s}'"
                              for i, s in enumerate(t.servers))
        cpu_cols = ", ".join(f"'{data}' using {3 + 2 * i}:xtic(1) title '{s}'" if i == 0 else f"'' using {3 + 2 * i} title '{s}'"
                             for i, s in enumerate(t.servers))
        script = f"""
set terminal pngcairo size 1400,560 font ',10' noenhanced
set output '{out}'
set multiplot layout 1,2 title 'Echo servers, one core each (medians; bench/results/latest.md)'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set key top left
set xtics rotate by 30 right
set logscale y
set grid ytics
set title 'messages per second, thousands (log scale, higher is better)'
plot {rate_cols}
set title 'server CPU microseconds per message (log scale, lower is better)'
plot {cpu_cols}
unset multiplot
"""
        r = subprocess.run([gnuplot], input=script, text=True, capture_output=True)
        if r.returncode != 0 and "pngcairo" in r.stderr:  # gnuplot-nox without cairo: the gd terminal
            r = subprocess.run([gnuplot], input=script.replace("pngcairo", "png"), text=True, capture_output=True)
        return r.returncode == 0 and n > 0


def write(meta, records, out):
    out = Path(out)
    md = ["# tether benchmarks: side by side with the peers\n",
          f"Generated by `make bench` (bench/run.sh) on {meta['date']}, commit `{meta['commit']}`"
          f"{' (BENCH_QUICK smoke run: not for conclusions)' if meta['quick'] else ''}.\n",
          f"- Machine: {meta['cpu']}, {meta['cpus']} CPUs, {meta['memory']} RAM, Linux {meta['kernel']}",
          f"- Method: server on CPU {meta['server_cpu']}, client on CPU {meta['client_cpu']} (taskset); "
          f"{meta['rounds']} interleaved round(s), {meta['seconds']:g} s per measurement after {meta['warmup']:g} s "
          f"warm-up; medians over rounds; ratios within this run only.",
          f"- Load average before/after: {meta['load_before'][0]:.2f} / {meta['load_after'][0]:.2f} "
          "(a shared machine: read ratios, not absolute numbers)",
          f"- Total time: {meta['elapsed_s']} s\n"]
    targets = []
    echo = Table(records, "echo")
    if echo.configs:
        if chart(echo, out / "latest.png"):
            md.append("![echo chart](latest.png)\n")
        section_echo(md, echo, targets)
    bulk = Table(records, "bulk")
    if bulk.configs:
        section_simple(md, bulk, "Bulk transfer: tether bench stream vs iperf3",
                       "`tether bench stream -s SIZE` into tether's sink (`listen --discard`, else the relay into "
                       "/dev/null) against `iperf3 -c -l SIZE` into `iperf3 -s`: acknowledged/received bytes.",
                       "gbit_per_s", "Gbit/s", ".2f", "tether")
        r = ratio(bulk.median("128 KiB writes", "tether", "gbit_per_s"), bulk.median("128 KiB writes", "iperf3", "gbit_per_s"))
        targets.append(("bulk 128 KiB: tether vs iperf3", ">= 1.00", r, r is not None and r >= 1.0))
    transfer = Table(records, "transfer")
    if transfer.configs:
        section_simple(md, transfer, "File transfer: CLIENT < file into one sink",
                       "`tether connect`, `ncat --send-only`, `nc -N` and `socat -u STDIN TCP:` each send the same "
                       "file into the hand-written epoll discard server; wall time from start to exit.",
                       "mb_per_s", "MB/s", ".0f", "tether")
        c = transfer.configs[0]
        r = ratio(transfer.median(c, "tether", "mb_per_s"), transfer.median(c, "ncat", "mb_per_s"))
        targets.append(("file transfer: tether connect vs ncat", ">= 1.20", r, r is not None and r >= 1.2))
    tls = Table(records, "tls")
    if tls.configs:
        section_simple(md, tls, "TLS bulk: CLIENT < file into a TLS sink",
                       "TLS 1.3, one cipher suite forced on every side; `tether connect --tls` / `listen --tls "
                       "--discard`, `openssl s_client` / `s_server -quiet`, `socat OPENSSL`; wall time from start to "
                       "exit (handshake included). kTLS is not used (no `tls` ULP on this kernel).",
                       "mb_per_s", "MB/s", ".0f", "tether -> tether")
        c = tls.configs[0]
        for name, a, b in (("client: tether vs socat, into openssl s_server", "tether -> openssl", "socat -> openssl"),
                           ("server: tether vs openssl s_server, from socat", "socat -> tether", "socat -> openssl"),
                           ("pair: tether vs socat", "tether -> tether", "socat -> socat")):
            r = ratio(tls.median(c, a, "mb_per_s"), tls.median(c, b, "mb_per_s"))
            targets.append((f"TLS bulk {name}", ">= 1.00", r, r is not None and r >= 1.0))
    lat = Table(records, "latency")
    if lat.configs:
        for metric, name in (("p50_us", "p50"), ("p99_us", "p99")):
            section_simple(md, lat, f"Latency {name}: sockperf ping-pong, 64 B",
                           "The stock `sockperf ping-pong` client against `sockperf server` and against "
                           "`tether listen --sockperf`, with the client on the other CPU and on the same CPU.",
                           metric, "microseconds", ".2f", "tether", better_low=True)
            for c in lat.configs:
                if "cross" in c:
                    a, b = lat.median(c, "tether", metric), lat.median(c, "sockperf", metric)
                    r = ratio(a, b)
                    targets.append((f"latency {c} {name}: tether / sockperf server", "<= 1.05", r, r is not None and r <= 1.05))
    conn = Table(records, "connect")
    if conn.configs:
        section_simple(md, conn, "Connection rate", "`tether bench connect -c 8` against each echo server.",
                       "conns_per_s", "connections/s", ".0f", conn.servers[0])
    udp = Table(records, "udp")
    if udp.configs:
        section_simple(md, udp, "UDP echo", "`tether bench udp -c 4 -s 64` (open loop, as fast as possible): "
                       "datagrams received back per second.", "received_per_s", "datagrams/s", ".0f", udp.servers[0])
    micro = Table(records, "micro")
    if micro.configs:
        md.append("## Micro-benchmarks (Google Benchmark, bench/micro)\n")
        md.append("Hot paths of the library on the client CPU. Per item where the benchmark counts items "
                  "(frames decoded from one buffer, posts run, timers fired), else per call; "
                  "`/N` is the benchmark's argument (frame size, batch, timer count).\n")
        md += ["| benchmark | ns per item or call |", "|---|---|"]
        for c in micro.configs:
            v = micro.median(c, 'tether', 'ns_per_item')
            if v is None:
                v = micro.median(c, 'tether', 'cpu_ns')
            md.append(f"| {c} | {fmt(v, '.1f')} |")
        md.append("")
    md.append("## Targets (issue 4)\n")
    md += ["| target | bar | measured | met |", "|---|---|---|---|"]
    for name, bar, value, ok in targets:
        md.append(f"| {name} | {bar} | {fmt(value, '.3f', 'not measured')} | {'yes' if ok else 'NO'} |")
    failures = [r for r in records if r.get("exit", 0) != 0 or r.get("error")]
    if failures:
        md.append("\n## Runs that failed (excluded from the medians)\n")
        for r in failures:
            md.append(f"- {r.get('test')} / {r.get('config')} / {r.get('server')} round {r.get('round')}: "
                      f"exit {r.get('exit')} {r.get('error') or r.get('stderr', '')}".rstrip())
    (out / "latest.md").write_text("\n".join(md) + "\n")
