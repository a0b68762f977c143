#!/usr/bin/env python3
"""make bench, TLS echo part (issue 10): server CPU per echoed message, tether against Asio SSL.

Servers, each on one thread pinned to CPU 0, with the same ECDSA P-256 certificate:
  tether-cli   tether listen --tls --echo -k --threads 1
  tether-lib   examples/tls_echo_server (AsyncTlsStream on the event loop, one coroutine a client)
  asio         bench/peers/asio_tls_echo (asio::ssl::stream, C++20 coroutines, one io_context)
The client is bench/peers/tls_rr (OpenSSL, epoll, pinned to CPU 1): TLS 1.3 with
TLS_AES_128_GCM_SHA256 only; C connections each keeping P messages of S bytes in flight. Server CPU
is every thread's run time from /proc/PID/task/*/schedstat over the measured seconds. Rounds
interleave the servers, the order rotating; medians over rounds; ratios within the run.
Writes bench/results/tls_echo.md and tls_echo.jsonl.

  bench/tls_echo.py --build build/bench [--rounds 3] [--seconds 3]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import report  # noqa: E402
from benchlib import Ports, log, rotated, start, stop  # noqa: E402

SERVER_CPU, CLIENT_CPU = "0", ("1" if (os.cpu_count() or 1) > 1 else "0")
GRID = [(1, 64, 1), (100, 64, 1), (100, 64, 16)]  # connections, message bytes, messages in flight
port = Ports(25000)


def certificate(build):
    cert, key = build / "bench-tls-cert.pem", build / "bench-tls-key.pem"
    if not cert.exists() or not key.exists():
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", str(key), "-out", str(cert), "-days", "30", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build/bench")
    ap.add_argument("--out", default=str(ROOT / "bench/results"))
    quick = os.environ.get("BENCH_QUICK", "0") == "1"
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", "1" if quick else "5")))
    ap.add_argument("--seconds", type=float, default=float(os.environ.get("BENCH_SECONDS", "1" if quick else "3")))
    args = ap.parse_args()
    build = Path(args.build)
    tether, tls_rr = build / "tools/tether/tether", build / "bench/peers/tls_rr"
    cert, key = certificate(build)
    servers = {
        "tether-cli": lambda p: [str(tether), "listen", "--tls", "--cert", str(cert), "--key", str(key), "--echo", "-k",
                                 "--threads", "1", "--drain", "0", "127.0.0.1", str(p)],
        "tether-lib": lambda p: [str(build / "examples/tls_echo_server"), str(p), str(cert), str(key)],
        "asio": lambda p: [str(build / "bench/peers/asio_tls_echo"), str(p), str(cert), str(key)],
    }
    for exe in (tether, tls_rr, build / "examples/tls_echo_server", build / "bench/peers/asio_tls_echo"):
        if not exe.exists():
            sys.exit(f"bench: {exe} is missing: cmake --build --preset bench")
    records = []
    started = time.time()
    load_before = os.getloadavg()
    for rnd in range(args.rounds):
        for conns, size, depth in GRID:
            cfg = f"{conns} conn{'s' if conns > 1 else ''}, {size} B, P{depth}"
            for name in rotated(servers, rnd):
                p = port()
                proc = start(servers[name](p), p, SERVER_CPU)
                try:
                    r = subprocess.run(["taskset", "-c", CLIENT_CPU, str(tls_rr), "127.0.0.1", str(p), "-c", str(conns),
                                        "-s", str(size), "-P", str(depth), "-t", str(args.seconds),
                                        "--warmup", "0.2" if quick else "0.5", "--server-pid", str(proc.pid)],
                                       capture_output=True, text=True, timeout=args.seconds + 60)
                finally:
                    stop(proc)
                try:
                    res = json.loads(r.stdout.strip().splitlines()[0])
                except (ValueError, IndexError):
                    res = {}
                res["exit"] = r.returncode
                if r.returncode != 0:
                    res["stderr"] = r.stderr.strip()[-300:]
                rec = dict(test="tls_echo", config=cfg, server=name, round=rnd, **res)
                records.append(rec)
                log(f"tls echo [{rnd + 1}/{args.rounds}] {cfg:22s} {name:10s} {res.get('msgs_per_s', 0):10.0f} msgs/s"
                    f"  {res.get('server_cpu_us_per_msg', -1):6.2f} us/msg  {res.get('server_cpu_percent', 0):5.1f}% cpu"
                    + ("" if r.returncode == 0 else f"  exit {r.returncode}: {res.get('stderr', '')}"))
    meta = report.machine_description()
    meta.update(rounds=args.rounds, seconds=args.seconds, elapsed_s=round(time.time() - started),
                load_before=load_before, load_after=os.getloadavg(), server_cpu=SERVER_CPU, client_cpu=CLIENT_CPU)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "tls_echo.jsonl", "w") as f:
        f.write(json.dumps({"meta": meta}) + "\n")
        for rec in records:
            f.write(json.dumps(rec) + "\n")
    write_md(meta, records, out / "tls_echo.md", [n for n in servers])
    log(f"tls echo done in {meta['elapsed_s']} s: {out / 'tls_echo.md'}")


def paired_ratio(records, cfg, name):
    """Median over rounds of Asio's CPU per message / the server's, both from the same round (the
    load of this shared machine drifts between rounds more than the servers differ)."""
    per = {}
    for r in records:
        if r["config"] == cfg and r.get("exit") == 0 and "server_cpu_us_per_msg" in r:
            per.setdefault(r["round"], {})[r["server"]] = r["server_cpu_us_per_msg"]
    vals = [v["asio"] / v[name] for v in per.values() if v.get("asio") and v.get(name)]
    return statistics.median(vals) if vals else None


def median(records, cfg, name, key):
    vals = [r[key] for r in records if r["config"] == cfg and r["server"] == name and r.get("exit") == 0 and key in r]
    return statistics.median(vals) if vals else None


def write_md(meta, records, path, names):
    ciphers = sorted({f"{r.get('version', '?')} {r.get('cipher', '?')}" for r in records if r.get("exit") == 0})
    md = ["# TLS echo server: CPU per message (issue 10)", "",
          "Generated by `bench/tls_echo.py` (`make bench`, or `BENCH_ONLY=tlsecho bench/run.sh`). "
          f"{meta.get('cpu', '')}, {meta.get('kernel', '')}; {meta['rounds']} round(s) of {meta['seconds']:g} s; "
          f"servers on CPU {meta['server_cpu']}, the client (`tls_rr`) on CPU {meta['client_cpu']}; "
          f"load average {meta['load_before'][0]:.2f} before, {meta['load_after'][0]:.2f} after.", "",
          f"Every connection negotiated: {', '.join(ciphers) or '-'}; one ECDSA P-256 certificate for all servers. "
          "Server CPU is the server's run time (all threads, /proc schedstat) per echoed message; "
          "medians over rounds. **Ratio = Asio's CPU per message / the server's, in the same round**, median "
          "over rounds (>= 1.0: the server uses no more CPU than Asio per message; the target is >= 1.0).", "",
          "| config | server | msgs/s | server CPU us/msg | server CPU % | ratio vs asio |",
          "|---|---|---:|---:|---:|---:|"]
    for conns, size, depth in GRID:
        cfg = f"{conns} conn{'s' if conns > 1 else ''}, {size} B, P{depth}"
        for name in names:
            rate = median(records, cfg, name, "msgs_per_s")
            us = median(records, cfg, name, "server_cpu_us_per_msg")
            pct = median(records, cfg, name, "server_cpu_percent")
            r = paired_ratio(records, cfg, name)
            ratio = f"{r:.2f}x" if r else "-"
            md.append(f"| {cfg} | {name} | {report.fmt(rate)} | {report.fmt(us, '.2f')} | {report.fmt(pct, '.0f')} | {ratio} |")
    md += ["", "Servers: `tether-cli` is `tether listen --tls --echo -k --threads 1`; `tether-lib` is "
           "examples/tls_echo_server.cpp (AsyncTlsStream); `asio` is bench/peers/asio_tls_echo.cpp "
           "(asio::ssl::stream over OpenSSL, coroutines). Raw measurements: tls_echo.jsonl.", ""]
    path.write_text("\n".join(md))


if __name__ == "__main__":
    main()
