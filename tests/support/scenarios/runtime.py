"""The scenarios' common ground: :class:`Runtime` (the scenarios' view of one cell's test
network), the :class:`Outcome` a scenario returns, and :func:`runtime` (the cell's container)."""

from __future__ import annotations

import contextlib
import json
import shlex
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterator, List, Optional

from kea_runscript.engine import containers, images
from kea_runscript.verify import hook_log, smoke, testnet
from kea_runscript.builder.hook import LIBRARY, Paths
from kea_runscript.model.catalogue import load as load_catalogue
from kea_runscript.model.matrix import Cell
from kea_runscript.verify.perfdhcp import Perf, parse_perfdhcp
from kea_runscript.model.versions import Version
from .bounds import EMULATION_SLOWDOWN

C_RT = "/smoke/rt"          # scripts: root's, 0755, as the hook's trust check wants them
#: what the scripts write: Kea's user's (testnet.TestNet.give), beside but not above the scripts
C_RT_OUT = "/smoke/rt-out"
#: The architectures the launcher's supervisor is built for (hook/supervisor.h).
SUPERVISED_ARCHES = ("amd64", "arm64", "i386", "armhf", "riscv64", "ppc64el")
LEASE_DIR = "/var/lib/kea"  # Kea 2.6.3+ accepts lease files only in its data directory
PERF_RELAY = "198.18.0.1"   # perfdhcp's local address (giaddr): the big relayed subnet
BIG_SUBNET = ("198.18.0.0/15", "198.18.1.0", "198.19.255.254")
LONG = testnet.Timers(valid=7200, preferred=3600, renew=1800, rebind=3600, probation=3)

#: Kea's multi-threading for the load scenarios (4, 9 and 10).
MT4 = {"enable-multi-threading": True, "thread-pool-size": 4, "packet-queue-size": 64}

#: The MACs of the scapy clients (02: locally administered).
MAC_BLOCKED = "02:00:00:00:77:03"
MAC_ALLOWED = "02:00:00:00:77:04"


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


def parse_fd_links(text: str) -> Dict[int, str]:
    """Lines ``<fd> <readlink target>`` (Runtime.fds' loop over /proc/<pid>/fd) -> {fd: target}."""
    out = {}
    for line in text.splitlines():
        n, _, target = line.partition(" ")
        if n.isdigit():
            out[int(n)] = target
    return out


class Runtime:
    """The scenarios' view of one cell's smoke container (a :class:`testnet.TestNet`)."""

    def __init__(self, tn: testnet.TestNet):
        self.tn = tn
        self.cell = tn.cell
        #: Kea runs under qemu-user (see EMULATION_SLOWDOWN): the launcher takes its plain path
        #: there, as qemu-user refuses the supervisor's clone.
        self.emulated = tn.cell.emulated(containers.engine_arch())
        #: Scripts start under the launcher's supervisor (hook/supervisor.h says where; not
        #: under qemu-user); elsewhere they are Kea's plain children, whose exit status Kea's
        #: own waitpid(-1) can take (docs/hook.md).
        self.supervised = not self.emulated and tn.cell.arch in SUPERVISED_ARCHES
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

    def skipped_runs(self, path: str) -> int:
        """Script runs not started at max-async, as the hook's lines in Kea's log at `path` count
        them (a line per second at most, each with a count)."""
        r = self.sh(f"grep -h RUNSCRIPT_ASYNC_LIMIT {path} 2>/dev/null", check=False)
        return hook_log.skipped_runs(r.output)

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
        return parse_fd_links(r.output)

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


def timed(fn: Callable[..., Outcome]) -> Callable[..., Outcome]:
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


def answered(rt: Runtime, mac: str) -> tuple:
    """(lease address or None, the client's error text when it got none)."""
    ack = rt.dora(mac)
    return ack.get("address"), ("" if ack else rt.read(f"{testnet.C_OUT}/client.err").strip())


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
