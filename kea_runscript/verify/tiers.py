"""The test tiers as CI runs them (``nox -s tests sanitize integration``): pytest, then each
failed test once more without parallel workers, then a table.

A test that fails once beside others and passes alone is a flake: the tier passes, and its
summary lists the test with both runs (time and first line of the failure), so that a flake is
seen and fixed rather than hidden. A test that fails twice fails the tier. Each tier writes
build/tiers/<tier>.json; ``kea-runscript tiers`` prints the table of the tiers run so far,
with the slowest tests (.ci/run ends with it).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import List, Optional, Sequence

from .. import ROOT

OUT_DIR = ROOT / "build" / "tiers"
SLOWEST = 15
#: More failures than this in one run is a break, not a flake: no re-run (a re-run of a cell's
#: tests sets its containers up again, minutes each).
MAX_RERUNS = 10
#: what a cell's failed test leaves in build/<cell>/ and its re-run writes again: copied to
#: <out_dir>/first-attempt/<cell>/ before the re-run (a flake's evidence, Kea's logs)
FIRST_ATTEMPT_OUTPUTS = ("smoke",)


@dataclass
class Case:
    nodeid: str
    seconds: float
    outcome: str  # passed, failed or skipped
    message: str = ""


def nodeid(classname: str, name: str, root: Path = ROOT) -> str:
    """pytest's node id from a junit testcase (``tests.unit.test_x`` + ``test_y[p]``), without
    the ``@group`` pytest-xdist's loadgroup appends (it selects nothing)."""
    name = re.sub(r"@[^\[\]@]*$", "", name)
    parts = classname.split(".")
    for i in range(len(parts), 0, -1):
        module = Path(*parts[:i]).with_suffix(".py")
        if (root / module).is_file():
            return "::".join([module.as_posix(), *parts[i:], name])
    return f"{classname.replace('.', '/')}.py::{name}"


def read_junit(path: Path, root: Path = ROOT) -> List[Case]:
    cases = []
    for tc in ET.parse(path).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for child in tc:
            if child.tag in ("failure", "error"):
                outcome = "failed"
                message = (child.get("message") or child.text or "").strip().splitlines()[:1]
                message = message[0][:300] if message else child.tag
                break
            if child.tag == "skipped":
                outcome = "skipped"
        cases.append(Case(nodeid(tc.get("classname", ""), tc.get("name", ""), root),
                          float(tc.get("time") or 0), outcome, message))
    return cases


def run_pytest(args: Sequence[str], junit: Path, root: Path = ROOT) -> tuple:
    """(exit status, cases) of one pytest run."""
    junit.unlink(missing_ok=True)
    r = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                        f"--junitxml={junit}", *args], cwd=root)
    return r.returncode, (read_junit(junit, root) if junit.exists() else [])


def selection_args(args: Sequence[str], root: Path = ROOT) -> List[str]:
    """``args`` without the test paths and the worker count: what a re-run of one test keeps
    (markers, keywords, options)."""
    out, skip = [], False
    for i, a in enumerate(args):
        if skip:
            skip = False
            continue
        if a in ("-n", "--numprocesses", "--dist"):
            skip = True
            continue
        if a.startswith(("-n=", "--numprocesses=", "--dist=")) or (a.startswith("-n") and a[2:].isdigit()):
            continue
        is_value = i > 0 and args[i - 1] in ("-m", "-k", "-p", "-o")
        if not a.startswith("-") and not is_value and (root / a.split("::")[0]).exists():
            continue
        out.append(a)
    return out


def run_tier(name: str, args: Sequence[str], out_dir: Path = OUT_DIR, root: Path = ROOT) -> int:
    """pytest ``args`` (in ``root``); each failed test once more alone; <out_dir>/<name>.json;
    0 when every test passed, at first or on its re-run."""
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    rc, cases = run_pytest(args, out_dir / f"{name}.xml", root)
    failed = [c for c in cases if c.outcome == "failed"]
    reruns = []
    # Re-run only test failures, all in one run without parallel workers (so alone, and sharing
    # a cell's set-up): anything else (a collection error, no tests, an interrupt, a break of
    # more than MAX_RERUNS tests) is the tier's failure as it is.
    kept = []
    if rc == 1 and 0 < len(failed) <= MAX_RERUNS:
        kept = keep_first_attempt(failed, out_dir, root)
        _, again = run_pytest([*selection_args(args, root), *(c.nodeid for c in failed)],
                              out_dir / f"{name}-rerun.xml", root)
        second = {c.nodeid: c for c in again}
        for c in failed:
            other = second.get(c.nodeid, Case(c.nodeid, 0.0, "failed", "not run again"))
            reruns.append({"nodeid": c.nodeid, "first": asdict(c), "again": asdict(other)})
        ok = all(r["again"]["outcome"] == "passed" for r in reruns)
    else:
        ok = rc == 0
    result = {
        "tier": name, "ok": ok, "exit": rc, "seconds": round(time.monotonic() - started, 1),
        "tests": len(cases), "failed": len(failed),
        "skipped": sum(1 for c in cases if c.outcome == "skipped"),
        "slowest": [asdict(c) for c in sorted(cases, key=lambda c: -c.seconds)[:SLOWEST]],
        "reruns": reruns, "first_attempt": kept,
    }
    (out_dir / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
    print(report([result]), flush=True)
    return 0 if ok else (rc or 1)


def keep_first_attempt(failed: Sequence[Case], out_dir: Path, root: Path = ROOT) -> List[str]:
    """Copies the outputs (FIRST_ATTEMPT_OUTPUTS) of the cells the failed tests name as their
    parameter to <out_dir>/first-attempt/<cell>/; the copies made. A copy that fails is left
    out: the evidence is a help, the re-run is what decides."""
    cells = sorted({m.group(1) for c in failed for m in [re.search(r"\[([^\[\]]+)\]", c.nodeid)] if m})
    kept = []
    for cell in cells:
        for name in FIRST_ATTEMPT_OUTPUTS:
            src = root / "build" / cell / name
            if "/" in cell or not src.is_dir():
                continue
            dst = out_dir / "first-attempt" / cell / name
            try:
                shutil.rmtree(dst, ignore_errors=True)
                shutil.copytree(src, dst, symlinks=True)
            except OSError:
                continue
            kept.append(str(dst))
    return kept


def load(out_dir: Path = OUT_DIR, names: Optional[Sequence[str]] = None) -> List[dict]:
    paths = [out_dir / f"{n}.json" for n in names] if names else sorted(out_dir.glob("*.json"),
                                                                          key=lambda p: p.stat().st_mtime)
    return [json.loads(p.read_text()) for p in paths if p.exists()]


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)} min {seconds % 60:04.1f} s"


def report(results: Sequence[dict]) -> str:
    """The tiers (tests, failed and re-run, skipped, time), their re-runs, the slowest tests."""
    lines = [f"{'tier':<12} {'result':<7} {'tests':>6} {'failed':>7} {'skipped':>8}  time"]
    for r in results:
        lines.append(f"{r['tier']:<12} {'pass' if r['ok'] else 'FAIL':<7} {r['tests']:>6} {r['failed']:>7} "
                     f"{r['skipped']:>8}  {_minutes(r['seconds'])}")
    total = sum(r["seconds"] for r in results)
    if len(results) > 1:
        lines.append(f"{'total':<12} {'':<7} {sum(r['tests'] for r in results):>6} "
                     f"{sum(r['failed'] for r in results):>7} {sum(r['skipped'] for r in results):>8}  "
                     f"{_minutes(total)}")
    for r in results:
        for rr in r["reruns"]:
            first, again = rr["first"], rr["again"]
            lines.append(f"re-run ({r['tier']}) {rr['nodeid']}: {first['outcome']} in {first['seconds']:.1f} s "
                         f"({first['message']}), then {again['outcome']} in {again['seconds']:.1f} s"
                         + (f" ({again['message']})" if again["message"] else ""))
        for kept in r.get("first_attempt", []):
            lines.append(f"first attempt's outputs ({r['tier']}): {kept}")
    slowest = sorted(((c, r["tier"]) for r in results for c in r["slowest"]), key=lambda x: -x[0]["seconds"])
    if slowest:
        lines.append(f"slowest {min(SLOWEST, len(slowest))} tests:")
        for c, tier in slowest[:SLOWEST]:
            lines.append(f"  {c['seconds']:8.1f} s  {tier:<12} {c['nodeid']}")
    return "\n".join(lines)
