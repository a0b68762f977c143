"""Process helpers shared by the bench scripts (relay_bench.py, tls_echo.py; run.py and uring.py
take listening(), log() and rotated()): ports, waiting for a server to listen, stopping it, and the
order servers take in a round.

Servers are found listening through /proc/net (no connection is made to them, so none sees a probe).
"""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


class Ports:
    """port() hands out base + pid % 2000 + 1, + 2, ...: each script its own range, each run its own."""

    def __init__(self, base):
        self._next = base + os.getpid() % 2000

    def __call__(self):
        self._next += 1
        return self._next


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def listening(p, proto="tcp"):
    """True when something listens on (TCP) or is bound to (UDP) local port p."""
    files = ["/proc/net/tcp", "/proc/net/tcp6"] if proto == "tcp" else ["/proc/net/udp", "/proc/net/udp6"]
    want = f":{p:04X}"
    for f in files:
        try:
            for line in Path(f).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[1].endswith(want) and (proto == "udp" or fields[3] == "0A"):
                    return True
        except OSError:
            pass
    return False


def start(argv, p, cpu, stderr=subprocess.DEVNULL):
    """Starts argv pinned to `cpu` and waits (10 s at most) until it listens on TCP port p."""
    proc = subprocess.Popen(["taskset", "-c", cpu] + argv, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=stderr)
    deadline = time.monotonic() + 10
    while not listening(p):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop(proc)
            raise RuntimeError("did not start: " + " ".join(argv))
        time.sleep(0.01)
    return proc


def stop(proc):
    """SIGTERM, then SIGKILL after 5 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def rotated(items, k):
    """items as a list, starting at k % len: round k of an interleaved benchmark runs them in this order."""
    items = list(items)
    return items[k % len(items):] + items[:k % len(items)]
