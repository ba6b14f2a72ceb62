"""The launcher benchmark: per-call cost of the hook's launcher against a bare
posix_spawn+waitpid and a fork+exec of the same script, from a process with a large resident
heap (what makes fork() expensive inside a Kea with many leases), measured by
tests/launcher_driver.cc outside Kea. Part of ``kea-runscript bench`` (:mod:`kea_runscript.bench`)."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import Dict

from . import WORK
from .launcher_driver import build_driver


def exit0_scripts(directory: Path) -> dict:
    shell = directory / "exit0.sh"
    shell.write_text("#!/bin/sh\nexit 0\n")
    shell.chmod(0o755)
    scripts = {"#!/bin/sh exit 0": shell}
    static = directory / "exit0-static"
    source = directory / "exit0.c"
    source.write_text("int main(void) { return 0; }\n")
    built = subprocess.run(["cc", "-O2", "-static", "-o", str(static), str(source)],
                           capture_output=True)
    if built.returncode == 0:
        scripts["static binary"] = static
    return scripts


LAUNCHER_KEYS = ("launcher_us", "posix_spawn_us", "fork_us",
                 "async_launcher_us", "async_posix_spawn_us", "async_fork_us")


def launcher_costs(calls: int = 2000, heap_mb: int = 512) -> Dict[str, Dict[str, float]]:
    """{script label: {LAUNCHER_KEYS: µs}} measured by tests/launcher_driver.cc."""
    driver = build_driver(WORK / "build" / "bench")
    costs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, script in exit0_scripts(Path(tmp)).items():
            out = subprocess.run([str(driver), "bench", str(script), str(calls), str(heap_mb)],
                                 capture_output=True, text=True, check=True).stdout.split()
            values = dict(zip(out[::2], out[1::2]))
            costs[label] = {k: float(values[k]) for k in LAUNCHER_KEYS}
    return costs


def launcher_table(costs: Dict[str, Dict[str, float]], calls: int, heap_mb: int) -> str:
    rows = [(label, *(v[k] for k in LAUNCHER_KEYS)) for label, v in costs.items()]
    lines = [f"Launcher per-call cost ({calls} sync calls each, caller heap {heap_mb} MiB)",
             "",
             "| script | hook launcher µs | bare posix_spawn µs | fork+exec µs | launcher / bare | fork / launcher |",
             "|---|---|---|---|---|---|"]
    for label, hook, bare, fork, *_ in rows:
        lines.append(f"| {label} | {hook:.1f} | {bare:.1f} | {fork:.1f} | {hook / bare:.2f} | {fork / hook:.1f} |")
    lines += ["",
              f"Asynchronous launch: time the calling (Kea) thread spends per launch ({calls} "
              "calls each; fork is how Kea's ProcessSpawn starts ISC's run_script)",
              "",
              "| script | hook launcher µs | posix_spawn µs | fork µs | launcher / posix_spawn | fork / launcher |",
              "|---|---|---|---|---|---|"]
    for label, *_, hook, bare, fork in rows:
        lines.append(f"| {label} | {hook:.1f} | {bare:.1f} | {fork:.1f} | {hook / bare:.2f} | {fork / hook:.1f} |")
    return "\n".join(lines)
