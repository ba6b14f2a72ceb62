"""The launcher benchmark: per-call cost of the hook's launcher against a bare
posix_spawn+waitpid and a fork+exec of the same script, from a process with a large resident
heap (what makes fork() expensive inside a Kea with many leases), measured by
kea_runscript/builder/drivers/launcher_driver.cc outside Kea; and the cost of one record to a persistent handler
(tools/handler_rtt.c), the floor of the handler rows. Part of ``kea-runscript bench``
(:mod:`kea_runscript.bench.dhcp`)."""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path
from typing import Dict

from .. import ROOT, WORK
from .rows import PY_HANDLER_ENV, SCRIPT_LABELS
from ..builder.launcher_driver import build_driver

HANDLERS_DIR = ROOT / "examples" / "handlers"
RTT_SOURCE = Path(__file__).resolve().parent / "tools" / "handler_rtt.c"
#: the bytes of the record handler_rtt sends: a hook point and ~30 variables, about what the
#: default points of a DORA carry (15 to 40 KEA_* variables of 20 to 50 bytes)
RECORD_BYTES = 1024
HANDLER_WORKER_H = ROOT / "hook" / "handler_worker.h"


def reply_spin_us() -> int:
    """How long the hook's synchronous call reads a reply before it sleeps (REPLY_SPIN_US of
    hook/handler_worker.h): the bare round trip is measured the same way beside."""
    found = re.search(r"REPLY_SPIN_US = (\d+);", HANDLER_WORKER_H.read_text())
    if not found:
        raise RuntimeError(f"REPLY_SPIN_US not found in {HANDLER_WORKER_H}")
    return int(found.group(1))


def exit0_scripts(directory: Path) -> dict:
    shell = directory / "exit0.sh"
    shell.write_text("#!/bin/sh\nexit 0\n")
    shell.chmod(0o755)
    scripts = {SCRIPT_LABELS["sh"]: shell}
    static = directory / "exit0-static"
    source = directory / "exit0.c"
    source.write_text("int main(void) { return 0; }\n")
    built = subprocess.run(["cc", "-O2", "-static", "-o", str(static), str(source)],
                           capture_output=True)
    if built.returncode == 0:
        scripts[SCRIPT_LABELS["static"]] = static
    return scripts


def handler_programs(directory: Path) -> dict:
    """{label: path} of the example handlers the bench runs (examples/handlers/): the C one
    built static (it runs in the cell's container), the Python one as it is."""
    programs = {}
    source = HANDLERS_DIR / "handler.c"
    if source.is_file():
        binary = directory / "handler-c"
        if subprocess.run(["cc", "-O2", "-static", "-o", str(binary), str(source)],
                          capture_output=True).returncode == 0:
            programs[SCRIPT_LABELS["hc"]] = binary
    if (HANDLERS_DIR / "handler.py").is_file():
        programs[SCRIPT_LABELS["hpy"]] = HANDLERS_DIR / "handler.py"
    return programs


def handler_costs(records: int = 20000) -> Dict[str, Dict[str, float]]:
    """{handler label: {"roundtrip_us", "roundtrip_spin_us", "stream_us"}}: one record written
    and its reply read (a synchronous event's floor; sleeping for the reply at once, and read
    without sleeping for up to reply_spin_us() first, as the hook does), and records written
    back to back (per record), measured by tools/handler_rtt.c; the Python handler gets a tenth
    of the records."""
    out_dir = WORK / "build" / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    tool = out_dir / "handler_rtt"
    subprocess.run(["cc", "-O2", "-Wall", "-pthread", "-o", str(tool), str(RTT_SOURCE)], check=True)
    costs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, program in handler_programs(Path(tmp)).items():
            argv = [str(program)] if program.suffix != ".py" else ["/usr/bin/env", "python3", str(program)]
            n = records if program.suffix != ".py" else max(1, records // 10)
            env = {"PATH": "/usr/local/bin:/usr/bin:/bin", **PY_HANDLER_ENV}
            out = subprocess.run([str(tool), str(n), str(RECORD_BYTES), str(reply_spin_us()), *argv], env=env,
                                 capture_output=True, text=True, check=True).stdout.split()
            values = dict(zip(out[::2], out[1::2]))
            costs[label] = {k: float(values[k])
                            for k in ("roundtrip_us", "roundtrip_spin_us", "stream_us", "record_bytes")}
    return costs


def handler_table(costs: Dict[str, Dict[str, float]]) -> str:
    size = max((v["record_bytes"] for v in costs.values()), default=RECORD_BYTES)
    lines = [f"Handler record cost (a record of {size:.0f} bytes over a pipe, the reply line "
             "back; tools/handler_rtt.c, no Kea)",
             "",
             "| handler | round trip µs (write, wait for the reply) | the same, reply read "
             f"≤ {reply_spin_us()} µs before sleeping (the hook's way) | per record µs, back to back |",
             "|---|---|---|---|"]
    for label, v in costs.items():
        lines.append(f"| {label} | {v['roundtrip_us']:.1f} | {v['roundtrip_spin_us']:.1f} | {v['stream_us']:.1f} |")
    return "\n".join(lines)


LAUNCHER_KEYS = ("launcher_us", "posix_spawn_us", "fork_us",
                 "async_launcher_us", "async_posix_spawn_us", "async_fork_us")


def launcher_costs(calls: int = 2000, heap_mb: int = 512) -> Dict[str, Dict[str, float]]:
    """{script label: {LAUNCHER_KEYS: µs}} measured by kea_runscript/builder/drivers/launcher_driver.cc."""
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
