"""Builds the launcher driver (drivers/launcher_driver.cc) with the launcher's sources (no Kea
needed): the launcher's microbenchmark (``kea-runscript bench``) and its unit tests run it, so
it ships in the wheel. :func:`compile_cached` builds any such program against hook/.

``arch="arm64"`` builds a static aarch64 driver (cross-compiled with aarch64-linux-gnu-g++ on
other machines): static, so that it runs under qemu-user without an arm64 libc and as the only
program, besides busybox, of the initramfs that tests/integration/test_launcher_vm.py boots.
The other architectures of :data:`CROSS` likewise: i386's runs natively on an amd64 kernel
(tests/unit/test_launcher_i386.py), armhf's, riscv64's and ppc64el's on real kernels in
qemu-system (tests/integration/test_launcher_vm.py).
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import shutil
import subprocess
from pathlib import Path

from .. import ROOT
from ..model import hook_sources, matrix, no_libc

#: The drivers' own sources, beside this module (package data of the wheel).
DRIVERS = Path(__file__).resolve().parent / "drivers"
SOURCES = hook_sources.paths(hook_sources.LAUNCHER) + [DRIVERS / "launcher_driver.cc"]
# Hashed with the sources: a header change rebuilds the driver.
HEADERS = hook_sources.paths(hook_sources.headers()) + [DRIVERS / "task_signals.h"]
CROSS_HINT = "run ./bootstrap.sh as root (on amd64 it installs the cross compilers)"


#: Sanitizers the native test programs are built with, e.g. "address,undefined" or "thread"
#: (`nox -s sanitize` sets it; empty: none). The supervisor's code without libc is never
#: instrumented (hook/supervisor.h, no_libc.FLAGS).
SANITIZE_ENV = "KEA_RUNSCRIPT_SANITIZE"


def sanitizer_flags(arch: str | None) -> list[str]:
    """The compiler flags of $KEA_RUNSCRIPT_SANITIZE for a native build (none for arm64)."""
    sanitize = os.environ.get(SANITIZE_ENV, "").strip()
    if not sanitize or arch is not None:
        return []
    return [f"-fsanitize={sanitize}", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-g"]


class CompilerMissing(RuntimeError):
    """The compiler for the requested architecture is not installed."""


#: The Debian architectures a driver is built for besides this machine's, each by its cross
#: compiler (matrix.gnu_type: i686-linux-gnu-g++ for i386).
CROSS = ("arm64", "i386", "armhf", "riscv64", "ppc64el")


def cross_compiler(arch: str) -> str:
    return f"{matrix.gnu_type(arch)}-g++"


def _compiler(arch: str | None) -> tuple[str, list[str]]:
    """(compiler, extra flags) for `arch` (None: this machine's, dynamically linked)."""
    if arch is None:
        compiler = shutil.which("g++") or shutil.which("c++")
        if not compiler:
            raise CompilerMissing("a C++ compiler (g++) is needed to test the launcher")
        return compiler, []
    if arch not in CROSS:
        raise ValueError(f"build_driver: unknown arch {arch!r} (known: None for this machine, "
                         f"{', '.join(map(repr, CROSS))})")
    cross = cross_compiler(arch)
    compiler = shutil.which(cross)
    if not compiler and matrix.MACHINE_ARCH.get(platform.machine()) == arch:
        compiler = shutil.which("g++")
    if not compiler:
        raise CompilerMissing(f"{cross} (Debian package g++-{cross[:-4]}) is needed to build the "
                              f"{arch} launcher driver; {CROSS_HINT}")
    return compiler, ["-static"]


def build_driver(out_dir: Path, defines: tuple = (), arch: str | None = None) -> Path:
    """The driver binary, cached by the sources' content, `defines` (-D names) and `arch`."""
    return compile_cached("launcher_driver", SOURCES, HEADERS, out_dir, defines, arch, std="c++17")


def compile_cached(name: str, sources: list, headers: list, out_dir: Path, defines: tuple = (),
                   arch: str | None = None, std: str = "c++17", libraries: tuple = ()) -> Path:
    """A test program built from `sources` against hook/, cached by the content of `sources`
    and `headers` (a header change rebuilds it), `defines` (-D names), `arch` and `libraries`
    (compiler arguments that find and link other libraries: -I, -l).

    Each source is compiled to an object of its own, cached by its own text, the local headers
    it includes and the defines it can see: a test build that differs by one ``RUNSCRIPT_*``
    define (a fault, a fake old kernel) recompiles only the files that name it, not the whole
    program (most of `nox -s tests`' time was these compiles)."""
    compiler, extra = _compiler(arch)
    flags = [f"-D{d}" for d in defines] + extra + sanitizer_flags(arch)
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources + headers) +
                            " ".join(flags + list(libraries)).encode()).hexdigest()[:12]
    binary = out_dir / (f"{name}-{digest}" if arch is None else f"{name}-{arch}-{digest}")
    if binary.exists():
        return binary
    out_dir.mkdir(parents=True, exist_ok=True)
    common = [f"-std={std}", "-O2", "-Wall", "-Wextra", "-Werror", "-pthread", *extra,
              *sanitizer_flags(arch), "-I", str(ROOT / "hook")]
    include_flags, link_flags = _split_libraries(libraries)
    objects = [_object(compiler, common + include_flags, src, defines, out_dir / "objects") for src in sources]
    # Linked under a temporary name of this process: an interrupted build never leaves a
    # cached binary, and test workers building the same one at once do not collide.
    partial = binary.with_name(f"{binary.name}.{os.getpid()}.partial")
    subprocess.run([compiler, *common, *map(str, objects), *link_flags, "-o", str(partial)], check=True)
    partial.replace(binary)
    return binary


def _split_libraries(libraries: tuple) -> tuple[list, list]:
    """(what compiling needs: -I dir, -isystem dir; what linking needs: the rest)."""
    compile_args, link_args, args = [], [], list(libraries)
    while args:
        a = args.pop(0)
        if a in ("-I", "-isystem"):
            compile_args += [a, args.pop(0)]
        elif a.startswith(("-I", "-isystem")):
            compile_args.append(a)
        else:
            link_args.append(a)
    return compile_args, link_args


def _local_texts(source: Path) -> bytes:
    """The text of `source` and of every header it includes with quotes, found beside it or in
    hook/, transitively: what a define can change and what the object's cache key holds."""
    seen, todo, texts = set(), [source], []
    while todo:
        path = todo.pop()
        if path in seen or not path.exists():
            continue
        seen.add(path)
        text = path.read_bytes()
        texts.append(text)
        for m in re.finditer(rb'^\s*#\s*include\s+"([^"]+)"', text, re.M):
            name = m.group(1).decode()
            todo += [path.parent / name, ROOT / "hook" / name, DRIVERS / name]
    return b"\0".join(texts)


def _object(compiler: str, common: list, source: Path, defines: tuple, out_dir: Path) -> Path:
    """`source` compiled (-c), with those of `defines` it can see: a RUNSCRIPT_* name that
    neither it nor its headers mention cannot change it. Other defines always apply."""
    texts = _local_texts(source)
    seen = [d for d in defines if not d.startswith("RUNSCRIPT_") or d.partition("=")[0].encode() in texts]
    args = [*common, *(f"-D{d}" for d in seen)]
    supervisor = source.name == no_libc.SOURCE
    if supervisor:
        args += no_libc.FLAGS  # last: no flag before them brings a runtime back
    digest = hashlib.sha256(texts + b"\0" + " ".join([compiler, *args]).encode()).hexdigest()[:12]
    obj = out_dir / f"{source.stem}-{digest}.o"
    if obj.exists():
        return obj
    out_dir.mkdir(parents=True, exist_ok=True)
    partial = obj.with_name(f"{obj.name}.{os.getpid()}.partial.o")
    subprocess.run([compiler, *args, "-c", str(source), "-o", str(partial)], check=True)
    if supervisor:
        _refuse_libc(compiler, partial)
    partial.replace(obj)
    return obj


def _refuse_libc(compiler: str, obj: Path) -> None:
    """hook/supervisor.cc's object refused as the hook's Makefile refuses it."""
    # the compiler's binutils: aarch64-linux-gnu-g++ -> aarch64-linux-gnu-nm
    name = Path(compiler).name
    nm = shutil.which(name[:-3] + "nm" if name.endswith("g++") else "nm") or "nm"
    bad = no_libc.violations(nm, obj)
    if bad:
        obj.unlink(missing_ok=True)
        raise no_libc.LibcInSupervisor(f"hook/{no_libc.SOURCE} must reference no symbol (hook/supervisor.h); "
                                       f"this build references: {', '.join(bad)}")
