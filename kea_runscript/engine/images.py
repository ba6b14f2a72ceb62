"""Docker images of a cell: base OS image (pulled or bootstrapped) and images from templates.

:func:`ensure_base` gives a cell's OS image ``kea-runscript/<distro>:<suite>``: the tag is the
cache; when missing it tries ``docker pull <distro>:<suite>``, and if no registry is reachable
it bootstraps one with ``debootstrap --variant=minbase`` + ``docker import``.

:func:`ensure_image` builds an image for a cell from ``templates/docker/<kind>.Dockerfile.j2``
(``builder`` to compile and load-check the hook, ``runtime`` for the smoke tests), tagged
``kea-runscript/<kind>:<cell id>-<hash>`` where the hash covers the rendered Dockerfile and the
base image id: an unchanged recipe reuses the image, a changed one builds a new one.

Every image is of the machine's own architecture (base images too): a cell of another
architecture (arm64 on an amd64 machine) adds its architecture with dpkg, so its Kea runs
under qemu-user while compilers and test tools run natively.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import shutil
import subprocess
import tempfile
import threading
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import jinja2

from .. import ROOT, output
from . import containers, emulation
from ..generate import templating
from ..model.facts import facts_for
from ..model.matrix import Cell

TEMPLATES = ROOT / "templates" / "docker"
BASE_REPO = "kea-runscript/{distro}"

_locks = defaultdict(threading.Lock)
_locks_guard = threading.Lock()
#: Lock files of the images being made: images are the machine's, and test workers are
#: processes, so a thread lock alone let two of them bootstrap one base image at once (the
#: second import moved its tag, and with it every recipe hash built on it).
LOCK_DIR = Path(tempfile.gettempdir()) / "kea-runscript-image-locks"


@contextlib.contextmanager
def _lock(key: str) -> Iterator[None]:
    """Held by one thread of one process of the machine at a time, per image `key`."""
    with _locks_guard:
        thread_lock = _locks[key]
    with thread_lock:
        LOCK_DIR.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha256(key.encode()).hexdigest()[:16]
        with open(LOCK_DIR / f"{name}.lock", "w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)


@dataclass(frozen=True)
class Image:
    kind: str
    tag: str
    id: str
    recipe_hash: str
    built: bool  # True if this call built it, False if it was reused


def base_ref(cell: Cell) -> str:
    return f"{BASE_REPO.format(distro=cell.os.distro)}:{cell.os.suite}"


def ensure_base(cell: Cell, say: Callable[[str], None] = print) -> str:
    """Return the id of the cell's base image, pulling or bootstrapping it if missing."""
    repo, suite = BASE_REPO.format(distro=cell.os.distro), cell.os.suite
    ref = f"{repo}:{suite}"
    with _lock(ref):
        found = containers.image_id(ref)
        if found:
            return found
        say(f"base image {ref} missing: trying docker pull {cell.os.distro}:{suite}")
        if containers.pull(cell.os.distro, suite):
            containers.tag(f"{cell.os.distro}:{suite}", repo, suite)
            say(f"base image {ref} <- docker pull {cell.os.distro}:{suite}")
            return containers.image_id(ref)
        say(f"pull failed (no registry reachable); bootstrapping {ref} with debootstrap "
            f"from {cell.os.default_mirror} (a few minutes, once per suite)")
        return bootstrap(cell.os.suite, cell.os.default_mirror, repo, say)


def bootstrap(suite: str, mirror: str, repo: str, say: Callable[[str], None] = print) -> str:
    """``debootstrap --variant=minbase <suite> <dir> <mirror>`` then ``docker import`` it."""
    if shutil.which("debootstrap") is None:
        raise RuntimeError("debootstrap is not installed; run as root: apt-get install -y debootstrap "
                           "(or ./bootstrap.sh)")
    with tempfile.TemporaryDirectory(prefix=f"kea-runscript-{suite}-") as tmp:
        root = Path(tmp) / "root"
        cmd = ["debootstrap", "--variant=minbase", suite, str(root), mirror]
        say("  $ " + " ".join(cmd))
        # A few minutes of downloads and unpacking: its lines show it is moving.
        tail = []
        with output.section(f"debootstrap {suite}", say, prefix=f"debootstrap {suite}") as line:
            with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  errors="replace") as proc:
                try:
                    for text in proc.stdout:
                        line(text.rstrip("\n"))
                        tail = (tail + [text.rstrip("\n")])[-20:]
                except BaseException:
                    proc.terminate()  # SIGTERM reached this process only: debootstrap stops too
                    raise
            returncode = proc.returncode
        if returncode != 0:
            raise RuntimeError(f"debootstrap {suite} failed (exit {returncode}):\n" + "\n".join(tail))
        tarball = Path(tmp) / "rootfs.tar"
        say(f"  $ tar -C {root} -c . | docker import -c 'CMD [\"/bin/bash\"]' - {repo}:{suite}")
        subprocess.run(["tar", "-C", str(root), "-cf", str(tarball), "."], check=True)
        return containers.import_tarball(tarball, repo, suite, changes=['CMD ["/bin/bash"]'])


def _env() -> jinja2.Environment:
    # facts_for: recipe details that differ by Kea release
    return templating.environment(TEMPLATES, globals={"list": list, "facts_for": facts_for})


def admin_package(cell: Cell) -> str:
    return {"debian": "kea-admin", "isc-repo": "isc-kea-admin"}.get(cell.source, "")


def render_dockerfile(kind: str, cell: Cell, base_image: str, host_arch: str) -> str:
    """The Dockerfile text of image ``kind`` for ``cell`` on a ``host_arch`` machine (no Docker
    needed). A cell of another architecture gets the host's OS with the cell's architecture
    added: Kea's packages (and the libraries the hook links) of the cell's architecture, a cross
    compiler, and the test tools of the host."""
    template = f"{kind}.Dockerfile.j2"
    return _env().get_template(template).render(
        cell=cell, kind=kind, template=template, base_image=base_image, host_arch=host_arch,
        foreign=cell.foreign(host_arch), admin_package=admin_package(cell))


def recipe_hash(dockerfile: str, base_id: str) -> str:
    return hashlib.sha256(f"{base_id}\n{dockerfile}".encode()).hexdigest()[:16]


def ensure_image(kind: str, cell: Cell, log_dir: Path, say: Callable[[str], None] = print) -> Image:
    """Build (or reuse) image ``kind`` of ``cell``; the build log goes to ``log_dir``."""
    host_arch = containers.engine_arch()
    if cell.emulated(host_arch):
        emulation.require(cell.arch, cell.id)  # every image of such a cell runs its Kea
    base_id = ensure_base(cell, say)
    text = render_dockerfile(kind, cell, base_ref(cell), host_arch)
    h = recipe_hash(text, base_id)
    ref = f"kea-runscript/{kind}:{cell.id}-{h}"
    with _lock(ref):
        found = containers.image_id(ref)
        if found:
            return Image(kind, ref, found, h, built=False)
        log = log_dir / f"{kind}-image.log"
        say(f"{cell.id}: building {kind} image {ref} (once per recipe; log: {_rel(log)})")
        with tempfile.TemporaryDirectory(prefix="kea-runscript-ctx-") as ctx:
            (Path(ctx) / "Dockerfile").write_text(text, encoding="utf-8")
            new_id = containers.build_image(Path(ctx), ref, log)
        return Image(kind, ref, new_id, h, built=True)


def _rel(p: Path) -> str:
    try:
        return str(Path(p).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(p)
