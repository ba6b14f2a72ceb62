"""Builds tests/handler_driver.cc with hook/handler.cc and hook/launcher.cc (no Kea needed):
the persistent handlers' unit tests (tests/unit/test_handler.py) run it."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from kea_runscript import ROOT
from kea_runscript.launcher_driver import _compiler

SOURCES = [ROOT / "hook" / "handler.cc", ROOT / "hook" / "launcher.cc",
           ROOT / "tests" / "handler_driver.cc"]
# Hashed with the sources: a header change rebuilds the driver.
HEADERS = [ROOT / "hook" / "handler.h", ROOT / "hook" / "launcher.h"]


def build_driver(out_dir: Path, defines: tuple = ()) -> Path:
    """The driver binary for this machine, cached by the sources' content and `defines`."""
    compiler, extra = _compiler(None)
    flags = [f"-D{d}" for d in defines] + extra
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in SOURCES + HEADERS) +
                            " ".join(flags).encode()).hexdigest()[:12]
    binary = out_dir / f"handler_driver-{digest}"
    if not binary.exists():
        out_dir.mkdir(parents=True, exist_ok=True)
        # Built under a temporary name: an interrupted build never leaves a cached binary.
        partial = binary.with_name(binary.name + ".partial")
        subprocess.run([compiler, "-std=c++14", "-O2", "-Wall", "-Wextra", "-Werror", "-pthread",
                        *flags, "-I", str(ROOT / "hook"), *map(str, SOURCES), "-o", str(partial)],
                       check=True)
        partial.replace(binary)
    return binary
