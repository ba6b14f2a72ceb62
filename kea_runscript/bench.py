"""Benchmarks (`nox -s bench`): measured and printed as tables, never asserted.

* launcher: per-call cost of the hook's launcher against a bare posix_spawn+waitpid and a
  fork+exec of the same script, from a process with a large resident heap (what makes
  fork() expensive inside a Kea with many leases). Same run, same machine: read the ratios.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from . import ROOT
from .launcher_driver import build_driver


def _scripts(directory: Path) -> dict:
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


def launcher_table(calls: int = 2000, heap_mb: int = 512) -> str:
    driver = build_driver(ROOT / "build" / "bench")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, script in _scripts(Path(tmp)).items():
            out = subprocess.run([str(driver), "bench", str(script), str(calls), str(heap_mb)],
                                 capture_output=True, text=True, check=True).stdout.split()
            values = dict(zip(out[::2], out[1::2]))
            hook = float(values["launcher_us"])
            bare = float(values["posix_spawn_us"])
            fork = float(values["fork_us"])
            rows.append((label, hook, bare, fork))
    lines = [f"Launcher per-call cost ({calls} sync calls each, caller heap {heap_mb} MiB)",
             "",
             "| script | hook launcher µs | bare posix_spawn µs | fork+exec µs | launcher / bare | fork / launcher |",
             "|---|---|---|---|---|---|"]
    for label, hook, bare, fork in rows:
        lines.append(f"| {label} | {hook:.1f} | {bare:.1f} | {fork:.1f} | {hook / bare:.2f} | {fork / hook:.1f} |")
    return "\n".join(lines)
