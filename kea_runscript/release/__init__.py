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

The package: :mod:`.naming` (names and versions), :mod:`.archives` (the built cells checked,
reproducible archives, the .deb, the apt repository), :mod:`.publish` (GitHub); here, the
release directory as a whole (:func:`make_release`) and the command line. Every name is
importable from the package itself (``release.artifact_name``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from .. import ROOT, WORK
from . import signing
from ..errors import ExitCode, UsageError
from ..model.matrix import Cell, Matrix

# Every public name of the package, as the tests and callers use it (release.artifact_name).
from ..builder.hook import LIBRARY, sha256_file
from .naming import (KEA_LIB_PACKAGE, PACKAGE, ReleaseError, apt_archive_name, artifact_name,
                     cell_artifact_name, check_version_matches, deb_depends, deb_version,
                     is_debian_family, kea_version_range, parse_artifact_name, pool_name,
                     release_version, source_name, upstream_version)
from .archives import (APT_COMPONENT, APT_DIR, BuiltCell, LICENSE_FILE, MAINTAINER, README_FILE,
                       README_SECTIONS, TEMPLATES, apt_repository, binary_tarball, cell_facts, collect,
                       deb_package, manifest_entry, python_dists, readme_excerpt,
                       render_template, sha256sums, source_tarball, write_tar_gz)
from .publish import GITHUB_API, PublishError, _Api, publish, redact, release_files

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
    from ..builder.hook import git_facts
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
            entry["artifacts"] = {"tarball": manifest_entry(tb)}
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
            "source": {**manifest_entry(src), "kea_series": list(opts.series or _all_series())},
            "python": [manifest_entry(p) for p in py],
            "installer": manifest_entry(tmp / "install.sh"),
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
        token = os.environ.get("GITHUB_TOKEN", "").strip()
        repo = (args.repo or os.environ.get("GITHUB_REPOSITORY", "")).strip()
        try:
            publish(out, repo=repo, tag=args.tag or f"v{version}", token=token, dry_run=args.dry_run,
                    prerelease=any(s in version for s in "-~"),
                    api=os.environ.get("GITHUB_API_URL", "").strip() or GITHUB_API)  # set on GHES runners
        except PublishError as e:
            raise PublishError(redact(str(e), token)) from None  # the token never reaches a log
        return ExitCode.OK
    # Read once and dropped from the environment: nothing this process runs (python -m
    # build and its backends, dpkg-deb) inherits the secret key.
    secret = signing.secret_from_environment()
    passphrase = os.environ.pop(signing.PASSPHRASE_ENV, "")
    make_release(m, Options(version=version, dist=dist, out=out, allow_dirty=args.allow_dirty,
                            python=not args.no_python, signing_key=secret, signing_passphrase=passphrase,
                            test_key=args.test_key))
    return ExitCode.OK
