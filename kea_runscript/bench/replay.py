"""Lease replay timing (`kea-runscript bench --replay`, issue 25): Kea started on a memfile of
N leases with one ``replay: true`` script; the time the hook itself reports from the replay's
start to its end (RUNSCRIPT_REPLAY_DONE: every active lease handed over and every run ended),
beside the time Kea took to load the file. Measured, never asserted; printed as a table.

The v4 database holds at most what 198.18.0.0/15 leaves (bench.leases); 200k and 1M leases are
DHCPv6 ones. ``replay-rate`` at its bound (100000) shows what the script itself sustains; the
default rate (1000) shows the bound operators get without tuning.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Callable, List, Optional

from .rows import Row

DEFAULT_RATE = 1000
UNBOUNDED_RATE = 100000


@dataclass(frozen=True)
class ReplayCase:
    family: int
    leases: int
    script: str  # rows.SCRIPT_FILES kind: "sh" (exec) or "hc" (the C handler, asynchronous)
    rate: int

    @property
    def row(self) -> Row:
        return Row(self.family, "runscript", False, script=self.script, wait=False,
                   points=(f"lease{self.family}_release",), leases=self.leases)

    def parameters(self, script: str) -> dict:
        p = self.row.parameters(script)
        p.update({"replay": True, "replay-rate": self.rate})
        return p


CASES = (
    ReplayCase(4, 100_000, "sh", UNBOUNDED_RATE),
    ReplayCase(4, 100_000, "hc", UNBOUNDED_RATE),
    ReplayCase(4, 100_000, "hc", DEFAULT_RATE),
    ReplayCase(6, 200_000, "sh", UNBOUNDED_RATE),
    ReplayCase(6, 200_000, "hc", UNBOUNDED_RATE),
    ReplayCase(6, 1_000_000, "hc", UNBOUNDED_RATE),
    ReplayCase(6, 1_000_000, "sh", UNBOUNDED_RATE),
)

_DONE = re.compile(r"RUNSCRIPT_REPLAY_DONE \S+: (\d+) active leases replayed in ([\d.]+) s; (\d+) runs failed")


@dataclass
class ReplayResult:
    case: ReplayCase
    load_s: Optional[float] = None  # Kea's start (lease file loaded) until DHCPx_STARTED
    replayed: Optional[int] = None
    replay_s: Optional[float] = None
    failed: Optional[int] = None
    error: str = ""


def measure(db, case: ReplayCase, say: Callable[[str], None]) -> ReplayResult:
    """One Kea run of ``case`` (db: a set-up :class:`~kea_runscript.bench.dhcp.DhcpBench`)."""
    from ..verify import testnet
    res = ReplayResult(case)
    row = case.row
    user, group = db.tn.owner(db.tn.units.get(case.family))
    db.tn.sh(f"cp {db.pristine_file(case.family, case.leases)} {db.lease_file(case.family)} && "
             f"chown {user}:{group} {db.lease_file(case.family)}")
    t0 = time.monotonic()
    pid = None
    try:
        pid = db.tn.start_kea(case.family, db.config(row, case.parameters), "bench-replay", db.log,
                              start_s=30 + case.leases / 5000)
        res.load_s = time.monotonic() - t0
        bound = time.monotonic() + 120 + case.leases / min(case.rate, 500)
        while time.monotonic() < bound:
            m = _DONE.search(db.tn.sh(f"grep RUNSCRIPT_REPLAY_DONE {db.log}", check=False).output)
            if m:
                res.replayed, res.replay_s, res.failed = int(m.group(1)), float(m.group(2)), int(m.group(3))
                break
            time.sleep(1.0)
        else:
            res.error = "no RUNSCRIPT_REPLAY_DONE in time"
    except (testnet.SmokeError, ValueError) as e:
        res.error = str(e)[:300]
    finally:
        if pid is not None:
            db.tn.stop(pid)
    say(f"  replay {case.family=} {case.leases=} {case.script=} {case.rate=}: {res}")
    return res


def run(db, say: Callable[[str], None], cases=CASES) -> List[ReplayResult]:
    for fam, n in sorted({(c.family, c.leases) for c in cases}):
        took = db.prepare_leases(fam, n)
        say(f"  lease file of {n:,} DHCPv{fam} leases written in {took:.1f} s")
    return [measure(db, c, say) for c in cases]


def table(results: List[ReplayResult]) -> str:
    from .rows import SCRIPT_LABELS
    lines = ["| leases | family | script | replay-rate | Kea start (load) | replay | events/s | failed |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        c = r.case
        what = SCRIPT_LABELS[c.script] + (" (asynchronous handler)" if c.script == "hc" else " (exec)")
        if r.error or r.replay_s is None:
            lines.append(f"| {c.leases:,} | DHCPv{c.family} | {what} | {c.rate} | "
                         f"{r.load_s or 0:.1f} s | {r.error or 'not measured'} | | |")
            continue
        rate = r.replayed / r.replay_s if r.replay_s else float("inf")
        lines.append(f"| {c.leases:,} | DHCPv{c.family} | {what} | {c.rate} | {r.load_s:.1f} s | "
                     f"{r.replay_s:.1f} s ({r.replayed:,} events) | {rate:,.0f} | {r.failed} |")
    return "\n".join(lines)


def report(cell, results: List[ReplayResult], t0: float, out) -> str:
    """The table with its heading, also written to out/result.md."""
    text = (f"Lease replay: Kea {cell.kea} ({cell.id}), {time.strftime('%Y-%m-%d')}, "
            f"{(time.monotonic() - t0) / 60:.0f} min; replay = the hook's own time from the "
            f"replay's start to its end (RUNSCRIPT_REPLAY_DONE: every event handed over and "
            f"every run ended), Kea start = until Kea logged STARTED (lease file loaded)\n\n"
            + table(results))
    (out / "result.md").write_text(text + "\n")
    return text
