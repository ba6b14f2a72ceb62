"""Build the hook for matrix cells: render -> compile in the builder image -> load-check -> dist/.

Per cell (see :func:`build_cell`):

1. render the C++ tree for the cell's Kea version into ``build/<id>/src``;
2. get the cell's builder image (built once per recipe, see :mod:`kea_runscript.engine.images`);
3. cache key = sha256 over the rendered tree, the builder image id and the build command;
   if ``dist/<id>/build-info.json`` records that key and the ``.so`` still has the recorded
   sha256, the cell is ``cached`` and nothing runs; the same if the machine's store
   (``~/.cache/kea-runscript/builds/<key>/``, or ``$KEA_RUNSCRIPT_CACHE``) has that key: it is
   copied into ``dist/<id>/`` (a fresh checkout reuses what another one built);
4. otherwise ``make`` runs in a throwaway container (no network, fixed path ``/src``,
   ``SOURCE_DATE_EPOCH`` from the git commit), the ``.so`` is copied out;
5. the ``.so`` is installed in Kea's hooks directory of a fresh container from the same image
   and ``kea-dhcp4 -t`` / ``kea-dhcp6 -t`` must accept a config that loads it;
6. only then ``dist/<id>/kea-hook-runscript.so``, ``builder-packages.txt`` (what the builder
   had, read after make in the same container: :mod:`.inventory`) and ``build-info.json``
   are written.

Logs of every step are kept under ``build/<id>/logs/``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence, Tuple

from .. import HOOK_VERSION, ROOT, WORK, output
from ..engine import containers, emulation, images
from . import inventory
from ..errors import ToolkitError
from ..model.matrix import Cell
from ..output import say

LIBRARY = "kea-hook-runscript.so"
SRC = "/src"  # fixed path inside the builder container (reproducible builds)
TRUE_SCRIPT = "/usr/local/bin/true-script"
#: Bump when the meaning of the cache key changes (2: build-info records kea_package_version
#: and kea_hooks_version, which the release needs; 3: and source_sha256; 4: the builder's
#: package list, linked_libraries and build_inputs, which the release's SBOM needs: a build
#: cached before is made again, to the same .so, rather than patched up from another container).
CACHE_SCHEMA = "4"
#: What a build leaves in dist/<id>/ and the store, build-info.json last: its presence with
#: matching checksums is what makes a directory current.
BUILD_FILES = (LIBRARY, inventory.PACKAGES_FILE, "build-info.json")

Renderer = Callable[[str, Path], Path]


def build_command(cell: Cell, host_arch: str, jobs: int = 2) -> list:
    """``make`` in the builder; a cell of another architecture than ``host_arch`` is
    cross-compiled (its builder image has that compiler, see templates/docker/builder)."""
    cross = [f"CXX={cell.tool('g++', host_arch)}", f"NM={cell.tool('nm', host_arch)}"] \
        if cell.foreign(host_arch) else []
    return ["make", "-C", SRC, f"KEA_INCLUDE={cell.kea_include}", f"KEA_LIB={cell.kea_lib}", *cross, f"-j{jobs}"]


#: The machine's store of built libraries, by cache key: a fresh checkout (CI's) reuses what an
#: earlier checkout built from the same rendered sources in the same builder image.
STORE = Path(os.environ.get("KEA_RUNSCRIPT_CACHE") or Path.home() / ".cache" / "kea-runscript") / "builds"


@dataclass(frozen=True)
class Paths:
    """Where a run writes: ``build/<id>/{src,logs}`` and ``dist/<id>/``; ``store``: the
    content-addressed store of built libraries it reads and fills (None: none)."""

    build: Path = WORK / "build"
    dist: Path = WORK / "dist"
    store: Optional[Path] = None

    def src(self, cell: Cell) -> Path:
        return self.build / cell.id / "src"

    def logs(self, cell: Cell) -> Path:
        return self.build / cell.id / "logs"

    def out(self, cell: Cell) -> Path:
        return self.dist / cell.id


@dataclass
class Result:
    cell: Cell
    status: str  # built | cached | failed | skipped (a declared cell nobody asked for by id)
    seconds: float = 0.0
    message: str = ""
    log: Optional[Path] = None
    info: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status in ("built", "cached")

    @property
    def failed(self) -> bool:
        return self.status == "failed"


class CellFailed(ToolkitError):
    def __init__(self, message: str, log: Optional[Path] = None):
        super().__init__(message)
        self.log = log


# --------------------------------------------------------------------------------------------
# pure helpers (unit-tested without Docker)


def tree_digest(root: Path) -> str:
    """sha256 over every file of ``root``: relative path, executable bit and content."""
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_dir():
            continue
        rel = p.relative_to(root).as_posix()
        if p.is_symlink():
            h.update(f"L {rel} -> {os.readlink(p)}\n".encode())
            continue
        mode = "x" if os.access(p, os.X_OK) else "-"
        h.update(f"F {rel} {mode} {p.stat().st_size}\n".encode())
        h.update(p.read_bytes())
        h.update(b"\n")
    return h.hexdigest()


def cache_key(src: Path, builder_image_id: str, command: Sequence[str]) -> str:
    h = hashlib.sha256()
    h.update(f"schema {CACHE_SCHEMA}\nimage {builder_image_id}\ncmd {' '.join(command)}\n".encode())
    h.update(f"tree {tree_digest(src)}\n".encode())
    return h.hexdigest()


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_info(out: Path) -> dict:
    try:
        return json.loads((out / "build-info.json").read_text())
    except (OSError, ValueError):
        return {}


def is_cached(out: Path, key: str) -> bool:
    info = read_info(out)
    so, packages = out / LIBRARY, out / inventory.PACKAGES_FILE
    return (bool(info) and info.get("cache_key") == key and so.is_file() and sha256_file(so) == info.get("sha256")
            and packages.is_file() and sha256_file(packages) == info.get("builder_packages", {}).get("sha256"))


def git_facts(root: Path = ROOT) -> dict:
    """Commit, dirty flag and SOURCE_DATE_EPOCH (env wins if set and non-empty)."""
    def git(*args):
        try:
            return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                                  check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""
    commit = git("rev-parse", "HEAD")
    dirty = bool(git("status", "--porcelain", "--untracked-files=no")) if commit else False
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip() or git("log", "-1", "--format=%ct") or "0"
    return {"git_commit": commit or "unknown", "git_dirty": dirty, "source_date_epoch": int(epoch)}


def check_config(family: int, cell: Cell) -> str:
    """Minimal kea-dhcp4/6 config that loads the hook from the cell's hooks directory."""
    daemon = f"Dhcp{family}"
    cfg = {
        daemon: {
            "interfaces-config": {"interfaces": []},
            "lease-database": {"type": "memfile", "persist": False},
            "hooks-libraries": [{
                "library": f"{cell.hooks_dir}/{LIBRARY}",
                "parameters": {"script": TRUE_SCRIPT},
            }],
            "loggers": [{"name": f"kea-dhcp{family}", "severity": "INFO",
                         "output_options": [{"output": "stdout"}]}],
        }
    }
    return json.dumps(cfg, indent=2) + "\n"


def default_renderer() -> Renderer:
    try:
        from ..generate.render import render_tree  # the renderer module (kea_runscript/generate/render.py)
    except ImportError as e:
        raise CellFailed(f"the renderer kea_runscript.generate.render.render_tree is not available ({e})")
    return render_tree


# --------------------------------------------------------------------------------------------
# one cell


def render_cell(cell: Cell, paths: Paths, render: Optional[Renderer] = None) -> Path:
    src = paths.src(cell)
    if src.exists():
        shutil.rmtree(src)  # no stale files from an earlier render
    src.mkdir(parents=True)
    renderer = render or default_renderer()
    try:
        renderer(cell.kea, src)
    except Exception as e:
        log = paths.logs(cell) / "render.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(traceback.format_exc())
        raise CellFailed(f"rendering the C++ for Kea {cell.kea} failed: {type(e).__name__}: {e}", log)
    if not (src / "Makefile").is_file():
        raise CellFailed(f"the renderer wrote no Makefile into {src}")
    return src


def build_cell(cell: Cell, *, paths: Paths = Paths(store=STORE), render: Optional[Renderer] = None,
               keep: Optional[bool] = None, allow_declared: bool = False,
               verified_ids: Sequence[str] = ()) -> Result:
    t0 = time.monotonic()
    logs = paths.logs(cell)
    try:
        if not cell.verified and not allow_declared:
            raise CellFailed(
                f"cell {cell.id} is declared, not verified: {cell.why_not_buildable_here()}; "
                f"verified cells: {', '.join(verified_ids) or '(none)'} "
                f"(--allow-declared tries anyway where the network allows)")
        with _cell_lock(paths, cell):
            info = _build(cell, paths, render, keep)
        status = info.pop("_status")
        return Result(cell, status, time.monotonic() - t0, info=info)
    except CellFailed as e:
        return Result(cell, "failed", time.monotonic() - t0, str(e), e.log)
    except containers.ImageBuildError as e:
        return Result(cell, "failed", time.monotonic() - t0, str(e), e.log_path)
    except emulation.EmulationMissing as e:
        return Result(cell, "failed", time.monotonic() - t0, str(e))
    except containers.DockerUnavailable:
        raise
    except Exception as e:  # a bug or an unexpected Docker error: keep the other cells going
        logs.mkdir(parents=True, exist_ok=True)
        crash = logs / "crash.log"
        crash.write_text(traceback.format_exc())
        return Result(cell, "failed", time.monotonic() - t0, f"{type(e).__name__}: {e}", crash)


@contextlib.contextmanager
def _cell_lock(paths: Paths, cell: Cell):
    """One build of a cell at a time per checkout, across processes (two nox sessions, test
    workers): each renders into and copies out of the same build/<id>/ and dist/<id>/."""
    paths.build.mkdir(parents=True, exist_ok=True)
    with open(paths.build / f".{cell.id}.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _build(cell: Cell, paths: Paths, render: Optional[Renderer], keep: Optional[bool]) -> dict:
    logs, out = paths.logs(cell), paths.out(cell)
    logs.mkdir(parents=True, exist_ok=True)
    src = render_cell(cell, paths, render)
    builder = images.ensure_image("builder", cell, logs, say)
    host_arch = containers.engine_arch()
    cmd = build_command(cell, host_arch)
    key = cache_key(src, builder.id, cmd)
    if is_cached(out, key):
        return {"_status": "cached", **read_info(out)}
    if paths.store and is_cached(paths.store / key, key):
        # Built before on this machine from the same sources, image and command: the same bytes
        # (reproducible builds), so its build-info (and load check) stands as recorded.
        _install(paths.store / key, out)
        return {"_status": "cached", **read_info(out)}

    git = git_facts()
    work = paths.build / cell.id / "out"
    work.mkdir(parents=True, exist_ok=True)
    built_so = work / LIBRARY
    build_log = logs / "build.log"
    build_log.write_text("")
    env = {"SOURCE_DATE_EPOCH": str(git["source_date_epoch"])}
    with containers.Container(builder.tag, cell.id, keep=keep) as c:
        c.copy_into(src, SRC)
        compiler = c.sh(f"{cell.tool('g++', host_arch)} --version | head -n1").output.strip()
        kea_facts = installed_kea_facts(c, cell)
        with output.section(f"{cell.id}: make", say, prefix=cell.id) as line:
            r = c.call(cmd, env=env, log=build_log, on_line=line)
        if not r.ok:
            tail = "\n".join(r.output.rstrip().splitlines()[-20:])
            raise CellFailed(f"make failed (exit {r.exit_code}):\n{tail}", build_log)
        if not c.call(["test", "-f", f"{SRC}/{LIBRARY}"]).ok:
            raise CellFailed(f"make succeeded but wrote no {SRC}/{LIBRARY}", build_log)
        c.copy_out(f"{SRC}/{LIBRARY}", built_so)
        try:
            packages, linked = inventory.record(c, cell, host_arch, f"{SRC}/{LIBRARY}")
        except inventory.InventoryError as e:
            raise CellFailed(f"{e}", build_log)

    check_log = logs / "kea-check.log"
    checks = load_check(cell, builder.tag, built_so, check_log, keep)

    out.mkdir(parents=True, exist_ok=True)
    (out / "build-info.json").unlink(missing_ok=True)  # out is not current until it is rewritten
    for name, data in ((LIBRARY, built_so.read_bytes()), (inventory.PACKAGES_FILE, packages.encode())):
        (out / (name + ".tmp")).write_bytes(data)
        os.replace(out / (name + ".tmp"), out / name)
    info = {
        "id": cell.id,
        "hook_version": HOOK_VERSION,
        **git,
        "kea_version": cell.kea,
        "kea_source": cell.source,
        **kea_facts,
        "os": {"distro": cell.os.distro, "release": cell.os.release, "suite": cell.os.suite},
        "arch": cell.arch,
        "compiler": compiler,
        "build_command": cmd,
        "source_sha256": tree_digest(src),  # the release checks the .so against what HEAD renders
        "sha256": sha256_file(out / LIBRARY),
        "builder_image": {"tag": builder.tag, "id": builder.id},
        "builder_packages": {"file": inventory.PACKAGES_FILE, "sha256": sha256_file(out / inventory.PACKAGES_FILE)},
        **linked,
        "cache_key": key,
        "load_check": checks,
    }
    (out / "build-info.json.tmp").write_text(json.dumps(info, indent=2) + "\n")
    os.replace(out / "build-info.json.tmp", out / "build-info.json")
    if paths.store:
        _store(out, paths.store / key)
    return {"_status": "built", **info}


def _install(entry: Path, out: Path) -> None:
    """Copy a stored build into ``out``: the library first, build-info.json last (its presence
    with a matching sha256 is what makes ``out`` current)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "build-info.json").unlink(missing_ok=True)
    for name in BUILD_FILES:
        shutil.copyfile(entry / name, out / (name + ".tmp"))
        os.replace(out / (name + ".tmp"), out / name)


def _store(out: Path, entry: Path) -> None:
    if entry.exists():
        return
    tmp = entry.with_name(entry.name + f".tmp{os.getpid()}")
    try:
        tmp.mkdir(parents=True, exist_ok=True)
        for name in BUILD_FILES:
            shutil.copyfile(out / name, tmp / name)
        os.replace(tmp, entry)
    except OSError as e:  # a full or read-only store costs speed, never the build
        say(f"note: could not store the build in {entry.parent} ({e})")
        shutil.rmtree(tmp, ignore_errors=True)


def installed_kea_facts(c, cell: Cell) -> dict:
    """What the release needs about the Kea the hook was compiled against, read in the builder:
    the exact package version of its first server package (``2.6.3-1+deb13u1``; "" when Kea is
    not from a package) and ``KEA_HOOKS_VERSION`` from ``hooks/hooks.h`` (None if not found)."""
    pkg = ""
    if cell.server_packages:
        pkg = c.sh(f"dpkg-query -W -f='${{Version}}' {cell.server_packages[0]} 2>/dev/null").output.strip()
    hv = c.sh(f"sed -n 's/.*KEA_HOOKS_VERSION[ =]*\\([0-9][0-9]*\\).*/\\1/p' "
              f"{cell.kea_include}/hooks/hooks.h 2>/dev/null | head -n1").output.strip()
    return {"kea_package": cell.server_packages[0] if pkg else "", "kea_package_version": pkg,
            "kea_hooks_version": int(hv) if hv.isdigit() else None}


def load_check(cell: Cell, image: str, so: Path, log: Path, keep: Optional[bool]) -> dict:
    """Run ``kea-dhcp4 -t`` and ``kea-dhcp6 -t`` with the hook in the cell's hooks directory."""
    log.write_text("")
    results = {}
    with containers.Container(image, f"{cell.id}-check", keep=keep) as c:
        c.copy_into(so, f"{cell.hooks_dir}/{LIBRARY}")
        c.write_file(TRUE_SCRIPT, "#!/bin/sh\nexit 0\n", mode=0o755)
        for fam in (4, 6):
            conf = f"/etc/kea-runscript/check{fam}.json"
            c.write_file(conf, check_config(fam, cell))
            r = c.call([f"kea-dhcp{fam}", "-t", conf], log=log)
            if not r.ok:
                tail = "\n".join(r.output.rstrip().splitlines()[-20:])
                raise CellFailed(f"kea-dhcp{fam} -t rejected the hook (exit {r.exit_code}):\n{tail}", log)
            results[f"kea-dhcp{fam} -t"] = "passed"
    return results


# --------------------------------------------------------------------------------------------
# many cells


SKIP_HINT = "--allow-declared tries them on a runner with the network they need"


def skipped_result(cell: Cell) -> Result:
    return Result(cell, "skipped", message=f"declared: {cell.why_not_buildable_here()}")


def status_line(r: Result) -> str:
    line = f"{r.cell.id:<32} {r.status:<7} {r.seconds:7.1f}s"
    # A skipped cell's reason belongs on its line: there is no log to point to.
    return f"{line}  {r.message}" if r.status == "skipped" else line


def nothing_to_build(cells: Sequence[Cell], series: Optional[str] = None, verb: str = "build",
                     how: str = "run with --allow-declared on a runner with that network") -> str:
    """The one line for a selection of declared cells only: what they need and how to get it.

    Each cell's reason (Cell.why_not_buildable_here) may list several needs joined by ", and ";
    a need shared by several cells is said once, naming them."""
    needs = {}
    for c in cells:
        why = c.why_not_buildable_here()
        why = why[len("it needs "):] if why.startswith("it needs ") else why
        for need in why.split(", and "):
            needs.setdefault(need, []).append(c.id)
    whose = "its" if series else "the selected"
    parts = []
    for need, ids in needs.items():
        if len(ids) == len(cells) > 1:
            parts.append(f"{whose} cells ({', '.join(ids)}) need {need}")
        elif len(ids) == len(cells):
            parts.append(f"{whose} cell {ids[0]} needs {need}")
        else:
            parts.append(f"{', '.join(ids)} need{'s' if len(ids) == 1 else ''} {need}")
    where = f" for Kea {series}" if series else ""
    return f"nothing to {verb}{where} here: {'; '.join(parts)}; {how}"


def build_cells(cells: Sequence[Cell], *, jobs: int = 1, paths: Paths = Paths(store=STORE),
                render: Optional[Renderer] = None, keep: Optional[bool] = None,
                allow_declared: bool = False, verified_ids: Sequence[str] = (),
                named_ids: Sequence[str] = ()) -> list:
    """Build ``cells`` (``jobs`` at a time); print one line per cell and a summary.

    A declared cell is ``skipped`` (with what it needs) unless ``allow_declared``, or unless it
    is in ``named_ids`` (asked for by its exact id): then build_cell refuses it, a failure."""
    def one(cell: Cell) -> Result:
        if not cell.verified and not allow_declared and cell.id not in named_ids:
            r = skipped_result(cell)
            say(status_line(r))
            return r
        r = build_cell(cell, paths=paths, render=render, keep=keep, allow_declared=allow_declared,
                       verified_ids=verified_ids)
        say(status_line(r))
        if not r.ok:
            say(indent(r.message))
            if r.log:
                say(f"    full log: {r.log}")
        return r

    if jobs <= 1 or len(cells) <= 1:
        results = [one(c) for c in cells]
    else:
        with ThreadPoolExecutor(max_workers=jobs) as ex:
            results = list(ex.map(one, cells))
    say(summary(results))
    return results


def indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def summary(results: Sequence[Result]) -> str:
    lines = ["", f"{'cell':<32} {'status':<7} {'time':>8}  artifact / log"]
    for r in results:
        if r.ok:
            where = r.info.get("sha256", "")[:16]
        elif r.status == "skipped":
            where = r.message
        elif r.log:
            where = str(r.log)
        else:
            where = "declared: not built here (see above)" if not r.cell.verified else ""
        lines.append(f"{r.cell.id:<32} {r.status:<7} {r.seconds:7.1f}s  {where}")
    counts = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    lines.append(", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no cells selected")
    if "skipped" in counts:
        lines.append(f"skipped: declared cells, not buildable here; {SKIP_HINT}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# the hook built with AddressSanitizer + UndefinedBehaviorSanitizer, for a smoke test in Kea

#: The Makefile honours CXXFLAGS and LDFLAGS; hook/supervisor.cc's own flags come after these
#: and turn every sanitizer off there (kea_runscript/model/no_libc.py).
SANITIZED_MAKE_ARGS = ("CXXFLAGS=-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined "
                       "-fno-sanitize-recover=all", "LDFLAGS=-fsanitize=address,undefined")


@dataclass(frozen=True)
class SanitizedBuild:
    """build/<id>/asan/: the sanitized library and the sanitizer runtimes it needs, copied from
    the builder (the runtime image has no compiler): ``preload`` must be Kea's first library
    (Kea itself is not instrumented), ``libraries`` go on the loader's path."""

    library: Path
    preload: Path
    libraries: Tuple[Path, ...]


def build_sanitized(cell: Cell, paths: Paths = Paths()) -> SanitizedBuild:
    """The cell's hook built with ASan + UBSan (cached in build/<id>/asan/ by sources, image and
    command). Native cells only: the runtimes are the builder's."""
    if cell.foreign(containers.engine_arch()):
        raise CellFailed(f"{cell.id}: a sanitized build is made for this machine's architecture only")
    out = paths.build / cell.id / "asan"
    logs = paths.logs(cell)
    logs.mkdir(parents=True, exist_ok=True)
    with _cell_lock(paths, cell):
        src = render_cell(cell, paths, None)
        builder = images.ensure_image("builder", cell, logs, say)
        cmd = build_command(cell, containers.engine_arch()) + list(SANITIZED_MAKE_ARGS)
        key = cache_key(src, builder.id, cmd)
        stamp = out / "cache-key"
        if not (stamp.is_file() and stamp.read_text() == key):
            if out.exists():
                shutil.rmtree(out)
            out.mkdir(parents=True)
            with containers.Container(builder.tag, f"{cell.id}-asan") as c:
                c.copy_into(src, SRC)
                r = c.call(cmd, log=logs / "build-asan.log")
                if not r.ok:
                    tail = "\n".join(r.output.rstrip().splitlines()[-20:])
                    raise CellFailed(f"sanitized make failed (exit {r.exit_code}):\n{tail}", logs / "build-asan.log")
                c.copy_out(f"{SRC}/{LIBRARY}", out / LIBRARY)
                # Each runtime under its SONAME, the name the loader looks for.
                r = c.sh("set -e; mkdir -p /rt; for l in asan ubsan; do "
                         "f=$(readlink -f \"$(g++ -print-file-name=lib$l.so)\"); "
                         "s=$(objdump -p \"$f\" | awk '/SONAME/ {print $2}'); "
                         "cp \"$f\" \"/rt/$s\"; echo \"$s\"; done")
                if not r.ok:
                    raise CellFailed(f"the sanitizer runtimes were not found in the builder:\n{r.output}")
                for name in r.output.split():
                    c.copy_out(f"/rt/{name}", out / name)
            stamp.write_text(key)
    asan = sorted(out.glob("libasan.so.*"))
    ubsan = sorted(out.glob("libubsan.so.*"))
    if not asan or not ubsan:
        raise CellFailed(f"{out}: no libasan/libubsan copied from the builder")
    return SanitizedBuild(out / LIBRARY, asan[0], (asan[0], ubsan[0]))
