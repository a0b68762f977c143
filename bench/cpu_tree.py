#!/usr/bin/env python3
"""CPU time of a whole process tree, exactly: runs COMMAND as a child subreaper, passes SIGTERM and
SIGINT on to it, and once it has exited reaps every descendant left (forked children that
outlived it are re-parented here) before writing the tree's user+system seconds
(getrusage(RUSAGE_CHILDREN): every waited-for descendant, threads included) to OUT as JSON.

  bench/cpu_tree.py OUT -- COMMAND [ARGS...]

Used by bench/relay_bench.py so that socat's forks, the splice relay's threads and tether's loops
are all counted the same way (issue 11)."""
import ctypes
import json
import os
import resource
import signal
import sys

PR_SET_CHILD_SUBREAPER = 36


def main():
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        sys.exit("usage: cpu_tree.py OUT -- COMMAND [ARGS...]")
    out, argv = sys.argv[1], sys.argv[3:]
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.exit("cpu_tree: prctl(PR_SET_CHILD_SUBREAPER) failed")
    pid = os.fork()
    if pid == 0:
        os.execvp(argv[0], argv)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda s, _f: os.kill(pid, s))
    status = None
    while True:  # every descendant, the command first or last
        try:
            child, st = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        if child == pid:
            status = st
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(out, "w") as f:
        json.dump({"user_s": ru.ru_utime, "sys_s": ru.ru_stime, "cpu_s": ru.ru_utime + ru.ru_stime}, f)
    code = os.waitstatus_to_exitcode(status) if status is not None else 1
    sys.exit(0 if code == -signal.SIGTERM else code)


if __name__ == "__main__":
    main()
