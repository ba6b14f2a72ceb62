"""Test shims for LD_PRELOAD (tests/support/page_size_shim.c: a larger page size than the
machine's), built for this machine."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from kea_runscript.builder.launcher_driver import CompilerMissing


def build_preload(source: Path, out_dir: Path) -> Path:
    """A shared object for LD_PRELOAD from the C file `source`, for this machine (a test shim
    such as tests/support/page_size_shim.c), cached by the source's content."""
    compiler = shutil.which("gcc") or shutil.which("cc")
    if not compiler:
        raise CompilerMissing("a C compiler (gcc) is needed to build a test shim")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:12]
    shared = out_dir / f"{source.stem}-{digest}.so"
    if not shared.exists():
        out_dir.mkdir(parents=True, exist_ok=True)
        partial = shared.with_name(f"{shared.name}.{os.getpid()}.partial")
        subprocess.run([compiler, "-O2", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC",
                        str(source), "-o", str(partial), "-ldl"], check=True)
        partial.replace(shared)
    return shared
