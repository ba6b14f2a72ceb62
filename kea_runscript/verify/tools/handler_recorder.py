#!/usr/bin/python3
"""Smoke-test handler: the persistent handler (``"persistent": true``) beside recorder.py.

It reads the hook's records from stdin, each

    <hook point>\\0NAME=value\\0 ... NAME=value\\0\\0

and appends one JSON line per record to $SMOKE_RECORD (its own environment, from the entry's
``environment``), in recorder.py's format so that the same checks read both:

    {"argv": [<this file>, <hook point>], "env": {...}, "environ": ["NAME=value", ...],
     "pid": N, "ppid": N, "time": T, "handler": true}

``environ`` keeps the record's fields in their order; values are text decoded with UTF-8 +
surrogateescape, so ``.encode("utf-8", "surrogateescape")`` gives the record's bytes back.
What breaks the framing (a field without "=", a name twice, a partial record at end of
input) goes into ``errors`` of the line instead of being repaired.

Then it replies ``exit <code>`` (the line is on disk before the hook sees the reply): 0, or
$SMOKE_EXIT. For the run-time scenarios, variables of its environment name a client MAC
(KEA_QUERY4_HWADDR / KEA_QUERY6_HWADDR of the record) and what to do with its records:

    HANDLER_DROP_MAC   reply "exit 3"
    HANDLER_HANG_MAC   record it, then neither read nor reply again (a hung handler)
    HANDLER_EXIT_MAC   record it, then exit with status 7 without replying (a crash)

and HANDLER_DELAY_MS makes it take that long over each record before it replies (a slow,
healthy handler: the hook must not kill it for other events' waits).
HANDLER_ECHO names a variable whose value (the record's bytes) it writes to stderr, with a
newline, for each record that has it (what the hook logs of a handler's output).

and HANDLER_HELLO (any value) makes it write one line to stderr and one to stdout (outside
the protocol: not an "exit" reply) when it starts, which the hook logs.

It exits 0 at the end of its input (the hook closed the record pipe: unload or reload).
Several workers append to the same file: one write() per line under an exclusive lock.
"""

import fcntl
import json
import os
import sys
import time

EXIT_CRASH = 7


def text(b):
    return b.decode("utf-8", "surrogateescape")


def parse(fields):
    """A record's fields (bytes, the terminating empty one excluded) -> (point, environ, env, errors)."""
    errors = []
    point = text(fields[0]) if fields else ""
    environ, env = [], {}
    for f in fields[1:]:
        name, eq, value = f.partition(b"=")
        if not eq or not name:
            errors.append("field without NAME=: %r" % text(f))
        environ.append(text(f))
        key = text(name)
        if key in env:
            errors.append("variable %s twice" % key)
        env[key] = text(value)
    return point, environ, env, errors


class Handler:
    def __init__(self, environ=os.environ, out=1):
        self.path = environ.get("SMOKE_RECORD", "/smoke/records/handler.jsonl").encode("utf-8", "surrogateescape")
        self.code = int(environ.get("SMOKE_EXIT", "0"))
        self.drop = environ.get("HANDLER_DROP_MAC")
        self.hang = environ.get("HANDLER_HANG_MAC")
        self.crash = environ.get("HANDLER_EXIT_MAC")
        self.delay = int(environ.get("HANDLER_DELAY_MS", "0")) / 1000.0
        self.echo = environ.get("HANDLER_ECHO")
        self.out = out

    def write(self, point, environ, env, errors):
        line = {"argv": [os.path.abspath(__file__), point], "env": env, "environ": environ,
                "pid": os.getpid(), "ppid": os.getppid(), "time": time.time(), "handler": True}
        if errors:
            line["errors"] = errors
        data = (json.dumps(line, sort_keys=True) + "\n").encode("ascii")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, data)
        finally:
            os.close(fd)

    def record(self, fields):
        """One complete record: write it, then act on it; returns False to stop reading."""
        point, environ, env, errors = parse(fields)
        self.write(point, environ, env, errors)
        macs = {env.get("KEA_QUERY4_HWADDR"), env.get("KEA_QUERY6_HWADDR")} - {None}
        if self.crash and self.crash in macs:
            os._exit(EXIT_CRASH)
        if self.hang and self.hang in macs:
            while True:  # hung: the hook must time out, kill and restart this process
                time.sleep(3600)
        if self.echo and self.echo in env:
            os.write(2, env[self.echo].encode("utf-8", "surrogateescape") + b"\n")
        if self.delay:
            time.sleep(self.delay)
        code = 3 if self.drop and self.drop in macs else self.code
        os.write(self.out, b"exit %d\n" % code)
        return True

    def run(self, read):
        """Reads chunks with ``read()`` (b"" at the end) until the input ends."""
        buf, fields = b"", []
        while True:
            chunk = read()
            if not chunk:
                break
            buf += chunk
            *complete, buf = buf.split(b"\0")
            for f in complete:
                if f:
                    fields.append(f)
                else:
                    self.record(fields)
                    fields = []
        if fields or buf:
            self.write("?", [text(f) for f in fields] + ([text(buf)] if buf else []), {},
                       ["partial record at the end of the input"])


HELLO_ERR = "handler_recorder: hello on stderr"
HELLO_OUT = "handler_recorder: hello on stdout"


def main():
    if "HANDLER_HELLO" in os.environ:
        os.write(2, (HELLO_ERR + " (pid %d)\n" % os.getpid()).encode())
        os.write(1, (HELLO_OUT + " (pid %d)\n" % os.getpid()).encode())
    Handler().run(lambda: os.read(0, 65536))
    return 0


if __name__ == "__main__":
    sys.exit(main())
