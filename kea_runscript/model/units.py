"""How a packaged systemd unit runs Kea: its user, group, capabilities and environment.

The tests start kea-dhcp4/6 as the cell's packaged unit does (Debian:
``/usr/lib/systemd/system/kea-dhcp4-server.service``, ``User=_kea``,
``AmbientCapabilities=CAP_NET_BIND_SERVICE CAP_NET_RAW``), so what the hook's scripts may do
in the tests is what they may do on a stock install. :func:`parse_unit` reads the few
``[Service]`` settings that decide it, from a unit file or from a drop-in applied on top of
one; :meth:`ServiceUnit.setpriv` turns them into the ``setpriv`` prefix that starts Kea that
way (setpriv execs: the PID stays Kea's).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, replace
from typing import Dict, Iterable, List, Optional, Tuple

#: Where Debian's packages put their units, newest layout first.
UNIT_DIRS = ("/usr/lib/systemd/system", "/lib/systemd/system")
UNIT_NAMES = {4: "kea-dhcp4-server.service", 6: "kea-dhcp6-server.service"}

#: capabilities(7): bit number -> name (the kernel's numbering, stable).
CAPABILITIES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
    "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)


class UnitError(ValueError):
    pass


def cap_names(mask: int) -> List[str]:
    """The names of the capabilities set in a /proc/<pid>/status mask (CapEff: 0x2400 ->
    CAP_NET_BIND_SERVICE, CAP_NET_RAW); unknown bits as CAP_<n>."""
    return [CAPABILITIES[i] if i < len(CAPABILITIES) else f"CAP_{i}"
            for i in range(64) if mask >> i & 1]


def _cap(name: str, where: str) -> str:
    n = name.upper()
    if not n.startswith("CAP_"):
        n = "CAP_" + n
    if n not in CAPABILITIES:
        raise UnitError(f"{where}: unknown capability {name!r}")
    return n


def _merge(old: Iterable[str], new: Iterable[str]) -> Tuple[str, ...]:
    out = list(old)
    out += [c for c in new if c not in out]
    return tuple(out)


@dataclass(frozen=True)
class ServiceUnit:
    """What a unit's ``[Service]`` section says about the process it starts."""

    path: str = ""
    user: Optional[str] = None                 # None: root
    group: Optional[str] = None                # None: the user's primary group
    ambient: Tuple[str, ...] = ()              # AmbientCapabilities=
    bounding: Optional[Tuple[str, ...]] = None  # CapabilityBoundingSet= (None: not restricted)
    bounding_drop: Tuple[str, ...] = ()         # CapabilityBoundingSet=~...
    environment: Tuple[Tuple[str, str], ...] = ()  # Environment=
    dropins: Tuple[str, ...] = ()

    @property
    def env(self) -> Dict[str, str]:
        return dict(self.environment)

    def describe(self) -> str:
        src = self.path + "".join(f" + {d}" for d in self.dropins)
        caps = " ".join(self.ambient) or "none"
        return f"User={self.user or 'root'} AmbientCapabilities={caps} ({src})"

    def setpriv(self, group: str) -> str:
        """The ``setpriv`` prefix that runs a command as this unit does (as root: "").
        ``group``: the group it runs as (Group=, or the user's primary group)."""
        if not self.user or self.user == "root":
            return ""
        caps = ",".join("+" + c[4:].lower() for c in self.ambient)
        args = ["setpriv", f"--reuid={self.user}", f"--regid={group}", "--init-groups"]
        if caps:
            # ambient capabilities must also be inheritable (capabilities(7))
            args += [f"--inh-caps={caps}", f"--ambient-caps={caps}"]
        if self.bounding is not None:
            args.append("--bounding-set=-all" + "".join(",+" + c[4:].lower() for c in self.bounding))
        elif self.bounding_drop:
            args.append("--bounding-set=" + ",".join("-" + c[4:].lower() for c in self.bounding_drop))
        return " ".join(shlex.quote(a) for a in args)


def parse_unit(text: str, path: str = "", base: Optional[ServiceUnit] = None) -> ServiceUnit:
    """``[Service]`` User=, Group=, AmbientCapabilities=, CapabilityBoundingSet=, Environment=
    of a unit file, or of a drop-in applied on top of ``base`` (as systemd does: capability
    lists add up, an empty assignment resets, the last User=/Group= wins)."""
    u = base or ServiceUnit(path=path)
    if base is not None:
        u = replace(u, dropins=u.dropins + (path,))
    section = None
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        no = i + 1
        i += 1
        while line.endswith("\\") and i < len(lines):  # continuation lines
            line = line[:-1] + " " + lines[i].strip()
            i += 1
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        if section != "Service" or "=" not in line:
            continue
        key, _, value = (s.strip() for s in line.partition("="))
        where = f"{path or 'unit'}:{no}: {key}"
        if key == "User":
            u = replace(u, user=value or None)
        elif key == "Group":
            u = replace(u, group=value or None)
        elif key == "AmbientCapabilities":
            if value.startswith("~"):
                raise UnitError(f"{where}: inverted ambient capabilities are not supported here")
            caps = [_cap(c, where) for c in value.split()]
            u = replace(u, ambient=_merge(u.ambient, caps) if value else ())
        elif key == "CapabilityBoundingSet":
            if not value:
                u = replace(u, bounding=None, bounding_drop=())
            elif value.startswith("~"):
                u = replace(u, bounding_drop=_merge(u.bounding_drop, [_cap(c, where) for c in value[1:].split()]))
            else:
                u = replace(u, bounding=_merge(u.bounding or (), [_cap(c, where) for c in value.split()]))
        elif key == "Environment":
            if not value:
                u = replace(u, environment=())
                continue
            env = dict(u.environment)
            for word in shlex.split(value):
                k, eq, v = word.partition("=")
                if not eq:
                    raise UnitError(f"{where}: {word!r} is not NAME=VALUE")
                env[k] = v
            u = replace(u, environment=tuple(env.items()))
    if u.bounding is not None:
        outside = [c for c in u.ambient if c not in u.bounding]
        if outside:
            raise UnitError(f"{path}: AmbientCapabilities {outside} are not in CapabilityBoundingSet")
    return u
