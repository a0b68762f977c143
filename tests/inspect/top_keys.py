#!/usr/bin/env python3
"""Drives `tether top` in a pseudo-terminal: each key must change the next frame's header.
usage: top_keys.py TETHER PORT   Exit 0 when every key acted and q ended top with status 0.
"""
import os
import pty
import select
import sys
import time


def main():
    tether, port = sys.argv[1], sys.argv[2]
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(tether, [tether, "top", "-d", "0.1", "-t", "--port", port])
    seen = b""
    deadline = time.monotonic() + 20

    def wait_for(text):
        nonlocal seen
        while time.monotonic() < deadline:
            at = seen.rfind(b"\x1b[H\x1b[2J")  # the last frame's start
            if at >= 0 and text in seen[at:] and b"\n" in seen[at:]:
                return True
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                try:
                    seen += os.read(fd, 65536)
                except OSError:
                    break
        print(f"no frame with {text!r}; last output: {seen[-600:]!r}")
        return False

    steps = [(None, b"sort: rate"), (b"s", b"sort: rtt"), (b"r", b"sort: rtt (reversed)"), (b" ", b"[paused]")]
    for key, text in steps:
        if key is not None:
            os.write(fd, key)
        if not wait_for(text):
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            return 1
    os.write(fd, b"q")
    for _ in range(200):  # bounded: at most 20 s
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(status)
            print(f"top exited with {code}")
            return 0 if code == 0 else 1
        try:
            select.select([fd], [], [], 0.1)
            os.read(fd, 65536)
        except OSError:
            time.sleep(0.1)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    print("q did not end top")
    return 1


if __name__ == "__main__":
    sys.exit(main())
