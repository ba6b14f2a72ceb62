#!/usr/bin/python3
"""A kea-hook-runscript handler ("persistent": true) in Python: for every event it appends the
hook point and the event's variables to $HANDLER_LOG (else stderr, which goes to Kea's log) and
replies "exit 0". Records are bytes, never decoded: values need not be UTF-8. Python 3.5+."""
import os
import sys

os.umask(0o077)                                   # the log holds clients' data
log = open(os.environ.get("HANDLER_LOG", "/dev/stderr"), "ab")
buf = b""
while True:
    chunk = sys.stdin.buffer.read1(65536)
    if not chunk:
        break                                     # stdin closed: Kea unloads, we exit
    buf += chunk
    end = buf.find(b"\0\0")                       # no field is empty, so \0\0 ends a record
    while end >= 0:
        point, *variables = buf[:end].split(b"\0")  # the hook point, then NAME=value strings
        buf = buf[end + 2:]
        log.write(b"== " + point + b"\n" + b"".join(v + b"\n" for v in variables))
        log.flush()                               # one write: entries of workers stay whole
        sys.stdout.write("exit 0\n")              # the reply; "exit 3" -> exit-codes "3"
        sys.stdout.flush()                        # at once: a synchronous Kea is waiting
        end = buf.find(b"\0\0")
