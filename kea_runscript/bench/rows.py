"""The benchmark's rows (`nox -s bench`): one Kea configuration each (no hook, ISC's
run_script, this hook in some mode, with or without a lease database), which rows a run
measures, and which no-hook and ISC rows each is compared with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

SCRIPT_FILES = {"sh": "exit0.sh", "static": "exit0-static", "hc": "handler-c", "hpy": "handler.py"}
SCRIPT_LABELS = {"sh": "#!/bin/sh exit 0", "static": "static binary",
                 "hc": "trivial C handler", "hpy": "trivial Python handler"}
#: script kinds that are persistent handlers ("persistent": true), not scripts run per event
HANDLERS = ("hc", "hpy")
#: the Python handler's environment wherever it is measured: the example logs every record
#: to $HANDLER_LOG
PY_HANDLER_ENV = {"HANDLER_LOG": "/dev/null"}


@dataclass(frozen=True)
class Row:
    """One Kea configuration measured."""

    family: int
    hook: str  # "none" | "isc" | "runscript" | "isc-config" (this hook, ISC's parameters)
    mt: bool  # Kea multi-threading
    script: str = "sh"  # SCRIPT_FILES; HANDLERS are run as persistent handlers
    wait: bool = False
    points: Optional[Tuple[str, ...]] = None  # runscript: None = the default points (1.4's)
    leases: int = 0  # leases in the memfile Kea loads at start (0: empty, not persisted)
    park: bool = False  # runscript: park: true (the query waits, parked, for the script)

    @property
    def handler(self) -> bool:
        return self.hook == "runscript" and self.script in HANDLERS

    @property
    def key(self) -> str:
        what = {"none": "none", "isc": "isc", "isc-config": "isc-config"}.get(self.hook) or (
            ("default" if self.points is None else "+".join(self.points))
            + ("-park" if self.park else "-wait" if self.wait else "-async"))
        return f"v{self.family}-{what}-{'mt' if self.mt else 'st'}" + (
            "" if self.hook == "none" else f"-{self.script}") + (
            f"-{self.leases}" if self.leases else "")

    @property
    def label(self) -> str:
        if self.hook == "none":
            return "no hook"
        if self.hook == "isc":
            return "ISC run_script, sync: false"
        if self.hook == "isc-config":
            return "this hook, ISC's configuration (name, sync: false)"
        wait = "park: true" if self.park else f"wait: {'true' if self.wait else 'false'}"
        if self.park or (self.wait and self.points == _committed(self.family)):
            wait += ", exit-codes"
        if self.handler:
            points = "default points" if self.points is None else ", ".join(self.points)
            return f"this hook, handler, {points}, {wait}"
        if self.points is None:
            return f"this hook, 1.4 config (default points), {wait}"
        return f"this hook, {', '.join(self.points)}, {wait}"

    def parameters(self, script: str) -> dict:
        if self.hook in ("isc", "isc-config"):
            return {"name": script, "sync": bool(self.wait)}
        p = {"script": script, "park": True} if self.park else {"script": script, "wait": bool(self.wait)}
        if self.points is not None:
            p["hook-points"] = list(self.points)
        if self.points == _committed(self.family) and (self.park or self.wait):
            # a decision the script's exit code makes (never taken here: the script exits 0)
            p["exit-codes"] = {"3": "drop"}
        if self.handler:
            p["persistent"] = True
            if self.mt:  # one handler per Kea packet thread (Kea's default: one per core, 2 here)
                p["workers"] = HANDLER_WORKERS_MT
            if self.script == "hpy":
                p["environment"] = dict(PY_HANDLER_ENV)
        return p


#: handler processes in the rows with Kea's multi-threading on
HANDLER_WORKERS_MT = 2


def _committed(family: int) -> Tuple[str, ...]:
    return (f"leases{family}_committed",)


def park_rows(family: int) -> List[Row]:
    """Parked queries (issue 25): leases<f>_committed with an exit-code decision, `park: true`
    against `wait: true` and `wait: false` (no decision possible), the sh script and the C
    handler, Kea's multi-threading off and on, beside Kea without a hook."""
    rows = [Row(family, "none", mt) for mt in (False, True)]
    for script in ("sh", "hc"):
        for mt in (False, True):
            rows += [Row(family, "runscript", mt, script=script, points=_committed(family), park=True),
                     Row(family, "runscript", mt, script=script, points=_committed(family), wait=True),
                     Row(family, "runscript", mt, script=script, points=_committed(family))]
    return rows


def capacity_rows(family: int, full: bool) -> List[Row]:
    lc = (f"leases{family}_committed",)
    if not full:
        return [Row(family, "none", False), Row(family, "isc", False),
                Row(family, "runscript", True, points=lc), Row(family, "runscript", False, wait=True)]
    if family == 6:
        return [Row(6, "none", False), Row(6, "isc", False), Row(6, "runscript", True, points=lc),
                Row(6, "runscript", False, wait=True)] + isc_config_rows(6)
    return [
        Row(4, "none", False), Row(4, "none", True),
        Row(4, "isc", False), Row(4, "isc", True), Row(4, "isc-config", True),
        Row(4, "runscript", True, points=lc), Row(4, "runscript", False, points=lc),
        Row(4, "runscript", True, points=lc, wait=True),
        Row(4, "runscript", False, wait=True), Row(4, "runscript", True, wait=True),
        Row(4, "isc", False, script="static"),
        Row(4, "runscript", True, script="static", points=lc),
        Row(4, "runscript", False, script="static", wait=True),
    ]


def isc_config_rows(family: int) -> List[Row]:
    """ISC's documented configuration (`name`, `sync: false`) and script under ISC's hook and
    under this one, Kea multi-threaded (its default), beside Kea without a hook."""
    return [Row(family, "none", True), Row(family, "isc", True), Row(family, "isc-config", True)]


def handler_rows(family: int, full: bool) -> List[Row]:
    """Persistent handlers at every default point (issue 14): DHCPv4 the C and the Python
    handler, wait true and false, MT off and on; DHCPv6 (and --quick) the C handler, MT off."""
    if not full or family == 6:
        return [Row(family, "runscript", False, script="hc", wait=w) for w in (True, False)]
    return [Row(4, "runscript", mt, script=h, wait=w)
            for h in HANDLERS for w in (True, False) for mt in (False, True)]


def handler_only_rows(family: int) -> List[Row]:
    """The handler's per-event cost (issue 25, item 3): the C handler at the default points,
    wait: true and false, Kea's multi-threading off and on, beside Kea without a hook."""
    return [Row(family, "none", mt) for mt in (False, True)] + [
        Row(family, "runscript", mt, script="hc", wait=w) for mt in (False, True) for w in (True, False)]


#: the lease databases of the "Kea the size users run" rows: DHCPv6, because the DHCPv4
#: ranges the tests may use (198.18.0.0/15, 192.0.2.0/24) hold 131k addresses in all
LEASE_SIZES = {True: (200_000, 1_000_000), False: (200_000,)}


def lease_rows(full: bool) -> List[Row]:
    """Kea loading a memfile of N leases at start (issue 14, item 6), MT off: no hook, ISC,
    this hook's 1.4 configuration (exec, every default point, wait: true), the C handler."""
    rows = []
    for n in LEASE_SIZES[full]:
        rows += [Row(6, "none", False, leases=n), Row(6, "isc", False, leases=n)]
        if full:
            rows.append(Row(6, "runscript", False, wait=True, leases=n))
        rows.append(Row(6, "runscript", False, script="hc", wait=True, leases=n))
        if full and n < 1_000_000:  # each trial of a 1M row waits ~20 s for Kea's load
            rows.append(Row(6, "runscript", False, script="hc", wait=False, leases=n))
    return rows


def references(row: Row, rows: Sequence[Row]) -> Tuple[Optional[Row], Optional[Row]]:
    """The no-hook and ISC rows a row is compared with: same family and lease database, same
    multi-threading setting (and, for ISC, the same script) when measured, else the closest
    one measured."""
    def pick(hook: str) -> Optional[Row]:
        cands = [r for r in rows if r.family == row.family and r.hook == hook and r.leases == row.leases]
        cands.sort(key=lambda r: (r.mt != row.mt, hook == "isc" and r.script != row.script, r.mt, r.script))
        return cands[0] if cands else None
    return pick("none"), pick("isc")


def empty_twin(row: Row) -> Row:
    """The same configuration with an empty Kea (the lease rows' "÷ empty Kea")."""
    return Row(row.family, row.hook, row.mt, row.script, row.wait, row.points, park=row.park)


