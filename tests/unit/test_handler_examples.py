"""The example handlers (examples/handlers/) speak the handler mode's protocol: fed records made
by kea_runscript.handler_records, as the hook starts them (argv = the program alone, an
environment of only what `environment` gives), each replies once per record, never before the
record is complete, keeps every byte of every value, and exits when its stdin closes.

No Kea here: the programs run as plain subprocesses. The Go one is built with the `go` that
bootstrap.sh installs (golang-go), the C one with the machine's C compiler."""

from __future__ import annotations

import os
import select
import shutil
import socket
import subprocess
import threading
import time

import pytest

from kea_runscript import ROOT
from kea_runscript.handler_records import encode_record, parse_reply

from .test_handler_records import HOSTILE

EXAMPLES = ROOT / "examples" / "handlers"
LOGGING = ["sh", "py", "go"]  # the ones that log what they got ($HANDLER_LOG, else stderr)
BOUND = 20  # seconds: a reply or an exit that takes longer is missing, not slow

BIG = b"KEA_BIG=" + bytes((i % 255) + 1 for i in range(100_000))  # every byte but NUL, 100 kB
LEASE = [b"KEA_QUERY4_TYPE=DHCPREQUEST", b"KEA_QUERY4_HWADDR=00:00:5e:00:53:01",
         b"KEA_FAKE_ALLOCATION=0", b"KEA_LEASE4_ADDRESS=192.0.2.10", b"KEA_LEASE4_HOSTNAME="]
RECORDS = [("load", []), ("lease4_select", LEASE), ("pkt4_receive", HOSTILE),
           ("lease6_renew", [BIG, b"KEA_AFTER_BIG=1"]), ("unload", [])]


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    assert path, f"`{name}` is missing: run ./bootstrap.sh as root (it installs {package})"
    return path


@pytest.fixture(scope="module")
def programs(tmp_path_factory):
    """Each example as the hook would run it: one executable path."""
    out = tmp_path_factory.mktemp("handlers")
    go = _tool("go", "golang-go")
    subprocess.run([go, "build", "-o", str(out / "handler-go"), "handler.go"], cwd=EXAMPLES,
                   check=True, capture_output=True, timeout=300)
    cc = _tool("cc", "gcc")
    subprocess.run([cc, "-O2", "-Wall", "-Wextra", "-Werror", "-o", str(out / "handler-c"),
                    "handler.c"], cwd=EXAMPLES, check=True, capture_output=True, timeout=120)
    return {"sh": str(EXAMPLES / "handler.sh"), "py": str(EXAMPLES / "handler.py"),
            "go": str(out / "handler-go"), "c": str(out / "handler-c")}


class Handler:
    """One running handler: write bytes to its stdin, read reply lines from its stdout. Its
    stdin is one end of a UNIX stream socket pair, as the hook gives it (not a pipe)."""

    def __init__(self, program: str, env: dict):
        self.records, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        with theirs:
            self.p = subprocess.Popen([program], stdin=theirs.fileno(), stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, env=env, close_fds=True)
        self._out = b""
        self.stderr = b""
        self._err = threading.Thread(target=self._drain_stderr, daemon=True)
        self._err.start()

    def _drain_stderr(self):
        self.stderr = self.p.stderr.read()

    def send(self, data: bytes):
        self.records.sendall(data)

    def replies(self, n: int) -> list:
        """The next n reply lines, parsed; fails past BOUND."""
        deadline = time.monotonic() + BOUND
        fd = self.p.stdout.fileno()
        while self._out.count(b"\n") < n:
            left = deadline - time.monotonic()
            got = self._out.count(b"\n")
            assert left > 0 and select.select([fd], [], [], left)[0], \
                f"{got} of {n} replies within {BOUND} s"
            chunk = os.read(fd, 65536)
            assert chunk, f"stdout closed after {self._out!r} (stderr {self.stderr[-300:]!r})"
            self._out += chunk
        lines = self._out.split(b"\n")
        self._out = b"\n".join(lines[n:])
        return [parse_reply(line) for line in lines[:n]]

    def quiet(self, seconds: float) -> bool:
        """Nothing on stdout for that long: no early reply."""
        return not self._out and not select.select([self.p.stdout], [], [], seconds)[0]

    def close(self) -> int:
        """Close stdin (what the hook does at unload) and wait for the exit."""
        self.records.close()
        rc = self.p.wait(timeout=BOUND)
        self._err.join(timeout=BOUND)
        assert os.read(self.p.stdout.fileno(), 65536) == b"" and not self._out, "replies left over"
        return rc


def _entries(records) -> bytes:
    """What the logging examples write: "== <point>" then one line per variable."""
    return b"".join(b"== " + p.encode() + b"\n" + b"".join(v + b"\n" for v in vars)
                    for p, vars in records)


def _start(programs, kind, tmp_path, log=True):
    env = {"HANDLER_LOG": str(tmp_path / "events.log")} if log else {}
    return Handler(programs[kind], env)


@pytest.mark.parametrize("kind", LOGGING)
def test_pipelined_records_get_one_reply_each_and_every_byte_reaches_the_log(programs, kind, tmp_path):
    """As with `wait: false`: records written back to back, from a thread (the 100 kB one
    fills the pipe), replies read meanwhile."""
    records = RECORDS + [("lease4_renew", LEASE)] * 300
    h = _start(programs, kind, tmp_path)
    writer = threading.Thread(target=h.send, args=(b"".join(encode_record(p, v) for p, v in records),))
    writer.start()
    assert h.replies(len(records)) == [0] * len(records)
    writer.join(timeout=BOUND)
    assert h.close() == 0, h.stderr
    assert (tmp_path / "events.log").read_bytes() == _entries(records)
    assert h.stderr == b""
    assert (tmp_path / "events.log").stat().st_mode & 0o777 == 0o600, "the log holds clients' data"


@pytest.mark.parametrize("kind", LOGGING + ["c"])
def test_a_reply_comes_only_when_its_record_is_complete(programs, kind, tmp_path):
    """As with `wait: true`: one record, its reply, the next; each record arrives in pieces
    (every byte its own write) and the last NUL alone, after a pause that would show an early
    reply."""
    h = _start(programs, kind, tmp_path)
    small = [r for r in RECORDS if BIG not in r[1]]
    for point, vars in small:
        data = encode_record(point, vars)
        for i in range(len(data) - 1):
            h.send(data[i:i + 1])
        assert h.quiet(0.3), f"{kind} replied before the end of the {point} record"
        h.send(b"\0")
        assert h.replies(1) == [0]
    assert h.close() == 0, h.stderr
    if kind in LOGGING:
        assert (tmp_path / "events.log").read_bytes() == _entries(small)


@pytest.mark.parametrize("kind", LOGGING + ["c"])
def test_a_read_may_end_anywhere_in_a_record(programs, kind, tmp_path):
    """Two records written in two pieces, cut at each position in turn, with a pause between
    the pieces so the handler's read ends at the cut: a NUL ending a field and the NUL ending
    the record may then arrive in different reads."""
    h = _start(programs, kind, tmp_path)
    pair = [("p", [b"A=x", b"B="]), ("load", [])]
    data = b"".join(encode_record(p, v) for p, v in pair)
    for cut in range(1, len(data)):
        h.send(data[:cut])
        time.sleep(0.01)
        h.send(data[cut:])
        assert h.replies(2) == [0, 0], cut
    assert h.close() == 0, h.stderr
    if kind in LOGGING:
        assert (tmp_path / "events.log").read_bytes() == _entries(pair * (len(data) - 1))


def test_the_c_handler_answers_thousands_of_records_sent_at_once(programs, tmp_path):
    """More records in one read than its reply buffer holds (1024 replies)."""
    n = 5000
    h = _start(programs, "c", tmp_path, log=False)
    writer = threading.Thread(target=h.send, args=(encode_record("lease4_renew", LEASE) * n,))
    writer.start()
    assert h.replies(n) == [0] * n
    writer.join(timeout=BOUND)
    assert h.close() == 0
    assert h.stderr == b""


@pytest.mark.parametrize("kind", LOGGING)
def test_without_a_log_file_the_entries_go_to_stderr(programs, kind, tmp_path):
    """stderr is what the hook puts into Kea's log: the default for an operator trying one."""
    h = _start(programs, kind, tmp_path, log=False)
    h.send(encode_record("lease4_select", LEASE))
    assert h.replies(1) == [0]
    assert h.close() == 0
    assert h.stderr == _entries([("lease4_select", LEASE)])


def test_the_go_example_is_gofmt_clean():
    gofmt = _tool("gofmt", "golang-go")
    p = subprocess.run([gofmt, "-l", str(EXAMPLES / "handler.go")], capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout == "", p.stdout + p.stderr


def test_the_scripts_are_executable_with_absolute_interpreters():
    """The hook executes the program itself, with no PATH: its #! line must be absolute."""
    for name in ("handler.sh", "handler.py"):
        path = EXAMPLES / name
        assert os.access(path, os.X_OK), name
        first = path.read_text().splitlines()[0]
        assert first.startswith("#!/"), (name, first)


def test_bootstrap_installs_what_these_tests_build_with(tmp_path):
    """A fresh machine (CI's) gets go and a C compiler from bootstrap.sh, so nothing here is
    skipped for want of them."""
    from .test_containers_bootstrap import dry_run
    p = dry_run(tmp_path, docker="exit 0", dockerd=True)  # stubs: no go, no cc on that PATH
    assert p.returncode == 0, p.stderr
    assert "install golang-go: no go" in p.stdout and "install gcc: no C compiler" in p.stdout, p.stdout


def test_bash_keeps_every_byte_under_a_utf8_locale(programs, tmp_path):
    """An operator may give the handler LANG/LC_ALL in `environment`: bash's read then knows
    multibyte characters, and invalid sequences must still pass unchanged."""
    records = [("pkt4_receive", HOSTILE + [b"KEA_BAD_UTF8=\xc3\xa9\xff\xfe\xc3\xe2\x82"])]
    h = Handler(programs["sh"], {"HANDLER_LOG": str(tmp_path / "events.log"), "LC_ALL": "C.UTF-8"})
    h.send(b"".join(encode_record(p, v) for p, v in records))
    assert h.replies(1) == [0]
    assert h.close() == 0, h.stderr
    assert (tmp_path / "events.log").read_bytes() == _entries(records)


def test_the_smokes_comparison_of_handler_and_debug_sh_logs(tmp_path):
    """The smoke test runs the example handlers beside debug.sh in a real Kea and compares
    their logs (smoke_examples.compare_handler_logs). Here: debug.sh run as the hook runs a
    script, handler.sh fed the same events, a multi-line value; equal, then one event missing
    and one byte changed are reported."""
    from kea_runscript.verify.examples import compare_handler_logs
    events = [("lease4_select", LEASE + [b"KEA_LEASE4_DEBUG=Address: 192.0.2.10\nValid life: 3600\n"]),
              ("pkt4_receive", LEASE[:2]), ("lease4_select", LEASE), ("lease6_renew", [b"KEA_X=1"])]
    debug_log = tmp_path / "debug.log"
    for point, vars in events:
        env = dict(v.decode().split("=", 1) for v in vars)
        subprocess.run([str(ROOT / "examples" / "debug.sh"), point], env={**env, "DEBUG_LOG": str(debug_log)},
                       check=True, timeout=BOUND)
    handler_log = tmp_path / "handler.log"  # a dhcp4 handler: no lease6_renew
    subprocess.run([str(EXAMPLES / "handler.sh")], input=b"".join(encode_record(p, v) for p, v in events[:3]),
                   env={"HANDLER_LOG": str(handler_log)}, check=True, capture_output=True, timeout=BOUND)
    debug, handler = debug_log.read_text(), handler_log.read_text()
    points = {4: ["pkt4_receive", "lease4_select"], 6: ["lease6_renew"]}
    assert compare_handler_logs(debug, {("handler.sh", 4): handler}, points) == []
    assert compare_handler_logs(debug, {("handler.sh", 4): handler.replace("== pkt4_receive\n", "== x\n")},
                                points)
    changed = handler.replace("Valid life: 3600", "Valid life: 3601")
    [problem] = compare_handler_logs(debug, {("handler.sh", 4): changed}, points)
    assert "missing 1" in problem and "extra 1" in problem and "3601" in problem
