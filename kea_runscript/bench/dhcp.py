"""Benchmarks (`nox -s bench`): measured and printed as tables, never asserted.

* launcher: per-call cost of the hook's launcher against a bare posix_spawn+waitpid and a
  fork+exec of the same script, from a process with a large resident heap (what makes
  fork() expensive inside a Kea with many leases). Same run, same machine: read the ratios.
  (:mod:`kea_runscript.bench.launcher`)
* DHCP capacity: perfdhcp at saturation against Kea on the test network, per hook
  configuration (below).
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from .. import output
from ..verify import hook_log, testnet
from . import leases as bench_leases
from .launcher import (exit0_scripts, handler_costs, handler_programs, handler_table,
                       launcher_costs, launcher_table)
from . import charts
from .report import capacity_table, handler_targets, park_targets, sync_floor, targets
from .rows import (SCRIPT_FILES, SCRIPT_LABELS, Row, capacity_rows, empty_twin, handler_rows,
                   handler_only_rows, isc_config_rows, lease_rows, park_rows)
from ..errors import ExitCode, ToolkitError, UsageError
from .trials import LOSS_LIMIT, RowResult, Search, Trial
from ..verify.perfdhcp import parse_perfdhcp


# --------------------------------------------------------------------------------------------
# DHCP capacity: perfdhcp at saturation against the test network's Kea (kea_runscript.verify.testnet)
#
# One container of the cell's runtime image, namespaces srv (Kea) and cli (perfdhcp) as in
# the smoke tests. A row is one Kea configuration (no hook, ISC's libdhcp_run_script.so, this
# hook in some mode). Its capacity is the highest offered rate (perfdhcp -r) at which at most
# 1 % of the exchanges started are lost (no ACK / REPLY within the drop time, or, for this
# hook's wait: false rows, a script run skipped by max-async), found by a geometric binary
# search with Kea restarted (fresh in-memory lease database) for every trial. Rows are
# interleaved trial by trial and the search runs twice (a wide first pass, a narrow second
# one around the first result) so that a noisy neighbour hits every row alike.

C_SCRIPTS = "/usr/share/kea/scripts"  # Kea 3.0's run_script accepts scripts only there
ISC_LIBRARY = "libdhcp_run_script.so"
C_BENCH_LEASES = "/smoke/bench_leases.py"


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
    lease_trials: int = 4  # the lease database rows: one pass of this many trials


#: the top of the handler rows' search (--handler)
HANDLER_HI = 12800.0

QUICK = Settings(trial_s=2.0, drop_s=0.25, pass1_trials=5, pass2_trials=0, latency_s=2.0, passes=1,
                 lease_trials=3)


class DhcpBench:
    """Kea configurations and perfdhcp trials on the test network (:class:`testnet.TestNet`)."""

    def __init__(self, cell, tn: testnet.TestNet, settings: Settings, out: Path, say: Callable[[str], None]):
        from ..verify import smoke
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
        self.tn.c.copy_into(Path(bench_leases.__file__), C_BENCH_LEASES)
        if not self.tn.sh(f"test -f {self.cell.hooks_dir}/{ISC_LIBRARY}", check=False).ok:
            missing.append("isc")
        return missing

    def config(self, row: Row, parameters: Optional[Callable[[str], dict]] = None) -> str:
        """Kea's configuration of ``row``; ``parameters``: the hook's, from the script's path,
        instead of the row's own."""
        sm, fam = self.smoke, row.family
        script = f"{C_SCRIPTS}/{SCRIPT_FILES[row.script]}"
        text = sm.kea_config(self.cell, fam, (parameters or row.parameters)(script), multi_threading=row.mt,
                             log_file=self.log)
        cfg = json.loads(text)
        d = cfg[f"Dhcp{fam}"]
        if row.hook == "none":
            d["hooks-libraries"] = []
        elif row.hook == "isc":
            d["hooks-libraries"][0]["library"] = f"{self.cell.hooks_dir}/{ISC_LIBRARY}"
        # Every exchange a new client and a new lease: large pools, long lifetimes.
        d.update({"valid-lifetime": 7200, "renew-timer": 1800, "rebind-timer": 3600})
        # perfdhcp's clients are served from the trial pool; loaded leases sit in a pool of
        # their own listed after it, so that the allocator never walks through them.
        pools = [{"pool": bench_leases.trial_pool(fam, row.leases)}]
        if row.leases:
            pools.append({"pool": bench_leases.loaded_pool(fam, row.leases)})
            d["lease-database"] = {"type": "memfile", "persist": True, "name": self.lease_file(fam),
                                   "lfc-interval": 0}
            # the smoke test's 1 s reclaim timer with no limit is for lease4_expire in seconds;
            # with a database of this size a server runs Kea's defaults
            d.pop("expired-leases-processing", None)
        if fam == 4:
            # perfdhcp -4 relays (giaddr = its address, 192.0.2.2): a /15 selected by relay address.
            d["subnet4"] = [
                {"id": 1, "subnet": "198.18.0.0/15", "relay": {"ip-addresses": [testnet.NET.client_v4]},
                 "pools": pools},
                {"id": 2, "subnet": "192.0.2.0/24", "interface": testnet.NET.server_if,
                 "pools": [{"pool": "192.0.2.100 - 192.0.2.199"}]}]
        else:
            d["preferred-lifetime"] = 5400
            d["subnet6"][0]["pools"] = pools
        # INFO would log two lines per exchange (lease offered / allocated): keep those off.
        d["loggers"].append({"name": f"kea-dhcp{fam}.leases", "severity": "WARN",
                             "output_options": [{"output": self.log}]})
        return json.dumps(cfg, indent=1)

    @staticmethod
    def lease_file(family: int) -> str:
        return f"/var/lib/kea/bench-leases{family}.csv"  # Kea 2.6.3+: only in its data directory

    @staticmethod
    def pristine_file(family: int, count: int) -> str:
        return f"/var/lib/kea/bench-pristine{family}-{count}.csv"

    def prepare_leases(self, family: int, count: int) -> float:
        """Writes the pristine lease file of COUNT leases (once); the seconds it took. The
        header is the one the cell's Kea writes: Kea is started on a missing file first."""
        pristine = self.pristine_file(family, count)
        if self.tn.sh(f"test -s {pristine}", check=False).ok:
            return 0.0
        t0 = time.monotonic()
        lease_file = self.lease_file(family)
        self.tn.sh(f"rm -f {lease_file}")
        empty = Row(family, "none", False, leases=1)
        pid = self.tn.start_kea(family, self.config(empty), "bench-header", self.log)
        self.tn.stop(pid)
        user, group = self.tn.owner(self.tn.units.get(family))
        self.tn.sh(f"set -e; head -n 1 {lease_file} > /tmp/header{family}; "
                   f"python3 {C_BENCH_LEASES} {family} {count} /tmp/header{family} {pristine}; "
                   f"chown {user}:{group} {pristine}")
        return time.monotonic() - t0

    def trial(self, row: Row, rate: int, seconds: float) -> Trial:
        t = Trial(row.key, rate, seconds)
        pid = None
        try:
            if row.leases:  # the same database every trial: what a trial added goes
                user, group = self.tn.owner(self.tn.units.get(row.family))
                self.tn.sh(f"cp {self.pristine_file(row.family, row.leases)} {self.lease_file(row.family)} && "
                           f"chown {user}:{group} {self.lease_file(row.family)}")
            t0 = time.monotonic()
            pid = self.tn.start_kea(row.family, self.config(row), "bench", self.log,
                                    start_s=20 + row.leases / 10000)
            t.start_s = time.monotonic() - t0
            rss = self.tn.sh(f"grep VmRSS /proc/{pid}/status", check=False).output.split()
            t.rss_kb = int(rss[1]) if len(rss) > 1 and rss[1].isdigit() else None
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
        except (testnet.SmokeError, ValueError) as e:
            t.error = str(e)[:500]
        finally:
            if pid is not None:
                if row.handler and not row.wait:
                    time.sleep(1.1)  # the pool logs drops at most once per second: the last ones
                self.tn.stop(pid)
        if pid is not None:  # after the stop: drops a handler's worker had not logged yet
            lines = self.tn.sh(f"grep -E '{'|'.join(hook_log.LOST_MESSAGES)}| ERROR ' {self.log}", check=False).output
            t.skipped, t.errors = log_counts(lines)
        with open(self.out / "trials.jsonl", "a") as f:
            f.write(json.dumps({**t.__dict__, "lost": t.lost, "passed": t.passed}) + "\n")
        return t


def log_counts(log: str) -> Tuple[int, int]:
    """(events lost, ERROR lines) in Kea's log: the runs not started and the records dropped
    that this hook's lines count (verify/hook_log.py)."""
    errors = sum(1 for line in log.splitlines() if " ERROR " in line)
    return hook_log.lost_events(log), errors


def _describe(t: Trial) -> str:
    if t.error:
        return f"error: {t.error.splitlines()[0]}"
    extra = f", {t.skipped} events lost (runs skipped / records dropped)" if t.skipped else ""
    extra += ", perfdhcp could not send at this rate" if t.client_limited else ""
    extra += f", {t.errors} ERROR lines in Kea's log" if t.errors else ""
    d = f", {t.delay_ms:.1f} ms" if t.delay_ms is not None else ""
    rss = f", Kea {t.rss_kb / 1024:.0f} MiB after {t.start_s:.1f} s" if t.rss_kb and t.start_s else ""
    return (f"{t.completed}/{t.sent} done, lost {100 * t.lost:.1f}%{extra}{d}{rss} -> "
            f"{'pass' if t.passed else 'fail'}")


def _interleave(db: DhcpBench, rows: Sequence[Row], searches: Dict[str, Search], n: int,
                seconds: float, what: str) -> None:
    """n trials per row, the rows taking turns, so that a noisy neighbour hits them alike."""
    for step in range(n):
        for r in rows:
            search = searches[r.key]
            rate = search.next_rate()
            t = db.trial(r, rate, seconds)
            search.record(t)
            db.say(f"  {what} trial {step + 1}/{n} {r.key:<40} {rate:>5}/s: {_describe(t)}")


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
        _interleave(db, rows, {r.key: results[r.key].passes[p] for r in rows}, n, s.trial_s, f"pass {p + 1}")
    # latency: one trial per row at half its capacity
    for r in rows:
        res = results[r.key]
        caps = [x.best for x in res.passes if x.best]
        if caps:
            rate = max(1, int(min(caps) / 2))
            res.latency = db.trial(r, rate, s.latency_s)
            db.say(f"  latency {r.key:<40} {rate:>5}/s: {_describe(res.latency)}")
    return results


def lease_search(row: Row, empty: Dict[str, RowResult], s: Settings) -> Search:
    """A lease row's search range: around and mostly below its empty-Kea twin's capacity
    (pass 1) when that was measured in this run, as a database slows Kea down; else the usual
    one. Fewer trials then give the same precision."""
    twin = empty.get(empty_twin(row).key)
    cap = twin.capacity(0) if twin is not None else None
    if not cap:
        return Search(s.lo / 2.5, s.hi)
    return Search(max(1.0, cap / LEASE_RANGE), cap * 2)


#: a lease row searches cap/LEASE_RANGE .. cap*2 (cap: the same configuration, empty Kea; a
#: noisy machine can measure a twin below the lease row)
LEASE_RANGE = 40


def run_leases(db: DhcpBench, rows: Sequence[Row], s: Settings, empty: Dict[str, RowResult],
               trials: int) -> Dict[str, RowResult]:
    """One pass over the lease rows, Kea loading the database afresh at each trial."""
    for fam, n in sorted({(r.family, r.leases) for r in rows}):
        took = db.prepare_leases(fam, n)
        db.say(f"  lease file of {n} DHCPv{fam} leases written in {took:.1f} s")
    results = {r.key: RowResult(r, [lease_search(r, empty, s)]) for r in rows}
    _interleave(db, rows, {k: v.passes[0] for k, v in results.items()}, trials, s.trial_s, "leases")
    return results


def dhcp_tables(cell, *, quick: bool = False, families: Sequence[int] = (4, 6),
                keep: Optional[bool] = None, say: Callable[[str], None] = print,
                settings: Optional[Settings] = None,
                spawn_us: Optional[Dict[str, float]] = None,
                handler_us: Optional[Dict[str, Dict[str, float]]] = None,
                leases: bool = True, isc_config_only: bool = False, park_only: bool = False,
                handler_only: bool = False,
                replay_only: bool = False, charts_dir: Optional[Path] = None) -> str:
    """Runs the capacity searches of the cell's rows; returns the tables (Markdown).
    ``isc_config_only``: only ISC's configuration under both hooks (:func:`isc_config_rows`);
    ``park_only``: only the parked-query rows (:func:`park_rows`); ``handler_only``: only the
    handler rows (:func:`handler_only_rows`)."""
    from ..engine import containers, images
    from ..builder.hook import LIBRARY, Paths
    paths = Paths()
    s = settings or (QUICK if quick else Settings())
    if handler_only and settings is None:
        # Kea without a hook and the asynchronous handler pass 6400/s here: a search that
        # stops there leaves only bounds, and the floor of a row needs a capacity
        s = dataclasses.replace(s, hi=HANDLER_HI)
    out = paths.build / cell.id / "bench"
    out.mkdir(parents=True, exist_ok=True)
    for old in out.iterdir():
        if old.is_file():
            old.unlink()
    so = paths.out(cell) / LIBRARY
    if not so.is_file():
        raise RuntimeError(f"{so} does not exist: build the cell first (kea-runscript build --only {cell.id})")
    rows, big = ([], []) if replay_only else _selected_rows(families, quick, leases, isc_config_only, park_only, handler_only)
    t0 = time.monotonic()
    image = images.ensure_image("runtime", cell, paths.logs(cell), say)
    with tempfile.TemporaryDirectory() as tmp, \
            containers.Container(image.tag, f"{cell.id}-bench", keep=keep, cap_add=testnet.CAPS) as c:
        tn = testnet.TestNet(cell, c, out, say)
        tn.setup(so)
        db = DhcpBench(cell, tn, s, out, say)
        missing = db.setup({**exit0_scripts(Path(tmp)), **handler_programs(Path(tmp))})
        for m in missing:
            say(f"  not available in {cell.id}: {m}; its rows are left out")
        def available(r: Row) -> bool:
            return r.script not in missing and not (r.hook == "isc" and "isc" in missing)
        if replay_only:
            from . import replay
            return replay.report(cell, replay.run(db, say), t0, out)
        rows, big = [r for r in rows if available(r)], [r for r in big if available(r)]
        say(f"{cell.id}: {len(rows)} Kea configurations, {s.passes} pass(es) of "
            f"{s.pass1_trials}{'+' + str(s.pass2_trials) if s.passes > 1 else ''} trials of {s.trial_s:g} s"
            + (f"; then {len(big)} with a lease database, {s.lease_trials} trials each" if big else ""))
        results = run_capacity(db, rows, s)
        t1 = time.monotonic()
        if big:
            results.update(run_leases(db, big, s, results, s.lease_trials))
    minutes, lease_minutes = (time.monotonic() - t0) / 60, (time.monotonic() - t1) / 60
    kea = cell.kea
    lines = [f"Capacity: Kea {kea} ({cell.id}), {time.strftime('%Y-%m-%d')}, {minutes:.0f} min"
             + (f" ({lease_minutes:.0f} of them for the lease database rows)" if big else "") + "; "
             f"capacity = highest offered rate with ≤ {100 * LOSS_LIMIT:g} % of exchanges lost "
             f"(answer later than {s.drop_s:g} s, or a script run skipped / a handler record dropped), "
             f"{s.trial_s:g} s trials, Kea restarted per trial; ratios are within one pass, to the "
             f"no-hook and ISC rows with the same multi-threading setting (ISC: same script) and "
             f"lease database; ≥N: no trial failed, so N is a lower bound, and a ratio with * "
             f"involves such a bound. Kea RSS: VmRSS once Kea logged STARTED, median over the trials."]
    for fam in families:
        table = capacity_table(results, fam)
        if table:
            lines += ["", f"DHCPv{fam} ({'DORA' if fam == 4 else 'SARR'}):", "", table]
    for fam, n in sorted({(r.family, r.leases) for r in big}):
        table = capacity_table(results, fam, n)
        if table:
            lines += ["", f"DHCPv{fam} ({'DORA' if fam == 4 else 'SARR'}), Kea loading {n:,} leases "
                      f"from its memfile at start (persisted, one pass of {s.lease_trials} trials in "
                      f"a range below the empty-Kea capacity; ÷ empty Kea: to the same configuration "
                      f"in the table above, pass 1):", "", table]
    lines += _target_lines(results, spawn_us or {}, handler_us or {})
    text = "\n".join(lines)
    (out / "result.md").write_text(text + "\n")
    kind = "handler" if handler_only else "park" if park_only else "isc-config" if isc_config_only else "quick" if quick else "full"
    return text + "\n\n" + _charts(cell, results, out, charts_dir, kind)


def _target_lines(results: Dict[str, RowResult], spawn_us: Dict[str, float],
                  handler_us: Dict[str, Dict[str, float]]) -> List[str]:
    """The rows against the issues' targets, each kind under its heading."""
    lines = []
    for heading, items in (
            ("Ratios to ISC named in the issue", targets(results) + sync_floor(results, spawn_us)),
            ("Parked queries against the targets of issue 25", park_targets(results)),
            ("Handler rows against the targets of issue 14", handler_targets(results, handler_us))):
        if items:
            lines += ["", f"{heading} (pass 1 / pass 2):", ""] + [f"* {x}" for x in items]
    return lines


def _selected_rows(families, quick: bool, leases: bool, isc_config_only: bool,
                   park_only: bool, handler_only: bool = False) -> Tuple[List[Row], List[Row]]:
    """The rows of a run, and its lease-database rows."""
    if handler_only:
        return [r for fam in families for r in handler_only_rows(fam)], []
    if isc_config_only:
        return [r for fam in families for r in isc_config_rows(fam)], []
    if park_only:
        return [r for fam in families for r in park_rows(fam)], []
    rows = [r for fam in families for r in capacity_rows(fam, full=not quick) + handler_rows(fam, full=not quick)]
    return rows, lease_rows(full=not quick) if leases and 6 in families else []


def _charts(cell, results: Dict[str, RowResult], out: Path, charts_dir: Optional[Path], kind: str) -> str:
    """results.json beside result.md, and the charts (charts.py); the line that says where."""
    title = f"Kea {cell.kea} ({cell.id}), {time.strftime('%Y-%m-%d')}, {kind} rows"
    records = charts.result_records(results)
    charts.save_results(records, out / "results.json", title, f"{cell.id}-{kind}")
    try:
        drawn = charts.draw(records, charts_dir or out, f"{cell.id}-{kind}", title)
    except ImportError:
        return "Charts: not drawn (matplotlib missing: pip install -e '.[bench]')"
    return "Charts: " + ", ".join(str(p) for p in drawn)


def cli_main(args, m) -> ExitCode:
    """``kea-runscript bench``: the launcher microbenchmark, then the DHCP capacity tables of
    one cell (built first, cached). Prints tables; OK unless it could not run."""
    from ..builder import hook
    from ..engine import containers
    if getattr(args, "charts_from", None):
        title, stem, records = charts.load_results(Path(args.charts_from))
        directory = Path(args.charts) if args.charts else Path(args.charts_from).parent
        for p in charts.draw(records, directory, stem, title):
            print(p)
        return ExitCode.OK
    cell = None if args.launcher_only else _bench_cell(args, m)  # checked before minutes of measuring
    quick = bool(args.quick)
    calls, heap = (400, 256) if quick else (2000, 512)
    records = 4000 if quick else 20000
    try:
        costs = launcher_costs(calls=calls, heap_mb=heap)
        print(launcher_table(costs, calls, heap), flush=True)
        handler_us = handler_costs(records)
        print("\n" + handler_table(handler_us), flush=True)
        if cell is None:
            return ExitCode.OK
        if not args.no_build:
            built = hook.build_cells([cell], keep=None, verified_ids=[c.id for c in m.verified])
            if not all(r.ok for r in built):
                return ExitCode.FAILED
        families = (4,) if args.v4_only else (4, 6)
        text = dhcp_tables(cell, quick=quick, families=families,
                           isc_config_only=bool(getattr(args, "isc_config", False)),
                           park_only=bool(getattr(args, "park", False)),
                           handler_only=bool(getattr(args, "handler", False)),
                           replay_only=bool(getattr(args, "replay", False)),
                           charts_dir=Path(args.charts) if getattr(args, "charts", None) else None,
                           keep=True if args.keep_container else None, say=output.say,
                           spawn_us={k: v["posix_spawn_us"] for k, v in costs.items()},
                           handler_us=handler_us)
        print("\n" + text)
        # the launcher again, after the DHCP runs: two samples of a noisy machine
        again = launcher_costs(calls=calls, heap_mb=heap)
        print("\n" + launcher_table(again, calls, heap).replace("\n", " (second run)\n", 1))
        print("\n" + handler_table(handler_costs(records)).replace("\n", " (second run)\n", 1))
    except containers.DockerUnavailable:
        raise
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:  # no compiler, a failed compile
        raise ToolkitError(f"bench could not run: {e}") from e
    return ExitCode.OK


def _bench_cell(args, m):
    """The verified cell to measure, native to this machine (emulated timings mean nothing)."""
    from ..engine import containers
    cell = next((c for c in m.cells if c.id == args.cell), None)
    if cell is None or not cell.verified:
        raise UsageError(f"{args.cell} is not a verified cell (see `kea-runscript list --verified`)")
    host_arch = containers.engine_arch()
    if cell.emulated(host_arch):
        raise UsageError(f"{cell.id} runs under qemu-user emulation on this {host_arch} machine, whose "
                         f"timings mean nothing; benchmark a {host_arch} cell here, or this cell on a "
                         f"{cell.arch} machine")
    return cell
