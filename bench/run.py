#!/usr/bin/env python3
"""make bench: runs tether and its peers side by side and writes bench/results/latest.{md,png,jsonl}.

Every measurement starts its server pinned to CPU 0 and its client pinned to CPU 1 (latency is also
measured with both on CPU 0), records one JSON line, and stops the server (only the processes this
script started are ever signalled). Rounds interleave the servers (A B C, A B C, ...), the order
rotating each round; report.py takes medians over rounds and ratios within the run.
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import report  # noqa: E402
from benchlib import Ports, listening, log, rotated  # noqa: E402  (uring.py: run.log, run.port)

QUICK = os.environ.get("BENCH_QUICK", "0") == "1"
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "1" if QUICK else "3"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "1" if QUICK else "3"))
WARMUP = 0.2 if QUICK else 0.5
ONLY = set(os.environ.get("BENCH_ONLY", "echo bulk transfer tls latency connect udp micro").split())
NCPU = os.cpu_count() or 1
SERVER_CPU, CLIENT_CPU = "0", ("1" if NCPU > 1 else "0")

port = Ports(21000)


class Server:
    """A server process pinned to a CPU; stopped (SIGTERM, then SIGKILL) on exit of the block."""

    def __init__(self, argv, p, proto="tcp", cpu=SERVER_CPU, stdout=subprocess.DEVNULL):
        self.argv, self.port, self.proto, self.cpu, self.stdout = argv, p, proto, cpu, stdout
        self.proc = None

    def __enter__(self):
        self.proc = subprocess.Popen(["taskset", "-c", self.cpu] + self.argv, stdin=subprocess.DEVNULL,
                                     stdout=self.stdout, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while not listening(self.port, self.proto):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.poll() is not None else ""
                self.__exit__(None, None, None)
                raise RuntimeError(f"server did not start: {' '.join(self.argv)}: {err.strip()}")
            time.sleep(0.01)
        return self

    @property
    def pid(self):
        return self.proc.pid

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return False


def client(argv, cpu=CLIENT_CPU, timeout=None, stdin=subprocess.DEVNULL):
    t0 = time.monotonic()
    r = subprocess.run(["taskset", "-c", cpu] + argv, stdin=stdin, capture_output=True,
                       timeout=timeout or SECONDS + 60)
    return r, time.monotonic() - t0


class Bench:
    def __init__(self, build):
        self.build = Path(build)
        self.tether = str(self.build / "tools/tether/tether")
        self.peers = self.build / "bench/peers"
        self.records = []
        helptext = subprocess.run([self.tether, "listen", "--help"], capture_output=True, text=True).stdout
        self.has = {flag: flag in helptext for flag in ("--echo", "--discard", "--threads", "--sockperf", "--drain")}

    def record(self, **rec):
        self.records.append(rec)

    def rr(self, p, server, conns, size, pipeline):
        r, _ = client([self.tether, "bench", "rr", "127.0.0.1", str(p), "-c", str(conns), "-s", str(size),
                       "-P", str(pipeline), "-t", str(SECONDS), "--warmup", str(WARMUP), "-i", "0", "--json",
                       "--server-pid", str(server.pid)])
        return self.parse_json(r)

    @staticmethod
    def parse_json(r):
        try:
            out = json.loads(r.stdout.decode().strip().splitlines()[0])
        except (ValueError, IndexError):
            out = {}
        out["exit"] = r.returncode
        if r.returncode != 0:
            out["stderr"] = r.stderr.decode(errors="replace").strip()[-300:]
        return out

    # ---- the echo servers -------------------------------------------------------------------
    def echo_servers(self, udp=False):
        servers = {}
        if self.has["--echo"]:
            argv = [self.tether, "listen", "--echo", "-k"] + (["-u"] if udp else [])
            if self.has["--threads"]:
                argv += ["--threads", "1"]  # one core, like every peer
            if self.has["--drain"]:
                argv += ["--drain", "0"]  # stop at once when the run is over
            servers["tether"] = lambda p: argv + ["127.0.0.1", str(p)]
        if udp:
            servers["epoll"] = lambda p: [str(self.peers / "epoll_echo"), str(p), "--udp"]
            return servers
        servers["epoll"] = lambda p: [str(self.peers / "epoll_echo"), str(p)]
        servers["asio"] = lambda p: [str(self.peers / "asio_echo"), str(p)]
        servers["libuv"] = lambda p: [str(self.peers / "libuv_echo"), str(p)]
        return servers

    def run_echo(self):
        servers = self.echo_servers()
        grid = [(c, s, pl) for c in (100, 1000) for s in (64, 1024) for pl in (1, 16)]
        for rnd in range(ROUNDS):
            for conns, size, pipeline in grid:
                cfg = f"{conns} conns, {size} B, P{pipeline}"
                for name in rotated(servers, rnd):
                    p = port()
                    with Server(servers[name](p), p) as srv:
                        res = self.rr(p, srv, conns, size, pipeline)
                    self.record(test="echo", config=cfg, server=name, round=rnd, **res)
                    log(f"echo  [{rnd + 1}/{ROUNDS}] {cfg:24s} {name:7s} {res.get('msgs_per_s', 0):12.0f} msgs/s"
                        f"  {res.get('server_cpu_us_per_msg', -1):6.2f} us/msg server cpu")

    def run_connect(self):
        servers = self.echo_servers()
        for rnd in range(ROUNDS):
            for name in servers:
                p = port()
                with Server(servers[name](p), p) as srv:
                    r, _ = client([self.tether, "bench", "connect", "127.0.0.1", str(p), "-c", "8", "--reset", "-t", str(SECONDS),
                                   "--warmup", str(WARMUP), "-i", "0", "--json", "--server-pid", str(srv.pid)])
                res = self.parse_json(r)
                self.record(test="connect", config="8 in flight, RST close", server=name, round=rnd, **res)
                log(f"connect [{rnd + 1}/{ROUNDS}] {name:7s} {res.get('conns_per_s', 0):10.0f} conns/s")

    def run_udp(self):
        servers = self.echo_servers(udp=True)
        for rnd in range(ROUNDS):
            for name in servers:
                p = port()
                with Server(servers[name](p), p, proto="udp") as srv:
                    r, _ = client([self.tether, "bench", "udp", "127.0.0.1", str(p), "-c", "4", "-s", "64",
                                   "-t", str(SECONDS), "--warmup", str(WARMUP), "-i", "0", "--json",
                                   "--server-pid", str(srv.pid)])
                res = self.parse_json(r)
                self.record(test="udp", config="4 flows, 64 B", server=name, round=rnd, **res)
                log(f"udp   [{rnd + 1}/{ROUNDS}] {name:7s} {res.get('received_per_s', 0):10.0f} received/s"
                    f"  loss {res.get('loss_percent', -1):.1f}%")

    # ---- bulk: tether bench stream -> tether discard, iperf3 -> iperf3 ------------------------------
    def run_bulk(self):
        secs = str(max(1, round(SECONDS)))
        for rnd in range(ROUNDS):
            for size in (1024, 16384, 131072):
                cfg = f"{size // 1024} KiB writes"
                p = port()
                if self.has["--discard"]:
                    sink = [self.tether, "listen", "--discard", "-k", "--threads", "1", "127.0.0.1", str(p)]
                else:  # the plain relay mode into /dev/null is tether's sink until --discard exists
                    sink = [self.tether, "listen", "-k", "127.0.0.1", str(p)]
                with Server(sink, p) as srv:
                    r, _ = client([self.tether, "bench", "stream", "127.0.0.1", str(p), "-s", str(size), "-t", secs,
                                   "--warmup", str(WARMUP), "-i", "0", "--json", "--server-pid", str(srv.pid)])
                res = self.parse_json(r)
                self.record(test="bulk", config=cfg, server="tether", round=rnd,
                            sink="discard" if self.has["--discard"] else "relay", **res)
                p = port()
                with Server(["iperf3", "-s", "-p", str(p)], p):
                    r, _ = client(["iperf3", "-c", "127.0.0.1", "-p", str(p), "-t", secs, "-l", str(size), "-J"])
                try:
                    gbit = json.loads(r.stdout)["end"]["sum_received"]["bits_per_second"] / 1e9
                except (ValueError, KeyError):
                    gbit = 0
                self.record(test="bulk", config=cfg, server="iperf3", round=rnd, gbit_per_s=gbit, exit=r.returncode)
                log(f"bulk  [{rnd + 1}/{ROUNDS}] {cfg:15s} tether {res.get('gbit_per_s', 0):6.2f}  iperf3 {gbit:6.2f} Gbit/s")

    # ---- file transfer: CLIENT < file into one sink -------------------------------------------------
    def run_transfer(self):
        mib = 128 if QUICK else 512
        path = self.build / "bench-transfer.bin"
        if not path.exists() or path.stat().st_size != mib << 20:
            block = os.urandom(1 << 20)
            with open(path, "wb") as f:
                for _ in range(mib):
                    f.write(block)
        clients = {
            "tether": lambda p: [self.tether, "connect", "127.0.0.1", str(p)],
            "ncat": lambda p: ["ncat", "--send-only", "127.0.0.1", str(p)],
            "nc": lambda p: ["nc", "-N", "127.0.0.1", str(p)],
            "socat": lambda p: ["socat", "-u", "STDIN", f"TCP:127.0.0.1:{p}"],
        }
        for rnd in range(ROUNDS):
            for name, argv in clients.items():
                if name != "tether" and not shutil.which(argv(0)[0]):
                    continue
                p = port()
                with Server([str(self.peers / "epoll_echo"), str(p), "--discard"], p):
                    with open(path, "rb") as f:
                        r, wall = client(argv(p), stdin=f)
                mbs = (mib * 1.048576) / wall if r.returncode == 0 else 0
                self.record(test="transfer", config=f"{mib} MiB file", server=name, round=rnd, mb_per_s=mbs,
                            seconds=wall, exit=r.returncode)
                log(f"file  [{rnd + 1}/{ROUNDS}] {name:7s} {mbs:8.0f} MB/s")

    # ---- TLS bulk: CLIENT < file into a TLS sink, the same cipher everywhere ------------------------
    def run_tls(self):
        """tether, openssl s_server/s_client and socat OPENSSL, each as client and server of a TLS
        transfer of one file; TLS 1.3 with TLS_AES_128_GCM_SHA256 forced on every side."""
        mib = 64 if QUICK else 256
        path = self.build / "bench-tls.bin"
        if not path.exists() or path.stat().st_size != mib << 20:
            block = os.urandom(1 << 20)
            with open(path, "wb") as f:
                for _ in range(mib):
                    f.write(block)
        cert, key = self.build / "bench-tls-cert.pem", self.build / "bench-tls-key.pem"
        if not cert.exists():
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                            "-keyout", str(key), "-out", str(cert), "-days", "30", "-subj", "/CN=localhost",
                            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], check=True, capture_output=True)
        suite = "TLS_AES_128_GCM_SHA256"
        env_cipher = {**os.environ, "OPENSSL_CONF": str(self.build / "bench-tls-openssl.cnf")}
        (self.build / "bench-tls-openssl.cnf").write_text(
            "openssl_conf = c\n[c]\nssl_conf = s\n[s]\nsystem_default = d\n[d]\nCiphersuites = " + suite + "\n")
        servers = {
            "tether": lambda p: [self.tether, "listen", "--tls", "--cert", str(cert), "--key", str(key), "--discard",
                                 "--threads", "1", "127.0.0.1", str(p)],
            "openssl": lambda p: ["openssl", "s_server", "-quiet", "-accept", f"127.0.0.1:{p}", "-cert", str(cert),
                                  "-key", str(key), "-ciphersuites", suite],
            "socat": lambda p: ["socat", "-u", f"OPENSSL-LISTEN:{p},bind=127.0.0.1,reuseaddr,fork,cert={cert},"
                                f"key={key},verify=0", "/dev/null"],
        }
        clients = {  # openssl s_client cannot be a client here: it exits at stdin's end before sending it
            "tether": lambda p: [self.tether, "connect", "--tls", "--ca", str(cert), "127.0.0.1", str(p)],
            "socat": lambda p: ["socat", "-u", "STDIN", f"OPENSSL:127.0.0.1:{p},verify=0"],
        }
        # Same server, different clients; same client, different servers.
        pairs = [("tether", "tether"), ("tether", "openssl"), ("socat", "openssl"), ("socat", "tether"),
                 ("socat", "socat")]
        for rnd in range(ROUNDS):
            for cli_name, srv_name in pairs:
                if not all(n == "tether" or shutil.which(n) for n in (cli_name, srv_name)):
                    continue
                p = port()
                with Server(servers[srv_name](p), p):
                    with open(path, "rb") as f:
                        t0 = time.monotonic()
                        r = subprocess.run(["taskset", "-c", CLIENT_CPU] + clients[cli_name](p), stdin=f,
                                           capture_output=True, timeout=120, env=env_cipher)
                        wall = time.monotonic() - t0
                mbs = (mib * 1.048576) / wall if r.returncode == 0 else 0
                who = f"{cli_name} -> {srv_name}"
                self.record(test="tls", config=f"{mib} MiB, {suite}", server=who, round=rnd, mb_per_s=mbs,
                            seconds=wall, exit=r.returncode)
                log(f"tls   [{rnd + 1}/{ROUNDS}] {who:18s} {mbs:8.0f} MB/s")

    # ---- latency: sockperf ping-pong against sockperf server and tether listen --sockperf -----------
    def run_latency(self):
        secs = str(max(1, round(SECONDS)))
        for rnd in range(ROUNDS):
            for proto in ("tcp", "udp"):
                for placement, cpus in (("cross-CPU", (SERVER_CPU, CLIENT_CPU)), ("same CPU", (SERVER_CPU, SERVER_CPU))):
                    for name in ("sockperf", "tether"):
                        p = port()
                        flag = ["--tcp"] if proto == "tcp" else []
                        if name == "sockperf":
                            argv = ["sockperf", "server", "-i", "127.0.0.1", "-p", str(p)] + flag
                        else:
                            argv = [self.tether, "listen", "--sockperf", "-k", "127.0.0.1", str(p)] + (["-u"] if proto == "udp" else [])
                        with Server(argv, p, proto=proto, cpu=cpus[0]):
                            r, _ = client(["sockperf", "ping-pong", "-i", "127.0.0.1", "-p", str(p), "-t", secs,
                                           "-m", "64"] + flag, cpu=cpus[1])
                        text = r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")
                        pct = {k: float(v) for k, v in re.findall(r"percentile (\d+\.\d+) =\s+([\d.]+)", text)}
                        res = {"p50_us": pct.get("50.000", 0), "p99_us": pct.get("99.000", 0),
                               "p999_us": pct.get("99.900", 0), "exit": r.returncode}
                        cfg = f"{proto.upper()} {placement}"
                        self.record(test="latency", config=cfg, server=name, round=rnd, **res)
                        log(f"lat   [{rnd + 1}/{ROUNDS}] {cfg:18s} {name:8s} p50 {res['p50_us']:7.2f}  p99 {res['p99_us']:7.2f} us")

    # ---- Google Benchmark micro-benchmarks of hot paths (bench/micro), on the client CPU ----------
    def run_micro(self):
        exe = self.build / "bench/tether_micro"
        if not exe.exists():
            raise RuntimeError(f"{exe} is missing")
        min_time = "0.05" if QUICK else "0.3"  # seconds (this Google Benchmark takes a plain number)
        r, _ = client([str(exe), "--benchmark_format=json", f"--benchmark_min_time={min_time}"], timeout=600)
        if r.returncode != 0:
            raise RuntimeError(f"tether_micro exit {r.returncode}: {r.stderr.decode(errors='replace')[-300:]}")
        for b in json.loads(r.stdout).get("benchmarks", []):
            if b.get("run_type", "iteration") != "iteration":
                continue
            scale = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}.get(b.get("time_unit", "ns"), 1.0)
            rec = {"cpu_ns": b["cpu_time"] * scale, "real_ns": b["real_time"] * scale}
            if b.get("items_per_second"):  # frames decoded, posts run, timers fired...
                rec["ns_per_item"] = 1e9 / b["items_per_second"]
            self.record(test="micro", config=b["name"], server="tether", round=0, **rec)
        log(f"micro: {sum(1 for x in self.records if x.get('test') == 'micro')} benchmarks")

    def run(self):
        steps = [("echo", self.run_echo), ("bulk", self.run_bulk), ("transfer", self.run_transfer), ("tls", self.run_tls),
                 ("latency", self.run_latency), ("connect", self.run_connect), ("udp", self.run_udp),
                 ("micro", self.run_micro)]
        for name, fn in steps:
            if name in ONLY:
                try:
                    fn()
                except (RuntimeError, subprocess.TimeoutExpired, OSError) as e:
                    log(f"{name}: {e}")
                    self.record(test=name, config="-", server="-", round=-1, error=str(e))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--build", default="build/bench")
    ap.add_argument("--out", default=str(ROOT / "bench/results"))
    args = ap.parse_args()
    for tool in ("taskset", "sockperf", "iperf3"):
        if not shutil.which(tool):
            sys.exit(f"bench: '{tool}' is missing: run scripts/install-deps.sh --bench")
    b = Bench(args.build)
    started = time.time()
    log(f"{'quick' if QUICK else 'full'} run: {ROUNDS} round(s), {SECONDS:g} s per measurement, "
        f"server on CPU {SERVER_CPU}, client on CPU {CLIENT_CPU}; tether modes: "
        + ", ".join(f for f, ok in b.has.items() if ok))
    load_before = os.getloadavg()
    b.run()
    meta = report.machine_description()
    meta.update(quick=QUICK, rounds=ROUNDS, seconds=SECONDS, warmup=WARMUP, elapsed_s=round(time.time() - started),
                load_before=load_before, load_after=os.getloadavg(), tether_modes=b.has,
                server_cpu=SERVER_CPU, client_cpu=CLIENT_CPU)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "latest.jsonl", "w") as f:
        f.write(json.dumps({"meta": meta}) + "\n")
        for rec in b.records:
            f.write(json.dumps(rec) + "\n")
    report.write(meta, b.records, out)
    log(f"done in {meta['elapsed_s']} s: {out / 'latest.md'}")


if __name__ == "__main__":
    main()
