"""Builds tests/support/handler_driver.cc with the handler pool's sources (hook_sources.HANDLER;
no Kea needed): the persistent handlers' unit tests (tests/unit/test_handler.py) run it."""

from __future__ import annotations

from pathlib import Path

from kea_runscript import ROOT
from kea_runscript.builder.launcher_driver import DRIVERS, compile_cached
from kea_runscript.model import hook_sources

SOURCES = hook_sources.paths(hook_sources.HANDLER) + [ROOT / "tests" / "support" / "handler_driver.cc"]
# Hashed with the sources: a header change rebuilds the driver.
HEADERS = hook_sources.paths(hook_sources.headers()) + [DRIVERS / "task_signals.h"]


def build_driver(out_dir: Path, defines: tuple = ()) -> Path:
    """The driver binary for this machine, cached by the sources' content and `defines`."""
    return compile_cached("handler_driver", SOURCES, HEADERS, out_dir, defines, std="c++14",
                          libraries=("-I", str(DRIVERS)))  # task_signals.h, the drivers' own
