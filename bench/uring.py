#!/usr/bin/env python3
"""bench/uring.py (make bench-uring): the io_uring backend against epoll and the peers (issue 9).

Echo on one loop, 64-byte messages, 100 and 1000 connections, pipeline depth 1 and 16: msgs/s and
server CPU per message (median over interleaved rounds, server on CPU 0, client on CPU 1, as
run.py), system calls per echoed message counted with `strace -c -f` (the per-message calls only:
per-connection ones such as accept and close are left out), and the cost of an empty system call on
this machine. Writes bench/results/uring.md and uring.jsonl.
Knobs: BENCH_ROUNDS (3), BENCH_SECONDS (1.5), URING_VARIANTS (server names; tether-uring-inline,
io_uring with send() at once as before issue 9, is left out by default; tether-uring-single is one
READ per borrowed read instead of the multishot receive), URING_OUT (file stem).
"""
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("BENCH_SECONDS", "1.5")
import run  # noqa: E402  (Server, client, Bench, port)
from benchlib import rotated  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
PER_MESSAGE = {"io_uring_enter", "epoll_wait", "epoll_pwait", "epoll_ctl", "read", "write", "readv",
               "writev", "recvfrom", "sendto", "recvmsg", "sendmsg", "recvmmsg", "sendmmsg"}


def servers(b):
    t = b.tether

    def tether(backend, **env):
        pre = ["env"] + [f"{k}={v}" for k, v in env.items()]
        return lambda p: pre + [t, "listen", "--echo", "-k", "--threads", "1", "--drain", "0",
                                "--backend", backend, "127.0.0.1", str(p)]

    s = {
        "tether-epoll": tether("epoll"),
        "tether-uring": tether("io_uring"),
        "tether-uring-defer": tether("io_uring", TETHER_URING_SETUP="defer"),
        "tether-uring-inline": tether("io_uring", TETHER_URING_SEND="inline"),
        "tether-uring-single": tether("io_uring", TETHER_URING_RECV="single"),
        "epoll": lambda p: [str(b.peers / "epoll_echo"), str(p)],
        "asio": lambda p: [str(b.peers / "asio_echo"), str(p)],
        "libuv": lambda p: [str(b.peers / "libuv_echo"), str(p)],
    }
    want = os.environ.get("URING_VARIANTS", "tether-epoll tether-uring tether-uring-defer tether-uring-single epoll asio libuv")
    s = {k: v for k, v in s.items() if k in want.split()}
    return s


def empty_syscall():
    exe = Path(tempfile.gettempdir()) / f"tether_empty_syscall_{os.getpid()}"
    subprocess.run(["cc", "-O2", "-o", str(exe), str(ROOT / "bench/syscall/empty_syscall.c")], check=True)
    try:
        r = subprocess.run(["taskset", "-c", run.SERVER_CPU, str(exe)], capture_output=True, text=True, check=True)
        return json.loads(r.stdout)
    finally:
        exe.unlink(missing_ok=True)


def strace_count(b, argv_of, conns, pipeline):
    """System calls per echoed message: the server under strace -c -f for one run."""
    p = run.port()
    with tempfile.NamedTemporaryFile(suffix=".strace", delete=False) as f:
        out = f.name
    argv = ["strace", "-c", "-f", "-o", out] + argv_of(p)
    with run.Server(argv, p) as srv:
        r, _ = run.client([b.tether, "bench", "rr", "127.0.0.1", str(p), "-c", str(conns), "-s", "64",
                           "-P", str(pipeline), "-t", str(run.SECONDS), "--warmup", "0", "-i", "0", "--json"])
        res = b.parse_json(r)
        # strace ignores SIGTERM while its command runs: stop the traced server (strace's child,
        # started by this script), then strace writes its table and exits.
        kids = Path(f"/proc/{srv.pid}/task/{srv.pid}/children").read_text().split()
        for k in kids:
            os.kill(int(k), signal.SIGTERM)
        try:
            srv.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    calls, per_msg_calls = 0, {}
    for line in Path(out).read_text().splitlines():
        f = line.split()
        if len(f) >= 5 and f[-1] != "total" and f[0][0].isdigit():
            n = int(f[3])
            calls += n
            if f[-1] in PER_MESSAGE:
                per_msg_calls[f[-1]] = n
    os.unlink(out)
    msgs = res.get("msgs_per_s", 0) * run.SECONDS
    per = {k: v / msgs for k, v in per_msg_calls.items()} if msgs else {}
    return {"msgs": msgs, "per_message": sum(per.values()) if msgs else None, "by_call": per,
            "all_calls": calls}


def main():
    b = run.Bench(str(ROOT / os.environ.get("BENCH_BUILD", "build/bench")))
    srv = servers(b)
    records = []
    es = empty_syscall()
    run.log(f"empty syscall: {es}")
    load_before = os.getloadavg()
    grid = [(c, 64, pl) for c in (100, 1000) for pl in (1, 16)]
    for rnd in range(ROUNDS):
        for conns, size, pipeline in grid:
            cfg = f"{conns} conns, {size} B, P{pipeline}"
            for name in rotated(srv, rnd):
                p = run.port()
                with run.Server(srv[name](p), p) as s:
                    res = b.rr(p, s, conns, size, pipeline)
                records.append(dict(config=cfg, server=name, round=rnd, **res))
                run.log(f"[{rnd + 1}/{ROUNDS}] {cfg:22s} {name:18s} {res.get('msgs_per_s', 0):10.0f} msgs/s "
                        f"{res.get('server_cpu_us_per_msg', -1):6.3f} us/msg")
    sc = {}
    for name in [n for n in srv if n != "asio" and n != "libuv"]:
        sc[name] = strace_count(b, srv[name], 1000, 16)
        run.log(f"strace {name}: {sc[name]['per_message']} syscalls/msg {sc[name]['by_call']}")
    meta = dict(rounds=ROUNDS, seconds=run.SECONDS, load_before=load_before, load_after=os.getloadavg(),
                empty_syscall=es, kernel=os.uname().release, cmdline_pti="pti" in Path("/proc/cmdline").read_text(),
                time=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    out = ROOT / "bench/results"
    stem = os.environ.get("URING_OUT", "uring")
    with open(out / f"{stem}.jsonl", "w") as f:
        f.write(json.dumps({"meta": meta}) + "\n")
        for r in records:
            f.write(json.dumps(r) + "\n")
        f.write(json.dumps({"strace": sc}) + "\n")
    write_md(meta, records, sc, srv, out / f"{stem}.md")
    run.log(f"wrote {out / (stem + '.md')}")


def write_md(meta, records, sc, srv, path):
    def med(cfg, name, key):
        v = [r[key] for r in records if r["config"] == cfg and r["server"] == name and r.get(key) is not None]
        return statistics.median(v) if v else None

    def spread(cfg, name):
        v = [r["msgs_per_s"] for r in records if r["config"] == cfg and r["server"] == name and r.get("msgs_per_s")]
        return (max(v) - min(v)) / statistics.median(v) * 100 if len(v) > 1 else 0

    cfgs = list(dict.fromkeys(r["config"] for r in records))
    names = list(srv)
    es = meta["empty_syscall"]["empty_syscall_ns_median"]
    L = ["# io_uring backend vs epoll and peers (bench/uring.py)", "",
         f"{meta['time']}, kernel {meta['kernel']}, {meta['rounds']} interleaved rounds x {meta['seconds']} s, "
         f"server CPU 0, client CPU 1, medians; load {meta['load_before'][0]:.2f} before, "
         f"{meta['load_after'][0]:.2f} after (2 cores shared with other work: expect +-10-20 %).",
         f"Empty system call (getppid, median of 7 x 1M): **{es:.0f} ns** "
         f"(min {meta['empty_syscall']['min']:.0f}, max {meta['empty_syscall']['max']:.0f}); pti on the command line: "
         f"{meta['cmdline_pti']}.", "",
         "msgs/s (spread max-min over median) | server CPU us per message", "",
         "| config | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for cfg in cfgs:
        cells = []
        for n in names:
            m, c = med(cfg, n, "msgs_per_s"), med(cfg, n, "server_cpu_us_per_msg")
            cells.append(f"{m:,.0f} ({spread(cfg, n):.0f} %) / {c:.3f}" if m and c is not None else "-")
        L.append(f"| {cfg} | " + " | ".join(cells) + " |")
    L += ["", "Ratios (same run): io_uring CPU/msg over the hand-written epoll server's (target <= 0.80), "
          "io_uring msgs/s over the best of epoll, Asio and libuv (target >= 1.10), tether-uring over tether-epoll:", "",
          "| config | variant | CPU/msg vs epoll | msgs/s vs best peer | msgs/s vs tether-epoll |", "|---|---|---|---|---|"]
    for cfg in cfgs:
        peers = [med(cfg, n, "msgs_per_s") for n in ("epoll", "asio", "libuv") if n in names]
        best = max([x for x in peers if x] or [0])
        for v in [n for n in names if n.startswith("tether-uring")]:
            m, c = med(cfg, v, "msgs_per_s"), med(cfg, v, "server_cpu_us_per_msg")
            ce, te = med(cfg, "epoll", "server_cpu_us_per_msg"), med(cfg, "tether-epoll", "msgs_per_s")
            f = lambda a, b_: f"{a / b_:.2f}" if a and b_ else "-"  # noqa: E731
            L.append(f"| {cfg} | {v} | {f(c, ce)} | {f(m, best)} | {f(m, te)} |")
    L += ["", "System calls per echoed message, 1000 conns x 64 B x P16, `strace -c -f` on the server "
          "(traced, so slower; per-message calls only):", "", "| server | syscalls/msg | by call |", "|---|---|---|"]
    for n, s in sc.items():
        by = ", ".join(f"{k} {v:.3f}" for k, v in sorted(s["by_call"].items(), key=lambda kv: -kv[1]))
        pm = f"{s['per_message']:.3f}" if s["per_message"] is not None else "-"
        L.append(f"| {n} | {pm} | {by} |")
    L += ["", f"Command: `BENCH_ROUNDS={meta['rounds']} BENCH_SECONDS={meta['seconds']} URING_VARIANTS=\"{' '.join(names)}\" "
          "python3 bench/uring.py` (after `cmake --build --preset bench`).", ""]
    path.write_text("\n".join(L))


if __name__ == "__main__":
    main()
