#!/usr/bin/python3
"""Smoke-test recorder: the script kea-hook-runscript calls at every hook point.

Appends one JSON line per call to $SMOKE_RECORD (default /smoke/records/default.jsonl, or
/smoke/records/<name>.jsonl for a copy named <name>.py):

    {"argv": [...], "env": {...}, "environ": ["NAME=value", ...], "pid": N, "ppid": N, "time": T}

(``environ``: the environment in the order the hook passed it, which the persistent handler's
records must follow, see handler_recorder.py.)

argv and env are read from /proc/self/cmdline and /proc/self/environ: the exact bytes the hook
passed to execve, before Python's start-up touched anything (it may add LC_CTYPE when it
coerces the C locale). They are stored as text decoded with UTF-8 + surrogateescape: ``value.encode("utf-8", "surrogateescape")`` gives the
exact bytes back, whatever the hook passed. The line is written with one write() under an
exclusive lock, so concurrent calls (wait: false, multi-threaded Kea) never interleave.
It needs no PATH (the hook passes only KEA_* variables and the configured `environment`).
"""

import fcntl
import json
import os
import sys
import time


def text(b):
    return b.decode("utf-8", "surrogateescape")


def main():
    with open("/proc/self/environ", "rb") as f:
        raw_env = f.read()
    with open("/proc/self/cmdline", "rb") as f:
        raw_argv = f.read()
    env, environ = {}, []
    for item in raw_env.split(b"\0"):
        if item:
            key, _, value = item.partition(b"=")
            env[text(key)] = text(value)
            environ.append(text(item))
    # cmdline is the interpreter's: python3 <this file> <hook point>; keep from this file on.
    argv = [text(a) for a in raw_argv.split(b"\0")[:-1]]
    if len(argv) >= 2 and argv[1].endswith("recorder.py"):
        argv = argv[1:]
    record = {"argv": argv, "env": env, "environ": environ, "pid": os.getpid(), "ppid": os.getppid(),
              "time": time.time()}
    line = (json.dumps(record, sort_keys=True) + "\n").encode("ascii")
    # No SMOKE_RECORD (a 1.4-style configuration, or ISC's dialect, whose environment holds
    # only the hook's variables): a copy of this file named <name>.py records to <name>.jsonl.
    stem = os.path.basename(argv[0]).rsplit(".", 1)[0] if argv else "recorder"
    default = "/smoke/records/" + ("default" if stem == "recorder" else stem) + ".jsonl"
    path = env.get("SMOKE_RECORD", default).encode("utf-8", "surrogateescape")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, line)
    finally:
        os.close(fd)
    # Exit status is what the hook logs; a non-zero one would show in Kea's log.
    return int(env.get("SMOKE_EXIT", "0"))


if __name__ == "__main__":
    sys.exit(main())
