"""The hook's C++ files (hook/), listed once: the Makefile's sources and the files each tree
holds (generate.render), the files each test driver, benchmark and fuzz target links
(builder.launcher_driver, the handler driver, verify.fuzz).

Each group is what one part of the hook needs with what it builds on; a test checks that
together they are every ``.cc`` of hook/."""

from __future__ import annotations

from pathlib import Path
from typing import List, Sequence

from .. import ROOT

HOOK_DIR = ROOT / "hook"

#: The process launcher: spawning (supervised or plain), killing, reaping, captured output.
LAUNCHER = ("fd.cc", "launch_memory.cc", "launcher.cc", "launcher_stop.cc", "line_buffer.cc", "pidfd.cc", "processes.cc",
            "refusals.cc", "spawn_script.cc", "supervisor.cc", "sync_wait.cc")
#: The handler mode's record format (pure functions: the fuzz targets link it alone).
PROTOCOL = ("protocol.cc",)
#: Persistent handlers, over the launcher.
HANDLER = ("handler_call.cc", "handler_monitor.cc", "handler_pool.cc", "handler_queue.cc") + PROTOCOL + LAUNCHER
#: Log text made safe (any byte a client sends).
LOG_TEXT = ("log_text.cc",)
#: The parameters, parsed and checked at load().
PARAMETERS = ("callout_status.cc", "parameter_values.cc", "parameters.cc", "script_file.cc", "spelling.cc") + LOG_TEXT
#: Every static source of the hook; a rendered tree adds callouts.cc.
SOURCES = tuple(sorted(set(HANDLER + PARAMETERS + ("config_check.cc", "config_test.cc", "load.cc", "logger.cc",
                                                    "messages.cc", "parking.cc",
                                                    "replay.cc", "reports.cc", "runner_replay.cc", "runscript.cc"))))


def headers() -> List[str]:
    """Every header of hook/ (a tree holds them all; a driver's cache key hashes them)."""
    return sorted(p.name for p in HOOK_DIR.glob("*.h"))


def paths(names: Sequence[str]) -> List[Path]:
    return [HOOK_DIR / name for name in names]
