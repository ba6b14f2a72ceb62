#!/usr/bin/python3
"""A kea-hook-runscript handler ("persistent": true) in Python: for every event it appends the
hook point and the event's variables to $HANDLER_LOG (else stderr, which goes to Kea's log) and
replies "exit 0" (a reply "exit 3" would make `exit-codes` {"3": ...} apply). Records are bytes,
never decoded: values need not be UTF-8. Python 3.5+."""
import os
import sys

os.umask(0o077)                                        # the log holds clients' data
log = open(os.environ.get("HANDLER_LOG", "/dev/stderr"), "ab", buffering=0)
buf = b""
while True:
    chunk = sys.stdin.buffer.read1(65536)
    if not chunk:
        break                                          # stdin closed: Kea unloads, we exit
    *records, buf = (buf + chunk).split(b"\0\0")       # no field is empty: \0\0 ends a record
    entries = []                                       # (the last piece is not complete yet)
    for record in records:
        point, *variables = record.split(b"\0")        # the hook point, then NAME=value strings
        entries.append(b"== " + point + b"\n" + b"".join(v + b"\n" for v in variables))
    if records:
        log.write(b"".join(entries))                   # one write: workers' entries stay whole
        sys.stdout.write("exit 0\n" * len(records))    # one reply per record, in order,
        sys.stdout.flush()                             # at once: a synchronous Kea is waiting
