"""Benchmarks (`nox -s bench`): measured and printed as tables, never asserted.

* launcher: per-call cost of the hook's launcher against a bare posix_spawn+waitpid and a
  fork+exec of the same script, from a process with a large resident heap (what makes
  fork() expensive inside a Kea with many leases). Same run, same machine: read the ratios.
  (:mod:`kea_runscript.bench_launcher`)
* DHCP capacity: perfdhcp at saturation against Kea on the test network, per hook
  configuration (below).
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from . import testnet
from .bench_launcher import exit0_scripts, launcher_costs, launcher_table
from .perfdhcp import parse_perfdhcp


# --------------------------------------------------------------------------------------------
# DHCP capacity: perfdhcp at saturation against the test network's Kea (kea_runscript.testnet)
#
# One container of the cell's runtime image, namespaces srv (Kea) and cli (perfdhcp) as in
# the smoke tests. A row is one Kea configuration (no hook, ISC's libdhcp_run_script.so, this
# hook in some mode). Its capacity is the highest offered rate (perfdhcp -r) at which at most
# 1 % of the exchanges started are lost (no ACK / REPLY within the drop time, or, for this
# hook's wait: false rows, a script run skipped by max-async), found by a geometric binary
# search with Kea restarted (fresh in-memory lease database) for every trial. Rows are
# interleaved trial by trial and the search runs twice (a wide first pass, a narrow second
# one around the first result) so that a noisy neighbour hits every row alike.

LOSS_LIMIT = 0.01  # a trial passes with at most 1 % of the exchanges lost
C_SCRIPTS = "/usr/share/kea/scripts"  # Kea 3.0's run_script accepts scripts only there
SCRIPT_FILES = {"sh": "exit0.sh", "static": "exit0-static"}
SCRIPT_LABELS = {"sh": "#!/bin/sh exit 0", "static": "static binary"}
ISC_LIBRARY = "libdhcp_run_script.so"


@dataclass(frozen=True)
class Row:
    """One Kea configuration measured."""

    family: int
    hook: str  # "none" | "isc" | "runscript"
    mt: bool  # Kea multi-threading
    script: str = "sh"  # "sh" | "static" (SCRIPT_FILES)
    wait: bool = False
    points: Optional[Tuple[str, ...]] = None  # runscript: None = 1.4 parameters (default points)

    @property
    def key(self) -> str:
        what = {"none": "none", "isc": "isc"}.get(self.hook) or (
            ("default" if self.points is None else "+".join(self.points))
            + ("-wait" if self.wait else "-async"))
        return f"v{self.family}-{what}-{'mt' if self.mt else 'st'}" + (
            "" if self.hook == "none" else f"-{self.script}")

    @property
    def label(self) -> str:
        if self.hook == "none":
            return "no hook"
        if self.hook == "isc":
            return "ISC run_script, sync: false"
        if self.points is None:
            return "this hook, 1.4 config (default points), wait: true"
        return f"this hook, {', '.join(self.points)}, wait: {'true' if self.wait else 'false'}"

    def parameters(self, script: str) -> dict:
        if self.hook == "isc":
            return {"name": script, "sync": bool(self.wait)}
        if self.points is None:
            return {"script": script, "wait": bool(self.wait)}
        return {"script": script, "wait": bool(self.wait), "hook-points": list(self.points)}


def _rows(family: int, full: bool) -> List[Row]:
    lc = (f"leases{family}_committed",)
    if not full:
        return [Row(family, "none", False), Row(family, "isc", False),
                Row(family, "runscript", True, points=lc), Row(family, "runscript", False, wait=True)]
    if family == 6:
        return [Row(6, "none", False), Row(6, "isc", False), Row(6, "runscript", True, points=lc),
                Row(6, "runscript", False, wait=True)]
    return [
        Row(4, "none", False), Row(4, "none", True),
        Row(4, "isc", False), Row(4, "isc", True),
        Row(4, "runscript", True, points=lc), Row(4, "runscript", False, points=lc),
        Row(4, "runscript", True, points=lc, wait=True),
        Row(4, "runscript", False, wait=True), Row(4, "runscript", True, wait=True),
        Row(4, "isc", False, script="static"),
        Row(4, "runscript", True, script="static", points=lc),
        Row(4, "runscript", False, script="static", wait=True),
    ]


def references(row: Row, rows: Sequence[Row]) -> Tuple[Optional[Row], Optional[Row]]:
    """The no-hook and ISC rows a row is compared with: same family, same multi-threading
    setting (and, for ISC, the same script) when measured, else the closest one measured."""
    def pick(hook: str) -> Optional[Row]:
        cands = [r for r in rows if r.family == row.family and r.hook == hook]
        cands.sort(key=lambda r: (r.mt != row.mt, hook == "isc" and r.script != row.script, r.mt, r.script))
        return cands[0] if cands else None
    return pick("none"), pick("isc")


@dataclass
class Trial:
    row: str
    rate: int
    seconds: float
    sent: int = 0  # exchanges started (DISCOVER / SOLICIT)
    completed: int = 0  # ACK / REPLY received
    skipped: int = 0  # this hook's RUNSCRIPT_ASYNC_LIMIT (script runs not started)
    delay_ms: Optional[float] = None  # avg DISCOVER-OFFER + avg REQUEST-ACK (or SARR)
    client_limited: bool = False  # perfdhcp did not send at the offered rate
    errors: int = 0  # ERROR lines in Kea's log (shown, not judged)
    error: str = ""

    @property
    def lost(self) -> float:
        return 1.0 if self.sent <= 0 else (self.sent - self.completed + self.skipped) / self.sent

    @property
    def passed(self) -> bool:
        return not self.error and not self.client_limited and self.lost <= LOSS_LIMIT


class Search:
    """Geometric binary search for the highest passing rate between lo (assumed to pass)
    and hi (assumed to fail)."""

    def __init__(self, lo: float, hi: float):
        self.lo0, self.hi0 = lo, hi
        self.lo, self.hi = lo, hi
        self.best: Optional[int] = None  # highest rate that passed
        self.trials: List[Trial] = []

    def next_rate(self) -> int:
        return max(1, int(round(math.sqrt(self.lo * self.hi))))

    def record(self, t: Trial) -> None:
        self.trials.append(t)
        if t.passed:
            self.lo = max(self.lo, t.rate)
            self.best = max(self.best or 0, t.rate)
        else:
            self.hi = min(self.hi, t.rate)

    @property
    def at_edge(self) -> bool:
        """No trial failed (or none passed): the capacity is only a bound."""
        return self.best is None or self.hi >= self.hi0

    def show(self) -> str:
        if self.best is None:
            return f"<{int(self.lo0)}"
        return f"≥{self.best}" if self.hi >= self.hi0 else str(self.best)


@dataclass
class Settings:
    trial_s: float = 4.0
    drop_s: float = 0.4  # perfdhcp -d: an answer later than this counts as lost
    pass1_trials: int = 6
    pass2_trials: int = 4
    lo: float = 25.0
    hi: float = 6400.0
    pass2_width: float = 1.5  # the second search spans capacity/width .. capacity*width
    latency_s: float = 3.0
    passes: int = 2


QUICK = Settings(trial_s=2.0, drop_s=0.25, pass1_trials=5, pass2_trials=0, latency_s=2.0, passes=1)


class DhcpBench:
    """Kea configurations and perfdhcp trials on the test network (:class:`testnet.TestNet`)."""

    def __init__(self, cell, tn: testnet.TestNet, settings: Settings, out: Path, say: Callable[[str], None]):
        from . import smoke
        self.smoke, self.cell, self.tn, self.s, self.out, self.say = smoke, cell, tn, settings, out, say
        self.log = f"{testnet.C_LOGS}/bench.log"

    def setup(self, scripts: Dict[str, Path]) -> List[str]:
        """Scripts into /usr/share/kea/scripts; returns what is unavailable (ISC's hook...)."""
        missing = []
        self.tn.sh(f"mkdir -p {C_SCRIPTS}")
        for kind, name in SCRIPT_FILES.items():
            src = scripts.get(SCRIPT_LABELS[kind])
            if src is None:
                missing.append(kind)
                continue
            self.tn.c.copy_into(src, f"{C_SCRIPTS}/{name}")
            self.tn.sh(f"chmod 755 {C_SCRIPTS}/{name}")
        if not self.tn.sh(f"test -f {self.cell.hooks_dir}/{ISC_LIBRARY}", check=False).ok:
            missing.append("isc")
        return missing

    def config(self, row: Row) -> str:
        sm, fam = self.smoke, row.family
        script = f"{C_SCRIPTS}/{SCRIPT_FILES[row.script]}"
        text = sm.kea_config(self.cell, fam, row.parameters(script), multi_threading=row.mt,
                             log_file=self.log)
        cfg = json.loads(text)
        d = cfg[f"Dhcp{fam}"]
        if row.hook == "none":
            d["hooks-libraries"] = []
        elif row.hook == "isc":
            d["hooks-libraries"][0]["library"] = f"{self.cell.hooks_dir}/{ISC_LIBRARY}"
        # Every exchange a new client and a new lease: large pools, long lifetimes.
        d.update({"valid-lifetime": 7200, "renew-timer": 1800, "rebind-timer": 3600})
        if fam == 4:
            # perfdhcp -4 relays (giaddr = its address, 192.0.2.2): a /15 selected by relay address.
            d["subnet4"] = [
                {"id": 1, "subnet": "198.18.0.0/15", "relay": {"ip-addresses": [testnet.NET.client_v4]},
                 "pools": [{"pool": "198.18.0.10 - 198.19.255.250"}]},
                {"id": 2, "subnet": "192.0.2.0/24", "interface": testnet.NET.server_if,
                 "pools": [{"pool": "192.0.2.100 - 192.0.2.199"}]}]
        else:
            d["preferred-lifetime"] = 5400
            d["subnet6"][0]["pools"] = [{"pool": "2001:db8:1::1:0 - 2001:db8:1::ffff:ffff"}]
        # INFO would log two lines per exchange (lease offered / allocated): keep those off.
        d["loggers"].append({"name": f"kea-dhcp{fam}.leases", "severity": "WARN",
                             "output_options": [{"output": self.log}]})
        return json.dumps(cfg, indent=1)

    def trial(self, row: Row, rate: int, seconds: float) -> Trial:
        t = Trial(row.key, rate, seconds)
        pid = None
        try:
            pid = self.tn.start_kea(row.family, self.config(row), "bench", self.log)
            if row.family == 4:
                cmd = f"perfdhcp -4 -l {testnet.NET.client_if} -B -b mac={testnet.PERFDHCP_MAC}"
            else:
                cmd = f"perfdhcp -6 -l {testnet.NET.client_if} -b mac={testnet.PERFDHCP_MAC6}"
            period = max(1, int(round(seconds)))
            cmd += (f" -R 10000000 -r {rate} -p {period} -d {self.s.drop_s}"
                    f" -W {int(max(self.s.drop_s, 0.2) * 1e6 + 100000)}")
            r = self.tn.sh(f"ip netns exec cli timeout {period + 30} {cmd} 2>&1", check=False)
            with open(self.out / "perfdhcp.txt", "a") as f:
                f.write(f"### {row.key} rate {rate}\n{r.output}\n")
            p = parse_perfdhcp(r.output).totals()
            t.sent, t.completed, t.delay_ms = p["sent"], p["completed"], p["delay_ms"]
            t.client_limited = t.sent < 0.95 * rate * period - 2
            counts = self.tn.sh(f"grep -c RUNSCRIPT_ASYNC_LIMIT {self.log}; grep -c ' ERROR ' {self.log}",
                               check=False).output.split()
            t.skipped, t.errors = (int(x) if x.isdigit() else 0 for x in (counts + ["0", "0"])[:2])
        except (testnet.SmokeError, ValueError) as e:
            t.error = str(e)[:500]
        finally:
            if pid is not None:
                self.tn.stop(pid)
        with open(self.out / "trials.jsonl", "a") as f:
            f.write(json.dumps({**t.__dict__, "lost": t.lost, "passed": t.passed}) + "\n")
        return t


@dataclass
class RowResult:
    row: Row
    passes: List[Search] = field(default_factory=list)
    latency: Optional[Trial] = None

    def capacity(self, i: int) -> Optional[int]:
        return self.passes[i].best if i < len(self.passes) else None


def _describe(t: Trial) -> str:
    if t.error:
        return f"error: {t.error.splitlines()[0]}"
    extra = f", {t.skipped} runs skipped" if t.skipped else ""
    extra += ", perfdhcp could not send at this rate" if t.client_limited else ""
    extra += f", {t.errors} ERROR lines in Kea's log" if t.errors else ""
    d = f", {t.delay_ms:.1f} ms" if t.delay_ms is not None else ""
    return (f"{t.completed}/{t.sent} done, lost {100 * t.lost:.1f}%{extra}{d} -> "
            f"{'pass' if t.passed else 'fail'}")


def run_capacity(db: DhcpBench, rows: Sequence[Row], s: Settings) -> Dict[str, RowResult]:
    results = {r.key: RowResult(r) for r in rows}
    for p in range(s.passes):
        for r in rows:
            res = results[r.key]
            if p == 0:
                res.passes.append(Search(s.lo, s.hi))
            else:
                c = res.capacity(0) or s.lo
                res.passes.append(Search(c / s.pass2_width, c * s.pass2_width))
        n = s.pass1_trials if p == 0 else s.pass2_trials
        for step in range(n):
            for r in rows:
                search = results[r.key].passes[p]
                rate = search.next_rate()
                t = db.trial(r, rate, s.trial_s)
                search.record(t)
                db.say(f"  pass {p + 1} trial {step + 1}/{n} {r.key:<34} {rate:>5}/s: {_describe(t)}")
    # latency: one trial per row at half its capacity
    for r in rows:
        res = results[r.key]
        caps = [x.best for x in res.passes if x.best]
        if caps:
            rate = max(1, int(min(caps) / 2))
            res.latency = db.trial(r, rate, s.latency_s)
            db.say(f"  latency {r.key:<34} {rate:>5}/s: {_describe(res.latency)}")
    return results


def _ratio(a: Optional[int], b: Optional[int], bound: bool = False) -> str:
    return f"{a / b:.2f}{'*' if bound else ''}" if a and b else "–"


def _pass_ratio(res: "RowResult", ref: "RowResult", i: int) -> str:
    if i >= len(res.passes) or i >= len(ref.passes):
        return "–"
    return _ratio(res.capacity(i), ref.capacity(i), res.passes[i].at_edge or ref.passes[i].at_edge)


def capacity_table(results: Dict[str, RowResult], family: int) -> str:
    rows = [r.row for r in results.values() if r.row.family == family]
    if not rows:
        return ""
    npass = max(len(results[r.key].passes) for r in rows)
    exch = "DORA" if family == 4 else "SARR"
    head = ["Kea configuration", "MT", "script"]
    head += [f"capacity {exch}/s" + (f" pass {i + 1}" if npass > 1 else "") for i in range(npass)]
    head += ["÷ no hook", "÷ ISC", f"{exch} latency ms at ½ capacity"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        res = results[r.key]
        none, isc = references(r, rows)
        caps = [res.passes[i].show() if i < len(res.passes) else "–" for i in range(npass)]
        def ratios(ref):
            if ref is None or ref == r:
                return "1" if ref == r else "–"
            return " / ".join(_pass_ratio(res, results[ref.key], i) for i in range(npass))
        lat = res.latency
        lat_s = f"{lat.delay_ms:.2f}" if lat is not None and lat.delay_ms is not None else "–"
        script = "" if r.hook == "none" else SCRIPT_LABELS[r.script]
        lines.append("| " + " | ".join([r.label, "on" if r.mt else "off", script, *caps,
                                          ratios(none), ratios(isc), lat_s]) + " |")
    return "\n".join(lines)


def targets(results: Dict[str, RowResult]) -> List[str]:
    """The issue's targets, as measured ratios (printed for reading; nothing is asserted)."""
    rows = [r.row for r in results.values()]
    out = []
    picks = [
        ("leases4_committed, wait: false, MT on (target ≥ 2× ISC)",
         Row(4, "runscript", True, points=("leases4_committed",))),
        ("1.4 default (every default point), wait: true, MT off (target ≥ 0.5× ISC)",
         Row(4, "runscript", False, wait=True)),
        ("1.4 default, wait: true, MT on (target ≥ 0.5× ISC)", Row(4, "runscript", True, wait=True)),
    ]
    for text, row in picks:
        if row.key not in results:
            continue
        res = results[row.key]
        vals = []
        for isc in [r for r in rows if r.family == 4 and r.hook == "isc" and r.script == row.script]:
            ref = results[isc.key]
            ratios = " / ".join(_pass_ratio(res, ref, i) for i in range(len(res.passes)))
            vals.append(f"{ratios} (ISC with MT {'on' if isc.mt else 'off'})")
        if vals:
            out.append(f"{text}: {'; '.join(vals)}")
    return out


#: Script runs per DORA with the 1.4 hook points: pkt4_receive, subnet4_select, lease4_select
#: and pkt4_send, for the DISCOVER and for the REQUEST (the smoke tests count them).
SYNC_RUNS_PER_DORA = 8


def sync_floor(results: Dict[str, RowResult], spawn_us: Dict[str, float]) -> List[str]:
    """What no launcher can beat for the 1.4 default with MT off: SYNC_RUNS_PER_DORA
    synchronous runs per DORA, each at least a bare posix_spawn+waitpid of the script
    (measured in the same run)."""
    out = []
    for script, label in SCRIPT_LABELS.items():
        row, isc = Row(4, "runscript", False, script=script, wait=True), Row(4, "isc", False, script=script)
        if label not in spawn_us or row.key not in results or isc.key not in results:
            continue
        bound = 1e6 / (SYNC_RUNS_PER_DORA * spawn_us[label])
        ref = results[isc.key]
        ratios = " / ".join(f"{bound / ref.capacity(i):.2f}" for i in range(len(ref.passes))
                            if ref.capacity(i))
        out.append(f"floor of the 1.4 default, MT off, {label}: {SYNC_RUNS_PER_DORA} × {spawn_us[label]:.0f} µs "
                   f"(bare posix_spawn+waitpid) per DORA leave at most {bound:.0f} DORA/s, "
                   f"whatever the launcher = {ratios}× ISC (MT off)")
    return out


def dhcp_tables(cell, *, quick: bool = False, families: Sequence[int] = (4, 6),
                keep: Optional[bool] = None, say: Callable[[str], None] = print,
                settings: Optional[Settings] = None,
                spawn_us: Optional[Dict[str, float]] = None) -> str:
    """Runs the capacity searches of the cell's rows; returns the tables (Markdown)."""
    from . import containers, images
    from .build import LIBRARY, Paths
    paths = Paths()
    s = settings or (QUICK if quick else Settings())
    out = paths.build / cell.id / "bench"
    out.mkdir(parents=True, exist_ok=True)
    for old in out.iterdir():
        if old.is_file():
            old.unlink()
    so = paths.out(cell) / LIBRARY
    if not so.is_file():
        raise RuntimeError(f"{so} does not exist: build the cell first (kea-runscript build --only {cell.id})")
    rows = [r for fam in families for r in _rows(fam, full=not quick)]
    t0 = time.monotonic()
    image = images.ensure_image("runtime", cell, paths.logs(cell), say)
    with tempfile.TemporaryDirectory() as tmp, \
            containers.Container(image.tag, f"{cell.id}-bench", keep=keep, cap_add=testnet.CAPS) as c:
        tn = testnet.TestNet(cell, c, out, say)
        tn.setup(so)
        db = DhcpBench(cell, tn, s, out, say)
        missing = db.setup(exit0_scripts(Path(tmp)))
        for m in missing:
            say(f"  not available in {cell.id}: {m}; its rows are left out")
        rows = [r for r in rows if r.script not in missing and not (r.hook == "isc" and "isc" in missing)]
        say(f"{cell.id}: {len(rows)} Kea configurations, {s.passes} pass(es) of "
            f"{s.pass1_trials}{'+' + str(s.pass2_trials) if s.passes > 1 else ''} trials of {s.trial_s:g} s")
        results = run_capacity(db, rows, s)
    minutes = (time.monotonic() - t0) / 60
    kea = cell.kea
    lines = [f"Capacity: Kea {kea} ({cell.id}), {time.strftime('%Y-%m-%d')}, {minutes:.0f} min; "
             f"capacity = highest offered rate with ≤ {100 * LOSS_LIMIT:g} % of exchanges lost "
             f"(answer later than {s.drop_s:g} s, or a script run skipped), {s.trial_s:g} s trials, "
             f"Kea restarted per trial; ratios are within one pass, to the no-hook and ISC rows "
             f"with the same multi-threading setting (ISC: same script); ≥N: no trial failed, "
             f"so N is a lower bound, and a ratio with * involves such a bound."]
    for fam in families:
        table = capacity_table(results, fam)
        if table:
            lines += ["", f"DHCPv{fam} ({'DORA' if fam == 4 else 'SARR'}):", "", table]
    tg = targets(results) + sync_floor(results, spawn_us or {})
    if tg:
        lines += ["", "Ratios to ISC named in the issue (pass 1 / pass 2):", ""] + [f"* {x}" for x in tg]
    text = "\n".join(lines)
    (out / "result.md").write_text(text + "\n")
    return text


def cli_main(args, m) -> int:
    """``kea-runscript bench``: the launcher microbenchmark, then the DHCP capacity tables of
    one cell (built first, cached). Prints tables; exit status 0 unless it could not run."""
    from . import build, containers
    from .cli import error
    cell = None
    if not args.launcher_only:  # the cell is checked before minutes of measuring, not after
        cell = next((c for c in m.cells if c.id == args.cell), None)
        if cell is None or not cell.verified:
            error(f"{args.cell} is not a verified cell (see `kea-runscript list --verified`)")
            return 2
        try:
            host_arch = containers.engine_arch()
        except containers.DockerUnavailable as e:
            error(e)
            return 3
        if cell.foreign(host_arch):
            error(f"{cell.id} runs under qemu-user emulation on this {host_arch} machine, whose "
                  f"timings mean nothing; benchmark a {host_arch} cell here, or this cell on a "
                  f"{cell.arch} machine")
            return 2
    quick = bool(args.quick)
    calls, heap = (400, 256) if quick else (2000, 512)
    costs = launcher_costs(calls=calls, heap_mb=heap)
    print(launcher_table(costs, calls, heap), flush=True)
    if args.launcher_only:
        return 0
    try:
        if not args.no_build:
            built = build.build_cells([cell], keep=None, verified_ids=[c.id for c in m.verified])
            if not all(r.ok for r in built):
                return 1
        families = (4,) if args.v4_only else (4, 6)
        text = dhcp_tables(cell, quick=quick, families=families,
                           keep=True if args.keep_container else None, say=build.say,
                           spawn_us={k: v["posix_spawn_us"] for k, v in costs.items()})
    except containers.DockerUnavailable as e:
        error(e)
        return 3
    except (RuntimeError, OSError) as e:
        error(f"bench could not run: {e}")
        return 1
    print("\n" + text)
    # the launcher again, after the DHCP runs: two samples of a noisy machine
    again = launcher_costs(calls=calls, heap_mb=heap)
    print("\n" + launcher_table(again, calls, heap).replace("\n", " (second run)\n", 1))
    return 0
