"""Builds tests/support/handler_driver.cc with hook/handler.cc and hook/launcher.cc (no Kea needed):
the persistent handlers' unit tests (tests/unit/test_handler.py) run it."""

from __future__ import annotations

from pathlib import Path

from kea_runscript import ROOT
from kea_runscript.builder.launcher_driver import DRIVERS, compile_cached

SOURCES = [ROOT / "hook" / "handler.cc", ROOT / "hook" / "protocol.cc", ROOT / "hook" / "launcher.cc",
           ROOT / "hook" / "supervisor.cc",
           ROOT / "tests" / "support" / "handler_driver.cc"]
# Hashed with the sources: a header change rebuilds the driver.
HEADERS = [ROOT / "hook" / "environment.h", ROOT / "hook" / "handler.h", ROOT / "hook" / "protocol.h",
           ROOT / "hook" / "launcher.h", ROOT / "hook" / "supervisor.h", DRIVERS / "task_signals.h"]


def build_driver(out_dir: Path, defines: tuple = ()) -> Path:
    """The driver binary for this machine, cached by the sources' content and `defines`."""
    return compile_cached("handler_driver", SOURCES, HEADERS, out_dir, defines, std="c++14",
                          libraries=("-I", str(DRIVERS)))  # task_signals.h, the drivers' own
