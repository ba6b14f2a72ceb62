"""Release archives: the built cells checked (:func:`collect`), reproducible tar.gz (sorted
entries, owner root, mtimes clamped to SOURCE_DATE_EPOCH, gzip header without a time or name),
the binary tarballs, the .deb packages, the source tarball, the Python dists and the signed apt
repository."""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

import jinja2

from .. import ROOT
from ..generate import templating
from ..builder.hook import LIBRARY, sha256_file
from ..builder.inventory import PACKAGES_FILE
from ..model.matrix import Cell, Matrix
from .naming import (KEA_LIB_PACKAGE, PACKAGE, ReleaseError, cell_artifact_name, deb_depends, deb_version,
                     is_debian_family, kea_version_range, source_name, upstream_version)
from .sbom import sbom_bytes, sbom_name

TEMPLATES = ROOT / "templates" / "release"
LICENSE_FILE = ROOT / "LICENSE"
README_FILE = ROOT / "README.md"
#: README.md sections copied into every binary tarball (headings, level 2, with subsections).
README_SECTIONS = ("Installing a prebuilt hook", "Using the hook", "Variables", "Troubleshooting")
#: The README's links into docs/: the pages they name ship beside it (docs/<page>.md).
_DOCS_LINK = re.compile(r"\]\((docs/[A-Za-z0-9_.-]+\.md)(?:#[^)]*)?\)")
MAINTAINER = "kea-hook-runscript maintainers <kea-hook-runscript@users.noreply.github.com>"


# --------------------------------------------------------------------------------------------
# inputs: the built cells


@dataclass(frozen=True)
class BuiltCell:
    cell: Cell
    out: Path
    info: dict

    @property
    def so(self) -> Path:
        return self.out / LIBRARY

    @property
    def packages(self) -> Path:
        """The builder's package list (builder/inventory.py)."""
        return self.out / PACKAGES_FILE


def collect(m: Matrix, dist: Path, *, allow_dirty: bool = False,
            render: Optional[Callable[[str, Path], Path]] = None) -> list:
    """The built cells of ``dist`` (every verified cell must be there), validated; each .so must
    come from the sources this checkout renders for its cell (``source_sha256``)."""
    from ..builder.hook import tree_digest
    if render is None:
        from ..generate.render import render_tree as render
    problems, found = [], []
    for cell in m.cells:
        out = dist / cell.id
        info_path = out / "build-info.json"
        if not info_path.is_file():
            if cell.verified:
                problems.append(f"{cell.id}: not built (no {info_path}); run `nox -s build`")
            continue
        try:
            info = json.loads(info_path.read_text())
        except ValueError as e:
            problems.append(f"{cell.id}: {info_path} is not JSON ({e})")
            continue
        so = out / LIBRARY
        if info.get("id") != cell.id or info.get("kea_version") != cell.kea:
            problems.append(f"{cell.id}: {info_path} describes {info.get('id')!r} / Kea {info.get('kea_version')!r}")
        elif not so.is_file() or sha256_file(so) != info.get("sha256"):
            problems.append(f"{cell.id}: {so} is missing or does not match the sha256 in build-info.json; "
                            f"rebuild it (nox -s build)")
        elif set((info.get("load_check") or {}).values()) != {"passed"}:
            problems.append(f"{cell.id}: the build's kea -t load check did not pass")
        elif not _packages_recorded(out, info):
            problems.append(f"{cell.id}: {PACKAGES_FILE} is missing or does not match build-info.json "
                            f"(built by an older toolkit?); rebuild it (nox -s build)")
        elif is_debian_family(cell) and not info.get("kea_package_version"):
            problems.append(f"{cell.id}: build-info.json lacks kea_package_version (built by an older "
                            f"toolkit); rebuild it (nox -s build)")
        elif is_debian_family(cell) and upstream_version(info["kea_package_version"]) != cell.kea:
            problems.append(f"{cell.id}: the builder had Kea package {info['kea_package_version']}, not Kea "
                            f"{cell.kea} (the distribution moved on?); fix matrix.yaml or the image")
        elif info.get("git_dirty") and not allow_dirty:
            problems.append(f"{cell.id}: built from a modified work tree (git_dirty); rebuild from a "
                            f"clean checkout or pass --allow-dirty")
        elif info.get("source_sha256") != _rendered_digest(cell, render, tree_digest):
            problems.append(f"{cell.id}: the .so was not built from the sources this checkout renders for "
                            f"Kea {cell.kea} (source_sha256 {'missing' if not info.get('source_sha256') else 'differs'}); "
                            f"rebuild it (nox -s build)")
        else:
            found.append(BuiltCell(cell, out, info))
    if problems:
        raise ReleaseError("cannot release:\n  " + "\n  ".join(problems))
    if not found:
        raise ReleaseError(f"no built cells in {dist}; run `nox -s build`")
    return found


def _packages_recorded(out: Path, info: dict) -> bool:
    """The builder's package list and what the .so links are recorded (the SBOM is made of them)."""
    listed = out / PACKAGES_FILE
    return (listed.is_file() and sha256_file(listed) == info.get("builder_packages", {}).get("sha256")
            and bool(info.get("linked_libraries")) and "build_inputs" in info)


def _rendered_digest(cell: Cell, render, tree_digest) -> str:
    with tempfile.TemporaryDirectory(prefix="kea-runscript-check-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        render(cell.kea, src)
        return tree_digest(src)


# --------------------------------------------------------------------------------------------
# reproducible archives


def _tarinfo(name: str, size: int, mode: int, mtime: int, kind: bytes = tarfile.REGTYPE) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.size, ti.mode, ti.mtime, ti.type = size, mode, mtime, kind
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = "root"
    return ti


def write_tar_gz(dest: Path, files: dict, mtime: int) -> None:
    """Write ``files`` ({archive path: bytes or (bytes, mode)}) as a reproducible .tar.gz.

    Parent directories are added as entries; everything is sorted; owner root; one mtime."""
    entries = {}
    for name, data in files.items():
        content, mode = data if isinstance(data, tuple) else (data, 0o644)
        entries[name] = (content, mode)
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            entries.setdefault("/".join(parts[:i]) + "/", None)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name in sorted(entries):
            e = entries[name]
            if e is None:
                tar.addfile(_tarinfo(name.rstrip("/"), 0, 0o755, mtime, tarfile.DIRTYPE))
            else:
                content, mode = e
                tar.addfile(_tarinfo(name, len(content), mode, mtime), io.BytesIO(content))
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "wb") as f, gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())


# --------------------------------------------------------------------------------------------
# content


def _env() -> jinja2.Environment:
    return templating.environment(TEMPLATES, trim_blocks=True, lstrip_blocks=True)


def readme_excerpt(text: str, sections: Sequence[str] = README_SECTIONS) -> str:
    """The level-2 sections of README.md named in ``sections`` (with their subsections), in order."""
    out, keep = [], False
    for line in text.splitlines():
        if line.startswith("## "):
            keep = line[3:].strip() in sections
        if keep:
            out.append(line)
    return "\n".join(out).strip() + "\n" if out else ""


def linked_docs(excerpt: str) -> dict:
    """{docs/<page>.md: bytes} of the docs pages ``excerpt`` links to, so that its links
    resolve in a tarball or /usr/share/doc as they do in the repository."""
    return {rel: (ROOT / rel).read_bytes() for rel in sorted(set(_DOCS_LINK.findall(excerpt)))
            if (ROOT / rel).is_file()}


def render_template(name: str, **kw) -> str:
    return _env().get_template(name).render(**kw)


def cell_facts(bc: BuiltCell) -> dict:
    c, info = bc.cell, bc.info
    return {"id": c.id, "kea_version": c.kea, "kea_source": c.source,
            "kea_package": info.get("kea_package", ""),
            "kea_package_version": info.get("kea_package_version", ""),
            "kea_hooks_version": info.get("kea_hooks_version"),
            "os": {"distro": c.os.distro, "release": c.os.release, "suite": c.os.suite},
            "arch": c.arch, "status": c.status, "hooks_dir": c.hooks_dir,
            "library_sha256": info["sha256"], "build_git_commit": info.get("git_commit", ""),
            "compiler": info.get("compiler", "")}


def binary_tarball(bc: BuiltCell, version: str, dest_dir: Path, mtime: int, readme: str) -> Path:
    name = cell_artifact_name(version, bc.cell)
    top = name[: -len(".tar.gz")]
    text = render_template("README.txt.j2", version=version, cell=cell_facts(bc), excerpt=readme,
                           deb=is_debian_family(bc.cell))
    files = {
        f"{top}/{LIBRARY}": bc.so.read_bytes(),
        f"{top}/LICENSE": LICENSE_FILE.read_bytes(),
        f"{top}/README.md": text.encode(),
        f"{top}/build-info.json": (bc.out / "build-info.json").read_bytes(),
        # for a rebuilder: the builder's packages (build-info.json has its sha256), and the SBOM
        f"{top}/{PACKAGES_FILE}": bc.packages.read_bytes(),
        f"{top}/{sbom_name(version, bc.cell)}": sbom_bytes(bc.info, bc.packages.read_text(), version=version,
                                                           cell=bc.cell, created=mtime, maintainer=MAINTAINER),
        **{f"{top}/{rel}": data for rel, data in linked_docs(readme).items()},
    }
    dest = dest_dir / name
    write_tar_gz(dest, files, mtime)
    return dest


def build_deb(root: Path, dest: Path, mtime: int) -> Path:
    """``dpkg-deb --build`` of ``root`` (its ``DEBIAN/`` included), reproducibly: modes 0644 /
    0755 (directories, maintainer scripts), every time ``mtime``, owner root."""
    if shutil.which("dpkg-deb") is None:
        raise ReleaseError("dpkg-deb is not installed (apt-get install dpkg); it builds the .deb packages")
    for p in sorted(root.rglob("*"), reverse=True):
        script = p.parent.name == "DEBIAN" and p.name in ("preinst", "postinst", "prerm", "postrm")
        os.chmod(p, 0o755 if p.is_dir() or script else 0o644)
        os.utime(p, (mtime, mtime), follow_symlinks=False)
    os.chmod(root, 0o755)
    r = subprocess.run(["dpkg-deb", "--build", "--root-owner-group", "-Zxz", str(root), str(dest)],
                       capture_output=True, text=True, env={**os.environ, "SOURCE_DATE_EPOCH": str(mtime)})
    if r.returncode != 0:
        raise ReleaseError(f"dpkg-deb failed for {dest.name} (exit {r.returncode}):\n{r.stderr.strip()}")
    return dest


def deb_package(bc: BuiltCell, version: str, dest_dir: Path, mtime: int, readme: str) -> Path:
    """``dpkg-deb --build --root-owner-group`` of a tree holding the .so in the hooks directory."""
    cell, info = bc.cell, bc.info
    name = cell_artifact_name(version, cell, "deb")
    with tempfile.TemporaryDirectory(prefix="kea-runscript-deb-") as tmp:
        root = Path(tmp) / "root"
        doc = root / "usr/share/doc" / PACKAGE
        hooks = root / cell.hooks_dir.lstrip("/")
        for d in (root / "DEBIAN", doc, hooks):
            d.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(bc.so, hooks / LIBRARY)
        shutil.copyfile(LICENSE_FILE, doc / "copyright")
        shutil.copyfile(bc.out / "build-info.json", doc / "build-info.json")
        (doc / "README.md").write_text(render_template("README.txt.j2", version=version, cell=cell_facts(bc),
                                                       excerpt=readme, deb=True))
        for rel, data in linked_docs(readme).items():
            (doc / rel).parent.mkdir(parents=True, exist_ok=True)
            (doc / rel).write_bytes(data)
        size_kib = sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) // 1024 + 1
        (root / "DEBIAN/control").write_text(render_template(
            "deb-control.j2", package=PACKAGE, version=deb_version(version, cell), arch=cell.arch,
            maintainer=os.environ.get("KEA_RUNSCRIPT_MAINTAINER", "").strip() or MAINTAINER,
            depends=deb_depends(cell, info["kea_package_version"]), installed_size=size_kib,
            cell=cell_facts(bc), hook_version=version))
        low, bound = kea_version_range(cell.kea, info["kea_package_version"])
        (root / "DEBIAN/preinst").write_text(render_template(
            "deb-preinst.j2", package=PACKAGE, version=deb_version(version, cell),
            lib_package=KEA_LIB_PACKAGE[cell.source], low=low, bound=bound, kea_version=cell.kea))
        return build_deb(root, dest_dir / name, mtime)


def source_tarball(version: str, dest_dir: Path, mtime: int, series: Optional[Sequence[str]] = None,
                   render: Optional[Callable[[str, Path], Path]] = None) -> Path:
    """Pre-rendered C++ for every supported Kea series: ``<top>/kea-<X.Y>/`` each with a Makefile."""
    from ..model import facts
    if render is None:
        from ..generate.render import render_tree as render
    series = list(series if series is not None else facts.supported_series())
    name = source_name(version)
    top = name[: -len(".tar.gz")]
    files = {f"{top}/LICENSE": LICENSE_FILE.read_bytes(),
             f"{top}/README.md": render_template("SOURCE-README.txt.j2", version=version, series=series).encode()}
    with tempfile.TemporaryDirectory(prefix="kea-runscript-src-") as tmp:
        for s in series:
            tree = render(s, Path(tmp) / f"kea-{s}")
            for p in sorted(Path(tree).rglob("*")):
                if p.is_file():
                    mode = 0o755 if os.access(p, os.X_OK) else 0o644
                    files[f"{top}/kea-{s}/{p.relative_to(tree).as_posix()}"] = (p.read_bytes(), mode)
    dest = dest_dir / name
    write_tar_gz(dest, files, mtime)
    return dest


def python_dists(dest_dir: Path, root: Path = ROOT) -> list:
    """The toolkit's sdist and wheel, made with ``python -m build``."""
    with tempfile.TemporaryDirectory(prefix="kea-runscript-pydist-") as tmp:
        # Run from tmp: in the checkout, its build/ directory would shadow pypa/build.
        probe = subprocess.run([sys.executable, "-c", "import build.__main__"], cwd=tmp, capture_output=True)
        if probe.returncode:
            raise ReleaseError("the Python package 'build' is missing: pip install -e '.[release]' "
                               "(or --no-python to leave the toolkit's sdist and wheel out)")
        # No --sdist/--wheel: the wheel is built from the sdist, so the sdist is known complete.
        r = subprocess.run([sys.executable, "-m", "build", "--outdir", tmp, str(root)],
                           capture_output=True, text=True, cwd=tmp)
        if r.returncode != 0:
            tail = "\n".join((r.stdout + r.stderr).strip().splitlines()[-20:])
            raise ReleaseError(f"python -m build failed (exit {r.returncode}):\n{tail}")
        out = []
        for p in sorted(Path(tmp).iterdir()):
            shutil.copyfile(p, dest_dir / p.name)
            out.append(dest_dir / p.name)
    return out


def sha256sums(dest_dir: Path, names: Iterable[str]) -> str:
    """``SHA256SUMS`` text (``sha256sum -c`` format), sorted by name."""
    return "".join(f"{sha256_file(dest_dir / n)}  {n}\n" for n in sorted(names))


def manifest_entry(path: Path) -> dict:
    return {"name": path.name, "sha256": sha256_file(path), "size": path.stat().st_size}
