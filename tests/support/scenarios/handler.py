"""Scenario 18: persistent handlers (issue 14) under faults, in one run of kea-dhcp4.

Three entries of ``scripts`` run side by side (multi-threaded Kea, 4 threads):

* ``exec``: the exec recorder, synchronous at pkt4_receive and lease4_select, for the hostile
  client only (a shell filter in front of it): what an exec script gets, to compare with;
* ``sync``: the handler recorder (smoke_tools/handler_recorder.py) behind a shell wrapper that
  exits 7 at start while a flag file exists; persistent, 2 workers, synchronous,
  ``timeout`` 1 s, ``on-failure: skip``, ``exit-codes: {"3": "skip"}``, at load, unload,
  pkt4_receive and lease4_select. It replies ``exit 3`` for one client, hangs on another and
  exits 7 on a third (its HANDLER_* environment);
* ``never``: a handler that never reads (a shell running ``sleep``), asynchronous,
  ``queue: 4``, ``timeout`` 2 s, at every DHCPv4 packet hook point.

Phases, each judged on its own (problems start with the phase's name):

control        a client gets a lease; the sync handler recorded it.
fds and output each handler has fds 0, 1 and 2 only (streams); a line on its stderr and one on its
               stdout that is no reply reach Kea's log (RUNSCRIPT_HANDLER_OUTPUT).
hostile bytes  option 12 and option 60 with a newline, shell text and bytes 0x01-0xff: the
               handler's records for that client are the exec script's environment, byte for
               byte (checks.compare_handler; the order is the smoke test's), every event.
exit codes     the handler replies ``exit 3`` for a client: no OFFER (drop), logged.
hang (sync)    under perfdhcp, the handler stops reading on a client's record: that event
               fails within timeout + DEADLINE_ALLOWANCE_S (RUNSCRIPT_HANDLER_TIMEOUT), the client is
               dropped (on-failure), the hung process is killed, a new one serves; perfdhcp
               keeps getting ACKs.
queue full     (async, the same perfdhcp run) the never-reading handler's queue fills: drops
               counted in RUNSCRIPT_HANDLER_QUEUE_FULL, logged at most once a second; Kea's
               answers are unaffected; the handler that took no byte for its timeout is killed
               and restarted.
crash          the handler exits 7 on a client's record (that client is dropped), then one is
               killed with SIGKILL: RUNSCRIPT_HANDLER_EXITED and _RESTART each time, and the
               next client is served again.
restart gap    both workers killed while the wrapper cannot start (flag): restarts with
               backoff (not a busy loop), a client in the gap is dropped at once (on-failure,
               no timeout), and once the flag is gone the handlers are back and serve.
zombies        no zombie below Kea, sampled after the crashes and after the reload.
reload         SIGHUP under perfdhcp: RUNSCRIPT_LOADED within drain + timeout + 1 s, the old
               handlers (the never-reading one needs the SIGKILL after the drain) gone, new
               ones running, unload and load records, a client served after.
stop           SIGTERM under perfdhcp: Kea gone within drain + timeout + 1 s, no handler
               process left anywhere.
"""

from __future__ import annotations

import re
import shlex
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Dict, List, Optional

from kea_runscript.model import catalogue
from kea_runscript.verify import checks, testnet
from .bounds import DEADLINE_ALLOWANCE_S, EMULATED_EXIT_CAP_S
from .failures import HOSTNAME_BYTES
from .runtime import C_RT_OUT, MT4, Outcome, Runtime, timed
from .teardown import gone, signal_and_time

#: Bytes a client controls in option 60: everything but NUL (a value never holds one).
OPTION60_BYTES = bytes(range(1, 256))
DRAIN_S = 1
QUEUE = 4
WORKERS = 2

MAC_OK = "02:00:00:00:14:01"
MAC_HOSTILE = "02:00:00:00:14:02"
MAC_DROP = "02:00:00:00:14:03"
MAC_HANG = "02:00:00:00:14:04"
MAC_CRASH = "02:00:00:00:14:05"
MAC_AFTER_CRASH = "02:00:00:00:14:06"
MAC_AFTER_KILL = "02:00:00:00:14:07"
MAC_GAP = "02:00:00:00:14:08"
MAC_AFTER_GAP = "02:00:00:00:14:09"
MAC_AFTER_RELOAD = "02:00:00:00:14:0a"

HANDLER = "RUNSCRIPT_HANDLER_"
PHASES = ("control", "fds and output", "hostile bytes", "exit codes", "hang (sync)", "queue full (async)", "crash",
          "restart gap", "zombies", "reload", "stop")


def is_sync_handler(p: dict) -> bool:
    return any(a.endswith("handler_recorder.py") for a in p["cmdline"])


def is_never_reader(p: dict) -> bool:
    return any(a.endswith("hnd-never.sh") for a in p["cmdline"]) or p["cmdline"] == ["sleep", "100000"]


def alive(procs: List[dict], which) -> List[dict]:
    return [p for p in procs if which(p) and p["state"] != "Z"]


def kea_time(line: str, utc_offset: timedelta) -> Optional[float]:
    """The time (epoch seconds) of one of Kea's log lines (``2026-11-30 10:00:00.123 ...``,
    the container's local time)."""
    m = re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)", line)
    if not m:
        return None
    local = datetime.strptime(m.group(1)[:26], "%Y-%m-%d %H:%M:%S.%f")
    return (local - utc_offset).replace(tzinfo=timezone.utc).timestamp()


def parse_utc_offset(text: str) -> timedelta:
    """``date +%z`` (e.g. ``+0000``, ``-0130``) -> the offset."""
    m = re.search(r"([+-])(\d\d)(\d\d)", text)
    if not m:
        return timedelta(0)
    sign = -1 if m.group(1) == "-" else 1
    return sign * timedelta(hours=int(m.group(2)), minutes=int(m.group(3)))


def dropped_counts(lines: List[str]) -> List[int]:
    """The count of each RUNSCRIPT_HANDLER_QUEUE_FULL line: its last number."""
    out = []
    for line in lines:
        text = line.split("RUNSCRIPT_HANDLER_QUEUE_FULL", 1)[-1]
        nums = re.findall(r"\b\d+\b", text)
        if nums:
            out.append(int(nums[-1]))
    return out


def max_per_second(times: List[float], window: float = 0.95) -> int:
    """The most of ``times`` (seconds) inside any ``window``: a line a second, logged by a
    timer, may come a few milliseconds early by the log's clock."""
    times = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def backoff_restarts_allowed(seconds: float, workers: int) -> int:
    """The most restarts ``workers`` handlers failing at start can have in ``seconds`` with the
    contract's backoff (first at once, then 0.1 s doubling): far from a busy loop's hundreds."""
    n, t, delay = 1, 0.0, 0.1
    while t + delay <= seconds:
        t += delay
        delay = min(delay * 2, 10.0)
        n += 1
    return workers * (n + 3)


def settled_records(rt: Runtime, exec_path: str, handler_path: str, mac: str, seconds: float = 3.0):
    """The exec script's records and the handler's records of client ``mac``, re-read until the
    handler has as many as the exec script or ``seconds`` passed: (execs, hands, lines that are
    no JSON, number of reads)."""
    end, reads = time.monotonic() + seconds, 0
    while True:
        execs, every = rt.tn.read_records(exec_path), rt.tn.read_records(handler_path)
        reads += 1
        hands = [r for r in every if r.get("env", {}).get("KEA_QUERY4_HWADDR") == mac]
        if len(hands) >= len(execs) or time.monotonic() >= end:
            unreadable = [r["error"] for r in execs + every if "error" in r]
            return execs, hands, unreadable, reads
        time.sleep(0.2)


def _in_time_order(execs: List[dict], hands: List[dict]) -> List[tuple]:
    both = [("e", r) for r in execs] + [("h", r) for r in hands]
    return [(side, r["argv"][1] if len(r.get("argv", [])) > 1 else "?")
            for side, r in sorted(both, key=lambda x: x[1].get("time", 0.0))]


def interleaving(execs: List[dict], hands: List[dict]) -> List[str]:
    return [f"{side}:{point}" for side, point in _in_time_order(execs, hands)]


def alternates(execs: List[dict], hands: List[dict]) -> bool:
    """One client's events, the exec entry before the handler entry, both waited for: by their
    write times the records go exec, handler, exec, handler ... with each pair at one hook point."""
    seq = _in_time_order(execs, hands)
    if len(seq) % 2:
        return False
    return all(seq[i][0] == "e" and seq[i + 1][0] == "h" and seq[i][1] == seq[i + 1][1]
               for i in range(0, len(seq), 2))


class HandlerFaults:
    """Scenario 18 in one kea-dhcp4 run (the module's docstring): the configuration, the helpers
    every phase uses, and one method per phase, in order."""

    def __init__(self, rt: Runtime):
        self.rt = rt
        self.o = Outcome("handler-faults")
        self.tag = "hnd"
        self.timeout = 4 if rt.emulated else 1  # an emulated Python handler takes seconds to start (load)
        self.teardown_bound = DRAIN_S + self.timeout + DEADLINE_ALLOWANCE_S
        self.quiet = 6 if rt.emulated else 2  # how long a client waits for an answer that must not come
        self.rate = rt.rate(50)
        self.exec_rec, self.hnd_rec = f"{C_RT_OUT}/hnd-exec.jsonl", f"{C_RT_OUT}/hnd-handler.jsonl"
        self.flag = f"{C_RT_OUT}/hnd-cannot-start"
        self.hook_log = f"{testnet.C_LOGS}/rt-{self.tag}-hook.log"
        rt.sh(f"rm -f {self.exec_rec} {self.hnd_rec} {self.flag} {self.hook_log}")
        # a shell filter (a Python recorder per event would load the machine under perfdhcp)
        exec_filter = rt.script("hnd-exec.sh", f'#!/bin/sh\n[ "$KEA_QUERY4_HWADDR" = "{MAC_HOSTILE}" ] || exit 0\n'
                                               f'exec {testnet.RECORDER} "$@"\n')
        wrapper = rt.script("hnd-rt.sh", f"#!/bin/sh\n# cannot start while the flag exists: the restarts' backoff shows\n"
                                         f"[ -e {self.flag} ] && exit 7\nexec {testnet.C_TOOLS}/handler_recorder.py\n")
        never = rt.script("hnd-never.sh", "#!/bin/sh\n# never reads its stdin; sleep is the shell's child: the group must go\n"
                                          "sleep 100000\n")
        self.o.facts["emulated"] = rt.emulated
        self.o.facts.update({"timeout (s)": self.timeout, "drain-timeout (s)": DRAIN_S, "perfdhcp rate": self.rate})
        points = ["pkt4_receive", "lease4_select"]
        params = {"drain-timeout": DRAIN_S, "options4": [12], "scripts": [
            {"script": exec_filter, "wait": True, "timeout": 10, "hook-points": points,
             "environment": {"SMOKE_RECORD": self.exec_rec}},
            {"script": wrapper, "persistent": True, "workers": WORKERS, "wait": True, "timeout": self.timeout,
             # skip: drops the query at pkt4_receive, refuses the lease at lease4_select (a drop
             # there is ignored by Kea, so the hook refuses it)
             "on-failure": "skip", "exit-codes": {"3": "skip"}, "hook-points": ["load", "unload"] + points,
             "environment": {"SMOKE_RECORD": self.hnd_rec, "HANDLER_DROP_MAC": MAC_DROP, "HANDLER_HANG_MAC": MAC_HANG,
                             "HANDLER_EXIT_MAC": MAC_CRASH, "HANDLER_HELLO": "1"}},
            {"script": never, "persistent": True, "wait": False, "queue": QUEUE, "timeout": 2,
             "hook-points": [p for p in catalogue.hook_points(rt.cell.kea, 4)
                             if p.startswith(("pkt4", "subnet4", "lease4_select", "leases4"))]},
        ]}
        extra = {"hostname-char-set": "", "ddns-replace-client-name": "never", "ddns-qualifying-suffix": ""}
        self.text, self.log, _ = rt.config4(self.tag, params, multi_threading=MT4, extra=extra,
                                            hook_debug_log=self.hook_log, big_pool=True)
        self.offset = parse_utc_offset(rt.sh("date +%z").output)
        self.seen: Dict[int, dict] = {}  # every handler process seen below Kea: killed by PID at the end
        self.kea = 0  # kea-dhcp4's pid, once run() started it

    def run(self) -> Outcome:
        try:
            with self.rt.kea4(self.tag, self.text, self.log) as kea:
                self.kea = kea
                for phase in (self.start, self.control, self.fds_and_output, self.hostile_bytes,
                              self.exit_codes, self.hang_and_queue_full, self.crash, self.restart_gap,
                              self.reload_and_stop):
                    phase()
        finally:
            self.rt.tn.keep(self.hook_log, f"rt-{self.tag}-hook.log")
            self.rt.tn.keep(self.hnd_rec, f"rt-{self.tag}-handler.jsonl")
            self.rt.tn.keep(self.exec_rec, f"rt-{self.tag}-exec.jsonl")
            self.rt.sh(f"rm -f {self.flag}")
            for p in self.rt.processes():  # what a failing hook left must not disturb the next scenario
                if p["pid"] in self.seen and (is_sync_handler(p) or is_never_reader(p)):
                    self.rt.sh(f"kill -KILL {p['pid']}", check=False)
        self.o.facts["handler processes seen"] = len(self.seen)
        return self.o

    def problem(self, phase: str, text_: str) -> None:
        self.o.problems.append(f"{phase}: {text_}")

    def lines(self, message: str, needle: str = "") -> List[str]:
        r = self.rt.sh(f"grep -a -F {shlex.quote(message)} {self.hook_log} 2>/dev/null", check=False)
        return [ln for ln in r.output.splitlines() if message in ln and needle in ln]

    def handlers(self, procs: Optional[List[dict]] = None) -> List[dict]:
        procs = procs if procs is not None else self.rt.processes()
        below = [p for p in self.rt.descendants(self.kea, procs) if is_sync_handler(p) or is_never_reader(p)]
        self.seen.update({p["pid"]: p for p in below})
        return below

    def lease(self, phase: str, mac: str, *extra_args: str) -> Optional[str]:
        ack = self.rt.dora(mac, *extra_args)
        if not ack.get("address"):
            err = self.rt.read(f"{testnet.C_OUT}/client.err").strip()[-200:]
            self.problem(phase, f"{mac} got no lease: {err!r}")
        return ack.get("address")

    def no_answer(self, phase: str, mac: str, wait: float) -> bool:
        """A DORA that must get no OFFER; the client waits ``wait`` seconds for it."""
        ack = self.rt.dora(mac, "--timeout", str(wait))
        err = self.rt.read(f"{testnet.C_OUT}/client.err").strip()
        if ack:
            self.problem(phase, f"{mac} got a lease ({ack.get('address')}) but should have been dropped")
        elif "no answer" not in err:
            self.problem(phase, f"{mac}: the client failed otherwise than by a missing answer: {err[-200:]!r}")
        return not ack

    def records(self, mac: Optional[str] = None) -> List[dict]:
        recs = self.rt.tn.read_records(self.hnd_rec)
        return recs if mac is None else [r for r in recs if r.get("env", {}).get("KEA_QUERY4_HWADDR") == mac]

    def zombies(self, when: str) -> None:
        first = {p["pid"] for p in self.rt.zombies(self.kea)}
        time.sleep(0.5)
        lasting = [p for p in self.rt.zombies(self.kea) if p["pid"] in first]
        self.o.facts[f"zombies below Kea ({when}, in two samples 0.5 s apart)"] = lasting
        if lasting:
            self.problem("zombies", f"{when}: {lasting[:4]}")

    def perf_in_background(self, seconds: int, into: dict, what: str) -> threading.Thread:
        def run():
            try:
                into["perf"] = self.rt.perfdhcp4(rate=self.rate, seconds=seconds, clients=1000000, tag=what)
            except testnet.SmokeError as e:
                into["error"] = str(e)
        t = threading.Thread(target=run)
        t.start()
        return t

    def start(self) -> None:
        """The handlers run and got the load record."""
        if not wait_for(lambda: len(alive(self.handlers(), is_sync_handler)) == WORKERS, 10):
            self.problem("control", f"not {WORKERS} sync handlers running after the start: {self.handlers()}")
        self.o.facts["handlers at start"] = [(p["pid"], p["cmdline"]) for p in self.handlers()]
        self.o.facts["load records at start"] = sum(1 for r in self.records() if r["argv"][1:2] == ["load"])
        if not self.o.facts["load records at start"]:
            self.problem("control", "no load record reached the handler")

    def control(self) -> None:
        """control: a client gets a lease; the sync handler recorded it."""
        self.lease("control", MAC_OK)
        got = self.records(MAC_OK)
        self.o.facts["control: handler records"] = [r["argv"][1] for r in got]
        if len(got) < 4:  # DISCOVER and REQUEST at pkt4_receive and lease4_select
            self.problem("control", f"{len(got)} handler records for {MAC_OK}, expected 4")

    def fds_and_output(self) -> None:
        """fds and output: fds 0, 1 and 2 only; stderr and non-reply stdout lines logged."""
        fds = {}
        for p in self.handlers():
            if is_sync_handler(p) or p["cmdline"] == ["sleep", "100000"]:
                fds[p["pid"]] = self.rt.fds(p["pid"])
        self.o.facts["fds and output: fds of the handlers"] = fds
        for pid_, links in fds.items():
            # the record stream may be a pipe or a socket pair (hook/handler_pool.cc: a stream either way)
            if sorted(links) != [0, 1, 2] or not links[0].startswith(("pipe:", "socket:")) \
                    or not all(links[fd].startswith("pipe:") for fd in (1, 2)):
                self.problem("fds and output", f"handler pid {pid_} has fds {links} (expected 0: a pipe or "
                                               "socket, 1 and 2: pipes, nothing else)")
        if len(fds) < WORKERS + 1:
            self.problem("fds and output", f"{len(fds)} handler processes to look at, expected {WORKERS + 1}")
        hello = {what: len(self.lines(HANDLER + "OUTPUT", text_)) for what, text_ in
                 (("stderr", "hello on stderr"), ("stdout", "hello on stdout"))}
        self.o.facts["fds and output: RUNSCRIPT_HANDLER_OUTPUT lines of the start (stderr, stdout)"] = hello
        for what, n in hello.items():
            if n < WORKERS:
                self.problem("fds and output", f"{n} RUNSCRIPT_HANDLER_OUTPUT lines for the {WORKERS} handlers' "
                                               f"{what} line at start")

    def hostile_bytes(self) -> None:
        """hostile bytes: the handler's records are the exec script's environment, byte for byte."""
        self.lease("hostile bytes", MAC_HOSTILE, "--hostname-hex", HOSTNAME_BYTES.hex(),
                   "--option60-hex", OPTION60_BYTES.hex())
        # Both sides are synchronous: every record is on disk before the client's answer.
        # The files are still re-read (bounded) until the counts agree, so that a short read
        # shows as one (facts) and not as a lost event; the order check below is what proves
        # that each handler record came before Kea went on.
        execs, hands, unreadable, reads = settled_records(self.rt, self.exec_rec, self.hnd_rec, MAC_HOSTILE)
        self.o.facts["hostile bytes: reads of the record files until the counts agreed"] = reads
        self.o.facts["hostile bytes: records in time order (e: exec, h: handler)"] = interleaving(execs, hands)
        for line in unreadable:
            self.problem("hostile bytes", f"a record line that is no JSON: {line}")
        if not alternates(execs, hands):
            self.problem("hostile bytes", "the records do not alternate exec, handler, exec, ... with the same hook "
                                          "points: a synchronous handler's record came after Kea went on")
        # The shell in front of the exec recorder adds PWD and passes the environment on in an
        # order of its own: the values are compared here, the order by the smoke test
        # (whose exec recorder gets the hook's environment directly).
        diff = checks.compare_handler(execs, hands, own_names=("SMOKE_RECORD", "PWD"), ordered=False)
        raw = lambda r, k: r["env"].get(k, "").encode("utf-8", "surrogateescape")  # noqa: E731
        commits = [r for r in hands if r["argv"][1] == "lease4_select" and r["env"].get("KEA_FAKE_ALLOCATION") == "0"]
        self.o.facts["hostile bytes: events exec / handler"] = [len(execs), len(hands)]
        self.o.facts["hostile bytes: handler's KEA_LEASE4_HOSTNAME"] = [
            repr(raw(r, "KEA_LEASE4_HOSTNAME")) for r in commits]
        self.o.facts["hostile bytes: handler's KEA_QUERY4_OPTION60 == sent"] = [
            raw(r, "KEA_QUERY4_OPTION60") == OPTION60_BYTES for r in hands]
        self.o.facts["hostile bytes: differences"] = diff
        if len(hands) < 4 or len(execs) < 4:
            self.problem("hostile bytes", f"{len(execs)} exec calls and {len(hands)} handler records, expected 4 each")
        problems = diff + [f"the committed lease's hostname is {raw(r, 'KEA_LEASE4_HOSTNAME')!r}, "
                           f"sent {HOSTNAME_BYTES!r}" for r in commits
                           if raw(r, "KEA_LEASE4_HOSTNAME") != HOSTNAME_BYTES]
        if not commits:
            problems.append("no lease4_select record of the committed lease")
        for p in problems:
            self.problem("hostile bytes", p)

    def exit_codes(self) -> None:
        """exit codes: `exit 3` drops the client, logged."""
        before = len(self.lines("RUNSCRIPT_EXIT_ACTION"))
        self.no_answer("exit codes", MAC_DROP, self.quiet)
        self.o.facts["exit codes: RUNSCRIPT_EXIT_ACTION lines"] = len(self.lines("RUNSCRIPT_EXIT_ACTION")) - before
        if self.o.facts["exit codes: RUNSCRIPT_EXIT_ACTION lines"] < 1:
            self.problem("exit codes", "no RUNSCRIPT_EXIT_ACTION for the handler's `exit 3`")

    def hang_and_queue_full(self) -> None:
        """hang (sync) and queue full (async), in one perfdhcp run."""
        perf: dict = {}
        seconds = 8 if not self.rt.emulated else 16
        t_perf = time.time()
        load = self.perf_in_background(seconds, perf, "hnd-hang")
        try:
            time.sleep(1.5)
            before_timeouts = len(self.lines(HANDLER + "TIMEOUT", "hnd-rt.sh"))
            self.no_answer("hang (sync)", MAC_HANG, self.timeout + DEADLINE_ALLOWANCE_S + self.quiet)
            hung = self.records(MAC_HANG)
            wait_for(lambda: len(self.lines(HANDLER + "TIMEOUT", "hnd-rt.sh")) > before_timeouts, self.timeout + 2)
            timeouts = self.lines(HANDLER + "TIMEOUT", "hnd-rt.sh")[before_timeouts:]
            time.sleep(0.3)
            procs = self.rt.processes()
            running = alive(self.handlers(procs), is_sync_handler)
        finally:
            load.join()
        self.judge_hang(hung, timeouts, running, perf, seconds)
        self.judge_queue_full(seconds)
        self.o.facts["queue full (async): perfdhcp seconds"] = round(time.time() - t_perf, 1)

    def judge_hang(self, hung: List[dict], timeouts: List[str], running: List[dict], perf: dict,
                   seconds: int) -> None:
        """hang (sync): the hung client's event failed on time, the hung handler was killed and
        replaced, Kea kept answering perfdhcp (perf: its report, or the error that ended it)."""
        p = perf.get("perf")
        self.o.facts["hang (sync): handler records of the hung client"] = len(hung)
        self.o.facts["hang (sync): RUNSCRIPT_HANDLER_TIMEOUT"] = timeouts[:3]
        if not hung:
            self.problem("hang (sync)", "the handler never got the hung client's record")
        if not timeouts:
            self.problem("hang (sync)", f"no {HANDLER}TIMEOUT for the sync handler within timeout + 2 s")
        elif hung:
            t_logged = kea_time(timeouts[0], self.offset)
            waited = None if t_logged is None else round(t_logged - hung[0]["time"], 3)
            self.o.facts["hang (sync): record -> timeout logged (s)"] = waited
            if waited is None or waited > self.timeout + DEADLINE_ALLOWANCE_S:
                self.problem("hang (sync)", f"the event failed {waited} s after the handler got it "
                                            f"(timeout {self.timeout} s + {DEADLINE_ALLOWANCE_S} s)")
        hung_pids = {r["pid"] for r in hung}
        if hung_pids & {q["pid"] for q in running}:
            self.problem("hang (sync)", f"the hung handler (pid {sorted(hung_pids)}) still runs")
        if len(running) != WORKERS:
            self.problem("hang (sync)", f"{len(running)} sync handlers run after the timeout, expected {WORKERS}")
        self.o.facts["hang + queue: perfdhcp ACKs"] = p.acks if p else perf.get("error")
        if p is None or p.acks < self.rate * seconds * 0.5:
            self.problem("hang (sync)", f"Kea did not keep answering perfdhcp: {p.acks if p else perf.get('error')} "
                                        f"ACKs at {self.rate}/s for {seconds} s")

    def judge_queue_full(self, seconds: int) -> None:
        """queue full (async): drops counted, logged at most once a second; the handler that took
        no byte for its timeout was killed and restarted."""
        full = self.lines(HANDLER + "QUEUE_FULL")
        counts = dropped_counts(full)
        times = [t for t in (kea_time(ln, self.offset) for ln in full) if t is not None]
        self.o.facts["queue full (async): RUNSCRIPT_HANDLER_QUEUE_FULL lines"] = len(full)
        self.o.facts["queue full (async): dropped (sum of the counts)"] = sum(counts)
        self.o.facts["queue full (async): most lines in one second"] = max_per_second(times)
        self.o.facts["queue full (async): first lines"] = full[:2]
        never_timeouts = self.lines(HANDLER + "TIMEOUT", "hnd-never.sh")
        never_exits = self.lines(HANDLER + "EXITED", "hnd-never.sh")
        self.o.facts["queue full (async): timeouts / exits of the never-reading handler"] = [
            len(never_timeouts), len(never_exits)]
        if not full or sum(counts) < 1:
            self.problem("queue full (async)", f"no {HANDLER}QUEUE_FULL with a count (queue {QUEUE}, "
                                               f"perfdhcp {self.rate}/s for {seconds} s)")
        if max_per_second(times) > 1 and len(times) == len(full):
            self.problem("queue full (async)", f"{max_per_second(times)} {HANDLER}QUEUE_FULL lines within one "
                                               "second: the count must be logged at most once a second")
        if not never_timeouts or not never_exits:
            self.problem("queue full (async)", "the handler that took no byte for its timeout (2 s) was not "
                                               f"killed and restarted ({len(never_timeouts)} TIMEOUT, "
                                               f"{len(never_exits)} EXITED lines)")

    def crash(self) -> None:
        """crash: exit 7 and SIGKILL each give EXITED and RESTART; the next client is served."""
        exited0 = len(self.lines(HANDLER + "EXITED", "hnd-rt.sh"))
        restart0 = len(self.lines(HANDLER + "RESTART", "hnd-rt.sh"))
        self.no_answer("crash", MAC_CRASH, self.quiet)
        if not self.records(MAC_CRASH):
            self.problem("crash", "the handler never got the crashing client's record")
        wait_for(lambda: len(alive(self.handlers(), is_sync_handler)) == WORKERS, 5)
        self.lease("crash", MAC_AFTER_CRASH)
        victims = alive(self.handlers(), is_sync_handler)
        if victims:
            self.rt.sh(f"kill -KILL {victims[0]['pid']}", check=False)
            wait_for(lambda: len(alive(self.handlers(), is_sync_handler)) == WORKERS
                     and victims[0]["pid"] not in {q["pid"] for q in self.handlers()}, 5)
        self.lease("crash", MAC_AFTER_KILL)
        if not self.records(MAC_AFTER_KILL):
            self.problem("crash", f"no handler record for {MAC_AFTER_KILL} after the restarts")
        exited = self.lines(HANDLER + "EXITED", "hnd-rt.sh")[exited0:]
        restarts = self.lines(HANDLER + "RESTART", "hnd-rt.sh")[restart0:]
        self.o.facts["crash: EXITED lines"] = exited[:3]
        self.o.facts["crash: RESTART lines"] = restarts[:3]
        if len(exited) < 2 or len(restarts) < 2:
            self.problem("crash", f"{len(exited)} {HANDLER}EXITED and {len(restarts)} {HANDLER}RESTART lines for "
                                  "an exit 7 and a SIGKILL, expected 2 each")
        self.zombies("after the crashes")

    def restart_gap(self) -> None:
        """restart gap: restarts with backoff while the handler cannot start; events fail at once."""
        exited0 = len(self.lines(HANDLER + "EXITED", "hnd-rt.sh"))
        timeouts0 = len(self.lines(HANDLER + "TIMEOUT", "hnd-rt.sh"))
        self.rt.sh(f"touch {self.flag}")
        t_gap = time.monotonic()
        for victim in alive(self.handlers(), is_sync_handler):
            self.rt.sh(f"kill -KILL {victim['pid']}", check=False)
        # Not longer: the backoff grows with the gap, and so does the wait for the handlers
        # to come back once they can start.
        time.sleep(0.3)
        self.no_answer("restart gap", MAC_GAP, self.quiet)
        if len(self.lines(HANDLER + "TIMEOUT", "hnd-rt.sh")) > timeouts0:
            self.problem("restart gap", "a sync event waited for a handler that was not running (a TIMEOUT "
                                        "was logged): it must fail at once")
        gap_exits = len(self.lines(HANDLER + "EXITED", "hnd-rt.sh")) - exited0
        gap_seconds = time.monotonic() - t_gap
        self.rt.sh(f"rm -f {self.flag}")
        self.o.facts["restart gap: seconds, EXITED lines"] = [round(gap_seconds, 1), gap_exits]
        self.o.facts["restart gap: RESTART lines"] = self.lines(HANDLER + "RESTART", "hnd-rt.sh")[-4:]
        allowed = backoff_restarts_allowed(gap_seconds, WORKERS)
        if gap_exits < WORKERS + 2:
            self.problem("restart gap", f"{gap_exits} EXITED lines while the handler could not start: the "
                                        "hook did not try again")
        elif gap_exits > allowed:
            self.problem("restart gap", f"{gap_exits} restarts in {gap_seconds:.1f} s (at most {allowed} with the "
                                        "backoff): a busy loop")
        t_back = time.monotonic()
        back = wait_for(lambda: len(alive(self.handlers(), is_sync_handler)) == WORKERS, 12, 0.2)
        self.o.facts["restart gap: handlers back after the flag went (s)"] = round(time.monotonic() - t_back, 1)
        if not back:
            self.problem("restart gap", "the handlers did not come back within 12 s (backoff at most 10 s)")
        self.lease("restart gap", MAC_AFTER_GAP)
        if not self.records(MAC_AFTER_GAP):
            self.problem("restart gap", f"no handler record for {MAC_AFTER_GAP}")

    def reload_and_stop(self) -> None:
        """reload and stop, both under one perfdhcp run that outlasts them."""
        perf2: dict = {}
        # Longer than the reload and stop phases can take on a loaded machine: perfdhcp must
        # still run at the SIGTERM; it is interrupted below once Kea is gone.
        seconds2 = 60 if not self.rt.emulated else 120
        load2 = self.perf_in_background(seconds2, perf2, "hnd-reload")
        try:
            time.sleep(1.5)
            self.reload()
            self.stop(load2.is_alive())
        finally:
            for q in self.rt.processes():  # perfdhcp runs on for nothing once Kea is gone
                if q["comm"] == "perfdhcp":
                    self.rt.sh(f"kill -INT {q['pid']}", check=False)
            load2.join()
        self.o.facts["reload + stop: perfdhcp ACKs"] = perf2["perf"].acks if perf2.get("perf") else perf2.get("error")

    def reload(self) -> None:
        """reload: SIGHUP, the library loaded again on time, old handlers gone, new ones serve."""
        old = self.handlers()
        unloads0 = sum(1 for r in self.records() if r["argv"][1:2] == ["unload"])
        loads0 = sum(1 for r in self.records() if r["argv"][1:2] == ["load"])
        n_loaded = len(self.lines("RUNSCRIPT_LOADED"))
        loaded = f"[ $(grep -a -c RUNSCRIPT_LOADED {self.hook_log}) -gt {n_loaded} ]"
        secs = signal_and_time(self.rt, self.kea, "HUP", loaded, self.log, self.o.facts)
        self.o.facts["reload: SIGHUP -> RUNSCRIPT_LOADED (s)"] = secs
        if secs is None or secs > self.teardown_bound:
            self.problem("reload", f"RUNSCRIPT_LOADED {secs} s after SIGHUP (bound {self.teardown_bound} s)")
        procs = self.rt.processes()
        left = [p for p in old if p["pid"] in {q["pid"] for q in procs if q["state"] != "Z"}]
        new = self.handlers(procs)
        self.o.facts["reload: old handlers still running"] = left
        self.o.facts["reload: handlers after"] = [(p["pid"], p["cmdline"][-1]) for p in new]
        if left:
            self.problem("reload", f"{len(left)} handlers of the old configuration still run: {left[:3]}")
        if not wait_for(lambda: len(alive(self.handlers(), is_sync_handler)) == WORKERS, 5):
            self.problem("reload", f"not {WORKERS} sync handlers after the reload")
        self.lease("reload", MAC_AFTER_RELOAD)
        unloads = sum(1 for r in self.records() if r["argv"][1:2] == ["unload"]) - unloads0
        loads = sum(1 for r in self.records() if r["argv"][1:2] == ["load"]) - loads0
        self.o.facts["reload: unload / load records"] = [unloads, loads]
        if unloads < 1 or loads < 1:
            self.problem("reload", f"{unloads} unload and {loads} load records at the reload")
        self.zombies("after the reload")

    def stop(self, under_load: bool) -> None:
        """stop: SIGTERM, the library closed on time, Kea gone, no handler process left."""
        before_stop = self.handlers()
        # The hook's part of the stop ends with its library closed; what Kea does after
        # that is Kea's (an emulated kea-dhcp4 once took > 20 s to exit after closing it,
        # its handlers gone: qemu-user ending its threads), bounded only on a real CPU.
        n_closed = self.rt.count_in(self.log, "HOOKS_LIBRARY_CLOSED")
        closed = f"[ $(grep -a -c HOOKS_LIBRARY_CLOSED {self.log}) -gt {n_closed} ]"
        secs = signal_and_time(self.rt, self.kea, "TERM", closed, self.log, self.o.facts)
        self.o.facts["stop: SIGTERM -> hook library closed (s)"] = secs
        self.o.facts["stop: perfdhcp still running at SIGTERM"] = under_load
        if secs is None or secs > self.teardown_bound:
            self.problem("stop", f"hook library closed {secs} s after SIGTERM (bound {self.teardown_bound} s)")
        gone_bound = EMULATED_EXIT_CAP_S if self.rt.emulated else self.teardown_bound
        ended = wait_for(lambda: self.rt.sh(gone(self.kea), check=False).ok, gone_bound, 0.2)
        self.o.facts["stop: kea-dhcp4 gone within (s)"] = gone_bound if ended else None
        if not ended:
            self.problem("stop", f"kea-dhcp4 still there {gone_bound} s after its hook library closed")
        if not under_load:
            self.problem("stop", "perfdhcp had ended before the stop: not under load")
        time.sleep(0.2)
        procs = self.rt.processes()
        left = [p for p in procs if p["pid"] in {q["pid"] for q in before_stop + list(self.seen.values())}
                and (is_sync_handler(p) or is_never_reader(p))]
        anywhere = [p for p in procs if is_sync_handler(p) or is_never_reader(p)]
        self.o.facts["stop: handlers left"] = left + [p for p in anywhere if p not in left]
        if left or anywhere:
            self.problem("stop", f"handler processes outlived Kea: {(left + anywhere)[:4]}")


@timed
def handler_faults(rt: Runtime) -> Outcome:
    """Persistent handlers in one Kea run: crash and restart, hang (sync timeout, async queue
    full), hostile bytes intact, exit codes, reload and stop under load, no zombies (see the
    module's docstring)."""
    return HandlerFaults(rt).run()


def wait_for(cond, seconds: float, step: float = 0.1) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step)
    return cond()


def phase_problems(o: Outcome, phase: str) -> List[str]:
    """The problems of one phase of :func:`handler_faults` (each starts with its name)."""
    assert phase in PHASES, phase
    return [p for p in o.problems if p.startswith(phase + ":")]


# --------------------------------------------------------------------------------------------
# 21. a busy pool: events wait for a slow worker; nobody is killed for it (issue 20 item 2)

#: The slow handler takes this share of the timeout over each record: healthy, yet with Kea's
#: 4 threads always holding events, each waits 3 records (1.5 x timeout) on average for the
#: worker: BUSY is certain, not a matter of the lock's fairness.
BUSY_DELAY_SHARE = 0.5
MAC_AFTER_BUSY = "02:00:00:00:15:01"


@timed
def busy_handler(rt: Runtime) -> Outcome:
    """One synchronous worker that takes 0.5 x timeout over each record, Kea's 4 threads and
    perfdhcp: events that wait the whole timeout for the worker fail as BUSY
    (RUNSCRIPT_HANDLER_BUSY, on-failure applies: continue), the handler is never killed for
    time other events took (no RUNSCRIPT_HANDLER_TIMEOUT, the same process throughout), and
    Kea answers."""
    o = Outcome("busy-handler")
    tag = "busy"
    rec = f"{C_RT_OUT}/busy-handler.jsonl"
    timeout = 4 if rt.emulated else 1
    delay_ms = int(timeout * 1000 * BUSY_DELAY_SHARE)
    rt.sh(f"rm -f {rec}")
    params = {"scripts": [
        {"script": f"{testnet.C_TOOLS}/handler_recorder.py", "persistent": True, "workers": 1, "wait": True,
         "timeout": timeout, "hook-points": ["pkt4_receive"],
         "environment": {"SMOKE_RECORD": rec, "HANDLER_DELAY_MS": str(delay_ms)}},
    ]}
    # A short packet queue (Kea drops the oldest): the backlog is gone soon after the load.
    mt = {**MT4, "packet-queue-size": 4}
    text, log, _ = rt.config4(tag, params, multi_threading=mt, big_pool=True)
    o.facts.update({"timeout (s)": timeout, "handler's time per record (ms)": delay_ms})

    def handler_pids(kea: int) -> List[int]:
        return sorted(p["pid"] for p in alive(rt.descendants(kea, rt.processes()), is_sync_handler))

    with rt.kea4(tag, text, log) as kea:
        for _ in range(100):
            before = handler_pids(kea)
            if before:
                break
            time.sleep(0.1)
        perf = rt.perfdhcp4(rate=rt.rate(40), seconds=3, clients=1000000, tag=tag)
        # Kea's queues drain at the handler's pace; then a client is served, through the handler.
        address, end = None, time.monotonic() + 10 * timeout
        while not address and time.monotonic() < end:
            address = rt.dora(MAC_AFTER_BUSY).get("address")
        served = [r for r in rt.tn.read_records(rec) if r.get("env", {}).get("KEA_QUERY4_HWADDR") == MAC_AFTER_BUSY]
        after = handler_pids(kea)
        busy = rt.sh(f"grep -a -F RUNSCRIPT_HANDLER_BUSY {log}", check=False).output.splitlines()
        timeouts = rt.count_in(log, "RUNSCRIPT_HANDLER_TIMEOUT")
        exited = rt.count_in(log, "RUNSCRIPT_HANDLER_EXITED")
    o.facts.update({"handler before": before, "handler after": after, "RUNSCRIPT_HANDLER_BUSY lines": len(busy),
                    "a BUSY line": busy[0] if busy else "", "RUNSCRIPT_HANDLER_TIMEOUT lines": timeouts,
                    "RUNSCRIPT_HANDLER_EXITED lines": exited, "records": len(rt.tn.read_records(rec)),
                    "perfdhcp ACKs (answers come late: 4 threads wait for one slow worker)": perf.acks,
                    "lease after the load": address, "its records at the handler": len(served)})
    if len(before) != 1:
        o.problems.append(f"not one handler running before the load: {before}")
    if not busy:
        o.problems.append("no RUNSCRIPT_HANDLER_BUSY: the load did not make events wait out the timeout "
                          "(the scenario proved nothing)")
    if timeouts or exited or after != before:
        o.problems.append(f"the healthy handler was killed: {timeouts} RUNSCRIPT_HANDLER_TIMEOUT, {exited} "
                          f"RUNSCRIPT_HANDLER_EXITED, handler {before} before the load, {after} after")
    if not address or not served:
        o.problems.append(f"after the load, {MAC_AFTER_BUSY} got lease {address} and the handler "
                          f"{len(served)} of its records: Kea and the handler must serve again")
    return o
