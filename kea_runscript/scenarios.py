"""Run-time scenarios: what the hook guarantees inside the real Kea of a cell.

Each scenario starts the cell's real kea-dhcp4 (with the built hook) in the smoke container of
:mod:`kea_runscript.smoke` (:class:`testnet.TestNet`: namespaces ``srv`` / ``cli`` joined by a veth
pair, the scapy client, perfdhcp) with a configuration of its own, drives traffic, and returns
an :class:`Outcome`: the facts it measured (``facts``) and what contradicts the guarantee
(``problems``, empty when the scenario holds). tests/integration/test_runtime.py asserts on
both.

Kea runs as the cell's packaged unit runs it (:meth:`testnet.TestNet.start_kea`: the unit's user
and ambient capabilities through setpriv); the scripts live in :data:`C_RT` (root's, 0755)
and write to :data:`C_RT_OUT` (Kea's user's).

0. :func:`kea_identity`: kea-dhcp4 has the unit's user and ambient capabilities (read back
   from /proc/<pid>/status), and a script it starts has the same.
1. :func:`fd_list`: a script sees file descriptors 0, 1 and 2 only, although Kea has sockets
   and the lease file open (sync, async and capture-output scripts).
2. :func:`env_list`: the script's environment is exactly the catalogue's variables for the
   hook point plus ``environment``; nothing of Kea's own environment (``LEAK_TEST=1``).
3. :func:`hung_script`: a synchronous ``sleep 300`` with ``timeout: 1`` is killed with its
   process group (RUNSCRIPT_TIMEOUT), Kea still answers, no ``sleep 300`` remains.
4. :func:`async_zombies`: >= 10,000 ``wait: false`` calls under perfdhcp with multi-threading
   (4 threads): no zombie child of Kea afterwards.
5. :func:`lfc_with_async`: Kea's lease file cleanup (``lfc-interval: 1``) runs and completes
   again and again while asynchronous scripts run: no kea-lfc zombie, no LFC error, the
   cleanup's files end in the finished state.
6. :func:`bad_configs`: each bad parameter set makes kea-dhcp4 exit non-zero quickly, with
   RUNSCRIPT_LOAD_ERROR naming the parameter (kea-dhcp4 -t does not load hooks, so the server
   is started for real, without interfaces).
7. :func:`exit_code_drop`: ``exit-codes: {"3": "drop"}`` at pkt4_receive: the blocked MAC gets
   no OFFER, another MAC does.
8. :func:`hostname_bytes`: option 12 with ``$(touch /tmp/pwned)``, ``;``, a newline and
   non-UTF-8 bytes reaches the script byte for byte (KEA_QUERY4_OPTION12, KEA_LEASE4_HOSTNAME)
   and nothing runs it.
9. :func:`perfdhcp_no_lost_lease`: perfdhcp DORA for 60 s with the hook synchronous at the 1.4
   hook points and multi-threading: every ACK perfdhcp counted is a lease in the lease file.
11. :func:`on_failure`: a script at pkt4_receive fails in each way the real Kea can show
    (removed or made non-executable after load, killed by a signal, timed out, async limit):
    with ``on-failure: drop`` the client gets no OFFER, with the default a lease.
12. :func:`earlier_drop`: two copies of the library; the first drops a MAC: the second's
    script never sees that MAC's packets.
13. :func:`parameter_defaults`: top-level settings are defaults of ``scripts`` beside a top-level
    ``script``; ``timeout: 0.0004`` is 1 ms; a mixed v4/v6 hook point list loads in kea-dhcp4.
14. :func:`trust_checks`: ``check-permissions: false`` loads refused scripts; kea-dhcp4 as _kea
    refuses a script it cannot execute or reach, naming the user and the permission.
15. :func:`output_flood`: a script that writes without pause (``exec yes``; or one endless
    line) with capture-output and ``timeout: 1`` at pkt4_receive, sync or async, MT on or
    off: each run is killed within timeout + 0.5 s (lifetimes measured by a pidfd watcher),
    4 scapy DORAs and a low-rate perfdhcp run are all answered, no script is left, Kea logs
    at most max-output-lines + 1 lines per run (one says how many were dropped) and its peak
    RSS stays within FLOOD_RSS_GROWTH_KB of its RSS at start.
16. :func:`teardown`: 8 asynchronous ``sleep 300``, one with ``timeout: 0`` and a chatty
    ``exec yes`` running: SIGHUP reloads (RUNSCRIPT_LOADED) and SIGTERM stops kea-dhcp4 within
    3 s with the default drain, a DORA is answered right after the reload, and nothing Kea
    started is left.
17. :func:`debug_log_private`: examples/debug.sh writes a 0600 log of Kea's user in Kea's
    log directory, nothing in /tmp, and neither follows a link nor appends to a file another
    user planted at its DEBUG_LOG path.

Addresses: 192.0.2.0/24 on the veth pair, perfdhcp as a relay from 198.18.0.1 into
198.18.0.0/15 (a pool large enough for tens of thousands of clients).
"""

from __future__ import annotations

import contextlib
import json
import re
import shlex
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence

from . import containers, images, smoke, testnet, units
from .build import LIBRARY, Paths
from .catalogue import load as load_catalogue
from .facts import facts_for
from .matrix import Cell
from .versions import Version

C_RT = "/smoke/rt"          # scripts: root's, 0755, as the hook's trust check wants them
#: what the scripts write: Kea's user's (testnet.TestNet.give), beside but not above the scripts
C_RT_OUT = "/smoke/rt-out"
LEASE_DIR = "/var/lib/kea"  # Kea 2.6.3+ accepts lease files only in its data directory
PERF_RELAY = "198.18.0.1"   # perfdhcp's local address (giaddr): the big relayed subnet
BIG_SUBNET = ("198.18.0.0/15", "198.18.1.0", "198.19.255.254")
LONG = testnet.Timers(valid=7200, preferred=3600, renew=1800, rebind=3600, probation=3)

#: The most Kea's VmSize may grow per reload of its configuration (scenario 10).
RELOAD_GROWTH_KB = 64
#: How much slower an emulated Kea (an arm64 cell on an amd64 machine, under qemu-user) answers:
#: load scenarios divide their perfdhcp rates by it (Kea 2.2.0 arm64 with the 1.4 hook points
#: in sync mode sustained about 6 DORA/s here, against 80 asked). Only rates, never bounds the
#: hook promises (timeouts, drain, kill).
EMULATION_SLOWDOWN = 16

#: Kea's multi-threading for the load scenarios (4, 9 and 10).
MT4 = {"enable-multi-threading": True, "thread-pool-size": 4, "packet-queue-size": 64}

#: The MACs of the scapy clients (02: locally administered).
MAC_BLOCKED = "02:00:00:00:77:03"
MAC_ALLOWED = "02:00:00:00:77:04"

#: The hostname bytes of scenario 8: command substitution, ';', a newline, non-UTF-8.
HOSTNAME_BYTES = b"a$(touch /tmp/pwned);b`touch /tmp/pwned2`\nc\xff\xfe"
PWNED = ("/tmp/pwned", "/tmp/pwned2")


@dataclass
class Outcome:
    name: str
    facts: dict = field(default_factory=dict)
    problems: List[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        lines = [f"{self.name}: {'ok' if self.ok else 'FAILED'} ({self.seconds:.1f}s)"]
        lines += [f"  problem: {p}" for p in self.problems]
        for k, v in self.facts.items():
            text = json.dumps(v, default=str) if not isinstance(v, str) else v
            lines.append(f"  {k}: {text[:600]}")
        return "\n".join(lines)


@dataclass
class Perf:
    """perfdhcp's final report, per exchange (DISCOVER-OFFER, REQUEST-ACK)."""

    text: str
    stats: Dict[str, Dict[str, int]] = field(default_factory=dict)

    def get(self, exchange: str, what: str) -> int:
        return self.stats.get(exchange, {}).get(what, 0)

    @property
    def acks(self) -> int:
        return self.get("REQUEST-ACK", "received packets")

    @property
    def requests(self) -> int:
        return self.get("REQUEST-ACK", "sent packets")

    @property
    def offers(self) -> int:
        return self.get("DISCOVER-OFFER", "received packets")


def parse_perfdhcp(text: str) -> Perf:
    perf = Perf(text)
    section = None
    for line in text.splitlines():
        m = re.match(r"\*+Statistics for: ([A-Z-]+)\*+", line.strip())
        if m:
            section = m.group(1)
            perf.stats[section] = {}
            continue
        m = re.match(r"([a-z][a-z ]*[a-z]):\s+(\d+)\s*$", line.strip())
        if section and m:
            perf.stats[section][m.group(1)] = int(m.group(2))
    return perf


_PS = r"""
import json, os
out = []
for d in os.listdir('/proc'):
    if not d.isdigit():
        continue
    try:
        stat = open(f'/proc/{d}/stat').read()
        cmd = open(f'/proc/{d}/cmdline', 'rb').read().split(b'\0')[:-1]
    except OSError:
        continue
    comm = stat[stat.index('(') + 1:stat.rindex(')')]
    rest = stat[stat.rindex(')') + 2:].split()
    out.append({'pid': int(d), 'state': rest[0], 'ppid': int(rest[1]), 'comm': comm,
                'cmdline': [c.decode('utf-8', 'replace') for c in cmd]})
print(json.dumps(out))
"""


class Runtime:
    """The scenarios' view of one cell's smoke container (a :class:`testnet.TestNet`)."""

    def __init__(self, tn: testnet.TestNet):
        self.tn = tn
        self.cell = tn.cell
        #: Kea runs under qemu-user (see EMULATION_SLOWDOWN): the launcher takes its plain path
        #: there, as qemu-user refuses the supervisor's clone.
        self.emulated = tn.cell.foreign(containers.engine_arch())
        self.kea = Version.parse(tn.cell.kea)
        self.catalogue = load_catalogue()
        self.sh = tn.sh

    # files ----------------------------------------------------------------------------------

    def script(self, name: str, body: str, mode: int = 0o755) -> str:
        path = f"{C_RT}/{name}"
        self.tn.c.write_file(path, body, mode=mode)
        return path

    def read(self, path: str) -> str:
        return self.sh(f"cat {path} 2>/dev/null", check=False).output

    def rate(self, native: int) -> int:
        """A perfdhcp rate this cell's Kea can sustain: ``native`` on a native cell."""
        return max(2, native // EMULATION_SLOWDOWN) if self.emulated else native

    def read_bytes(self, path: str) -> Optional[bytes]:
        r = self.sh(f"test -f {path} && od -An -v -tx1 {path}", check=False)
        if not r.ok:
            return None
        return bytes.fromhex("".join(r.output.split()))

    def exists(self, path: str) -> bool:
        return self.sh(f"test -e {path}", check=False).ok

    def count_in(self, path: str, pattern: str) -> int:
        r = self.sh(f"grep -c -E {shlex.quote(pattern)} {path} 2>/dev/null", check=False)
        try:
            return int(r.output.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return 0

    # processes ------------------------------------------------------------------------------

    def processes(self) -> List[dict]:
        """Every process of the container: pid, ppid, state, comm, cmdline."""
        r = self.sh(f"python3 -c {shlex.quote(_PS)}")
        return json.loads(r.output.strip().splitlines()[-1])

    def children(self, pid: int, procs: Optional[List[dict]] = None) -> List[dict]:
        return [p for p in (procs if procs is not None else self.processes()) if p["ppid"] == pid]

    def zombies(self, pid: int, procs: Optional[List[dict]] = None) -> List[dict]:
        """Zombies anywhere below `pid`: the scripts and the supervisors that wait for them."""
        procs = procs if procs is not None else self.processes()
        return [p for p in self.descendants(pid, procs) if p["state"] == "Z"]

    @staticmethod
    def descendants(pid: int, procs: List[dict]) -> List[dict]:
        """Every process below `pid` (the hook's scripts run under a supervisor process)."""
        below, frontier = [], {pid}
        while frontier:
            level = [p for p in procs if p["ppid"] in frontier]
            below += level
            frontier = {p["pid"] for p in level}
        return below

    def fds(self, pid: int) -> Dict[int, str]:
        r = self.sh(f"for f in /proc/{pid}/fd/*; do echo \"${{f##*/}} $(readlink $f)\"; done",
                    check=False)
        out = {}
        for line in r.output.splitlines():
            n, _, target = line.partition(" ")
            if n.isdigit():
                out[int(n)] = target
        return out

    # Kea ------------------------------------------------------------------------------------

    def config4(self, tag: str, parameters: dict, *, multi_threading=None, persist: bool = False,
                lfc_interval: Optional[int] = None, big_pool: bool = False,
                interfaces: Optional[list] = None, extra: Optional[dict] = None,
                timers: testnet.Timers = LONG, debug: bool = False,
                hook_debug_log: Optional[str] = None) -> tuple:
        """kea-dhcp4's configuration (the smoke template, adapted): (JSON text, log file,
        lease file or None). ``multi_threading``: None (Kea's default), a bool or a map."""
        log = f"{testnet.C_LOGS}/rt-{tag}-dhcp4.log"
        mt_flag = multi_threading if isinstance(multi_threading, (bool, type(None))) else True
        cfg = json.loads(smoke.kea_config(self.cell, 4, parameters, multi_threading=mt_flag,
                                          log_file=log, timers=timers,
                                          severity="DEBUG" if debug else "INFO",
                                          debuglevel=40 if debug else 0))
        d = cfg["Dhcp4"]
        if isinstance(multi_threading, dict):
            d["multi-threading"] = dict(multi_threading)
        if interfaces is not None:
            d["interfaces-config"]["interfaces"] = list(interfaces)
        lease_file = None
        if persist:
            lease_file = f"{LEASE_DIR}/rt-{tag}-leases4.csv"
            d["lease-database"] = {"type": "memfile", "persist": True, "name": lease_file,
                                   "lfc-interval": lfc_interval or 0}
        if big_pool:
            net, lo, hi = BIG_SUBNET
            for s in d["subnet4"]:
                if s["subnet"].startswith("198.18."):
                    s["subnet"] = net
                    s["pools"] = [{"pool": f"{lo} - {hi}"}]
        if hook_debug_log:
            # the hook's own logger at debug level, in a file of its own
            d["loggers"].append({"name": "kea-dhcp4.hook-runscript", "severity": "DEBUG",
                                 "debuglevel": 99, "output_options": [{"output": hook_debug_log}]})
        d.update(extra or {})
        return json.dumps(cfg, indent=2), log, lease_file

    @contextlib.contextmanager
    def kea4(self, tag: str, text: str, log: str, env: Optional[Dict[str, str]] = None,
             lease_file: Optional[str] = None) -> Iterator[int]:
        """kea-dhcp4 running with ``text``; yields its PID, stops it afterwards (by PID) and
        keeps its log under build/<id>/smoke/."""
        if lease_file:
            self.sh(f"rm -f {lease_file} {lease_file}.*")
        pid = self.tn.start_kea(4, text, f"rt-{tag}", log, env=env)
        try:
            yield pid
        finally:
            self.tn.stop(pid)
            self.tn.keep(log, f"rt-{tag}-kea-dhcp4.log")
            self.tn.keep(f"{testnet.C_OUT}/rt-{tag}-kea-dhcp4.out", f"rt-{tag}-kea-dhcp4.out")

    def dora(self, mac: str, *extra: str) -> dict:
        """The scapy client's DISCOVER/OFFER/REQUEST/ACK; {} when the server did not answer."""
        return self.tn.client("v4", "dora", "--mac", mac, *extra, check=False)

    def perfdhcp4(self, *, rate: int, seconds: int, clients: int, tag: str,
                  wait_us: int = 2000000) -> Perf:
        """perfdhcp DORA as a relay from 198.18.0.1 (unique-ish clients from a random range)."""
        cmd = (f"ip netns exec cli perfdhcp -4 -l {PERF_RELAY} -r {rate} -p {seconds} "
               f"-R {clients} -b mac={testnet.PERFDHCP_MAC} -W {wait_us} {testnet.NET.server_v4}")
        r = self.sh(cmd, check=False)
        (self.tn.out / f"rt-{tag}-perfdhcp4.txt").write_text(f"$ {cmd}\n{r.output}")
        perf = parse_perfdhcp(r.output)
        if not perf.stats:
            raise testnet.SmokeError(f"perfdhcp gave no statistics (exit {r.exit_code}):\n{r.output[-1500:]}")
        return perf


def _timed(fn: Callable[..., Outcome]) -> Callable[..., Outcome]:
    def wrapper(rt: Runtime, *a, **kw) -> Outcome:
        t0 = time.monotonic()
        rt.tn.identities.clear()
        out = fn(rt, *a, **kw)
        out.seconds = time.monotonic() - t0
        # who Kea ran as in this scenario, read back from /proc/<pid>/status at each start
        out.facts["Kea ran as"] = smoke.kea_as_lines(rt.tn.identities)
        (rt.tn.out / f"rt-{out.name}.txt").write_text(out.summary() + "\n")
        (rt.tn.out / f"rt-{out.name}.json").write_text(json.dumps(
            {"ok": out.ok, "seconds": out.seconds, "problems": out.problems, "facts": out.facts},
            indent=1, default=str) + "\n")
        return out
    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


# --------------------------------------------------------------------------------------------
# 1. file descriptors


def parse_ls_fd(text: str) -> Dict[int, str]:
    """``ls -l /proc/self/fd`` -> {fd: target}."""
    out = {}
    for line in text.splitlines():
        m = re.search(r"\s(\d+) -> (.*)$", line)
        if m:
            out[int(m.group(1))] = m.group(2)
    return out


@_timed
def fd_list(rt: Runtime) -> Outcome:
    """Scripts started by the real Kea hold fds 0-2 only (+ the directory ls reads)."""
    o = Outcome("fd-list")
    files = {}
    scripts = []
    for name, wait, capture in (("sync", True, False), ("async", False, False),
                                ("capture", True, True)):
        files[name] = f"{C_RT_OUT}/fd-{name}.txt"
        path = rt.script(f"fd-{name}.sh", f"#!/bin/sh\nexec ls -l /proc/self/fd > {files[name]}\n")
        scripts.append({"script": path, "wait": wait, "capture-output": capture,
                        "hook-points": ["pkt4_receive"]})
    rt.sh(f"rm -f {C_RT_OUT}/fd-*.txt")
    text, log, lease = rt.config4("fd", {"scripts": scripts}, persist=True)
    with rt.kea4("fd", text, log, lease_file=lease) as pid:
        kea_fds = rt.fds(pid)
        ack = rt.dora("02:00:00:00:f1:01")
        time.sleep(0.5)
    o.facts["kea fds"] = len(kea_fds)
    o.facts["kea fd targets"] = sorted(set(re.sub(r"\[\d+\]", "[..]", t) for t in kea_fds.values()))
    if not ack:
        o.problems.append("no DORA with the fd scripts configured")
    if len(kea_fds) <= 4 or not any(t.startswith("socket:") for t in kea_fds.values()):
        o.problems.append(f"Kea itself has only {kea_fds}: the check would prove nothing")
    for name, path in files.items():
        seen = parse_ls_fd(rt.read(path))
        o.facts[f"{name} script fds"] = seen
        if not seen:
            o.problems.append(f"{name} script: no ls output in {path}")
            continue
        extra = {fd: t for fd, t in seen.items() if fd > 2}
        own = {fd: t for fd, t in extra.items() if re.fullmatch(r"/proc/\d+/fd", t)}
        if len(own) > 1 or set(extra) - set(own):
            o.problems.append(f"{name} script inherited fds beyond 0-2: "
                              f"{ {fd: t for fd, t in extra.items() if fd not in own} or extra}")
        if not {0, 1, 2} <= set(seen):
            o.problems.append(f"{name} script lacks some of fds 0-2: {seen}")
    return o


# --------------------------------------------------------------------------------------------
# 2. environment


LEAK = {"LEAK_TEST": "1"}
EXTRA_ENV = {"PATH": "/usr/bin:/bin"}


def expected_env(rt: Runtime, hook_point: str, environment: dict) -> set:
    """The catalogue's unconditional variables of the hook point for this Kea + ``environment``
    (the conditional ones, e.g. option 60 or 82, are absent: the client sends neither)."""
    return {v.name for v in rt.catalogue.variables_at(hook_point)
            if v.since <= rt.kea and not v.conditional} | set(environment)


@_timed
def env_list(rt: Runtime) -> Outcome:
    """At pkt4_receive the environment is the catalogue's variables + `environment`, exactly."""
    o = Outcome("env-list")
    records = {"sync": f"{C_RT_OUT}/env-sync.jsonl", "async": f"{C_RT_OUT}/env-async.jsonl"}
    rt.sh(f"rm -f {C_RT_OUT}/env-*.jsonl")
    scripts = [{"script": testnet.RECORDER, "wait": name == "sync", "hook-points": ["pkt4_receive"],
                "environment": dict(EXTRA_ENV, SMOKE_RECORD=path)} for name, path in records.items()]
    text, log, _ = rt.config4("env", {"scripts": scripts})
    with rt.kea4("env", text, log, env=LEAK) as pid:
        kea_env = rt.sh(f"tr '\\0' '\\n' < /proc/{pid}/environ").output.split()
        rt.dora("02:00:00:00:e1:01")
        time.sleep(0.5)
    kea_keys = sorted({e.partition("=")[0] for e in kea_env})
    o.facts["Kea's own environment (keys)"] = kea_keys
    if "LEAK_TEST=1" not in kea_env:
        o.problems.append(f"Kea was not started with LEAK_TEST=1 (its environment: {kea_keys})")
    for name, path in records.items():
        want = expected_env(rt, "pkt4_receive", dict(EXTRA_ENV, SMOKE_RECORD=path))
        recs = rt.tn.read_records(path)
        o.facts[f"{name} calls"] = len(recs)
        if not recs:
            o.problems.append(f"{name}: the recorder was not called at pkt4_receive")
        for rec in recs:
            got = set(rec["env"])
            if got != want:
                o.problems.append(f"{name}: environment keys differ: extra {sorted(got - want)}, "
                                  f"missing {sorted(want - got)}")
                break
            if rec["env"].get("PATH") != EXTRA_ENV["PATH"]:
                o.problems.append(f"{name}: PATH={rec['env'].get('PATH')!r}, configured {EXTRA_ENV['PATH']!r}")
                break
        if recs:
            o.facts[f"{name} environment keys"] = sorted(recs[0]["env"])
    return o


# --------------------------------------------------------------------------------------------
# 3. a hung synchronous script


def _sleepers(procs: List[dict]) -> List[dict]:
    return [p for p in procs if p["cmdline"][:2] == ["sleep", "300"]]


@_timed
def hung_script(rt: Runtime) -> Outcome:
    """`sleep 300` with timeout 1 at pkt4_receive: killed (group), logged, Kea answers."""
    o = Outcome("hung-script")
    hang = rt.script("hang.sh", "#!/bin/sh\n# sleep is a child of the shell: the process group must go\nsleep 300\necho never\n")
    text, log, _ = rt.config4("hang", {"script": hang, "wait": True, "timeout": 1,
                                       "hook-points": ["pkt4_receive"]})
    if _sleepers(rt.processes()):
        o.problems.append("a `sleep 300` was already running before the scenario")
    with rt.kea4("hang", text, log) as pid:
        t = time.monotonic()
        ack = rt.dora("02:00:00:00:a1:01")
        o.facts["DORA seconds"] = round(time.monotonic() - t, 2)
        time.sleep(0.5)
        procs = rt.processes()
        left = _sleepers(procs)
        kids = rt.children(pid, procs)
        timeouts = rt.count_in(log, "RUNSCRIPT_TIMEOUT")
    o.facts["address"] = ack.get("address")
    o.facts["RUNSCRIPT_TIMEOUT lines"] = timeouts
    o.facts["sleep 300 left"] = left
    o.facts["Kea's children after the DORA"] = kids
    if not ack:
        o.problems.append("Kea did not complete the DORA with the hung script (timeout 1 s)")
    elif o.facts["DORA seconds"] < 1.8:
        o.problems.append(f"DORA took {o.facts['DORA seconds']}s: the script did not block ~1 s per message")
    if timeouts < 2:
        o.problems.append(f"{timeouts} RUNSCRIPT_TIMEOUT lines in Kea's log, expected one per DISCOVER and REQUEST")
    if left:
        o.problems.append(f"`sleep 300` still running after the timeout: {left}")
    if kids:
        o.problems.append(f"Kea still has children: {kids}")
    return o


# --------------------------------------------------------------------------------------------
# 4. 10k asynchronous calls, no zombies


def _zombie_watch(rt: Runtime, pid: int, samples: list, stop: threading.Event) -> None:
    while not stop.is_set():
        procs = rt.processes()
        samples.append((len(rt.children(pid, procs)), len(rt.zombies(pid, procs))))
        stop.wait(0.5)


@_timed
def async_zombies(rt: Runtime, rate: int = 100, seconds: int = 13, min_calls: int = 10000,
                  max_rounds: int = 10) -> Outcome:
    """wait: false at the 1.4 hook points, >= 10k calls under perfdhcp, MT 4 threads:
    no zombie child of Kea once the calls are over. perfdhcp runs in rounds of `seconds`
    until the calls reach min_calls: a busy machine, or an emulated Kea (arm64 cells on an
    amd64 machine: about 150 calls a second), completes fewer exchanges per second."""
    o = Outcome("async-zombies")
    count = f"{C_RT_OUT}/async-count"
    rt.sh(f"rm -f {count}")
    path = rt.script("async-count.sh", f"#!/bin/sh\nprintf . >> {count}\nexit 0\n")
    text, log, _ = rt.config4("async", {"script": path, "wait": False}, multi_threading=MT4,
                              big_pool=True)
    with rt.kea4("async", text, log) as pid:
        samples: list = []
        stop = threading.Event()
        watcher = threading.Thread(target=_zombie_watch, args=(rt, pid, samples, stop))
        watcher.start()
        acks = requests = rounds = 0
        try:
            while rounds < max_rounds:
                rounds += 1
                perf = rt.perfdhcp4(rate=rate, seconds=seconds, clients=1000000,
                                    tag=f"async{rounds}")
                acks, requests = acks + perf.acks, requests + perf.requests
                done = len(rt.read(count)) + rt.count_in(log, "RUNSCRIPT_ASYNC_LIMIT")
                if done >= min_calls:
                    break
        finally:
            stop.set()
            watcher.join()
        time.sleep(1.5)  # the last scripts finish, the reaper collects them
        procs = rt.processes()
        zombies = rt.zombies(pid, procs)
        kids = rt.children(pid, procs)
        limit = rt.count_in(log, "RUNSCRIPT_ASYNC_LIMIT")
        errors = rt.sh(f"grep -E ' (ERROR|FATAL) ' {log} | grep -v RUNSCRIPT_ASYNC_LIMIT | head -5",
                       check=False).output.strip()
        calls = len(rt.read(count))
    o.facts.update({"script calls": calls, "RUNSCRIPT_ASYNC_LIMIT (skipped runs)": limit,
                    "calls + skipped": calls + limit, "perfdhcp rounds": rounds,
                    "perfdhcp ACKs": acks, "perfdhcp REQUESTs": requests,
                    "max children during load": max((s[0] for s in samples), default=0),
                    "max zombies in one sample during load": max((s[1] for s in samples), default=0),
                    "zombies after": zombies, "children after": kids})
    if calls + limit < min_calls:
        o.problems.append(f"only {calls} calls + {limit} skipped: fewer than {min_calls}")
    if zombies:
        o.problems.append(f"{len(zombies)} zombie children of Kea after the calls: {zombies[:5]}")
    if kids:
        o.problems.append(f"Kea still has {len(kids)} children 1.5 s after the load: {kids[:5]}")
    if errors:
        o.problems.append(f"Kea logged errors: {errors}")
    return o


# --------------------------------------------------------------------------------------------
# 5. kea-lfc while asynchronous scripts run


LFC_FAIL = r"DHCPSRV_MEMFILE_LFC_[A-Z_]*FAIL|LFC_FAIL_"
#: the prefix of lfc_with_async's problem about the synchronous script's lost exit status
EXIT_STATUS_LOST = "exit status lost"


@_timed
def lfc_with_async(rt: Runtime, rate: int = 100, seconds: int = 8) -> Outcome:
    """memfile persist + lfc-interval 1 while `sleep 0.2` runs asynchronously at pkt4_receive
    under perfdhcp (multi-threading, 4 threads): kea-lfc runs and completes each time, Kea
    reaps it, no error. Beside it a synchronous script drops (exit 3 -> drop) the clients
    whose MAC ends in 0: Kea's own child reaping must not take its exit status (a lease for
    such a MAC would show the drop was lost)."""
    o = Outcome("lfc-with-async")
    sleeper = rt.script("sleep02.sh", "#!/bin/sh\nsleep 0.2\n")
    drops = f"{C_RT_OUT}/drop0-calls"
    hook_log = f"{testnet.C_LOGS}/rt-lfc-hook.log"
    rt.sh(f"rm -f {drops} {hook_log}")
    dropper = rt.script("drop0.sh", "#!/bin/sh\ncase \"$KEA_QUERY4_HWADDR\" in\n"
                                    f"  *0) printf '%s\\n' \"$KEA_QUERY4_HWADDR\" >> {drops}; exit 3;;\n"
                                    "esac\nexit 0\n")
    params = {"max-async": 500, "scripts": [
        {"script": sleeper, "wait": False, "hook-points": ["pkt4_receive"]},
        {"script": dropper, "wait": True, "hook-points": ["pkt4_receive"], "exit-codes": {"3": "drop"}},
    ]}
    text, log, lease = rt.config4("lfc", params, persist=True, lfc_interval=1, big_pool=True,
                                  multi_threading=MT4, hook_debug_log=hook_log)
    out = f"{testnet.C_OUT}/rt-lfc-kea-dhcp4.out"
    with rt.kea4("lfc", text, log, lease_file=lease) as pid:
        samples: List[List[dict]] = []

        def watch():
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                samples.append(rt.processes())
                time.sleep(0.25)
        w = threading.Thread(target=watch)
        w.start()
        perf = rt.perfdhcp4(rate=rate, seconds=seconds, clients=16000000, tag="lfc")
        w.join()
        time.sleep(2.5)  # more LFC rounds without load
        # a moment between two cleanups: no kea-lfc running, no pid file, and no .1 (Kea moves
        # the lease file to .1 a moment before it starts kea-lfc: a .1 seen then is no leftover;
        # one that never goes leaves no quiet moment, which is reported below)
        quiet = None
        for _ in range(40):
            procs = rt.processes()
            files = rt.sh(f"ls -1 {lease}* 2>/dev/null", check=False).output.split()
            if (not any(p["comm"] == "kea-lfc" for p in procs) and f"{lease}.pid" not in files
                    and f"{lease}.1" not in files):
                quiet = files
                break
            time.sleep(0.1)
        executed = rt.count_in(log, "DHCPSRV_MEMFILE_LFC_EXECUTE")
        fails = rt.sh(f"grep -h -E '{LFC_FAIL}' {log} {out} | head -5", check=False).output.strip()
        errors = rt.sh(f"grep -h -E ' (ERROR|FATAL) ' {log} {out} | head -5", check=False).output.strip()
        sleeps_seen = max((sum(1 for p in rt.descendants(pid, s) if p["comm"] == "sleep02.sh")
                           for s in samples), default=0)
        lfc_seen = sorted({p["pid"] for s in samples for p in s if p["comm"] == "kea-lfc"})
        lfc_zombie_samples = [p for s in samples for p in s if p["comm"] == "kea-lfc" and p["state"] == "Z"]
        zombies_after = rt.zombies(pid, procs)
        leases_text = rt.read(f"{lease}.2") + rt.read(lease)
    rt.tn.keep(hook_log, "rt-lfc-hook.log")
    exits3 = len(rt.read(drops).split())
    applied = rt.count_in(hook_log, "RUNSCRIPT_EXIT_ACTION")
    o.facts["emulated"] = rt.emulated
    o.facts.update({"drop script exits 3": exits3, "RUNSCRIPT_EXIT_ACTION (drop applied)": applied,
                    "exit statuses lost": exits3 - applied})
    stats = lease_file_stats(leases_text)
    dropped_leased = sorted({ln.split(",")[1] for ln in leases_text.splitlines()
                             if ln.count(",") > 1 and ln.split(",")[1].endswith("0")})
    # A kea-lfc zombie seen in 4 samples (0.25 s apart) was not reaped promptly; a kea-lfc
    # running in 8 samples hangs (a cleanup of a few hundred leases takes milliseconds).
    stuck = sorted({p["pid"] for p in lfc_zombie_samples
                    if sum(1 for q in lfc_zombie_samples if q["pid"] == p["pid"]) >= 4})
    lfc_samples = [p["pid"] for s in samples for p in s if p["comm"] == "kea-lfc"]
    hung = sorted({pid_ for pid_ in lfc_samples if lfc_samples.count(pid_) >= 8})
    o.facts.update({"DHCPSRV_MEMFILE_LFC_EXECUTE": executed, "kea-lfc processes seen": len(lfc_seen),
                    "async scripts running at once (max seen)": sleeps_seen,
                    "perfdhcp ACKs": perf.acks, "leases after cleanup": stats,
                    "leases of dropped MACs (*0)": dropped_leased,
                    "RUNSCRIPT_ASYNC_LIMIT": rt.count_in(log, "RUNSCRIPT_ASYNC_LIMIT"),
                    "kea-lfc zombie samples": len(lfc_zombie_samples)})
    if executed < 3:
        o.problems.append(f"DHCPSRV_MEMFILE_LFC_EXECUTE logged {executed} times in {seconds + 2.5:.0f}s with lfc-interval 1")
    if sleeps_seen < 2:
        o.problems.append(f"at most {sleeps_seen} asynchronous scripts seen running at once: the LFC did not overlap them")
    if fails:
        o.problems.append(f"LFC failures logged: {fails}")
    if errors:
        o.problems.append(f"errors logged: {errors}")
    if stuck:
        o.problems.append(f"kea-lfc zombies not reaped for >= 1 s: pids {stuck}")
    if hung:
        o.problems.append(f"kea-lfc running for >= 2 s: pids {hung}")
    if zombies_after:
        o.problems.append(f"zombie children of Kea after the load: {zombies_after}")
    if quiet is None:
        o.problems.append("no moment without a running kea-lfc (or its pid file, or a .1 file) within 4 s after the load")
    files = quiet or []
    o.facts["lease files after"] = files
    base = Path(lease).name
    names = {Path(f).name for f in files}
    leftovers = sorted(n for n in names if n.endswith((".completed", ".output", ".pid", ".1")))
    if leftovers:
        o.problems.append(f"LFC left {leftovers} behind (an unfinished cleanup)")
    if f"{base}.2" not in names:
        o.problems.append(f"no {base}.2: no cleanup completed (files: {sorted(names)})")
    # Every ACK is a lease; an ACK that reached perfdhcp after its wait counts as its drop but is
    # a lease all the same (a loaded machine), so a lease needs only a REQUEST behind it.
    if not perf.acks <= stats["addresses"] <= perf.requests:
        o.problems.append(f"the cleaned-up lease files hold {stats['addresses']} addresses, perfdhcp got "
                          f"{perf.acks} ACKs for {perf.requests} REQUESTs")
    o.facts["DISCOVERs without OFFER (drops, ~1/16 expected)"] = perf.get("DISCOVER-OFFER", "drops")
    if perf.get("DISCOVER-OFFER", "drops") < 1:
        o.problems.append("no DISCOVER was dropped: the synchronous drop script did not act")
    if exits3 != applied:
        o.problems.append(f"{EXIT_STATUS_LOST}: the synchronous script exited 3 {exits3} times, the hook "
                          f"applied 'drop' {applied} times (RUNSCRIPT_EXIT_ACTION)")
    if dropped_leased:
        o.problems.append(f"{EXIT_STATUS_LOST}: {len(dropped_leased)} clients the synchronous script dropped (exit 3) got a lease "
                          f"(its exit code 3 -> drop was not applied): {dropped_leased[:5]}")
    return o


# --------------------------------------------------------------------------------------------
# 6. bad configurations


@dataclass(frozen=True)
class BadConfig:
    name: str
    parameters: dict
    message: str  # a fragment RUNSCRIPT_LOAD_ERROR's text must contain


def bad_configs_list(good: str, not_exec: str) -> List[BadConfig]:
    return [
        BadConfig("unknown parameter", {"script": good, "wiat": True},
                  "unknown parameter 'wiat' (did you mean 'wait'?)"),
        BadConfig("script missing", {"wait": True},
                  "required parameter 'script' is missing"),
        BadConfig("script relative", {"script": "hooks/script.sh"},
                  "parameter 'script' must be an absolute path, got 'hooks/script.sh'"),
        BadConfig("script does not exist", {"script": f"{C_RT}/no-such-script.sh"},
                  f"parameter 'script': script '{C_RT}/no-such-script.sh' does not exist"),
        BadConfig("script not executable", {"script": not_exec},
                  f"parameter 'script': script '{not_exec}' is not executable"),
        BadConfig("wait not bool", {"script": good, "wait": "yes"},
                  "parameter 'wait' must be a boolean"),
        BadConfig("timeout negative", {"script": good, "timeout": -1},
                  "parameter 'timeout' must be between 0"),
        BadConfig("unknown hook point", {"script": good, "hook-points": ["pkt4_recieve"]},
                  "parameter 'hook-points[0]': unknown hook point 'pkt4_recieve' (did you mean 'pkt4_receive'?)"),
        BadConfig("exit-codes with wait false", {"script": good, "wait": False, "exit-codes": {"3": "drop"}},
                  "parameter 'exit-codes' needs 'wait': true"),
        BadConfig("bad options4 entry", {"script": good, "options4": ["12x"]},
                  "parameter 'options4[0]' must be one of option codes"),
        BadConfig("options4 code out of range", {"script": good, "options4": [255]},
                  "parameter 'options4[0]' must be one of option codes"),
        BadConfig("scripts entry with unknown key", {"scripts": [{"script": good, "hook-point": ["pkt4_receive"]}]},
                  "unknown parameter 'scripts[0].hook-point' (did you mean 'hook-points'?)"),
    ] + hardening_bad_configs(good)


def _config_check(rt: Runtime, flag: str, conf: str, log: str) -> tuple:
    """kea-dhcp4 <flag> <conf>: (exit status, the first RUNSCRIPT_LOAD_ERROR line or None)."""
    rt.sh(f"rm -f {log}")
    r = rt.sh(f"timeout -s KILL 30 {rt.tn.kea_prefix(4)} kea-dhcp4 {flag} {conf} 2>&1; echo \"rc=$?\"",
              check=False)
    m = re.search(r"rc=(\d+)\s*$", r.output)
    text = r.output + rt.read(log)
    lines = [ln.strip() for ln in text.splitlines() if "RUNSCRIPT_LOAD_ERROR" in ln]
    # from the message id on: the id and the whole text, whatever the length of the text
    return (int(m.group(1)) if m else -1), (lines[0][lines[0].index("RUNSCRIPT_LOAD_ERROR"):] if lines else None)


@_timed
def bad_configs(rt: Runtime, max_seconds: float = 10.0) -> Outcome:
    """Each bad parameter set: kea-dhcp4 exits non-zero within max_seconds, with
    RUNSCRIPT_LOAD_ERROR and the parameter named. A good set with the same base starts."""
    o = Outcome("bad-configs")
    # Kea >= 2.3.6 checks a file with the hooks loaded (-T): the same refusals must show there.
    check_flag = facts_for(rt.cell.kea).config_check_loading_hooks_flag
    good = rt.script("good.sh", "#!/bin/sh\nexit 0\n")
    not_exec = rt.script("not-executable.sh", "#!/bin/sh\nexit 0\n", mode=0o644)
    _trust_fixtures(rt)
    results = {}
    for i, bad in enumerate(bad_configs_list(good, not_exec)):
        tag = f"bad{i}"
        text, log, _ = rt.config4(tag, bad.parameters, interfaces=[])
        conf = f"{testnet.C_CONF}/rt-{tag}-dhcp4.json"
        out = f"{testnet.C_OUT}/rt-{tag}-kea-dhcp4.out"
        rt.tn.c.write_file(conf, text)
        rt.sh(f"rm -f {log}")
        t = time.monotonic()
        # `timeout` only guards against a server that would start: it is our own child.
        r = rt.sh(f"timeout -s KILL {max_seconds + 5} {rt.tn.kea_prefix(4)} kea-dhcp4 -c {conf} "
                  f">{out} 2>&1 </dev/null; echo \"rc=$?\"", check=False)
        secs = round(time.monotonic() - t, 2)
        m = re.search(r"rc=(\d+)", r.output)
        rc = int(m.group(1)) if m else -1
        text_out = rt.read(out) + rt.read(log)
        lines = [ln.strip() for ln in text_out.splitlines() if "RUNSCRIPT_LOAD_ERROR" in ln]
        message = lines[0][lines[0].index("RUNSCRIPT_LOAD_ERROR"):] if lines else None
        results[bad.name] = {"exit": rc, "seconds": secs, "message": message}
        if rc == 0 or rc == 137:
            o.problems.append(f"{bad.name}: kea-dhcp4 exit status {rc} ({'killed: it kept running' if rc == 137 else 'success'})")
        if secs > max_seconds:
            o.problems.append(f"{bad.name}: kea-dhcp4 took {secs}s to refuse the configuration")
        if not lines:
            o.problems.append(f"{bad.name}: no RUNSCRIPT_LOAD_ERROR in Kea's output: {text_out.strip()[-400:]!r}")
        elif not any(bad.message in ln for ln in lines):
            o.problems.append(f"{bad.name}: RUNSCRIPT_LOAD_ERROR lacks {bad.message!r}: {lines[0]!r}")
        if check_flag:
            rc, message = _config_check(rt, check_flag, conf, log)
            results[bad.name][f"kea-dhcp4 {check_flag}"] = {"exit": rc, "message": message}
            if rc == 0:
                o.problems.append(f"{bad.name}: kea-dhcp4 {check_flag} accepted the configuration")
            if not message or bad.message not in message:
                o.problems.append(f"{bad.name}: kea-dhcp4 {check_flag} did not name {bad.message!r}: {message!r}")
    o.facts["refusals"] = results
    # the control: the same base configuration with good parameters starts (and passes -T)
    text, log, _ = rt.config4("good", {"script": good}, interfaces=[])
    if check_flag:
        conf = f"{testnet.C_CONF}/rt-good-check-dhcp4.json"
        rt.tn.c.write_file(conf, text)
        rc, message = _config_check(rt, check_flag, conf, log)
        o.facts[f"control (good parameters), kea-dhcp4 {check_flag}"] = f"exit {rc}"
        if rc != 0:
            o.problems.append(f"kea-dhcp4 {check_flag} refused the good parameters: exit {rc}, {message!r}")
    try:
        with rt.kea4("good", text, log):
            pass
        o.facts["control (good parameters)"] = "started"
    except testnet.SmokeError as e:
        o.problems.append(f"the control configuration (good parameters) did not start: {e}")
    return o


# --------------------------------------------------------------------------------------------
# 7. exit code -> drop


@_timed
def exit_code_drop(rt: Runtime) -> Outcome:
    """exit-codes {"3": "drop"} at pkt4_receive: the blocked MAC gets no OFFER, others do."""
    o = Outcome("exit-code-drop")
    path = rt.script("block.sh", f"#!/bin/sh\n[ \"$KEA_QUERY4_HWADDR\" = \"{MAC_BLOCKED}\" ] && exit 3\nexit 0\n")
    text, log, _ = rt.config4("drop", {"script": path, "hook-points": ["pkt4_receive"],
                                       "exit-codes": {"3": "drop"}}, debug=True)
    with rt.kea4("drop", text, log):
        blocked = rt.dora(MAC_BLOCKED)
        blocked_err = rt.read(f"{testnet.C_OUT}/client.err").strip()
        allowed = rt.dora(MAC_ALLOWED)
        actions = rt.count_in(log, "RUNSCRIPT_EXIT_ACTION")
    o.facts.update({"blocked MAC": blocked or blocked_err, "allowed MAC address": allowed.get("address"),
                    "RUNSCRIPT_EXIT_ACTION lines": actions})
    if blocked:
        o.problems.append(f"{MAC_BLOCKED} (script exits 3 -> drop) got a lease: {blocked.get('address')}")
    elif "no answer" not in blocked_err:
        o.problems.append(f"{MAC_BLOCKED}: the client failed otherwise than by a missing OFFER: {blocked_err!r}")
    if not allowed.get("address"):
        o.problems.append(f"{MAC_ALLOWED} (script exits 0) got no lease")
    if actions < 1:
        o.problems.append("no RUNSCRIPT_EXIT_ACTION in Kea's log")
    return o


# --------------------------------------------------------------------------------------------
# 8. hostname bytes


@_timed
def hostname_bytes(rt: Runtime) -> Outcome:
    """Option 12 with shell metacharacters, a newline and non-UTF-8 bytes: the script gets the
    exact bytes (KEA_QUERY4_OPTION12 hex; KEA_LEASE4_HOSTNAME as Kea stored it) and nothing
    executes them."""
    o = Outcome("hostname-bytes")
    record = f"{C_RT_OUT}/hostname.jsonl"
    raw = f"{C_RT_OUT}/hostname-lease.raw"
    rt.sh(f"rm -f {record} {raw} " + " ".join(PWNED))
    # a shell script on the way, as users write them: quoted expansions only
    path = rt.script("hostname.sh", f"""#!/bin/sh
if [ "$1" = lease4_select ] && [ "$KEA_FAKE_ALLOCATION" = 0 ]; then
    printf '%s' "$KEA_LEASE4_HOSTNAME" > {raw}
fi
exec {testnet.RECORDER} "$@"
""")
    params = {"script": path, "hook-points": ["pkt4_receive", "lease4_select"], "options4": [12],
              "environment": {"SMOKE_RECORD": record}}
    # Kea keeps the client's name as it is: no character replacement, no qualifying suffix.
    extra = {"hostname-char-set": "", "ddns-replace-client-name": "never",
             "ddns-qualifying-suffix": ""}
    text, log, _ = rt.config4("hostname", params, extra=extra)
    with rt.kea4("hostname", text, log):
        ack = rt.dora("02:00:00:00:12:01", "--hostname-hex", HOSTNAME_BYTES.hex())
        time.sleep(0.3)
    recs = rt.tn.read_records(record)
    sent_hex = "0x" + HOSTNAME_BYTES.hex().upper()
    opt12 = [r["env"].get("KEA_QUERY4_OPTION12") for r in recs if r["argv"][1:2] == ["pkt4_receive"]]
    commits = [r for r in recs if r["argv"][1:2] == ["lease4_select"]
               and r["env"].get("KEA_FAKE_ALLOCATION") == "0"]
    lease_hn = [r["env"].get("KEA_LEASE4_HOSTNAME", "").encode("utf-8", "surrogateescape") for r in commits]
    ack_hn = bytes.fromhex(ack.get("ack_options", {}).get("hostname", "")) if ack else b""
    raw_bytes = rt.read_bytes(raw)
    pwned = [p for p in PWNED if rt.exists(p)]
    o.facts.update({"sent": repr(HOSTNAME_BYTES), "KEA_QUERY4_OPTION12": opt12,
                    "KEA_LEASE4_HOSTNAME (recorder)": [repr(b) for b in lease_hn],
                    "KEA_LEASE4_HOSTNAME (shell printf)": repr(raw_bytes),
                    "option 12 in Kea's ACK": repr(ack_hn), "pwned files": pwned})
    if not ack:
        o.problems.append("no DORA with the hostname option")
    if not opt12 or any(v != sent_hex for v in opt12):
        o.problems.append(f"KEA_QUERY4_OPTION12 {opt12}, sent {sent_hex}")
    if not commits:
        o.problems.append("no lease4_select call for the committed lease")
    elif any(b != HOSTNAME_BYTES for b in lease_hn):
        o.problems.append(f"KEA_LEASE4_HOSTNAME {lease_hn!r}, sent {HOSTNAME_BYTES!r}"
                          f" (Kea's ACK carries {ack_hn!r})")
    if raw_bytes != HOSTNAME_BYTES:
        o.problems.append(f"the shell script's \"$KEA_LEASE4_HOSTNAME\" is {raw_bytes!r}, sent {HOSTNAME_BYTES!r}")
    if pwned:
        o.problems.append(f"the hostname was executed: {pwned} exist")
    return o


# --------------------------------------------------------------------------------------------
# 9. perfdhcp load, no lease lost


def lease_file_stats(text: str) -> dict:
    """Kea's memfile CSV (v4): data lines, unique addresses, unique hwaddrs."""
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("address,")]
    addrs = {ln.split(",", 1)[0] for ln in lines}
    macs = {ln.split(",")[1] for ln in lines if ln.count(",") >= 1}
    return {"lines": len(lines), "addresses": len(addrs), "hwaddrs": len(macs)}


@_timed
def perfdhcp_no_lost_lease(rt: Runtime, seconds: int = 60, rate: int = 80) -> Outcome:
    """The 1.4 hook points, synchronous trivial script, MT 4 threads, perfdhcp DORA for
    ``seconds``: every ACK perfdhcp received is a lease write in the lease file."""
    o = Outcome("perfdhcp-no-lost-lease")
    rate = rt.rate(rate)
    path = rt.script("trivial.sh", "#!/bin/sh\nexit 0\n")
    text, log, lease = rt.config4("load", {"script": path, "wait": True}, multi_threading=MT4,
                                  persist=True, big_pool=True)
    with rt.kea4("load", text, log, lease_file=lease):
        perf = rt.perfdhcp4(rate=rate, seconds=seconds, clients=16000000, tag="load")
        time.sleep(0.5)
        problems_logged = rt.sh(f"grep -E 'RUNSCRIPT_(TIMEOUT|SPAWN_FAILED|SCRIPT_FAILED|SCRIPT_SIGNALED|CALLOUT_ERROR)|"
                                f" (ERROR|FATAL) ' {log} | head -5", check=False).output.strip()
    stats = lease_file_stats(rt.read(lease))
    o.facts.update({"seconds": seconds, "rate": rate, "perfdhcp DISCOVERs": perf.get("DISCOVER-OFFER", "sent packets"),
                    "OFFERs": perf.offers, "REQUESTs": perf.requests, "ACKs": perf.acks,
                    "REQUEST-ACK drops": perf.get("REQUEST-ACK", "drops"),
                    "lease file": stats})
    if perf.acks < seconds * rate * 0.5:
        o.problems.append(f"only {perf.acks} ACKs in {seconds}s at rate {rate}: Kea did not sustain the load")
    # Every ACK is a lease write; ACKs that reached perfdhcp after its wait are leases that it
    # counted as drops (seen on a loaded machine): a write needs only a REQUEST behind it.
    if not perf.acks <= stats["lines"] <= perf.requests:
        o.problems.append(f"lease file has {stats['lines']} lease writes, perfdhcp received {perf.acks} ACKs "
                          f"for {perf.requests} REQUESTs")
    if stats["addresses"] != stats["hwaddrs"]:
        o.problems.append(f"{stats['addresses']} addresses for {stats['hwaddrs']} clients in the lease file")
    if problems_logged:
        o.problems.append(f"Kea logged: {problems_logged}")
    return o


# --------------------------------------------------------------------------------------------
# 10. reconfiguration under load


def _memory(rt: Runtime, pid: int) -> dict:
    """Kea's VmSize / VmRSS (kB) and its number of mappings."""
    r = rt.sh(f"grep -E '^(VmSize|VmRSS):' /proc/{pid}/status; wc -l < /proc/{pid}/maps", check=False)
    lines = r.output.split("\n")
    out = {}
    for line in lines:
        if ":" in line:
            key, value = line.split(":", 1)
            out[key] = int(value.split()[0])
        elif line.strip().isdigit():
            out["maps"] = int(line.strip())
    return out


@_timed
def reconfigure(rt: Runtime, reloads: int = 20, rate: int = 60, warmup: int = 5) -> Outcome:
    """Kea reloads its configuration (SIGHUP) ``reloads`` times under perfdhcp load, which
    unloads the library and loads it again each time: the unload and load scripts run each
    time, Kea keeps answering, no script or supervisor is left behind, and the hook's memory
    does not grow with the reloads (measured after ``warmup`` reloads and after the last)."""
    o = Outcome("reconfigure")
    rate = rt.rate(rate)
    life, count = f"{C_RT_OUT}/reconf-life", f"{C_RT_OUT}/reconf-count"
    rt.sh(f"rm -f {life} {count}")
    lifecycle = rt.script("reconf-life.sh", f'#!/bin/sh\necho "$1" >> {life}\n')
    counter = rt.script("reconf-count.sh", f"#!/bin/sh\nprintf . >> {count}\n")
    parameters = {"scripts": [
        {"script": lifecycle, "wait": True, "hook-points": ["load", "unload"]},
        {"script": counter, "wait": False, "hook-points": ["pkt4_receive", "leases4_committed"]},
        {"script": counter, "wait": True, "hook-points": ["lease4_select"]}]}
    # Under qemu-user each reload of a multi-threaded Kea grows the emulator's own memory by
    # about 1 MB (its state of the threads Kea makes anew; measured with Kea's own
    # libdhcp_lease_cmds.so instead of this hook: 1.1 MB a reload), which would hide the hook's:
    # an emulated cell reloads a single-threaded Kea.
    text, log, _ = rt.config4("reconf", parameters, multi_threading=False if rt.emulated else MT4,
                              big_pool=True)
    loaded = "RUNSCRIPT_LOADED"
    seconds = int(reloads * 0.8) + 4
    with rt.kea4("reconf", text, log) as pid:
        perf: dict = {}
        load = threading.Thread(target=lambda: perf.update(
            p=rt.perfdhcp4(rate=rate, seconds=seconds, clients=1000000, tag="reconf")))
        load.start()
        memory = {}
        done = 0
        try:
            for i in range(1, reloads + 1):
                time.sleep(0.3)
                rt.sh(f"kill -HUP {pid}")
                deadline = time.monotonic() + 15
                while rt.count_in(log, loaded) < i + 1 and time.monotonic() < deadline:
                    time.sleep(0.1)
                if rt.count_in(log, loaded) < i + 1:
                    o.problems.append(f"reload {i}: no {loaded} within 15 s")
                    break
                done = i
                if i in (warmup, reloads):
                    memory[i] = _memory(rt, pid)
        finally:
            load.join()
        time.sleep(1.5)  # the last asynchronous scripts end
        answer = rt.dora(MAC_ALLOWED)
        procs = rt.processes()
        below = rt.descendants(pid, procs)
        alive = any(p["pid"] == pid for p in procs)
        lines = rt.read(life).split()
        errors = rt.sh(f"grep -E ' (ERROR|FATAL) ' {log} | head -5", check=False).output.strip()
    perf_result = perf.get("p")
    o.facts.update({"reloads": done, "rate": rate, "multi-threading": not rt.emulated,
                    "load runs": lines.count("load"),
                    "unload runs (before the stop)": lines.count("unload"),
                    "async + sync script runs": len(rt.read(count)),
                    "perfdhcp ACKs": perf_result.acks if perf_result else None,
                    "DORA after the reloads": answer.get("address"),
                    "processes below Kea after": below, "memory": memory})
    if not alive:
        o.problems.append("kea-dhcp4 is gone")
    if lines.count("load") != done + 1 or lines.count("unload") != done:
        o.problems.append(f"{done} reloads, but load ran {lines.count('load')} and unload "
                          f"{lines.count('unload')} times")
    if not answer.get("address"):
        o.problems.append("no lease for a client after the reloads")
    if perf_result is None or perf_result.acks < rate * seconds * 0.5:
        o.problems.append("Kea did not keep answering perfdhcp during the reloads")
    if below:
        o.problems.append(f"left below Kea after the reloads: {below[:5]}")
    if errors:
        o.problems.append(f"Kea logged errors: {errors}")
    if warmup in memory and reloads in memory and done == reloads:
        grown = memory[reloads]["VmSize"] - memory[warmup]["VmSize"]
        per_reload = grown / (reloads - warmup)
        o.facts["VmSize growth per reload (kB)"] = round(per_reload, 1)
        # Kea keeps the library mapped across a reload (it opens the new configuration's
        # libraries before closing the old), so this catches growth of what each load creates;
        # the launcher's own mappings are checked by test_launch_memory_is_freed_when_the_launcher_stops.
        allowed = RELOAD_GROWTH_KB
        if rt.emulated:
            # qemu-user never frees what it keeps per guest thread (about 280 kB; a static
            # arm64 program making 200 threads one after the other grew 100 MB under qemu-user,
            # one making 200 vforks nothing), and each load of this hook starts its reaper
            # thread: side by side, the same reloads and traffic with Kea's own lease_cmds hook
            # and one Kea packet thread (made anew at each reload) are the comparison.
            control = _reload_growth_control(rt, rate, seconds, reloads, warmup)
            o.facts["VmSize growth per reload with Kea's lease_cmds hook instead (kB)"] = control
            allowed = RELOAD_GROWTH_KB + max(0.0, control or 0.0)
        o.facts["VmSize growth allowed per reload (kB)"] = round(allowed, 1)
        if per_reload > allowed:
            o.problems.append(f"Kea's VmSize grew {per_reload:.0f} kB per reload "
                              f"(over {allowed:.0f} kB)")
    return o


def _reload_growth_control(rt: Runtime, rate: int, seconds: int, reloads: int,
                           warmup: int) -> Optional[float]:
    """VmSize growth per reload (kB) of kea-dhcp4 with Kea's own libdhcp_lease_cmds.so in place
    of this hook and one packet thread (one thread made per reload, as the hook's reaper), under
    the same perfdhcp load and reloads; None if it could not be measured."""
    library = f"{rt.cell.hooks_dir}/libdhcp_lease_cmds.so"
    one_thread = {"enable-multi-threading": True, "thread-pool-size": 1, "packet-queue-size": 16}
    text, log, _ = rt.config4("reconf-control", {}, multi_threading=one_thread, big_pool=True,
                              extra={"hooks-libraries": [{"library": library}]})
    memory = {}
    with rt.kea4("reconf-control", text, log) as pid:
        load = threading.Thread(target=lambda: rt.perfdhcp4(rate=rate, seconds=seconds, clients=1000000,
                                                            tag="reconf-control"))
        load.start()
        try:
            for i in range(1, reloads + 1):
                time.sleep(0.3)
                before = rt.count_in(log, "DHCP4_CONFIG_COMPLETE")
                rt.sh(f"kill -HUP {pid}")
                deadline = time.monotonic() + 15
                while rt.count_in(log, "DHCP4_CONFIG_COMPLETE") <= before and time.monotonic() < deadline:
                    time.sleep(0.1)
                if i in (warmup, reloads):
                    memory[i] = _memory(rt, pid)
        finally:
            load.join()
    if warmup not in memory or reloads not in memory:
        return None
    return round((memory[reloads]["VmSize"] - memory[warmup]["VmSize"]) / (reloads - warmup), 1)


# --------------------------------------------------------------------------------------------
# 11-14. failures, trust, parameters and callouts (issue 10, items 6-8)


def _answered(rt: Runtime, mac: str) -> tuple:
    """(lease address or None, the client's error text when it got none)."""
    ack = rt.dora(mac)
    return ack.get("address"), ("" if ack else rt.read(f"{testnet.C_OUT}/client.err").strip())


#: Each failure kind of a synchronous script at pkt4_receive that the real Kea can produce:
#: (name, how the script is changed after load, the log message that shows the kind).
FAILURE_KINDS = (
    ("missing file (ENOENT)", "rm", "RUNSCRIPT_SPAWN_FAILED"),
    ("not executable (EACCES)", "chmod", "RUNSCRIPT_SPAWN_FAILED"),
    ("killed by a signal", "#!/bin/sh\nkill -9 $$\n", "RUNSCRIPT_SCRIPT_SIGNALED"),
    ("timeout", "#!/bin/sh\nsleep 5\n", "RUNSCRIPT_TIMEOUT"),
)


def _judge_failure(o: Outcome, results: dict, kind: str, action: Optional[str], message: str,
                   logged: int, address: Optional[str], err: str) -> None:
    """One failed run of :func:`on_failure`: the failure was logged, and the client got a
    lease unless on-failure is drop, in which case it got no answer at all."""
    results[kind] = {"lease": address, "client": err[-120:], message: logged}
    if logged < 1:
        o.problems.append(f"{kind}: no {message} in Kea's log: the failure did not happen")
    if action != "drop" and not address:
        o.problems.append(f"{kind}: on-failure {action or '(default)'}, but no lease: {err[-200:]!r}")
    if action == "drop" and address:
        o.problems.append(f"{kind}: on-failure drop, but the client got a lease ({address})")
    if action == "drop" and not address and "no answer" not in err:
        o.problems.append(f"{kind}: the client failed otherwise than by a missing answer: {err[-200:]!r}")


@_timed
def on_failure(rt: Runtime, action: Optional[str]) -> Outcome:
    """A script at pkt4_receive (timeout 0.5 s) with ``on-failure: action`` (None: the default,
    continue) fails in each way Kea can show: removed after load, made non-executable after
    load, killed by a signal, timed out, and (asynchronous, ``max-async: 1`` held by a script
    started at load) not started. With drop the client gets no OFFER each time; with continue
    it gets a lease each time. Each failure must show in Kea's log as its own kind."""
    name = action or "continue-default"
    o = Outcome(f"on-failure-{name}")
    tag = f"of-{name}"
    path = f"{C_RT}/{tag}.sh"
    hook_log = f"{testnet.C_LOGS}/rt-{tag}-hook.log"
    rt.sh(f"rm -f {hook_log}")
    rt.script(f"{tag}.sh", "#!/bin/sh\nexit 0\n")
    params: dict = {"script": path, "hook-points": ["pkt4_receive"], "timeout": 0.5}
    if action:
        params["on-failure"] = action
    results = {}
    text, log, _ = rt.config4(tag, params, hook_debug_log=hook_log)
    with rt.kea4(tag, text, log):
        address, _err = _answered(rt, "02:00:00:00:0f:00")
        results["control (script exits 0)"] = {"lease": address}
        if not address:
            o.problems.append("control: no lease while the script works")
        for i, (kind, change, message) in enumerate(FAILURE_KINDS, start=1):
            rt.script(f"{tag}.sh", "#!/bin/sh\nexit 0\n")
            if change == "rm":
                rt.sh(f"rm -f {path}")
            elif change == "chmod":
                rt.sh(f"chmod 0644 {path}")
            else:
                rt.script(f"{tag}.sh", change)
            # the hook's own messages go to hook_log only (config4's hook_debug_log)
            before = rt.count_in(hook_log, message)
            address, err = _answered(rt, f"02:00:00:00:0f:{i:02x}")
            logged = rt.count_in(hook_log, message) - before
            _judge_failure(o, results, kind, action, message, logged, address, err)
        applied = rt.count_in(hook_log, "RUNSCRIPT_FAILURE_ACTION")
    # the async limit: the only slot is held by the same script started at load
    release = f"{C_RT}/{tag}-release"
    rt.sh(f"rm -f {release}")
    holder = rt.script(f"{tag}-hold.sh", "#!/bin/sh\n[ \"$1\" = load ] || exit 0\n"
                       f"i=0; while [ ! -e {release} ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done\n")
    params = {"script": holder, "wait": False, "max-async": 1, "timeout": 60,
              "hook-points": ["load", "pkt4_receive"]}
    if action:
        params["on-failure"] = action
    text, log, _ = rt.config4(f"{tag}-limit", params)
    kind, message = "async limit (max-async 1)", "RUNSCRIPT_ASYNC_LIMIT"
    with rt.kea4(f"{tag}-limit", text, log):
        try:
            address, err = _answered(rt, "02:00:00:00:0f:10")
            logged = rt.count_in(log, message)
        finally:
            rt.sh(f"touch {release}")
    _judge_failure(o, results, kind, action, message, logged, address, err)
    o.facts["results"] = results
    o.facts["RUNSCRIPT_FAILURE_ACTION lines"] = applied
    if action == "drop" and applied < len(FAILURE_KINDS):
        o.problems.append(f"{applied} RUNSCRIPT_FAILURE_ACTION lines for {len(FAILURE_KINDS)} failed runs")
    if action is None and applied:
        o.problems.append(f"{applied} RUNSCRIPT_FAILURE_ACTION lines with the default (continue)")
    return o


@_timed
def earlier_drop(rt: Runtime) -> Outcome:
    """Two copies of the library (two file names: two dlopens): the first drops the blocked
    MAC at pkt4_receive (exit-codes), the second records every call at pkt4_receive. The
    blocked MAC's packets never reach the second script; the allowed MAC's do."""
    o = Outcome("earlier-drop")
    second = f"{rt.cell.hooks_dir}/kea-hook-runscript-second.so"
    rt.sh(f"cp {rt.cell.hooks_dir}/{LIBRARY} {second}")
    record = f"{C_RT_OUT}/earlier-drop.jsonl"
    rt.sh(f"rm -f {record}")
    block = rt.script("earlier-block.sh",
                      f"#!/bin/sh\n[ \"$KEA_QUERY4_HWADDR\" = \"{MAC_BLOCKED}\" ] && exit 3\nexit 0\n")
    text, log, _ = rt.config4("earlier", {"script": block, "hook-points": ["pkt4_receive"],
                                          "exit-codes": {"3": "drop"}})
    cfg = json.loads(text)
    cfg["Dhcp4"]["hooks-libraries"].append(
        {"library": second, "parameters": {"script": testnet.RECORDER, "hook-points": ["pkt4_receive"],
                                           "environment": {"SMOKE_RECORD": record}}})
    with rt.kea4("earlier", json.dumps(cfg, indent=2), log):
        loaded = rt.count_in(log, "RUNSCRIPT_LOADED")
        blocked, blocked_err = _answered(rt, MAC_BLOCKED)
        allowed, _ = _answered(rt, MAC_ALLOWED)
        time.sleep(0.3)
    recs = rt.tn.read_records(record)
    macs = [r["env"].get("KEA_QUERY4_HWADDR") for r in recs]
    o.facts.update({"libraries loaded": loaded, "blocked MAC": blocked or blocked_err[-120:],
                    "allowed MAC address": allowed,
                    "second script calls, blocked MAC": macs.count(MAC_BLOCKED),
                    "second script calls, allowed MAC": macs.count(MAC_ALLOWED)})
    if loaded < 2:
        o.problems.append(f"{loaded} RUNSCRIPT_LOADED lines: both copies must load")
    if blocked:
        o.problems.append(f"{MAC_BLOCKED} was not dropped by the first library (lease {blocked})")
    if not allowed:
        o.problems.append(f"{MAC_ALLOWED} got no lease")
    if macs.count(MAC_BLOCKED):
        o.problems.append(f"the second library ran its script {macs.count(MAC_BLOCKED)} times for "
                          f"packets the first one had dropped")
    if macs.count(MAC_ALLOWED) < 2:
        o.problems.append(f"the second library recorded {macs.count(MAC_ALLOWED)} calls for the allowed "
                          "MAC (DISCOVER and REQUEST expected)")
    return o


@_timed
def parameter_defaults(rt: Runtime) -> Outcome:
    """Top-level settings are the defaults of the `scripts` entries also when a top-level
    `script` is given; a `timeout` under 0.5 ms is 1 ms, not "none"; a hook point list that
    mixes v4 and v6 (lease6_select, which Kea registers in kea-dhcp4 too) loads in kea-dhcp4
    and the script is called only at the v4 one."""
    o = Outcome("parameter-defaults")
    record = f"{C_RT_OUT}/defaults.jsonl"
    rt.sh(f"rm -f {record}")
    good = rt.script("defaults-top.sh", "#!/bin/sh\nexit 0\n")
    slow = rt.script("defaults-slow.sh", "#!/bin/sh\nsleep 2\n")
    params = {"script": good, "hook-points": ["pkt4_receive", "lease6_select"], "timeout": 3,
              "environment": {"SMOKE_RECORD": record},
              "scripts": [{"script": testnet.RECORDER}, {"script": slow, "timeout": 0.0004}]}
    text, log, _ = rt.config4("defaults", params)
    with rt.kea4("defaults", text, log):
        address, err = _answered(rt, "02:00:00:00:de:01")
        time.sleep(0.3)
        summary = rt.sh(f"grep -h RUNSCRIPT_LOADED {log}", check=False).output.strip()
        timeouts = rt.count_in(log, "RUNSCRIPT_TIMEOUT")
    recs = rt.tn.read_records(record)
    points = sorted({r["argv"][1] for r in recs if len(r["argv"]) > 1})
    o.facts.update({"lease": address or err[-120:], "RUNSCRIPT_LOADED": summary[-700:],
                    "recorder calls (top-level environment)": len(recs),
                    "recorder hook points": points, "RUNSCRIPT_TIMEOUT lines": timeouts})
    if not address:
        o.problems.append("no lease")
    if len(recs) < 2 or points != ["pkt4_receive"]:
        o.problems.append(f"scripts[0] did not take the top-level hook-points and environment: "
                          f"{len(recs)} calls recorded at {points}")
    if f"{testnet.RECORDER} (wait, timeout 3000 ms" not in summary:
        o.problems.append(f"scripts[0] did not take the top-level timeout (3 s): {summary[-400:]!r}")
    if f"{slow} (wait, timeout 1 ms" not in summary:
        o.problems.append(f"'timeout': 0.0004 is not 1 ms: {summary[-400:]!r}")
    if timeouts < 2:
        o.problems.append(f"{timeouts} RUNSCRIPT_TIMEOUT lines: the 0.4 ms timeout did not kill "
                          "`sleep 2` at DISCOVER and REQUEST")
    return o


#: Scripts bad_configs refuses for their owner or modes (made by _trust_fixtures) ...
TRUST_GROUP_WRITABLE = f"{C_RT}/trust-group-writable.sh"
TRUST_OTHERS_WRITABLE = f"{C_RT}/trust-others-writable.sh"
TRUST_OTHER_OWNER = f"{C_RT}/trust-other-owner.sh"
TRUST_IN_GROUP_DIR = f"{C_RT}/trust-group-dir/ok.sh"
TRUST_IN_OTHER_DIR = f"{C_RT}/trust-other-dir/ok.sh"
TRUST_IN_TMP = "/tmp/rt-trust.sh"
TRUST_LINK_TO_TMP = f"{C_RT}/trust-link.sh"
#: ... and the owner (no passwd entry) they are given.
OTHER_UID = 4242


def _trust_fixtures(rt: Runtime) -> None:
    ok = "#!/bin/sh\nexit 0\n"
    for path, mode in ((TRUST_GROUP_WRITABLE, 0o775), (TRUST_OTHERS_WRITABLE, 0o757),
                       (TRUST_OTHER_OWNER, 0o755), (TRUST_IN_GROUP_DIR, 0o755),
                       (TRUST_IN_OTHER_DIR, 0o755), (TRUST_IN_TMP, 0o755)):
        rt.tn.c.write_file(path, ok, mode=mode)
    rt.sh(f"chown {OTHER_UID} {TRUST_OTHER_OWNER}; chmod 0775 {C_RT}/trust-group-dir; "
          f"chown {OTHER_UID} {C_RT}/trust-other-dir; ln -sf {TRUST_IN_TMP} {TRUST_LINK_TO_TMP}")


def hardening_bad_configs(good: str) -> List[BadConfig]:
    """The refusals of issue 10's items 6-8 (part of :func:`bad_configs_list`)."""
    fix = "set 'check-permissions': false"
    return [
        BadConfig("exit-codes key with a space", {"script": good, "exit-codes": {" 8": "drop"}},
                  "parameter 'exit-codes': key ' 8' is not an exit code"),
        BadConfig("exit-codes key with a sign", {"script": good, "exit-codes": {"+8": "drop"}},
                  "parameter 'exit-codes': key '+8' is not an exit code"),
        BadConfig("exit-codes key with a leading zero", {"script": good, "exit-codes": {"08": "drop"}},
                  "parameter 'exit-codes': key '08' is not an exit code"),
        BadConfig("exit-codes key over 255", {"script": good, "exit-codes": {"256": "drop"}},
                  "parameter 'exit-codes': key '256' is not an exit code"),
        BadConfig("hook-points empty", {"script": good, "hook-points": []},
                  "parameter 'hook-points' is an empty list"),
        BadConfig("scripts entry with hook-points empty",
                  {"scripts": [{"script": good, "hook-points": []}]},
                  "parameter 'scripts[0].hook-points' is an empty list"),
        BadConfig("only a DHCPv6 hook point in kea-dhcp4", {"script": good, "hook-points": ["lease6_select"]},
                  "none of the configured hook points is a DHCPv4 one, and this is kea-dhcp4 (lease6_select"),
        BadConfig("on-failure unknown", {"script": good, "on-failure": "block"},
                  "parameter 'on-failure': unknown action 'block'"),
        BadConfig("on-failure not a string", {"scripts": [{"script": good, "on-failure": True}]},
                  "parameter 'scripts[0].on-failure' must be \"continue\", \"skip\" or \"drop\""),
        BadConfig("max-output-lines 0", {"script": good, "max-output-lines": 0},
                  "parameter 'max-output-lines' must be between 1 and 100000"),
        BadConfig("max-output-lines too big", {"script": good, "max-output-lines": 100001},
                  "parameter 'max-output-lines' must be between 1 and 100000"),
        BadConfig("max-output-lines not an integer", {"script": good, "max-output-lines": "100"},
                  "parameter 'max-output-lines' must be an integer"),
        BadConfig("drain-timeout negative", {"script": good, "drain-timeout": -1},
                  "parameter 'drain-timeout' must be between 0 and 60 seconds"),
        BadConfig("drain-timeout too big", {"script": good, "drain-timeout": 61},
                  "parameter 'drain-timeout' must be between 0 and 60 seconds"),
        BadConfig("drain-timeout not a number", {"script": good, "drain-timeout": "2"},
                  "parameter 'drain-timeout' must be a number of seconds"),
        BadConfig("check-permissions not a boolean", {"script": good, "check-permissions": "no"},
                  "parameter 'check-permissions' must be a boolean"),
        BadConfig("script writable by its group", {"script": TRUST_GROUP_WRITABLE},
                  f"parameter 'script': script '{TRUST_GROUP_WRITABLE}' is writable by its group (mode 0775)"),
        BadConfig("script writable by others", {"scripts": [{"script": TRUST_OTHERS_WRITABLE}]},
                  f"parameter 'scripts[0].script': script '{TRUST_OTHERS_WRITABLE}' is writable by others (mode 0757)"),
        BadConfig("script owned by another user", {"script": TRUST_OTHER_OWNER},
                  f"script '{TRUST_OTHER_OWNER}' is owned by uid {OTHER_UID}, neither root nor the user Kea runs as"),
        BadConfig("script in a group-writable directory", {"script": TRUST_IN_GROUP_DIR},
                  f"script '{TRUST_IN_GROUP_DIR}' lies under '{C_RT}/trust-group-dir', which is writable by its group"),
        BadConfig("script in a directory of another user", {"script": TRUST_IN_OTHER_DIR},
                  f"script '{TRUST_IN_OTHER_DIR}' lies under '{C_RT}/trust-other-dir', which is owned by uid {OTHER_UID}"),
        BadConfig("script in /tmp (sticky, world-writable)", {"script": TRUST_IN_TMP},
                  f"script '{TRUST_IN_TMP}' lies under '/tmp', which is writable by others (mode 1777)"),
        BadConfig("symlink to a script in /tmp", {"script": TRUST_LINK_TO_TMP},
                  f"script '{TRUST_LINK_TO_TMP}' lies under '/tmp', which is writable by others"),
        BadConfig("untrusted script names the way out", {"script": TRUST_IN_TMP}, fix),
    ]


@_timed
def trust_checks(rt: Runtime) -> Outcome:
    """What bad_configs cannot show as root. (1) `check-permissions: false` loads scripts the
    check refuses (in /tmp, group-writable). (2) kea-dhcp4 running as an unprivileged user
    (Debian's _kea): a script it cannot execute (0700, root's) and one under a directory it
    cannot search are refused, naming the path, the user with its uid and the permission."""
    o = Outcome("trust-checks")
    _trust_fixtures(rt)
    text, log, _ = rt.config4("trust-off", {"check-permissions": False, "scripts": [
        {"script": TRUST_IN_TMP, "hook-points": ["pkt4_receive"]},
        {"script": TRUST_GROUP_WRITABLE, "hook-points": ["pkt4_receive"]}]}, interfaces=[])
    try:
        with rt.kea4("trust-off", text, log):
            o.facts["check-permissions false"] = "started"
    except testnet.SmokeError as e:
        o.facts["check-permissions false"] = str(e)[-300:]
        o.problems.append(f"check-permissions false: Kea did not start: {str(e)[-300:]}")
    user = rt.sh("id -u _kea", check=False)
    if not user.ok:
        o.problems.append("no _kea user in the runtime image: the unprivileged case was not run")
        return o
    uid = int(user.output.strip().splitlines()[-1])
    private = f"{C_RT}/trust-private"
    root_only = f"{C_RT}/trust-root-only.sh"
    rt.tn.c.write_file(f"{private}/ok.sh", "#!/bin/sh\nexit 0\n", mode=0o755)
    rt.tn.c.write_file(root_only, "#!/bin/sh\nexit 0\n", mode=0o700)
    rt.sh(f"chmod 0700 {private}")
    # Kea as _kea: its log, pid and lease directories must be its own for it to get as far
    # as loading hooks.
    kea_dirs = f"{C_RT}/kea-user"
    rt.sh(f"rm -rf {kea_dirs}; mkdir -p {kea_dirs}; chown _kea {kea_dirs} {testnet.C_LOGS}")
    cases = (("not executable by Kea's user", root_only,
              f"script '{root_only}' is not executable by the user Kea runs as, _kea (uid {uid}): "
              "no execute (x) permission on the file"),
             ("directory Kea's user cannot search", f"{private}/ok.sh",
              f"script '{private}/ok.sh' is not executable by the user Kea runs as, _kea (uid {uid}): "
              f"no search (x) permission on directory '{private}'"))
    results = {}
    for i, (name, path, want) in enumerate(cases):
        tag = f"trust-user{i}"
        text, log, _ = rt.config4(tag, {"script": path}, interfaces=[])
        conf = f"{kea_dirs}/{tag}.json"
        rt.tn.c.write_file(conf, text, mode=0o644)
        rt.sh(f"rm -f {log}")
        r = rt.sh(f"cd {kea_dirs} && KEA_PIDFILE_DIR={kea_dirs} KEA_LOCKFILE_DIR={kea_dirs} "
                  f"timeout -s KILL 20 ip netns exec srv setpriv --reuid=_kea --regid=_kea --clear-groups "
                  f"kea-dhcp4 -c {conf} 2>&1 </dev/null; echo \"rc=$?\"", check=False)
        out = r.output + rt.read(log)
        lines = [ln.strip() for ln in out.splitlines() if "RUNSCRIPT_LOAD_ERROR" in ln]
        results[name] = {"exit": r.output.strip().splitlines()[-1], "message": lines[0][-400:] if lines else out[-400:]}
        if not lines:
            o.problems.append(f"{name}: no RUNSCRIPT_LOAD_ERROR from kea-dhcp4 as _kea: {out[-600:]!r}")
        elif want not in lines[0]:
            o.problems.append(f"{name}: RUNSCRIPT_LOAD_ERROR lacks {want!r}: {lines[0][-400:]!r}")
    rt.tn.give(*rt.tn.owner(rt.tn.units.get(4)), testnet.C_LOGS)  # back to Kea's user (root without a unit)
    o.facts["as _kea"] = results
    return o


# --------------------------------------------------------------------------------------------
# 15. a script that floods its captured output


#: Watches the lifetime of every process named argv[1] until the file argv[3] exists, then
#: writes [{pid, start, end}] (seconds on CLOCK_BOOTTIME) to argv[2]. The start is the
#: kernel's (/proc/<pid>/stat), the end is when the process's pidfd becomes readable, i.e.
#: when it exits, before anyone reaps it: neither depends on the hook's own logging.
_LIFETIMES = r"""
import json, os, select, sys, time
comm, out, stop = sys.argv[1:4]
tick = os.sysconf('SC_CLK_TCK')
now = lambda: time.clock_gettime(time.CLOCK_BOOTTIME)
runs, open_fds, known = [], {}, set()
poller = select.poll()
while not os.path.exists(stop):
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            stat = open(f'/proc/{d}/stat').read()
        except OSError:
            continue
        if stat[stat.index('(') + 1:stat.rindex(')')] != comm:
            continue
        start = int(stat[stat.rindex(')') + 2:].split()[19]) / tick
        if (int(d), start) in known:
            continue
        known.add((int(d), start))
        run = {'pid': int(d), 'start': start, 'end': None}
        runs.append(run)
        try:
            fd = os.pidfd_open(int(d))
        except ProcessLookupError:
            run['end'] = now()  # already gone: an upper bound
            continue
        # any other error (no pidfd_open: kernel < 5.3) ends the watcher: it would measure nothing
        open_fds[fd] = run
        poller.register(fd, select.POLLIN)
    for fd, _ in poller.poll(20):
        open_fds[fd]['end'] = now()
        poller.unregister(fd)
        os.close(fd)
        del open_fds[fd]
json.dump({'runs': runs, 'now': now()}, open(out, 'w'))
"""


class Lifetimes:
    """The lifetimes of the processes named ``comm`` in the container, measured by a watcher
    (:data:`_LIFETIMES`) running beside Kea; ``with Lifetimes(rt, "yes", "flood") as lt: ...``,
    then ``lt.runs``: [{pid, start, end, seconds}] (end None: still running at the end)."""

    def __init__(self, rt: Runtime, comm: str, tag: str):
        self.rt, self.comm = rt, comm
        self.prog, self.out, self.stop = (f"{C_RT}/{tag}-{x}" for x in ("watch.py", "watch.json", "watch.stop"))
        self.runs: List[dict] = []

    def __enter__(self) -> "Lifetimes":
        self.rt.script(Path(self.prog).name, _LIFETIMES, mode=0o644)
        self.rt.sh(f"rm -f {self.out} {self.stop}; nohup python3 {self.prog} {self.comm} {self.out} {self.stop} "
                   f">{self.out}.err 2>&1 </dev/null &")
        time.sleep(0.3)
        return self

    def collect(self) -> List[dict]:
        """Stops the watcher and reads what it saw (bounded: 10 s)."""
        self.rt.sh(f"touch {self.stop}; for i in $(seq 100); do test -s {self.out} && exit 0; sleep 0.1; done",
                   check=False)
        text = self.rt.read(self.out)
        if not text.strip():
            raise testnet.SmokeError(f"the lifetime watcher wrote nothing: {self.rt.read(self.out + '.err')[-800:]}")
        data = json.loads(text)
        self.runs = [dict(r, seconds=None if r["end"] is None else round(r["end"] - r["start"], 3))
                     for r in data["runs"]]
        return self.runs

    def __exit__(self, *exc) -> None:
        if not self.runs:
            self.rt.sh(f"touch {self.stop}", check=False)


#: A line the hook logs once a run's captured lines exceed max-output-lines: "... 12345 more
#: lines dropped" (loose on purpose: the count and the verb's form may vary).
DROPPED_RE = r"[0-9]+ more (output )?lines? (were |was |have been )?dropped"
#: max-output-lines' default: captured lines logged per run, then the one "dropped" line.
MAX_OUTPUT_LINES = 100

#: The flood writers: how a script that writes without pause starts, its command name, the
#: longest line it makes the hook log (the hook cuts lines at 4096 bytes) and whether it
#: writes more lines than max-output-lines (then each run ends with a "dropped" line).
FLOODS = {
    "yes": ("exec yes", "yes", 1, True),                              # short lines, at full speed
    "long-lines": ("exec tr '\\000' x < /dev/zero", "tr", 4096, False),  # one line, never ended
}

#: How much Kea's peak RSS may exceed its RSS right after start-up during the flood (kB).
#: The hook holds at most one read (64 KiB) and one cut line (4 KiB) per running script and
#: at most max-async (64) asynchronous scripts run: ~4.5 MB. Kea's own growth from a dozen
#: leases is well under a megabyte. The unbounded queue this catches grew by 92 MB in seconds.
FLOOD_RSS_GROWTH_KB = 24 * 1024


def _status_kb(rt: Runtime, pid: int) -> Dict[str, int]:
    r = rt.sh(f"grep -E '^(VmRSS|VmHWM):' /proc/{pid}/status", check=False)
    return {k: int(v.split()[0]) for k, _, v in (ln.partition(":") for ln in r.output.splitlines()) if v}


def _perfdhcp_slow(rt: Runtime, tag: str, seconds: int, wait_s: int) -> Perf:
    """perfdhcp DORA, one new exchange per second for ``seconds``; then it waits ``wait_s``
    for the last answers, and only a packet unanswered for ``wait_s`` counts as lost (a
    synchronous script per packet queues them). (With -n instead of -p, perfdhcp exits as
    soon as it sent the last DISCOVER, and counts what is still in flight as dropped.)"""
    cmd = (f"timeout -s KILL {seconds + wait_s + 10} ip netns exec cli perfdhcp -4 -l {PERF_RELAY} "
           f"-r 1 -p {seconds} -R 1000 -d {wait_s} -W {wait_s * 1000000} "
           f"-b mac={testnet.PERFDHCP_MAC} {testnet.NET.server_v4}")
    r = rt.sh(cmd, check=False)
    (rt.tn.out / f"rt-{tag}-perfdhcp4.txt").write_text(f"$ {cmd}\n{r.output}")
    return parse_perfdhcp(r.output)


@_timed
def output_flood(rt: Runtime, wait: bool = True, mt: bool = False, writer: str = "yes",
                 timeout: float = 1.0, clients: int = 4, perf_seconds: int = 4) -> Outcome:
    """A script that writes without pause (``exec yes``) with capture-output and ``timeout``
    at pkt4_receive: each run is killed within timeout + 0.5 s (its lifetime measured by a
    watcher, not by the hook), ``clients`` scapy DORAs and a perfdhcp run (a DORA a second for
    ``perf_seconds``) are all answered, no script runs afterwards, Kea's log holds at
    most max-output-lines + 1 lines per run with one "dropped" line per run, and its peak
    RSS stays within FLOOD_RSS_GROWTH_KB of its RSS at start."""
    mode = f"{'sync' if wait else 'async'}-mt-{'on' if mt else 'off'}-{writer}"
    o = Outcome(f"output-flood-{mode}")
    tag = f"flood-{mode}"
    start_cmd, comm, line_max, many_lines = FLOODS[writer]
    runs_file = f"{C_RT_OUT}/{tag}-runs"
    rt.sh(f"rm -f {runs_file}")
    # the marker is written before exec: $$ is then the writer's pid
    path = rt.script(f"{tag}.sh", f"#!/bin/sh\necho $$ >> {runs_file}\n{start_cmd}\n")
    params = {"script": path, "wait": wait, "timeout": timeout, "capture-output": True,
              "hook-points": ["pkt4_receive"]}
    text, log, _ = rt.config4(tag, params, multi_threading=MT4 if mt else False)
    limit = timeout + 0.5
    answered: Dict[str, Optional[str]] = {}
    with rt.kea4(tag, text, log) as pid:
        rss_start = _status_kb(rt, pid)
        with Lifetimes(rt, comm, tag) as lt:
            for i in range(clients):
                mac = f"02:00:00:00:f0:{i + 1:02x}"
                answered[mac] = rt.dora(mac).get("address")
            # synchronous: each DORA holds one of Kea's threads for two runs of `timeout`
            queued = 2 * timeout * perf_seconds / (MT4["thread-pool-size"] if mt else 1) if wait else 0
            perf = _perfdhcp_slow(rt, tag, perf_seconds, wait_s=int(queued) + 3)
            time.sleep(limit + 0.5)  # the last runs reach their deadline
            runs = lt.collect()
        procs = rt.processes()
        rss_end = _status_kb(rt, pid)
        left = [p for p in procs if p["comm"] == comm]
        logs = rt.sh(f"ls {log}*", check=False).output.split()
        log_bytes = sum(int(x) for x in rt.sh(f"cat {' '.join(logs)} | wc -c", check=False).output.split()[:1])
        output_lines = sum(rt.count_in(f, "RUNSCRIPT_OUTPUT") for f in logs)
        dropped_lines = sum(rt.count_in(f, DROPPED_RE) for f in logs)
        dropped_sample = rt.sh(f"grep -h -m1 -E {shlex.quote(DROPPED_RE)} {' '.join(logs)}",
                               check=False).output.strip()[:300]
    markers = [int(x) for x in rt.read(runs_file).split() if x.isdigit()]
    seen = {r["pid"] for r in runs}
    unmeasured = [p for p in markers if p not in seen]
    late = [r for r in runs if r["seconds"] is None or r["seconds"] > limit]
    lifetimes = sorted(r["seconds"] for r in runs if r["seconds"] is not None)
    n = len(markers)
    o.facts.update({
        "runs (markers)": n, "runs measured": len(runs),
        "lifetimes (s), longest first": lifetimes[::-1][:10],
        "runs over timeout + 0.5 s": [(r["pid"], r["seconds"]) for r in late][:10],
        "scapy DORAs answered": f"{sum(1 for a in answered.values() if a)}/{clients}",
        "perfdhcp": f"{perf.get('DISCOVER-OFFER', 'sent packets')} DISCOVERs, {perf.offers} OFFERs, "
                    f"{perf.requests} REQUESTs, {perf.acks} ACKs",
        "Kea RSS at start (kB)": rss_start.get("VmRSS"), "Kea VmHWM at end (kB)": rss_end.get("VmHWM"),
        "log files": len(logs), "log bytes": log_bytes, "RUNSCRIPT_OUTPUT lines": output_lines,
        "'dropped' lines": dropped_lines, "a 'dropped' line": dropped_sample,
        f"{comm} left": left,
    })
    if n == 0:
        o.problems.append("the flood script never ran")
    if unmeasured:
        o.problems.append(f"runs the watcher did not see (their lifetime is unknown): {unmeasured[:5]}")
    if late:
        o.problems.append(f"{len(late)} of {len(runs)} runs lived longer than timeout + 0.5 s = {limit} s: "
                          f"{[(r['pid'], r['seconds']) for r in late][:5]} (None: still running)")
    if not all(answered.values()):
        o.problems.append(f"scapy clients without a lease: {[m for m, a in answered.items() if not a]}")
    discovers = perf.get("DISCOVER-OFFER", "sent packets")
    if discovers < perf_seconds - 1 or perf.acks != discovers:
        o.problems.append(f"perfdhcp: {perf.acks} ACKs for {discovers} DISCOVERs in {perf_seconds} s "
                          f"({perf.offers} OFFERs, {perf.requests} REQUESTs)")
    if left:
        o.problems.append(f"{len(left)} flood scripts still running after the traffic: {left[:3]}")
    if output_lines > n * (MAX_OUTPUT_LINES + 1):
        o.problems.append(f"{output_lines} RUNSCRIPT_OUTPUT lines for {n} runs: more than "
                          f"{MAX_OUTPUT_LINES} + 1 per run")
    # Kea's own lines: start-up, a few per packet and per timeout; the hook's: bounded per run
    log_cap = 64 * 1024 + n * (MAX_OUTPUT_LINES + 1) * (line_max + 300) + (clients + perf_seconds) * 2 * 1024
    if log_bytes > log_cap:
        o.problems.append(f"Kea's log holds {log_bytes} bytes ({len(logs)} files), over {log_cap} "
                          f"for {n} runs")
    if many_lines and n and dropped_lines < n:
        o.problems.append(f"{dropped_lines} lines saying how many lines were dropped "
                          f"(/{DROPPED_RE}/) for {n} runs, each of which wrote more than {MAX_OUTPUT_LINES}")
    growth = (rss_end.get("VmHWM") or 0) - (rss_start.get("VmRSS") or 0)
    o.facts["peak RSS growth (kB)"] = growth
    if not rss_end:
        o.problems.append("Kea was gone at the end of the flood")
    elif growth > FLOOD_RSS_GROWTH_KB:
        o.problems.append(f"Kea's peak RSS grew by {growth} kB during the flood (cap {FLOOD_RSS_GROWTH_KB} kB)")
    return o


# --------------------------------------------------------------------------------------------
# 16. stop and reload while endless asynchronous scripts run


#: With the default drain (2 s), Kea stops or reloads within this many seconds of the signal.
TEARDOWN_BOUND_S = 3.0
#: How long the scenario itself waits for Kea before it gives up (and kills Kea by PID).
TEARDOWN_CAP_S = 20


def _endless(procs: List[dict]) -> List[dict]:
    """The teardown scenario's scripts: `sleep 300` and the chatty `yes`."""
    return [p for p in procs if p["cmdline"][:2] == ["sleep", "300"] or p["comm"] == "yes"]


def _signal_and_time(rt: Runtime, pid: int, sig: str, until: str) -> Optional[float]:
    """Sends ``sig`` to ``pid`` and returns the seconds until the shell condition ``until``
    held (measured in the container, polled every 50 ms), None after TEARDOWN_CAP_S."""
    r = rt.sh(f"""t0=$(date +%s%N); kill -{sig} {pid}
        i=0; while ! ( {until} ) && [ $i -lt {TEARDOWN_CAP_S * 20} ]; do sleep 0.05; i=$((i+1)); done
        t1=$(date +%s%N); ( {until} ) && echo "ms=$(( (t1 - t0) / 1000000 ))" || echo timeout""", check=False)
    m = re.search(r"ms=(\d+)", r.output)
    return int(m.group(1)) / 1000 if m else None


def _gone(pid: int) -> str:
    """Shell condition: `pid` has exited (gone, or a zombie its new parent has not reaped)."""
    return f"! test -d /proc/{pid} || [ \"$(cut -d' ' -f3 /proc/{pid}/stat 2>/dev/null)\" = Z ]"


def _still_alive(before: List[dict], procs: List[dict]) -> List[dict]:
    """The processes of ``before`` that still run (same pid and command line, not a zombie)."""
    now = {(p["pid"], tuple(p["cmdline"])): p for p in procs if p["state"] != "Z"}
    return [now[k] for k in ((p["pid"], tuple(p["cmdline"])) for p in before) if k in now]


@_timed
def teardown(rt: Runtime, mt: bool = False, parameters: Optional[dict] = None,
             bound_s: float = TEARDOWN_BOUND_S, clients: int = 4) -> Outcome:
    """Endless asynchronous scripts: `sleep 300` (timeout 600 s) at pkt4_receive, started 8
    times by 4 DORAs, and from the load on a `sleep 300` with ``timeout: 0`` and a chatty
    ``exec yes`` with capture-output. SIGHUP: RUNSCRIPT_LOADED of the new configuration within
    ``bound_s`` and a DORA answered right after; the old scripts are gone. Then, with the
    same scripts running again, SIGTERM: kea-dhcp4 exits within ``bound_s`` and nothing it
    started is left. ``parameters``: added to the hook's (e.g. a drain time)."""
    o = Outcome(f"teardown-mt-{'on' if mt else 'off'}" + ("-" + "-".join(f"{k}-{v}" for k, v in parameters.items())
                                                        if parameters else ""))
    tag = o.name.replace("teardown", "td").replace(".", "")
    sleeper = rt.script("td-sleep.sh", "#!/bin/sh\n# sleep is the shell's child: the whole group must go\nsleep 300\n")
    chatty = rt.script("td-yes.sh", "#!/bin/sh\nexec yes\n")
    params = dict(parameters or {})
    params["scripts"] = [
        {"script": sleeper, "wait": False, "timeout": 600, "hook-points": ["pkt4_receive"]},
        {"script": sleeper, "wait": False, "timeout": 0, "hook-points": ["load"]},
        {"script": chatty, "wait": False, "timeout": 600, "capture-output": True, "hook-points": ["load"]},
    ]
    text, log, _ = rt.config4(tag, params, multi_threading=MT4 if mt else False)
    if _endless(rt.processes()):
        o.problems.append(f"endless scripts were already running before the scenario: {_endless(rt.processes())[:3]}")
    started: List[dict] = []  # everything below Kea at some point: killed by PID at the end
    loaded = "RUNSCRIPT_LOADED"

    def start_scripts(pid: int, round_: str, macs: List[str]) -> List[dict]:
        for mac in macs:
            if not rt.dora(mac).get("address"):
                o.problems.append(f"{round_}: no lease for {mac}")
        time.sleep(0.3)
        below = rt.descendants(pid, rt.processes())
        started.extend(below)
        o.facts[f"{round_}: scripts running (sleep 300, yes)"] = len(_endless(below))
        if len(_endless(below)) < 2 * clients + 2:
            o.problems.append(f"{round_}: {len(_endless(below))} endless scripts running, "
                              f"expected {2 * clients + 2}")
        return below

    def reload(pid: int) -> bool:
        """SIGHUP; False when Kea did not finish the reload within TEARDOWN_CAP_S."""
        before = start_scripts(pid, "before SIGHUP", [f"02:00:00:00:d0:{i + 1:02x}" for i in range(clients)])
        n_loaded = rt.count_in(log, loaded)
        secs = _signal_and_time(rt, pid, "HUP", f"[ $(grep -c {loaded} {log}) -gt {n_loaded} ]")
        o.facts["SIGHUP -> RUNSCRIPT_LOADED (s)"] = secs
        if secs is None or secs > bound_s:
            o.problems.append(f"SIGHUP: no new {loaded} within {bound_s} s "
                              f"({'none within ' + str(TEARDOWN_CAP_S) + ' s' if secs is None else f'{secs} s'})")
        ack = rt.dora("02:00:00:00:d1:01")
        o.facts["DORA right after the reload"] = ack.get("address")
        if not ack.get("address"):
            o.problems.append("no lease for a client right after the reload")
        old = _still_alive(_endless(before), rt.processes())
        o.facts["old scripts alive after the reload"] = len(old)
        if old:
            o.problems.append(f"{len(old)} scripts of the old configuration still run after the reload: {old[:3]}")
        return secs is not None

    def stop(pid: int) -> None:
        below = start_scripts(pid, "before SIGTERM", [f"02:00:00:00:d2:{i + 1:02x}" for i in range(clients)])
        secs = _signal_and_time(rt, pid, "TERM", _gone(pid))
        o.facts["SIGTERM -> kea-dhcp4 gone (s)"] = secs
        if secs is None or secs > bound_s:
            o.problems.append(f"SIGTERM: kea-dhcp4 still there {bound_s} s after the signal "
                              f"({'after ' + str(TEARDOWN_CAP_S) + ' s too' if secs is None else f'gone after {secs} s'})")
        time.sleep(0.2)
        left = _still_alive(below, rt.processes())
        o.facts["left after the stop"] = left
        if left:
            o.problems.append(f"{len(left)} processes Kea started outlived it: {left[:4]}")

    try:
        with rt.kea4(tag, text, log) as pid:
            if reload(pid):
                stop(pid)
            else:
                rt.sh(f"kill -KILL {pid}", check=False)  # it hangs in the reload
        if "SIGTERM -> kea-dhcp4 gone (s)" not in o.facts:
            # the stop still has to be measured, with a Kea that did not go through a reload
            for p in _still_alive(started, rt.processes()):
                rt.sh(f"kill -KILL {p['pid']}", check=False)
            with rt.kea4(tag + "-stop", text, log) as pid:
                stop(pid)
    finally:
        # what a failing hook left behind must not disturb the next scenario
        for p in _still_alive(started, rt.processes()):
            rt.sh(f"kill -KILL {p['pid']}", check=False)
    return o


# --------------------------------------------------------------------------------------------
# 17. examples/debug.sh keeps its log private


DEBUG_SH = f"{testnet.C_EXAMPLES}/debug.sh"
#: debug.sh's log when DEBUG_LOG is not set (examples/debug.sh)
DEBUG_LOG_DEFAULT = "/var/log/kea/kea-hook-runscript-debug.log"
#: Another local user (nobody), who plants files in /tmp before Kea's script writes there.
PLANTER_UID = 65534


def _stat(rt: Runtime, path: str) -> Optional[dict]:
    """lstat of ``path`` in the container: {type, mode, uid, size}, None when missing."""
    r = rt.sh(f"stat -c '%F|%a|%u|%s' {shlex.quote(path)}", check=False)
    if not r.ok:
        return None
    kind, mode, uid, size = r.output.strip().splitlines()[-1].split("|")
    return {"type": kind, "mode": mode, "uid": int(uid), "size": int(size)}


@_timed
def debug_log_private(rt: Runtime) -> Outcome:
    """examples/debug.sh as Kea runs it: its log is a 0600 file of Kea's user in Kea's log
    directory. Planted by another user at the path DEBUG_LOG names, a symbolic link (to a file
    that does not exist, and to one that does) is not followed and a file of theirs is not
    written to; Kea still answers."""
    o = Outcome("debug-log-private")
    # What a planted link points to: must stay untouched. Kea's user could write there (its
    # output directory, a file of its own), so only the script's care keeps it so.
    victim = f"{C_RT_OUT}/debug-victim"
    user, group = rt.tn.owner(rt.tn.units.get(4))
    rt.sh(f"rm -rf {DEBUG_LOG_DEFAULT} {victim} {victim}-existing /tmp/debug-planted-*; "
          f"echo original > {victim}-existing; chmod 644 {victim}-existing; "
          f"chown {user}:{group} {victim}-existing")
    other = f"setpriv --reuid {PLANTER_UID} --regid {PLANTER_UID} --clear-groups"
    planted = {
        "dangling link": "/tmp/debug-planted-link",
        "link to a file": "/tmp/debug-planted-link2",
        "file of another user": "/tmp/debug-planted-file",
    }
    rt.sh(f"{other} ln -s {victim} {planted['dangling link']} && "
          f"{other} ln -s {victim}-existing {planted['link to a file']} && "
          f"{other} sh -c 'umask 0; : > {planted['file of another user']}'")
    # the kernel's own protection of sticky directories would hide what the script does
    o.facts["fs.protected_symlinks, fs.protected_regular"] = rt.sh(
        "cat /proc/sys/fs/protected_symlinks /proc/sys/fs/protected_regular", check=False).output.split()
    tmp_before = set(rt.sh("ls -A /tmp", check=False).output.split())
    scripts = [{"script": DEBUG_SH, "hook-points": ["pkt4_receive"]}]
    scripts += [{"script": DEBUG_SH, "hook-points": ["pkt4_receive"], "environment": {"DEBUG_LOG": p}}
                for p in planted.values()]
    text, log, _ = rt.config4("debuglog", {"scripts": scripts}, debug=True)
    with rt.kea4("debuglog", text, log) as pid:
        kea_uid = int(rt.sh(f"stat -c %u /proc/{pid}").output.strip().splitlines()[-1])
        ack = rt.dora("02:00:00:00:db:01")
    own = _stat(rt, DEBUG_LOG_DEFAULT)
    text_log = rt.read(DEBUG_LOG_DEFAULT)
    o.facts.update({"Kea's uid": kea_uid, "default log": DEBUG_LOG_DEFAULT, "its stat": own,
                    "DORA": ack.get("address"),
                    "pkt4_receive entries": text_log.count(" pkt4_receive (pid ")})
    if not ack.get("address"):
        o.problems.append("no lease with debug.sh configured")
    if own is None:
        o.problems.append(f"debug.sh did not create {DEBUG_LOG_DEFAULT}")
    else:
        if own["type"] != "regular file" or own["mode"] != "600" or own["uid"] != kea_uid:
            o.problems.append(f"{DEBUG_LOG_DEFAULT} is {own}, wanted a regular file, mode 600, owner {kea_uid}")
        if "KEA_QUERY4_HWADDR=02:00:00:00:db:01" not in text_log:
            o.problems.append(f"{DEBUG_LOG_DEFAULT} lacks the client's KEA_QUERY4_HWADDR")
    new_in_tmp = sorted(set(rt.sh("ls -A /tmp", check=False).output.split()) - tmp_before)
    o.facts["new files in /tmp"] = new_in_tmp
    if new_in_tmp:
        o.problems.append(f"debug.sh wrote to /tmp: {new_in_tmp}")
    # Packaged Kea runs as its own user (_kea): the same script, run as another user
    own_dir = f"{C_RT}/debug-user-dir"
    rt.sh(f"rm -rf {own_dir}; mkdir -m 700 {own_dir}; chown {PLANTER_UID}:{PLANTER_UID} {own_dir}")
    r = rt.sh(f"{other} env -i DEBUG_LOG={own_dir}/debug.log KEA_TEST=1 {DEBUG_SH} pkt4_receive", check=False)
    as_user = _stat(rt, f"{own_dir}/debug.log")
    o.facts[f"run as uid {PLANTER_UID}: exit, stat"] = [r.exit_code, as_user]
    if not r.ok or not as_user or as_user["mode"] != "600" or as_user["uid"] != PLANTER_UID:
        o.problems.append(f"debug.sh run as uid {PLANTER_UID}: exit {r.exit_code}, its log {as_user} "
                          f"(wanted mode 600, owner {PLANTER_UID}) {r.output.strip()[-200:]}")
    after = {name: _stat(rt, path) for name, path in planted.items()}
    o.facts["planted, after the calls"] = after
    targets = {"dangling link target": _stat(rt, victim),
               "linked file": rt.read(f"{victim}-existing").strip()}
    o.facts["link targets, after the calls"] = targets
    if targets["dangling link target"] is not None:
        o.problems.append(f"debug.sh followed the planted dangling link: {victim} was created "
                          f"{targets['dangling link target']}")
    if targets["linked file"] != "original":
        o.problems.append(f"debug.sh followed the planted link to {victim}-existing: it now holds "
                          f"{targets['linked file'][:200]!r}")
    if after["file of another user"] and after["file of another user"]["size"] != 0:
        o.problems.append(f"debug.sh wrote into a file another user planted: {after['file of another user']}")
    return o


# --------------------------------------------------------------------------------------------
# 0. Kea and its scripts run as the packaged unit says


@_timed
def kea_identity(rt: Runtime) -> Outcome:
    """kea-dhcp4 runs as the cell's packaged unit (user, ambient capabilities) and a script it
    starts has exactly those: its /proc/self/status, written at pkt4_receive."""
    o = Outcome("kea-identity")
    status = f"{C_RT_OUT}/identity-status"
    rt.sh(f"rm -f {status}")
    path = rt.script("identity.sh", f"#!/bin/sh\nexec cat /proc/self/status > {status}\n")
    text, log, _ = rt.config4("identity", {"script": path, "hook-points": ["pkt4_receive"]})
    unit = rt.tn.units.get(4)
    with rt.kea4("identity", text, log) as pid:
        kea = rt.tn.identity(pid)
        ack = rt.dora("02:00:00:00:1d:01")
    fields = dict(line.partition(":")[::2] for line in rt.read(status).splitlines())
    script = {"uid": int(fields.get("Uid", "-1").split()[0]) if fields.get("Uid") else None,
              "CapEff": units.cap_names(int(fields.get("CapEff", "0").strip() or "0", 16)),
              "CapAmb": units.cap_names(int(fields.get("CapAmb", "0").strip() or "0", 16))}
    o.facts.update({"unit": unit.describe() if unit else None, "kea": kea, "script": script,
                    "DORA": ack.get("address")})
    want_user = rt.tn.kea_user(4)
    if kea["user"] != want_user:
        o.problems.append(f"kea-dhcp4 runs as {kea['user']}, the unit says {want_user}")
    if unit is not None and sorted(kea["CapAmb"]) != sorted(unit.ambient):
        o.problems.append(f"kea-dhcp4's ambient capabilities {kea['CapAmb']}, the unit says {list(unit.ambient)}")
    if script["uid"] != kea["uid"] or script["CapEff"] != kea["CapEff"]:
        o.problems.append(f"the script runs as uid {script['uid']} with {script['CapEff']}, "
                          f"Kea as uid {kea['uid']} with {kea['CapEff']}")
    return o


# --------------------------------------------------------------------------------------------
# the container


@contextlib.contextmanager
def runtime(cell: Cell, *, paths: Paths = Paths(), keep: Optional[bool] = None,
            say: Callable[[str], None] = print) -> Iterator[Runtime]:
    """The cell's smoke container, set up (namespaces, hook, tools), as a :class:`Runtime`.
    Outputs go to build/<id>/smoke/rt-*."""
    out = paths.build / cell.id / "smoke"
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("rt-*"):
        old.unlink()
    so = paths.out(cell) / LIBRARY
    if not so.is_file():
        raise testnet.SmokeError(f"{so} does not exist: build the cell first (kea-runscript build --only {cell.id})")
    image = images.ensure_image("runtime", cell, paths.logs(cell), say)
    with containers.Container(image.tag, f"{cell.id}-runtime", keep=keep, cap_add=testnet.CAPS) as c:
        tn = testnet.TestNet(cell, c, out, say)
        tn.setup(so)
        tn.sh(f"mkdir -p {C_RT} && chmod 0755 {C_RT}")
        tn.give(*tn.owner(tn.units.get(4)), C_RT_OUT)
        yield Runtime(tn)


SCENARIOS: Sequence[Callable[[Runtime], Outcome]] = (
    kea_identity, fd_list, env_list, hung_script, async_zombies, lfc_with_async, bad_configs, exit_code_drop,
    hostname_bytes, perfdhcp_no_lost_lease, reconfigure, on_failure, earlier_drop,
    parameter_defaults, trust_checks, output_flood, teardown, debug_log_private,
)
