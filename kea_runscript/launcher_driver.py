"""Builds tests/launcher_driver.cc with hook/launcher.cc (no Kea needed): the launcher's
unit tests and its microbenchmark run it."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

from kea_runscript import ROOT

SOURCES = [ROOT / "hook" / "launcher.cc", ROOT / "tests" / "launcher_driver.cc"]


def build_driver(out_dir: Path, defines: tuple = ()) -> Path:
    """The driver binary, cached by the sources' content and `defines` (-D names)."""
    compiler = shutil.which("g++") or shutil.which("c++")
    if not compiler:
        raise RuntimeError("a C++ compiler (g++) is needed to test the launcher")
    flags = [f"-D{d}" for d in defines]
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in SOURCES) +
                            " ".join(flags).encode()).hexdigest()[:12]
    binary = out_dir / f"launcher_driver-{digest}"
    if not binary.exists():
        out_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run([compiler, "-std=c++17", "-O2", "-Wall", "-Wextra", "-Werror", "-pthread",
                        *flags, "-I", str(ROOT / "hook"), *map(str, SOURCES), "-o", str(binary)],
                       check=True)
    return binary
