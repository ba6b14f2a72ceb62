"""Release: turn built cells (``dist/<id>/``) into files downstream users can trust.

:func:`make_release` writes ``dist/release/<version>/``:

* per cell, ``kea-hook-runscript-<hookver>-kea<X.Y.Z>-<os>-<arch>.tar.gz`` (the .so, LICENSE,
  a README excerpt, build-info.json) and, for Debian-family cells, a ``.deb`` that installs
  into that distro's hooks directory and ``Depends`` on the upstream Kea version the hook was
  compiled against (any Debian revision of it: :func:`kea_version_range`). Every name comes
  from :func:`artifact_name`;
* ``kea-hook-runscript-<hookver>-src.tar.gz``: the pre-rendered C++ of every supported Kea
  series, buildable with ``make`` alone;
* the toolkit's sdist and wheel (``python -m build``);
* ``install.sh`` (picks, verifies and installs the artifact matching the machine's Kea);
* ``manifest.json`` (cells, exact Kea versions, hooks API versions, checksums, git commit)
  and ``SHA256SUMS`` (``sha256sum -c SHA256SUMS``).

Archives are reproducible: sorted entries, owner root, mtimes clamped to SOURCE_DATE_EPOCH,
gzip header without a time or name.

:func:`publish` uploads a release directory to a GitHub release (urllib, token from
``GITHUB_TOKEN``): a draft first, then every file, then published; a published release is
never changed. ``dry_run`` only lists what would be uploaded. The token is never printed and
goes to the API's host only.
"""

from __future__ import annotations

import email.utils
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

import jinja2

from . import HOOK_VERSION, ROOT, WORK, signing, templating
from .matrix import Cell, Matrix, cell_id

PACKAGE = "kea-hook-runscript"
LIBRARY = "kea-hook-runscript.so"
TEMPLATES = ROOT / "templates" / "release"
LICENSE_FILE = ROOT / "LICENSE"
INSTALLER = ROOT / "install.sh"
README_FILE = ROOT / "README.md"
#: README.md sections copied into every binary tarball (headings, level 2, with subsections).
README_SECTIONS = ("Installing a prebuilt hook", "Using the hook")
MANIFEST_SCHEMA = 1
MAINTAINER = "kea-hook-runscript maintainers <kea-hook-runscript@users.noreply.github.com>"
#: Library package holding libkea-*.so of a Kea package source (the hook links against it).
KEA_LIB_PACKAGE = {"debian": "kea-common", "isc-repo": "isc-kea-common"}


class ReleaseError(RuntimeError):
    """The release cannot be made; the message says why and what to do."""


# --------------------------------------------------------------------------------------------
# names: the one place artifact names are spelled


def artifact_name(hook_version: str, kea: str, distro: str, release: str, arch: str,
                  kind: str = "tar.gz") -> str:
    """``kea-hook-runscript-2.0.0-kea2.6.3-debian13-amd64.tar.gz`` (kind ``tar.gz`` or ``deb``).

    The part after the hook version is the cell id, so install.sh finds its artifact by
    the suffix ``-<cell id>.tar.gz``."""
    if kind not in ("tar.gz", "deb"):
        raise ValueError(f"unknown artifact kind {kind!r} (tar.gz or deb)")
    return f"{PACKAGE}-{hook_version}-{cell_id(kea, distro, release, arch)}.{kind}"


def cell_artifact_name(hook_version: str, cell: Cell, kind: str = "tar.gz") -> str:
    return artifact_name(hook_version, cell.kea, cell.os.distro, cell.os.release, cell.arch, kind)


def source_name(hook_version: str) -> str:
    return f"{PACKAGE}-{hook_version}-src.tar.gz"


_NAME_RE = re.compile(r"^%s-(?P<hook>.+)-(?P<id>kea\d+\.\d+\.\d+-[a-z]+[0-9a-z.]*-[a-z0-9_]+)\.(?P<kind>tar\.gz|deb)$"
                      % re.escape(PACKAGE))


def parse_artifact_name(name: str) -> dict:
    """Inverse of :func:`artifact_name`: ``{"hook_version", "cell_id", "kind"}``."""
    m = _NAME_RE.match(name)
    if not m:
        raise ValueError(f"{name!r} is not a {PACKAGE} binary artifact name")
    return {"hook_version": m["hook"], "cell_id": m["id"], "kind": m["kind"]}


def deb_version(hook_version: str, cell: Cell) -> str:
    """Debian version of the cell's package, e.g. ``2.0.0+kea2.6.3+debian13``.

    A ``-`` in the hook version (``2.0.0-rc1``) becomes ``~`` so a pre-release sorts first."""
    return f"{hook_version.replace('-', '~')}+kea{cell.kea}+{cell.os.distro}{cell.os.release}"


def kea_version_range(kea: str, kea_package_version: str) -> tuple:
    """``(lowest, bound)``: Debian versions of the Kea packages carrying upstream ``kea``.

    A hook is bound to an upstream Kea release, not to its Debian revision: a security update
    ``2.6.3-1+deb13u1`` -> ``2.6.3-1+deb13u2`` keeps the ABI and must keep the hook. Satisfied
    exactly by ``lowest <= v < bound``: ``2.6.3 <= v`` takes every revision and repack
    (``2.6.3-1``, ``2.6.3+dfsg-1``) but no pre-release (``2.6.3~rc1``); ``v < 2.6.3.~`` stops
    at the next upstream (``2.6.4``, ``2.6.3.1``) because ``+`` and ``-`` sort before ``.`` and
    ``.`` followed by anything sorts after ``.~``. The epoch of the package built against is
    kept: with ``1:`` any epoch-0 bound would be meaningless."""
    v = kea_package_version
    epoch = v.split(":", 1)[0] + ":" if ":" in v else ""
    return f"{epoch}{kea}", f"{epoch}{kea}.~"


def deb_depends(cell: Cell, kea_package_version: str) -> str:
    """The upstream Kea the hook was built against (its libraries, any Debian revision of them)
    and one of its servers. The servers depend on their exact ``kea-common``, so pinning
    ``kea-common`` pins theirs."""
    low, bound = kea_version_range(cell.kea, kea_package_version)
    libs = KEA_LIB_PACKAGE.get(cell.source)
    parts = [f"{libs} (>= {low}), {libs} (<< {bound})"] if libs else []
    if cell.server_packages:
        parts.append(" | ".join(cell.server_packages))
    return ", ".join(parts)


def upstream_version(debian_version: str) -> str:
    """``1:2.6.3-1+deb13u1`` -> ``2.6.3`` (epoch and Debian revision dropped)."""
    v = debian_version.split(":", 1)[-1]
    return v.rsplit("-", 1)[0] if "-" in v else v


def is_debian_family(cell: Cell) -> bool:
    return cell.os.distro in ("debian", "ubuntu") and cell.source in KEA_LIB_PACKAGE


# --------------------------------------------------------------------------------------------
# version and inputs


def release_version(explicit: Optional[str] = None, root: Path = ROOT) -> str:
    """``--version`` if given, else the tag on HEAD (``v2.0.0`` -> ``2.0.0``)."""
    if explicit and explicit.strip():
        v = explicit.strip()
    else:
        try:
            tag = subprocess.run(["git", "-C", str(root), "describe", "--tags", "--exact-match", "HEAD"],
                                 capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            raise ReleaseError("HEAD carries no git tag: tag the release (git tag v2.0.0) or pass "
                               "--version X.Y.Z") from None
        v = tag[1:] if tag.startswith("v") else tag
    v = v[1:] if v.startswith("v") else v
    if not re.match(r"^\d+\.\d+\.\d+([-+~][0-9A-Za-z.]+)?$", v):
        raise ReleaseError(f"release version {v!r} is not X.Y.Z[-pre] (e.g. 2.0.0 or 2.0.0-rc1)")
    return v


def check_version_matches(version: str, hook_version: str) -> None:
    if version != hook_version and not any(version.startswith(hook_version + s) for s in "-+~"):
        raise ReleaseError(f"release version {version} does not match the hook version {hook_version} "
                           f"the cells were built with (kea_runscript.HOOK_VERSION); bump one of them")


@dataclass(frozen=True)
class BuiltCell:
    cell: Cell
    out: Path
    info: dict

    @property
    def so(self) -> Path:
        return self.out / LIBRARY


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def collect(m: Matrix, dist: Path, *, allow_dirty: bool = False,
            render: Optional[Callable[[str, Path], Path]] = None) -> list:
    """The built cells of ``dist`` (every verified cell must be there), validated; each .so must
    come from the sources this checkout renders for its cell (``source_sha256``)."""
    from .build import tree_digest
    if render is None:
        from .render import render_tree as render
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
    }
    dest = dest_dir / name
    write_tar_gz(dest, files, mtime)
    return dest


def deb_package(bc: BuiltCell, version: str, dest_dir: Path, mtime: int, readme: str) -> Path:
    """``dpkg-deb --build --root-owner-group`` of a tree holding the .so in the hooks directory."""
    if shutil.which("dpkg-deb") is None:
        raise ReleaseError("dpkg-deb is not installed (apt-get install dpkg); it builds the .deb packages")
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
        for p in sorted(root.rglob("*"), reverse=True):
            os.chmod(p, 0o755 if p.is_dir() or p.name == "preinst" else 0o644)
            os.utime(p, (mtime, mtime), follow_symlinks=False)
        os.chmod(root, 0o755)
        dest = dest_dir / name
        env = {**os.environ, "SOURCE_DATE_EPOCH": str(mtime)}
        r = subprocess.run(["dpkg-deb", "--build", "--root-owner-group", "-Zxz", str(root), str(dest)],
                           capture_output=True, text=True, env=env)
        if r.returncode != 0:
            raise ReleaseError(f"{cell.id}: dpkg-deb failed (exit {r.returncode}):\n{r.stderr.strip()}")
    return dest


def source_tarball(version: str, dest_dir: Path, mtime: int, series: Optional[Sequence[str]] = None,
                   render: Optional[Callable[[str, Path], Path]] = None) -> Path:
    """Pre-rendered C++ for every supported Kea series: ``<top>/kea-<X.Y>/`` each with a Makefile."""
    from . import facts
    if render is None:
        from .render import render_tree as render
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


def _artifact(path: Path) -> dict:
    return {"name": path.name, "sha256": sha256_file(path), "size": path.stat().st_size}


# --------------------------------------------------------------------------------------------
# the apt repository


APT_DIR = "apt"
APT_COMPONENT = "main"


def apt_archive_name(hook_version: str) -> str:
    return f"{PACKAGE}-{hook_version}-apt.tar.gz"


def pool_name(version: str, cell: Cell) -> str:
    """Debian's own file name, ``<package>_<version>_<arch>.deb``: apt-ftparchive --arch goes by it."""
    return f"{PACKAGE}_{deb_version(version, cell)}_{cell.arch}.deb"


def _ftparchive(root: Path, *args: str) -> str:
    r = subprocess.run(["apt-ftparchive", *args], cwd=root, capture_output=True, text=True,
                       env={**os.environ, "LC_ALL": "C"})
    if r.returncode != 0 or "\nE: " in "\n" + r.stderr:
        raise ReleaseError(f"apt-ftparchive {' '.join(args)} failed (exit {r.returncode}):\n{r.stderr.strip()}")
    return r.stdout


def apt_repository(debs: Sequence, root: Path, signer, version: str, mtime: int) -> dict:
    """A signed apt repository of ``debs`` ([(cell, .deb path)]) in ``root``, one suite per
    Debian suite the cells' Kea comes from (``Cell.apt_suite``; ``dists/<suite>/``: ``Release``, ``InRelease``, ``Release.gpg``,
    ``main/binary-<arch>/Packages``; the files in ``pool/<suite>/``), indexed by apt-ftparchive
    and signed by ``signer``. ``Date`` is ``mtime`` (the commit's), so only the signatures
    differ between two runs. Returns what the manifest says about it."""
    if shutil.which("apt-ftparchive") is None:
        raise ReleaseError("apt-ftparchive is not installed (apt-get install apt-utils); it indexes the apt repository")
    by_suite: dict = {}
    for cell, deb in debs:
        # The suite Kea comes from: a Kea from trixie-backports gets its own suite, so trixie's
        # keeps one kea-hook-runscript per architecture (apt would take the highest version,
        # the one for the other Kea, and fail on its dependency).
        by_suite.setdefault(cell.apt_suite, []).append((cell, deb))
    suites = {}
    for suite, items in sorted(by_suite.items()):
        pool = root / "pool" / suite
        pool.mkdir(parents=True)
        for cell, deb in items:
            shutil.copyfile(deb, pool / pool_name(version, cell))
        archs = sorted({cell.arch for cell, _ in items})
        dist = root / "dists" / suite
        for arch in archs:
            text = _ftparchive(root, "--arch", arch, "packages", f"pool/{suite}")
            # One paragraph per package file, in a fixed order whatever the directory order.
            paragraphs = sorted(p.strip("\n") for p in text.split("\n\n") if p.strip())
            (dist / APT_COMPONENT / f"binary-{arch}").mkdir(parents=True)
            (dist / APT_COMPONENT / f"binary-{arch}" / "Packages").write_text("\n\n".join(paragraphs) + "\n")
        fields = {"Origin": PACKAGE, "Label": PACKAGE, "Suite": suite, "Codename": suite,
                  "Architectures": " ".join(archs), "Components": APT_COMPONENT,
                  "Description": f"{PACKAGE} {version} for {items[0][0].os.distro} {suite}",
                  "Date": email.utils.formatdate(mtime, usegmt=True),
                  # apt >= 2.3 then takes later Release files only when signed by this key.
                  "Signed-By": signer.fingerprint}
        opts = [a for k, v in fields.items() for a in ("-o", f"APT::FTPArchive::Release::{k}={v}")]
        release_text = _ftparchive(root, *opts, "release", f"dists/{suite}")
        (dist / "Release").write_text(release_text)
        signer.clearsign(dist / "Release", dist / "InRelease")
        signer.detach_sign(dist / "Release", dist / "Release.gpg")
        suites[suite] = {"architectures": archs,
                         "packages": [f"pool/{suite}/{pool_name(version, c)}" for c, _ in items]}
    (root / signing.KEY_NAME).write_text(signer.public_key() if signer.test else signing.KEY_FILE.read_text())
    return suites


# --------------------------------------------------------------------------------------------
# the release


@dataclass(frozen=True)
class Options:
    version: str
    dist: Path = WORK / "dist"
    out: Optional[Path] = None  # default: dist/release/<version>
    allow_dirty: bool = False
    python: bool = True  # sdist + wheel (python -m build)
    series: Optional[tuple] = None  # source tarball series (default: all supported)
    #: the armored secret release key (CI secret); empty with test_key: a throwaway key
    signing_key: str = field(default="", repr=False)
    signing_passphrase: str = field(default="", repr=False)
    #: accept a key other than keys/kea-hook-runscript.asc: a test release, marked as such
    test_key: bool = False


_PIN_RE = re.compile(r"^( *)RELEASE_KEY_FINGERPRINT=([0-9A-F]*)$", re.M)
_TEST_RE = re.compile(r"^( *)TEST_RELEASE=.*$", re.M)


def installer_text(fingerprint: str, test_note: str = "") -> str:
    """install.sh as shipped: pinned to ``fingerprint``. The committed script pins the project's
    key; a test release (``test_note``) gets its throwaway key pinned and says so when run."""
    text = INSTALLER.read_text(encoding="utf-8")
    pins = _PIN_RE.findall(text)
    if len(pins) != 1 or len(_TEST_RE.findall(text)) != 1:
        raise ReleaseError(f"{INSTALLER} must have exactly one RELEASE_KEY_FINGERPRINT= and one TEST_RELEASE= line")
    if not test_note:
        if pins[0][1] != fingerprint:
            raise ReleaseError(f"{INSTALLER} pins key {pins[0][1]}, the release key is {fingerprint} "
                               f"({signing.KEY_FILE.relative_to(ROOT)}): update the pin")
        return text
    if not re.match(r"^[0-9A-F]{40}$", fingerprint) or "'" in test_note:
        raise ReleaseError(f"bad test key fingerprint {fingerprint!r} or note {test_note!r}")
    text = _PIN_RE.sub(lambda m: f"{m[1]}RELEASE_KEY_FINGERPRINT={fingerprint}", text)
    text = _TEST_RE.sub(lambda m: f"{m[1]}TEST_RELEASE='{test_note}'", text)
    return text.replace("#!/bin/sh\n", f"#!/bin/sh\n# {test_note}\n", 1)


def make_release(m: Matrix, opts: Options, say: Callable[[str], None] = print,
                 render: Optional[Callable[[str, Path], Path]] = None) -> Path:
    """Write the release directory; return its path."""
    from .build import git_facts
    cells = collect(m, opts.dist, allow_dirty=opts.allow_dirty, render=render)
    for bc in cells:
        check_version_matches(opts.version, bc.info.get("hook_version", ""))
    git = git_facts()
    if git["git_dirty"] and not opts.allow_dirty:
        raise ReleaseError("the work tree has uncommitted changes: commit them or pass --allow-dirty")
    secret = opts.signing_key
    if not secret.strip() and opts.test_key:
        secret = signing.throwaway_secret_key()
    try:
        with signing.signer(secret, opts.signing_passphrase, allow_other_key=opts.test_key) as signer:
            return _write_release(cells, opts, git, signer, say, render)
    except signing.SigningError as e:
        raise ReleaseError(str(e)) from None


def _write_release(cells, opts: Options, git: dict, signer, say, render) -> Path:
    mtime = git["source_date_epoch"]
    final = opts.out or (opts.dist / "release" / opts.version)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
    try:
        readme = readme_excerpt(README_FILE.read_text(encoding="utf-8"))
        manifest_cells, debs = [], []
        for bc in cells:
            entry = cell_facts(bc)
            tb = binary_tarball(bc, opts.version, tmp, mtime, readme)
            entry["artifacts"] = {"tarball": _artifact(tb)}
            say(f"{bc.cell.id:<32} {tb.name}")
            if is_debian_family(bc.cell):
                deb = deb_package(bc, opts.version, tmp, mtime, readme)
                if bc.cell.verified:  # apt gets only what CI built and tested; one build per suite
                    debs.append((bc.cell, deb))
                entry["artifacts"]["deb"] = {**_artifact(deb), "package": PACKAGE,
                                             "version": deb_version(opts.version, bc.cell),
                                             "depends": deb_depends(bc.cell, bc.info["kea_package_version"])}
                say(f"{'':<32} {deb.name}")
            manifest_cells.append(entry)
        src = source_tarball(opts.version, tmp, mtime, opts.series, render)
        say(f"{'source':<32} {src.name}")
        apt = {}
        if debs:
            suites = apt_repository(debs, tmp / APT_DIR, signer, opts.version, mtime)
            archive = tmp / apt_archive_name(opts.version)
            top = archive.name[: -len(".tar.gz")]
            write_tar_gz(archive, {f"{top}/{p.relative_to(tmp / APT_DIR).as_posix()}": p.read_bytes()
                                   for p in sorted((tmp / APT_DIR).rglob("*")) if p.is_file()}, mtime)
            # By name only: the archive holds signatures, which differ from run to run, and the
            # manifest is the same for the same inputs (SHA256SUMS has the archive's checksum).
            apt = {"dir": APT_DIR, "component": APT_COMPONENT, "suites": suites, "archive": archive.name}
            say(f"{'apt':<32} {APT_DIR}/dists/{{{','.join(suites)}}} (+ {archive.name})")
        py = python_dists(tmp) if opts.python else []
        for p in py:
            say(f"{'python':<32} {p.name}")
        test_note = (f"TEST release {opts.version}, signed with the throwaway key {signer.fingerprint}, "
                     f"not the {PACKAGE} release key: for tests only") if signer.test else ""
        (tmp / "install.sh").write_text(installer_text(signer.fingerprint, test_note), encoding="utf-8")
        if signer.test:
            (tmp / signing.KEY_NAME).write_text(signer.public_key(), encoding="ascii")
        else:  # the committed file itself, byte for byte: anyone can compare it with the repository
            shutil.copyfile(signing.KEY_FILE, tmp / signing.KEY_NAME)
        manifest = {
            "schema": MANIFEST_SCHEMA,
            "name": PACKAGE,
            "version": opts.version,
            "git_commit": git["git_commit"],
            "git_dirty": git["git_dirty"],
            "source_date_epoch": mtime,
            "cells": manifest_cells,
            "source": {**_artifact(src), "kea_series": list(opts.series or _all_series())},
            "python": [_artifact(p) for p in py],
            "installer": _artifact(tmp / "install.sh"),
            "apt": apt,
            "signing_key": {"fingerprint": signer.fingerprint, "file": signing.KEY_NAME,
                            "test_release": signer.test},
        }
        if signer.test:
            manifest["test_release"] = test_note
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        names = [p.name for p in tmp.iterdir() if p.is_file()]
        (tmp / "SHA256SUMS").write_text(sha256sums(tmp, names))
        signer.detach_sign(tmp / "SHA256SUMS", tmp / "SHA256SUMS.asc")
        for p in tmp.rglob("*"):
            os.chmod(p, 0o755 if p.is_dir() or p.name == "install.sh" else 0o644)
        os.chmod(tmp, 0o755)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    say(f"release {opts.version}: {final} ({len(cells)} cells, signed by {signer.fingerprint}"
        f"{' = a TEST release' if signer.test else ''}; verify with: sh {final}/install.sh --list)")
    return final


def _all_series() -> list:
    from . import facts
    return facts.supported_series()


# --------------------------------------------------------------------------------------------
# publishing to a GitHub release


GITHUB_API = "https://api.github.com"


class PublishError(RuntimeError):
    pass


def redact(text: str, secret: str) -> str:
    return text.replace(secret, "***") if secret else text


def release_files(release_dir: Path) -> list:
    """What is uploaded: every regular file of the release directory, sorted."""
    if not Path(release_dir).is_dir():
        raise PublishError(f"no release directory {release_dir}: make the release first (nox -s release)")
    files = sorted(p for p in Path(release_dir).iterdir() if p.is_file() and not p.name.startswith("."))
    if not any(p.name == "SHA256SUMS" for p in files):
        raise PublishError(f"{release_dir} has no SHA256SUMS: make the release first (nox -s release)")
    return files


def publish(release_dir: Path, *, repo: str, tag: str, token: str = "", dry_run: bool = False,
            api: str = GITHUB_API, say: Callable[[str], None] = print, prerelease: bool = False) -> list:
    """Upload every file of ``release_dir`` to the GitHub release ``tag`` of ``repo``.

    The release is created as a draft, gets every file, and only then is published, so nobody
    sees it half uploaded. A draft left by an interrupted run is completed. A published
    release is never changed: holding the same files it is left as is, otherwise publishing
    fails and says which files differ. Returns the names uploaded. ``dry_run`` lists what would
    be uploaded and needs no token. The token goes to the API's host only (not along a
    redirect to another host, not to an upload URL elsewhere) and never into any message."""
    files = release_files(release_dir)
    repo_ok = bool(re.match(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", repo or ""))
    if dry_run:
        where = repo if repo_ok else "(repository not set: --repo or GITHUB_REPOSITORY)"
        say(f"dry run: would upload {len(files)} files to the GitHub release {tag} of {where}:")
        for p in files:
            say(f"  {p.name}  ({p.stat().st_size} bytes, sha256 {sha256_file(p)})")
        return [p.name for p in files]
    if not repo_ok:
        raise PublishError(f"repository {repo!r} is not owner/name (--repo or GITHUB_REPOSITORY)")
    if not token:
        raise PublishError("no GitHub token: set GITHUB_TOKEN (and --repo/GITHUB_REPOSITORY), or use --dry-run "
                           "to list what would be uploaded")
    try:
        return _publish(files, repo, tag, _Api(api.rstrip("/"), token), say, prerelease)
    except PublishError as e:
        raise PublishError(redact(str(e), token)) from None
    except (urllib.error.URLError, OSError) as e:
        raise PublishError(redact(f"talking to {api} failed: {e}", token)) from None


def _origin(url: str) -> tuple:
    u = urllib.parse.urlsplit(url)
    return u.scheme, (u.hostname or "").lower(), u.port or {"https": 443, "http": 80}.get(u.scheme)


class _SameOriginAuth(urllib.request.HTTPRedirectHandler):
    """Follows redirects, but the Authorization header only to the origin it was meant for
    (urllib copies every header to the new request, whatever its host)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and _origin(newurl) != _origin(req.full_url):
            new.remove_header("Authorization")
        return new


class _Api:
    """The GitHub REST API at ``base`` with ``token``."""

    def __init__(self, base: str, token: str):
        self.base, self.token = base, token
        self.opener = urllib.request.build_opener(_SameOriginAuth)
        origin = _origin(base)
        #: where the token may go: the API, and on github.com its upload host
        self.origins = {origin} | ({("https", "uploads.github.com", 443)}
                                   if origin == ("https", "api.github.com", 443) else set())

    def request(self, method: str, url: str, data: Optional[bytes] = None,
                content_type: str = "application/json") -> tuple:
        if _origin(url) not in self.origins:
            raise PublishError(f"refusing to send the token to {urllib.parse.urlsplit(url).netloc}: "
                               f"not the API's host ({urllib.parse.urlsplit(self.base).netloc})")
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        req.add_header("Accept", "application/vnd.github+json")
        req.add_header("X-GitHub-Api-Version", "2022-11-28")
        req.add_header("User-Agent", f"{PACKAGE}-release")
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with self.opener.open(req, timeout=300) as r:
                body = r.read()
                return r.status, json.loads(body) if body else {}
        except urllib.error.HTTPError as e:
            body = e.read().decode("utf-8", "replace")
            try:
                detail = json.loads(body).get("message", body)
            except ValueError:
                detail = body
            path = urllib.parse.urlsplit(url).path
            raise PublishError(redact(f"GitHub API {method} {path}: HTTP {e.code}: {str(detail)[:300]}",
                                      self.token)) from None

    def json(self, method: str, path: str, obj: Optional[dict] = None) -> dict:
        return self.request(method, self.base + path, json.dumps(obj).encode() if obj is not None else None)[1]


def _find_release(api: _Api, repo: str, tag: str) -> Optional[dict]:
    """The release of ``tag``, draft or not (``GET .../releases/tags/`` does not show drafts)."""
    for page in range(1, 51):
        rels = api.json("GET", f"/repos/{repo}/releases?per_page=100&page={page}")
        for rel in rels:
            if rel.get("tag_name") == tag:
                return rel
        if len(rels) < 100:
            return None
    raise PublishError(f"more than 5000 releases in {repo}; cannot tell whether {tag} exists")


def _publish(files, repo, tag, api: _Api, say, prerelease) -> list:
    rel = _find_release(api, repo, tag)
    if rel is not None and not rel.get("draft"):
        assets = {a["name"]: a for a in rel.get("assets", [])}
        problems = []
        for p in files:
            a = assets.pop(p.name, None)
            if a is None:
                problems.append(f"{p.name}: not in the published release")
            elif a.get("size") != p.stat().st_size or a.get("digest", f"sha256:{sha256_file(p)}") != f"sha256:{sha256_file(p)}":
                problems.append(f"{p.name}: differs from the published file")
        problems += [f"{name}: published, not in this release directory" for name in sorted(assets)]
        if problems:
            raise PublishError(f"the GitHub release {tag} of {repo} is already published, with other files; "
                               f"refusing to change it (make a new tag):\n  " + "\n  ".join(problems))
        say(f"the GitHub release {tag} of {repo} is already published with these files; nothing to do")
        return []
    if rel is None:
        rel = api.json("POST", f"/repos/{repo}/releases", {
            "tag_name": tag, "name": f"{PACKAGE} {tag.lstrip('v')}", "draft": True, "prerelease": prerelease,
            "body": "Prebuilt kea-hook-runscript. Debian: the apt repository (README, Installing). Otherwise "
                    "run install.sh, or pick the file for your exact Kea version, OS and architecture and "
                    "check SHA256SUMS.asc with the release key, then sha256sum -c SHA256SUMS."})
        say(f"created the draft GitHub release {tag} of {repo}")
    else:
        say(f"completing the draft GitHub release {tag} of {repo} (left by an earlier run)")
    upload = re.sub(r"\{.*\}$", "", rel["upload_url"])
    if _origin(upload) not in api.origins:
        raise PublishError(f"the release's upload URL points to {urllib.parse.urlsplit(upload).netloc}, "
                           f"not to the API's host: not sending the token there")
    # A draft is nobody's yet: replace what an earlier run uploaded, drop what is not ours.
    names = {p.name for p in files}
    for a in rel.get("assets", []):
        api.request("DELETE", f"{api.base}/repos/{repo}/releases/assets/{a['id']}")
        if a["name"] not in names:
            say(f"  removed {a['name']} from the draft (not in this release directory)")
    done = []
    for p in files:
        api.request("POST", f"{upload}?name={urllib.parse.quote(p.name)}", p.read_bytes(), "application/octet-stream")
        say(f"  uploaded {p.name} ({p.stat().st_size} bytes)")
        done.append(p.name)
    api.json("PATCH", f"/repos/{repo}/releases/{rel['id']}", {"draft": False})
    say(f"published the GitHub release {tag} of {repo} ({len(done)} files)")
    return done


# --------------------------------------------------------------------------------------------
# clean test images (integration tests of install.sh and the .deb)


def ensure_install_test_image(cell: Cell, log_dir: Path, say: Callable[[str], None] = print) -> str:
    """Build (or reuse) the clean image of ``cell`` (templates/docker/install-test: the OS with
    only Kea's DHCPv4 server, curl and python3); returns its tag."""
    from . import images
    return images.ensure_image("install-test", cell, log_dir, say).tag


# --------------------------------------------------------------------------------------------
# command line (kea-runscript release ...)


def cli_main(args, m: Matrix) -> int:
    """``kea-runscript release [make|publish]``. Exit 0 ok, 1 release failed, 2 usage."""
    try:
        version = release_version(args.version)
    except ReleaseError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    dist = args.dist or WORK / "dist"
    out = args.out or dist / "release" / version
    if args.action == "publish":
        token = os.environ.get("GITHUB_TOKEN", "").strip()
        repo = (args.repo or os.environ.get("GITHUB_REPOSITORY", "")).strip()
        try:
            publish(out, repo=repo, tag=args.tag or f"v{version}", token=token, dry_run=args.dry_run,
                    prerelease=any(s in version for s in "-~"),
                    api=os.environ.get("GITHUB_API_URL", "").strip() or GITHUB_API)  # set on GHES runners
        except PublishError as e:
            print(f"error: {redact(str(e), token)}", file=sys.stderr)
            return 1
        return 0
    try:
        # Read once and dropped from the environment: nothing this process runs (python -m
        # build and its backends, dpkg-deb) inherits the secret key.
        secret = signing.secret_from_environment()
        passphrase = os.environ.pop(signing.PASSPHRASE_ENV, "")
        make_release(m, Options(version=version, dist=dist, out=out, allow_dirty=args.allow_dirty,
                                python=not args.no_python, signing_key=secret, signing_passphrase=passphrase,
                                test_key=args.test_key))
    except (ReleaseError, signing.SigningError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
