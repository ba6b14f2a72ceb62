"""The make step of a release: :func:`make_release` writes ``dist/release/<version>/`` from the
built cells, with no key anywhere near it (the sign step is :mod:`.signing`, a job of its own):

* per cell, ``kea-hook-runscript-<hookver>-kea<X.Y.Z>-<os>-<arch>.tar.gz`` (the .so, LICENSE,
  a README excerpt, build-info.json, the builder's package list and the SPDX SBOM of
  :mod:`.sbom`) and, for Debian-family cells, a ``.deb`` that installs
  into that distro's hooks directory and ``Depends`` on the upstream Kea version the hook was
  compiled against (any Debian revision of it: :func:`kea_version_range`). Every name comes
  from :func:`artifact_name`;
* ``kea-hook-runscript-<hookver>-src.tar.gz``: the pre-rendered C++ of every supported Kea
  series, buildable with ``make`` alone;
* the toolkit's sdist and wheel (``python -m build``);
* ``install.sh`` (picks, verifies and installs the artifact matching the machine's Kea), pinned
  to the release key and to this version;
* the keyring package and the apt repository (:mod:`.apt`), cumulative over earlier releases;
* ``manifest.json`` (cells, exact Kea versions, hooks API versions, checksums, each tarball's
  SBOM, git commit)
  and ``SHA256SUMS``, which the sign step signs.

Archives are reproducible: sorted entries, owner root, mtimes clamped to SOURCE_DATE_EPOCH,
gzip header without a time or name. :func:`make_test_release` makes and signs a test release
with a throwaway key, offline (``kea-runscript release make --test-key``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from .. import ROOT, WORK
from . import signing
from ..errors import ExitCode, UsageError
from ..model.matrix import Cell, Matrix
from .naming import (PACKAGE, ReleaseError, apt_archive_name, check_version_matches, deb_depends,
                     deb_version, is_debian_family, is_prerelease, release_version)
from .archives import (MAINTAINER, README_FILE, binary_tarball, cell_facts, collect, deb_package,
                       manifest_entry, python_dists, readme_excerpt, sha256sums, source_tarball,
                       write_tar_gz)
from .apt import APT_COMPONENT, APT_DIR, apt_repository, keyring_package
from .sbom import sbom_member
from .github import publish_from_environment

INSTALLER = ROOT / "install.sh"
MANIFEST_SCHEMA = 1


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
    #: the armored public key the release ships and install.sh pins; empty: the committed one
    public_key: str = ""
    #: accept a key other than keys/kea-hook-runscript.asc: a test release, marked as such
    test_key: bool = False
    #: the previous release's apt repository (its -apt.tar.gz or apt/): its pool is kept
    apt_base: Optional[Path] = None


@dataclass(frozen=True)
class ReleaseKey:
    """The public release key as the make step knows it: no secret part anywhere."""
    fingerprint: str
    text: str
    test: bool


_PIN_RE = re.compile(r"^( *)RELEASE_KEY_FINGERPRINT=([0-9A-F]*)$", re.M)
_TEST_RE = re.compile(r"^( *)TEST_RELEASE=.*$", re.M)
_VERSION_RE = re.compile(r"^( *)RELEASE_VERSION=.*$", re.M)


def installer_text(fingerprint: str, test_note: str = "", version: str = "") -> str:
    """install.sh as shipped: pinned to ``fingerprint``, installing release ``version`` (empty:
    the committed script's, which knows no release). The committed script pins the project's
    key; a test release (``test_note``) gets its throwaway key pinned and says so when run."""
    text = INSTALLER.read_text(encoding="utf-8")
    pins = _PIN_RE.findall(text)
    if len(pins) != 1 or len(_TEST_RE.findall(text)) != 1 or len(_VERSION_RE.findall(text)) != 1:
        raise ReleaseError(f"{INSTALLER} must have exactly one RELEASE_KEY_FINGERPRINT=, one RELEASE_VERSION= "
                           f"and one TEST_RELEASE= line")
    if version and release_version(version) != version:  # it is written into a shell line
        raise ReleaseError(f"release version {version!r} is not X.Y.Z[-pre] as given")
    text = _VERSION_RE.sub(lambda m: f"{m[1]}RELEASE_VERSION={version}", text)
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


def _release_key(opts: Options) -> ReleaseKey:
    text = opts.public_key or signing.KEY_FILE.read_text(encoding="ascii")
    if "PRIVATE KEY" in text:
        raise ReleaseError("the make step takes the release key's public part only")
    fprs = signing.key_fingerprints(text)
    if len(fprs) != 1:
        raise ReleaseError(f"the release key must be exactly one OpenPGP key, not {len(fprs)}")
    test = fprs[0] != signing.project_fingerprint()
    if test and not opts.test_key:
        raise ReleaseError(f"the key {fprs[0]} is not the release key {signing.project_fingerprint()} "
                           f"({signing.KEY_FILE.relative_to(ROOT)}): pass --test-key for a test release")
    return ReleaseKey(fprs[0], text, test)


def make_release(m: Matrix, opts: Options, say: Callable[[str], None] = print,
                 render: Optional[Callable[[str, Path], Path]] = None) -> Path:
    """Write the unsigned release directory; return its path."""
    if os.environ.get(signing.SECRET_ENV, "").strip():
        raise ReleaseError(f"{signing.SECRET_ENV} is set: the signing key must not reach the make step, which "
                           f"runs python -m build, dpkg-deb and apt-ftparchive. Make the release without it, "
                           f"then sign it in a step of its own (python3 -S -m kea_runscript.release.signing DIR)")
    from ..builder.hook import git_facts
    cells = collect(m, opts.dist, allow_dirty=opts.allow_dirty, render=render)
    for bc in cells:
        check_version_matches(opts.version, bc.info.get("hook_version", ""))
    git = git_facts()
    if git["git_dirty"] and not opts.allow_dirty:
        raise ReleaseError("the work tree has uncommitted changes: commit them or pass --allow-dirty")
    return _write_release(cells, opts, git, _release_key(opts), say, render)


def make_test_release(m: Matrix, opts: Options, secret_key: str = "", say: Callable[[str], None] = print,
                      render: Optional[Callable[[str, Path], Path]] = None) -> Path:
    """A test release, made then signed with ``secret_key`` (default: a new throwaway key), as
    the two CI jobs do: the key is imported for the sign step only."""
    secret = secret_key if secret_key.strip() else signing.throwaway_secret_key()
    try:
        with signing.signer(secret, allow_other_key=True) as s:
            public = s.public_key()
        out = make_release(m, Options(**{**opts.__dict__, "public_key": public, "test_key": True}), say, render)
        with signing.signer(secret, allow_other_key=True, expected=signing.project_fingerprint(out / signing.KEY_NAME)) as s:
            signing.sign_release(out, s)
    except signing.SigningError as e:
        raise ReleaseError(str(e)) from None
    say(f"signed {out} with the throwaway key {s.fingerprint}")
    return out


def _cell_artifacts(cells, opts: Options, tmp: Path, mtime: int, say) -> tuple:
    """Per cell: its tarball and .deb; (manifest entries, the .debs apt gets)."""
    readme = readme_excerpt(README_FILE.read_text(encoding="utf-8"))
    manifest_cells, debs = [], []
    for bc in cells:
        entry = cell_facts(bc)
        tb = binary_tarball(bc, opts.version, tmp, mtime, readme)
        entry["artifacts"] = {"tarball": {**manifest_entry(tb), "sbom": sbom_member(opts.version, bc.cell)}}
        say(f"{bc.cell.id:<32} {tb.name}")
        if is_debian_family(bc.cell):
            deb = deb_package(bc, opts.version, tmp, mtime, readme)
            if bc.cell.verified:  # apt gets only what CI built and tested; one build per suite
                debs.append((bc.cell, deb))
            entry["artifacts"]["deb"] = {**manifest_entry(deb), "package": PACKAGE,
                                         "version": deb_version(opts.version, bc.cell),
                                         "depends": deb_depends(bc.cell, bc.info["kea_package_version"])}
            say(f"{'':<32} {deb.name}")
        manifest_cells.append(entry)
    return manifest_cells, debs


def _apt(debs, opts: Options, tmp: Path, mtime: int, key: ReleaseKey, say) -> dict:
    """The keyring package, and the apt repository with its archive (unsigned: the sign step
    stamps and signs its Release files)."""
    maintainer = os.environ.get("KEA_RUNSCRIPT_MAINTAINER", "").strip() or MAINTAINER
    keyring = keyring_package(key.text, opts.version, tmp, mtime, maintainer)
    say(f"{'keyring':<32} {keyring.name}")
    if not debs:
        return {}
    suites = apt_repository(debs, tmp / APT_DIR, opts.version, mtime, key.text, keyring, opts.apt_base)
    archive = tmp / apt_archive_name(opts.version)
    top = archive.name[: -len(".tar.gz")]
    write_tar_gz(archive, {f"{top}/{p.relative_to(tmp / APT_DIR).as_posix()}": p.read_bytes()
                           for p in sorted((tmp / APT_DIR).rglob("*")) if p.is_file()}, mtime)
    say(f"{'apt':<32} {APT_DIR}/dists/{{{','.join(suites)}}} (+ {archive.name})")
    return {"dir": APT_DIR, "component": APT_COMPONENT, "suites": suites, "archive": archive.name,
            "keyring": keyring.name}


def _write_release(cells, opts: Options, git: dict, key: ReleaseKey, say, render) -> Path:
    mtime = git["source_date_epoch"]
    final = opts.out or (opts.dist / "release" / opts.version)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
    try:
        manifest_cells, debs = _cell_artifacts(cells, opts, tmp, mtime, say)
        src = source_tarball(opts.version, tmp, mtime, opts.series, render)
        say(f"{'source':<32} {src.name}")
        apt = _apt(debs, opts, tmp, mtime, key, say)
        py = python_dists(tmp) if opts.python else []
        for p in py:
            say(f"{'python':<32} {p.name}")
        test_note = (f"TEST release {opts.version}, signed with the throwaway key {key.fingerprint}, "
                     f"not the {PACKAGE} release key: for tests only") if key.test else ""
        (tmp / "install.sh").write_text(installer_text(key.fingerprint, test_note, opts.version), encoding="utf-8")
        # The committed file itself, byte for byte: anyone can compare it with the repository.
        (tmp / signing.KEY_NAME).write_text(key.text, encoding="ascii")
        manifest = {
            "schema": MANIFEST_SCHEMA, "name": PACKAGE, "version": opts.version,
            "git_commit": git["git_commit"], "git_dirty": git["git_dirty"], "source_date_epoch": mtime,
            "cells": manifest_cells,
            "source": {**manifest_entry(src), "kea_series": list(opts.series or _all_series())},
            "python": [manifest_entry(p) for p in py],
            "installer": manifest_entry(tmp / "install.sh"),
            "apt": apt,
            "signing_key": {"fingerprint": key.fingerprint, "file": signing.KEY_NAME, "test_release": key.test},
        }
        if key.test:
            manifest["test_release"] = test_note
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        (tmp / "SHA256SUMS").write_text(sha256sums(tmp, [p.name for p in tmp.iterdir() if p.is_file()]))
        for p in tmp.rglob("*"):
            os.chmod(p, 0o755 if p.is_dir() or p.name == "install.sh" else 0o644)
        os.chmod(tmp, 0o755)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    say(f"release {opts.version}: {final} ({len(cells)} cells, unsigned, for the key {key.fingerprint}"
        f"{' = a TEST release' if key.test else ''}); sign it: python3 -S -m kea_runscript.release.signing {final}")
    return final


def _all_series() -> list:
    from ..model import facts
    return facts.supported_series()


# --------------------------------------------------------------------------------------------
# clean test images (integration tests of install.sh and the .deb)


def ensure_install_test_image(cell: Cell, log_dir: Path, say: Callable[[str], None] = print) -> str:
    """Build (or reuse) the clean image of ``cell`` (templates/docker/install-test: the OS with
    only Kea's DHCPv4 server, curl and python3); returns its tag."""
    from ..engine import images
    return images.ensure_image("install-test", cell, log_dir, say).tag


# --------------------------------------------------------------------------------------------
# command line (kea-runscript release ...)


def cli_main(args, m: Matrix) -> ExitCode:
    """``kea-runscript release [make|publish]``: OK, or an error (a version that cannot be is a
    usage error)."""
    try:
        version = release_version(args.version)
    except ReleaseError as e:
        raise UsageError(str(e)) from e
    dist = args.dist or WORK / "dist"
    out = args.out or dist / "release" / version
    if args.action == "publish":
        publish_from_environment(out, tag=args.tag or f"v{version}", repo=args.repo or "", dry_run=args.dry_run,
                                 prerelease=is_prerelease(version))
        return ExitCode.OK
    if args.action == "sign":  # what the CI's sign job runs, without the toolkit: signing.main
        code = signing.main([str(out), *(["--test-release"] if args.test_key else [])])
        if code:
            raise ReleaseError(f"{out} was not signed (see above)")
        return ExitCode.OK
    opts = Options(version=version, dist=dist, out=out, allow_dirty=args.allow_dirty, python=not args.no_python,
                   apt_base=args.apt_base)
    if args.test_key:  # offline: a throwaway key, made, used to sign and dropped here
        make_test_release(m, opts)
    else:
        make_release(m, opts)
    return ExitCode.OK
