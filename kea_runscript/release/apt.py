"""The apt repository of a release, unsigned (the sign step stamps and signs its ``Release``
files: :mod:`.signing`), and the keyring package that adds the release key to apt.

``apt/`` holds one suite per Debian suite the verified cells' Kea comes from
(``Cell.apt_suite``), and a ``<suite>-rc`` suite for release candidates, so that ``apt
upgrade`` never moves an operator of the stable suite onto a candidate. The pool is
cumulative: a release starts from the previous release's repository (``base``: its
``-apt.tar.gz`` or ``apt/``), keeps every ``.deb`` in it and adds its own, so ``apt install
kea-hook-runscript=<older>`` keeps working. ``Acquire-By-Hash: yes``: apt fetches index files
by their hash, so a mirror caught between two releases never serves an index that does not
match the ``Release`` apt holds.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Optional, Sequence

from . import signing
from .archives import build_deb
from .naming import PACKAGE, ReleaseError, is_prerelease, pool_name

APT_DIR = signing.APT_DIR
APT_COMPONENT = "main"
KEYRING_PACKAGE = f"{PACKAGE}-archive-keyring"
#: Where the keyring package puts the key: apt's place for keys that packages install.
KEYRING_PATH = f"/usr/share/keyrings/{KEYRING_PACKAGE}.gpg"
_POOL_DEB = re.compile(r"^pool/([a-z0-9.+-]+)/([A-Za-z0-9.+~_-]+\.deb)$")


def suite_name(apt_suite: str, version: str) -> str:
    """The suite a release's packages go to: the cell's, or ``<suite>-rc`` for a candidate."""
    return f"{apt_suite}-rc" if is_prerelease(version) else apt_suite


def keyring_deb_name(version: str) -> str:
    return f"{KEYRING_PACKAGE}_{version.replace('-', '~')}_all.deb"


def dearmor(armored: str) -> bytes:
    """The binary OpenPGP packets of an armored block (what apt's ``Signed-By`` file holds)."""
    lines = armored.strip().splitlines()
    try:
        body = lines[lines.index("") + 1:]
    except ValueError:
        raise ReleaseError("the release key is not an armored OpenPGP block") from None
    data = [line for line in body if not line.startswith(("=", "-----"))]
    return base64.b64decode("".join(data), validate=True)


def _ftparchive(root: Path, *args: str) -> str:
    r = subprocess.run(["apt-ftparchive", *args], cwd=root, capture_output=True, text=True,
                       env={**os.environ, "LC_ALL": "C"})
    if r.returncode != 0 or "\nE: " in "\n" + r.stderr:
        raise ReleaseError(f"apt-ftparchive {' '.join(args)} failed (exit {r.returncode}):\n{r.stderr.strip()}")
    return r.stdout


def keyring_package(key_text: str, version: str, dest_dir: Path, mtime: int, maintainer: str) -> Path:
    """``kea-hook-runscript-archive-keyring_<version>_all.deb``: the release key in
    :data:`KEYRING_PATH`, as Debian's own archive keyrings are shipped. A new key (a new signing
    subkey, a revocation) reaches apt users as an upgrade of this package."""
    dest = dest_dir / keyring_deb_name(version)
    with tempfile.TemporaryDirectory(prefix="kea-runscript-keyring-") as tmp:
        root = Path(tmp) / "root"
        keyring = root / KEYRING_PATH.lstrip("/")
        keyring.parent.mkdir(parents=True)
        keyring.write_bytes(dearmor(key_text))
        (root / "DEBIAN").mkdir()
        (root / "DEBIAN/control").write_text(
            f"Package: {KEYRING_PACKAGE}\nVersion: {version.replace('-', '~')}\nArchitecture: all\n"
            f"Maintainer: {maintainer}\nSection: misc\nPriority: optional\nMulti-Arch: foreign\n"
            f"Description: OpenPGP key of the {PACKAGE} apt repository\n"
            f" The key that signs the {PACKAGE} releases and apt repository, for apt's\n"
            f" Signed-By ({KEYRING_PATH}).\n")
        build_deb(root, dest, mtime)
    return dest


def _base_debs(base: Optional[Path]) -> dict:
    """{pool path: bytes} of every ``.deb`` of an earlier repository (a directory or its archive)."""
    if base is None:
        return {}
    base = Path(base)
    out = {}
    if base.is_dir():
        for p in sorted(base.rglob("*.deb")):
            rel = p.relative_to(base).as_posix()
            if _POOL_DEB.match(rel):
                out[rel] = p.read_bytes()
        return out
    with tarfile.open(base) as t:
        for m in t.getmembers():
            rel = m.name.split("/", 1)[-1]  # below the archive's top directory
            if m.isfile() and _POOL_DEB.match(rel):
                out[rel] = t.extractfile(m).read()
    return out


def _fill_pool(root: Path, base: Optional[Path], new: dict) -> None:
    """The earlier repository's pool, then this release's files; a name that exists with other
    bytes is refused (a version is never re-released with other contents)."""
    files = _base_debs(base)
    for rel, data in new.items():
        if rel in files and files[rel] != data:
            raise ReleaseError(f"{rel} is already in the earlier repository with other contents: "
                               f"a released version is never replaced; release a new version")
        files[rel] = data
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)


def _index_suite(root: Path, suite: str, description: str, mtime: int) -> list:
    """Packages (+ by-hash copies) per architecture and the unsigned Release of one suite; its
    architectures."""
    archs = sorted({p.name.rsplit("_", 1)[1][:-4] for p in (root / "pool" / suite).glob("*.deb")} - {"all"})
    dist = root / "dists" / suite
    for arch in archs:
        text = _ftparchive(root, "--arch", arch, "packages", f"pool/{suite}")
        # One paragraph per package file, in a fixed order whatever the directory order.
        paragraphs = sorted(p.strip("\n") for p in text.split("\n\n") if p.strip())
        data = ("\n\n".join(paragraphs) + "\n").encode()
        index = dist / APT_COMPONENT / f"binary-{arch}"
        (index / "by-hash" / "SHA256").mkdir(parents=True)
        (index / "Packages").write_bytes(data)
        (index / "by-hash" / "SHA256" / hashlib.sha256(data).hexdigest()).write_bytes(data)
    fields = {"Origin": PACKAGE, "Label": PACKAGE, "Suite": suite, "Codename": suite,
              "Architectures": " ".join(archs), "Components": APT_COMPONENT, "Description": description,
              # Stamped again, with Valid-Until, when signed.
              "Date": email.utils.formatdate(mtime, usegmt=True), "Acquire-By-Hash": "yes"}
    opts = [a for k, v in fields.items() for a in ("-o", f"APT::FTPArchive::Release::{k}={v}")]
    # Only the Packages files: by-hash/ holds copies, which apt finds through them.
    release_text = _ftparchive(root, *opts, "release", f"dists/{suite}")
    release_text = re.sub(r"^ \S+ +\d+ \S*/by-hash/\S+\n", "", release_text, flags=re.M)
    (dist / "Release").write_text(release_text)
    return archs


def apt_repository(debs: Sequence, root: Path, version: str, mtime: int, key_text: str,
                   keyring_deb: Path, base: Optional[Path] = None) -> dict:
    """The unsigned apt repository of ``debs`` ([(cell, .deb path)]) and the keyring package in
    ``root``, on top of the pool of ``base``. Returns what the manifest says about it."""
    if shutil.which("apt-ftparchive") is None:
        raise ReleaseError("apt-ftparchive is not installed (apt-get install apt-utils); it indexes the apt repository")
    new, mine = {}, {}
    for cell, deb in debs:
        # The suite Kea comes from: a Kea from trixie-backports gets its own suite, so trixie's
        # keeps one kea-hook-runscript per architecture (apt would take the highest version,
        # the one for the other Kea, and fail on its dependency).
        suite = suite_name(cell.apt_suite, version)
        rel = f"pool/{suite}/{pool_name(version, cell)}"
        new[rel] = Path(deb).read_bytes()
        mine.setdefault(suite, []).append(rel)
    for suite in mine:
        new[f"pool/{suite}/{keyring_deb.name}"] = keyring_deb.read_bytes()
    _fill_pool(root, base, new)
    suites = {}
    for pool in sorted(p for p in (root / "pool").iterdir() if p.is_dir()):
        archs = _index_suite(root, pool.name, f"{PACKAGE} for {pool.name}", mtime)
        suites[pool.name] = {"architectures": archs, "packages": sorted(mine.get(pool.name, []))}
    (root / signing.KEY_NAME).write_text(key_text)
    return suites
