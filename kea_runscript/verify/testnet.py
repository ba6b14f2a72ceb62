"""The shared test network: one cell's container (from its runtime image) with two network
namespaces, ``srv`` (Kea) and ``cli`` (clients), joined by a veth pair (:data:`NET`), the built
hook in Kea's hooks directory, Kea started as the cell's packaged unit runs it.

Used by the smoke test (:mod:`kea_runscript.verify.smoke`), the run-time scenarios
(:mod:`tests.support.scenarios`) and the benchmark (:mod:`kea_runscript.bench.dhcp`).
"""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional

from .. import ROOT
from ..engine import containers
from ..model import units
from ..builder.hook import LIBRARY
from ..model.matrix import Cell

TOOLS = Path(__file__).resolve().parent / "tools"
EXAMPLES = ROOT / "examples"
#: The container's capabilities, for the test's own root tools. SYS_PTRACE: Kea, started as its
#: unit's user with capabilities it did not have before, is not dumpable, and root needs it to
#: read Kea's /proc/<pid>/fd and /proc/<pid>/environ.
CAPS = ["NET_ADMIN", "NET_RAW", "SYS_ADMIN", "SYS_PTRACE"]

# paths inside the container
C_TOOLS = "/smoke/tools"
C_CONF = "/smoke/conf"
C_RECORDS = "/smoke/records"
C_OUT = "/smoke/out"
C_EXAMPLES = "/smoke/examples"
C_LOGS = "/var/log/kea"  # Kea 2.6.3+ accepts log files only under its log directory
#: What Kea writes, given to the user it runs as (the unit's): logs, leases, pid and lock files,
#: the recorder's lines. Scripts and configurations stay root's (the hook's trust check).
KEA_WRITES = (C_LOGS, C_RECORDS, "/var/lib/kea", "/run/kea")
RECORDER = f"{C_TOOLS}/recorder.py"
CLIENT = f"{C_TOOLS}/client.py"


# --------------------------------------------------------------------------------------------
# the test network


@dataclass(frozen=True)
class Subnet:
    subnet: str
    interface: str
    pools: tuple  # ((first, last), ...)
    pd_pools: tuple = ()  # (("prefix/len", delegated_len), ...)


@dataclass(frozen=True)
class Net:
    server_if: str = "srv0"
    client_if: str = "cli0"
    server_v4: str = "192.0.2.1"
    client_v4: str = "192.0.2.2"
    relay_v4: str = "198.18.0.1"
    server_v6: str = "2001:db8:1::1"
    subnets4: tuple = (
        Subnet("192.0.2.0/24", "srv0", (("192.0.2.100", "192.0.2.199"),)),
        Subnet("198.18.0.0/24", "", (("198.18.0.100", "198.18.0.199"),)),
    )
    subnets6: tuple = (
        Subnet("2001:db8:1::/64", "srv0", (("2001:db8:1::100", "2001:db8:1::1ff"),),
               (("2001:db8:100::/40", 56),)),
    )


NET = Net()

#: perfdhcp's simulated clients: MAC / DUID bases (it counts up from them).
PERFDHCP_MAC = "02:00:00:00:10:00"
PERFDHCP_MAC6 = "02:00:00:00:16:00"  # perfdhcp -6 makes DUID-LLTs of it
PERFDHCP_CLIENTS = 4


@dataclass(frozen=True)
class Timers:
    valid: int = 8
    preferred: int = 5
    renew: int = 4
    rebind: int = 6
    probation: int = 3


TIMERS = Timers()


# --------------------------------------------------------------------------------------------
# the container



class SmokeError(RuntimeError):
    pass


class TestNet:
    """The test network in one cell's container: the namespaces ``srv`` and ``cli``, Kea
    started as its packaged unit runs it, the clients; shared by the smoke test, the run-time
    scenarios and the benchmark."""

    def __init__(self, cell: Cell, c: containers.Container, out: Path, say: Callable[[str], None]):
        self.cell, self.c, self.out, self.say = cell, c, out, say
        self.cmd_log = out / "commands.log"
        #: per family: the packaged unit Kea starts as (None: the cell has none, Kea runs as root)
        self.units: Dict[int, Optional[units.ServiceUnit]] = {}
        #: per start_kea tag+family: who Kea ran as, read back from /proc/<pid>/status
        self.identities: Dict[str, dict] = {}
        #: variables every start_kea adds to Kea's environment (a sanitized hook's LD_PRELOAD)
        self.kea_env: Dict[str, str] = {}

    def sh(self, script: str, check: bool = True) -> containers.CallResult:
        r = self.c.sh(script, log=self.cmd_log)
        if check and not r.ok:
            raise SmokeError(f"command failed (exit {r.exit_code}): {script}\n{r.output[-2000:]}")
        return r

    def setup(self, so: Path) -> None:
        n = NET
        self.c.call(["mkdir", "-p", "/smoke", self.cell.hooks_dir])
        self.c.copy_into(so, f"{self.cell.hooks_dir}/{LIBRARY}")
        self.c.copy_into(TOOLS, C_TOOLS)
        if EXAMPLES.is_dir():
            self.c.copy_into(EXAMPLES, C_EXAMPLES)
        self.sh(f"""set -e
            chmod 755 {C_TOOLS}/*.py
            mkdir -p {C_CONF} {C_RECORDS} {C_OUT} {C_LOGS} /run/kea /var/lib/kea
            ip netns add srv
            ip netns add cli
            ip link add {n.server_if} netns srv type veth peer name {n.client_if} netns cli
            for ns in srv cli; do ip -n $ns link set lo up; done
            ip -n srv link set {n.server_if} up
            ip -n cli link set {n.client_if} up
            ip -n srv addr add {n.server_v4}/24 dev {n.server_if}
            ip -n srv -6 addr add {n.server_v6}/64 dev {n.server_if} nodad
            ip -n cli addr add {n.client_v4}/24 dev {n.client_if}
            ip -n cli addr add {n.relay_v4}/24 dev {n.client_if}
            ip -n srv route add 198.18.0.0/24 via {n.client_v4} dev {n.server_if}
        """)
        self.read_units()
        # IPv6 link-local addresses must finish duplicate address detection.
        for _ in range(50):
            r = self.sh("ip -n srv -6 addr show tentative; ip -n cli -6 addr show tentative", check=False)
            if not r.output.strip():
                return
            time.sleep(0.2)
        raise SmokeError("IPv6 link-local addresses still tentative after 10 s")

    def read_units(self) -> None:
        """The cell's packaged kea-dhcp4/6 units; what Kea writes is given to their user."""
        for fam, name in units.UNIT_NAMES.items():
            paths = " ".join(f"{d}/{name}" for d in units.UNIT_DIRS)
            r = self.sh(f"for f in {paths}; do [ -f $f ] && echo \"$f\" && cat \"$f\" && exit 0; done; exit 1",
                        check=False)
            if not r.ok:
                self.units[fam] = None
                continue
            path, _, text = r.output.partition("\n")
            self.units[fam] = units.parse_unit(text, path.strip())
        owners = {self.owner(u) for u in self.units.values() if u is not None and u.user}
        for user, group in owners:
            dirs = list(KEA_WRITES) + [v for u in self.units.values() if u
                                       for k, v in u.environment if k.endswith("_DIR")]
            self.give(user, group, *dirs)

    def owner(self, unit: Optional[units.ServiceUnit]) -> tuple:
        """(user, group) a unit runs its process as; ("root", "root") without one."""
        if unit is None or not unit.user:
            return "root", "root"
        group = unit.group
        if not group:
            r = self.sh(f"id -gn {shlex.quote(unit.user)}", check=False)
            if not r.ok:
                raise SmokeError(f"{unit.path}: User={unit.user} does not exist in the image: {r.output.strip()}")
            group = r.output.strip().splitlines()[-1]
        return unit.user, group

    def give(self, user: str, group: str, *dirs: str) -> None:
        """Make output directories Kea's (0750, as the unit's RuntimeDirectory=/LogsDirectory=)."""
        q = " ".join(shlex.quote(d) for d in dirs)
        self.sh(f"mkdir -p {q} && chown {shlex.quote(user)}:{shlex.quote(group)} {q} && chmod 0750 {q}")

    def kea_user(self, family: int = 4) -> str:
        return self.owner(self.units.get(family))[0]

    def identity(self, pid: int) -> dict:
        """Who a process runs as, from /proc/<pid>/status: name, user, uid, gid, capabilities."""
        r = self.sh(f"cat /proc/{pid}/status; echo \"user=$(stat -c %U /proc/{pid})\"", check=False)
        fields = {}
        for line in r.output.splitlines():
            k, sep, v = line.partition(":") if ":" in line else line.partition("=")
            fields[k.strip()] = v.strip()
        ident = {"name": fields.get("Name"), "user": fields.get("user"),
                 "uid": int(fields.get("Uid", "-1").split()[0]), "gid": int(fields.get("Gid", "-1").split()[0])}
        for k in ("CapEff", "CapAmb", "CapBnd"):
            ident[k] = units.cap_names(int(fields.get(k, "0"), 16)) if k != "CapBnd" else fields.get(k)
        return ident

    # Kea ------------------------------------------------------------------------------------

    def kea_prefix(self, family: int, unit: Optional[units.ServiceUnit] = None,
                   as_root: str = "") -> str:
        """``ip netns exec srv [setpriv ...]``: Kea as its packaged unit (or ``unit``) runs it;
        as root when the cell has no unit or when ``as_root`` (the reason) is given."""
        unit = unit or self.units.get(family)
        if as_root or unit is None:
            return "ip netns exec srv"
        # `env` (not shell assignments): the prefix also follows `timeout`; env execs, as do
        # ip and setpriv, so the PID started is Kea's
        env = "env " + " ".join(f"{k}={shlex.quote(v)}" for k, v in unit.environment) + " " \
            if unit.environment else ""
        setpriv = unit.setpriv(self.owner(unit)[1])
        return f"{env}ip netns exec srv {setpriv}".rstrip()

    def start_kea(self, family: int, conf_text: str, tag: str, log_file: str,
                  env: Optional[Dict[str, str]] = None, unit: Optional[units.ServiceUnit] = None,
                  as_root: str = "", start_s: float = 20.0) -> int:
        """Start kea-dhcp<family> in the ``srv`` namespace as the cell's packaged unit does
        (``unit``: another one, e.g. with a drop-in; ``as_root``: why this run needs root);
        its PID once it logged STARTED (within ``start_s``, else it is killed and SmokeError
        raised). ``env``: extra variables in Kea's environment.
        Who it ran as is read back into :attr:`identities`."""
        conf = f"{C_CONF}/{tag}-dhcp{family}.json"
        self.c.write_file(conf, conf_text)
        self.sh(f"rm -f {log_file}")
        out = f"{C_OUT}/{tag}-kea-dhcp{family}.out"
        env = {**self.kea_env, **(env or {})}
        assign = "".join(f"{k}={shlex.quote(v)} " for k, v in env.items())
        prefix = self.kea_prefix(family, unit, as_root)
        r = self.sh(f"{assign}{prefix} kea-dhcp{family} -c {conf} >{out} 2>&1 </dev/null & echo $!")
        pid = int(r.output.strip().splitlines()[-1])
        deadline = time.monotonic() + start_s
        while time.monotonic() < deadline:
            r = self.sh(f"grep -q DHCP{family}_STARTED {log_file} 2>/dev/null && echo started; "
                        f"kill -0 {pid} 2>/dev/null || echo dead", check=False)
            if "started" in r.output:
                if "LD_PRELOAD" in env:
                    self._check_preloaded(pid, env["LD_PRELOAD"])
                self._check_identity(family, pid, f"{tag}-dhcp{family}", unit or self.units.get(family), as_root)
                return pid
            if "dead" in r.output:
                tail = self.sh(f"tail -n 20 {out} {log_file} 2>/dev/null", check=False).output
                raise SmokeError(f"kea-dhcp{family} exited at start-up ({tag}):\n{tail}")
            time.sleep(0.2)
        self.stop(pid)
        raise SmokeError(f"kea-dhcp{family} did not log DHCP{family}_STARTED within {start_s:g} s ({tag})")

    def _check_preloaded(self, pid: int, library: str) -> None:
        """Kea really runs with ``library`` (a loader in secure-execution mode would drop it)."""
        r = self.sh(f"grep -c {shlex.quote(library)} /proc/{pid}/maps", check=False)
        if not r.output.strip().isdigit() or int(r.output.strip()) == 0:
            self.stop(pid)
            raise SmokeError(f"kea (pid {pid}) started without its LD_PRELOAD {library}")

    def _check_identity(self, family: int, pid: int, key: str, unit: Optional[units.ServiceUnit],
                        as_root: str) -> None:
        """The process behind ``pid`` is kea-dhcp<family> (setpriv and ip exec'd, no wrapper
        left) with the unit's user and exactly its ambient capabilities."""
        ident = {}
        for _ in range(50):
            ident = self.identity(pid)
            if ident["name"] == f"kea-dhcp{family}":
                break
            time.sleep(0.05)
        if unit is not None and not as_root:
            ident["unit"] = unit.describe()
            want_user = self.owner(unit)[0]
            if ident["user"] != want_user or sorted(ident["CapAmb"]) != sorted(unit.ambient):
                raise SmokeError(f"kea-dhcp{family} ({key}) runs as {ident}, the unit says "
                                 f"{want_user} with {list(unit.ambient)}")
        else:
            ident["unit"] = f"root: {as_root}" if as_root else \
                f"root: the cell has no packaged unit {units.UNIT_NAMES[family]}"
        if ident["name"] != f"kea-dhcp{family}":
            raise SmokeError(f"PID {pid} is {ident['name']!r}, not kea-dhcp{family} ({key})")
        self.identities[key] = ident

    def stop(self, pid: int) -> None:
        self.sh(f"kill -TERM {pid} 2>/dev/null; for i in $(seq 100); do kill -0 {pid} 2>/dev/null || exit 0; "
                f"sleep 0.1; done; kill -KILL {pid}", check=False)

    def read_records(self, path: str) -> List[dict]:
        r = self.sh(f"cat {path} 2>/dev/null", check=False)
        out = []
        for line in r.output.splitlines():
            line = line.strip()
            if line:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    out.append({"argv": ["?", "?"], "env": {}, "error": f"bad JSON line {line[:200]!r}"})
        return out

    def keep(self, src: str, name: str) -> None:
        """Copy a container file into build/<id>/smoke/ (missing files are skipped)."""
        if self.sh(f"test -f {src}", check=False).ok:
            self.c.copy_out(src, self.out / name)

    # clients --------------------------------------------------------------------------------

    def client(self, *args: str, check: bool = True) -> dict:
        cmd = "ip netns exec cli python3 " + CLIENT + " " + " ".join(shlex.quote(a) for a in args)
        r = self.c.sh(cmd + f" 2>{C_OUT}/client.err", log=None)
        err = self.sh(f"cat {C_OUT}/client.err", check=False).output
        with open(self.cmd_log, "a") as f:
            f.write(f"$ {cmd}\n{err}[exit status {r.exit_code}]\n")
        if not r.ok:
            if check:
                raise SmokeError(f"client.py {' '.join(args)} failed: {err.strip()[-1500:]}")
            return {}
        return json.loads(r.output)

    def perfdhcp(self, family: int) -> str:
        n = PERFDHCP_CLIENTS
        if family == 4:
            cmd = (f"perfdhcp -4 -l {NET.client_if} -B -b mac={PERFDHCP_MAC} -R {n} -n {n} -r {n} "
                   f"-d 5 -W 1500000")
        else:
            cmd = (f"perfdhcp -6 -l {NET.client_if} -e address-and-prefix -b mac={PERFDHCP_MAC6} "
                   f"-R {n} -n {n} -r {n} -d 5 -W 1500000")
        r = self.sh(f"ip netns exec cli {cmd}", check=False)
        return r.output
