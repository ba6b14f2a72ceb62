"""Release without Docker: names, .deb fields, reproducible archives, a whole release from a
fake dist/, validation errors, install.sh's refusals, and publishing to a fake GitHub API
(the token never shows)."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from kea_runscript import HOOK_VERSION, ROOT, release
from kea_runscript.model import matrix
from kea_runscript.builder.inventory import PACKAGES_FILE
from kea_runscript.release import signing
from tests.unit.fakes import small_matrix

#: Behaviour on the small fixture matrix; the artifact names' uniqueness is checked over the real one.
M = small_matrix()
REAL = matrix.load()
CELL = M.by_id("kea2.6.3-debian13-amd64")


# --------------------------------------------------------------------------------------------
# names


def test_artifact_name_example():
    assert release.artifact_name("2.0.0", "2.6.3", "debian", "13", "amd64") == \
        "kea-hook-runscript-2.0.0-kea2.6.3-debian13-amd64.tar.gz"
    assert release.cell_artifact_name("2.0.0", CELL, "deb") == "kea-hook-runscript-2.0.0-kea2.6.3-debian13-amd64.deb"
    with pytest.raises(ValueError):
        release.artifact_name("2.0.0", "2.6.3", "debian", "13", "amd64", "zip")


@pytest.mark.parametrize("version", ["2.0.0", "2.0.0-rc1", "10.1.2+x"])
def test_artifact_names_round_trip_and_are_unique(version):
    names = set()
    for c in REAL.cells:
        for kind in ("tar.gz", "deb"):
            name = release.cell_artifact_name(version, c, kind)
            assert release.parse_artifact_name(name) == {"hook_version": version, "cell_id": c.id, "kind": kind}
            names.add(name)
    assert len(names) == 2 * len(REAL.cells)
    with pytest.raises(ValueError):
        release.parse_artifact_name(release.source_name(version))


@pytest.mark.parametrize("cell_part", ["kea2.6.3-fedora40-amd64", "kea2.6-debian13-amd64",
                                       "kea2.6.3-debian13-amd64-x", "kea2.6.3.1-debian13-amd64"])
def test_artifact_names_take_cell_ids_from_the_matrix_parser(cell_part):
    """An artifact name carries a cell id as matrix.parse_id reads it, no second spelling."""
    with pytest.raises(ValueError):
        matrix.parse_id(cell_part)
    with pytest.raises(ValueError):
        release.parse_artifact_name(f"{release.PACKAGE}-2.0.0-{cell_part}.tar.gz")


def test_deb_fields():
    assert release.deb_version("2.0.0", CELL) == "2.0.0+kea2.6.3+debian13"
    assert release.deb_version("2.0.0-rc1", CELL) == "2.0.0~rc1+kea2.6.3+debian13"
    assert release.deb_depends(CELL, "2.6.3-1+deb13u1") == \
        "kea-common (>= 2.6.3), kea-common (<< 2.6.3.~), kea-dhcp4-server | kea-dhcp6-server"
    assert release.kea_version_range("2.6.3", "1:2.6.3-2") == ("1:2.6.3", "1:2.6.3.~")  # epoch kept
    isc = M.by_id("kea2.6.1-debian12-amd64")
    assert release.deb_depends(isc, "2.6.1-isc1") == \
        "isc-kea-common (>= 2.6.1), isc-kea-common (<< 2.6.1.~), isc-kea-dhcp4 | isc-kea-dhcp6"
    assert not release.is_debian_family(M.by_id("kea1.4.0-debian10-amd64"))  # built from source
    assert release.upstream_version("1:2.6.3-1+deb13u1") == "2.6.3"


# Which installed Kea package versions satisfy a hook built against kea-common 2.6.3-1+deb13u1,
# as dpkg (and apt, same ordering) reads the Depends: every Debian revision or repack of 2.6.3,
# no other upstream release, no pre-release, no other epoch.
KEA_VERSIONS = [
    ("2.6.3-1+deb13u1", True), ("2.6.3-1+deb13u2", True), ("2.6.3-2", True), ("2.6.3-1", True),
    ("2.6.3+dfsg-1", True), ("2.6.3-1~bpo12+1", True),
    ("2.6.4-1", False), ("2.6.3.1-1", False), ("2.6.4~rc1-1", False), ("2.6.3~rc1-1", False),
    ("2.6.2-1+deb13u9", False), ("2.7.0-1", False), ("3.0.0-1", False), ("1:2.6.3-1", False),
]


def dpkg_satisfies(version: str, relation: str) -> bool:
    op, bound = relation.strip("()").split(" ", 1)
    ops = {">=": "ge", "<<": "lt", "=": "eq"}
    return subprocess.run(["dpkg", "--compare-versions", version, ops[op], bound]).returncode == 0


@pytest.mark.parametrize("installed,ok", KEA_VERSIONS)
def test_deb_depends_follow_kea_revisions_not_upstream_releases(installed, ok):
    depends = release.deb_depends(CELL, "2.6.3-1+deb13u1")
    relations = [d.split(" ", 1)[1] for d in depends.split(", ") if d.startswith("kea-common ")]
    assert relations, depends
    assert all(dpkg_satisfies(installed, r) for r in relations) is ok, (installed, depends)


@pytest.mark.parametrize("installed,ok", KEA_VERSIONS + [(None, False)])
def test_deb_preinst_takes_any_revision_of_the_upstream_kea(tmp_path, installed, ok):
    """The preinst the .deb ships, run with the real dpkg --compare-versions and a dpkg-query
    that reports ``installed`` as kea-common's version (None: not installed)."""
    script = release.render_template("deb-preinst.j2", package=release.PACKAGE, version="2.0.0+kea2.6.3+debian13",
                                     lib_package="kea-common", kea_version="2.6.3",
                                     **dict(zip(("low", "bound"), release.kea_version_range("2.6.3", "2.6.3-1"))))
    bindir = tmp_path / "bin"
    bindir.mkdir()
    answer = f"printf '%s' '{installed}'" if installed else "exit 1"
    (bindir / "dpkg-query").write_text(f'#!/bin/sh\n[ "$3" = kea-common ] || exit 9\n{answer}\n')
    (bindir / "dpkg-query").chmod(0o755)
    (tmp_path / "preinst").write_text(script)
    r = subprocess.run([SH, str(tmp_path / "preinst"), "install"], capture_output=True, text=True,
                       env={**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}"})
    assert (r.returncode == 0) is ok, (installed, r.stderr)
    if not ok:
        assert "built for Kea 2.6.3" in r.stderr and f"installed: kea-common {installed or '(none)'}" in r.stderr


def test_release_version():
    assert release.release_version("v2.0.0") == "2.0.0"
    assert release.release_version("2.0.0-rc1") == "2.0.0-rc1"
    with pytest.raises(release.ReleaseError, match="not X.Y.Z"):
        release.release_version("two")
    release.check_version_matches("2.0.0-rc1", "2.0.0")
    with pytest.raises(release.ReleaseError, match="does not match the hook version"):
        release.check_version_matches("2.0.1", "2.0.0")


def test_release_version_from_the_git_tag(tmp_path):
    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
                       check=True, capture_output=True)
    git("init", "-q")
    git("commit", "-q", "--allow-empty", "-m", "x")
    with pytest.raises(release.ReleaseError, match="no git tag"):
        release.release_version(None, tmp_path)
    git("tag", "v2.0.0")
    assert release.release_version(None, tmp_path) == "2.0.0"
    assert release.release_version("2.0.0-rc2", tmp_path) == "2.0.0-rc2"  # --version wins


def test_readme_excerpt():
    text = "# T\nintro\n## A\na\n### A1\na1\n## B\nb\n## C\nc\n"
    assert release.readme_excerpt(text, ("A", "C")) == "## A\na\n### A1\na1\n## C\nc\n"
    real = release.readme_excerpt((ROOT / "README.md").read_text())
    assert "## Using the hook" in real


def test_tarball_is_reproducible(tmp_path):
    files = {"top/b.txt": b"b", "top/sub/a.sh": (b"#!/bin/sh\n", 0o755)}
    release.write_tar_gz(tmp_path / "1.tar.gz", files, 1700000000)
    release.write_tar_gz(tmp_path / "2.tar.gz", dict(reversed(list(files.items()))), 1700000000)
    assert (tmp_path / "1.tar.gz").read_bytes() == (tmp_path / "2.tar.gz").read_bytes()
    with tarfile.open(tmp_path / "1.tar.gz") as t:
        members = t.getmembers()
    assert [m.name for m in members] == ["top", "top/b.txt", "top/sub", "top/sub/a.sh"]
    assert {(m.uid, m.gid, m.uname, m.mtime) for m in members} == {(0, 0, "root", 1700000000)}
    assert members[-1].mode == 0o755


# --------------------------------------------------------------------------------------------
# a release from a fake dist/


def stub_digest(kea: str) -> str:
    import tempfile
    from kea_runscript.builder.hook import tree_digest
    with tempfile.TemporaryDirectory() as tmp:
        return tree_digest(stub_render(kea, Path(tmp) / "src"))


def fake_dist(dist: Path, cells=None, **override) -> None:
    for c in cells or M.verified:
        out = dist / c.id
        out.mkdir(parents=True, exist_ok=True)
        so = f"fake library for {c.id}\n".encode()
        (out / release.LIBRARY).write_bytes(so)
        packages = f"kea-common\t{c.kea}-1\t{c.arch}\nkea-dev\t{c.kea}-1\t{c.arch}\n"
        (out / PACKAGES_FILE).write_text(packages)
        info = {"id": c.id, "hook_version": HOOK_VERSION, "git_commit": "0" * 40, "git_dirty": False,
                "kea_version": c.kea, "kea_source": c.source, "kea_package": "kea-dhcp4-server",
                "kea_package_version": f"{c.kea}-1", "kea_hooks_version": 20603, "arch": c.arch,
                "os": {"distro": c.os.distro, "release": c.os.release, "suite": c.os.suite},
                "sha256": hashlib.sha256(so).hexdigest(), "compiler": "g++", "source_sha256": stub_digest(c.kea),
                "load_check": {"kea-dhcp4 -t": "passed", "kea-dhcp6 -t": "passed"},
                # builder/inventory.py's records, of which the release makes each cell's SBOM
                "builder_packages": {"file": PACKAGES_FILE, "sha256": hashlib.sha256(packages.encode()).hexdigest()},
                "linked_libraries": [{"soname": "libkea-hooks.so.1", "path": f"/usr/lib/{c.multiarch}/libkea-hooks.so.1",
                                      "package": "kea-common", "architecture": c.arch}],
                "build_inputs": [{"role": "kea-headers", "path": "/usr/include/kea/hooks/hooks.h",
                                  "package": "kea-dev", "architecture": c.arch}]}
        info.update(override)
        (out / "build-info.json").write_text(json.dumps(info, indent=2) + "\n")


def stub_render(series: str, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "Makefile").write_text(f"# Kea {series}\nall:\n\ttrue\n")
    return dest


@functools.lru_cache(maxsize=None)
def throwaway_key(n: int = 0) -> str:
    """An armored secret key made for this test run (``n``: another one)."""
    return signing.throwaway_secret_key(f"kea-hook-runscript unit test key {n} <t{n}@example.invalid>")


def make(tmp_path: Path, name="out", signing_key=None, version=HOOK_VERSION, **opts) -> Path:
    """A test release made and signed as the two CI jobs do (the make step never sees the key)."""
    opts = release.Options(**{"version": version, "dist": tmp_path / "dist", "out": tmp_path / name,
                              "allow_dirty": True, "python": False, "series": ("2.6", "3.0"), **opts})
    return release.make_test_release(M, opts, throwaway_key() if signing_key is None else signing_key,
                                     say=lambda _s: None, render=stub_render)


def fingerprint(key: str) -> str:
    (fpr,) = signing.key_fingerprints(key)
    return fpr


def gpgv(keyring_armored: str, signature: Path, *data: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    """gpgv against a keyring holding only ``keyring_armored`` (no ``data``: ``signature`` is
    clearsigned)."""
    keyring = tmp_path / "keyring.gpg"
    with signing.gnupg_home() as home:
        subprocess.run(["gpg", "--homedir", str(home), "--batch", "--import"], input=keyring_armored.encode(),
                       check=True, capture_output=True)
        keyring.write_bytes(subprocess.run(["gpg", "--homedir", str(home), "--export"], check=True,
                                           capture_output=True).stdout)
        return subprocess.run(["gpgv", "--homedir", str(home), "--keyring", str(keyring), str(signature),
                               *map(str, data)], capture_output=True, text=True)


def test_make_release(tmp_path):
    fake_dist(tmp_path / "dist")
    out = make(tmp_path)
    names = sorted(p.name for p in out.iterdir())
    expected = sorted([release.cell_artifact_name(HOOK_VERSION, c, k) for c in M.verified for k in ("tar.gz", "deb")]
                      + [release.source_name(HOOK_VERSION), "install.sh", "manifest.json", "SHA256SUMS",
                         "SHA256SUMS.asc", signing.KEY_NAME, release.apt_archive_name(HOOK_VERSION), "apt",
                         release.keyring_deb_name(HOOK_VERSION)])
    assert names == expected
    subprocess.run(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=out, check=True)
    listed = {line.split()[1] for line in (out / "SHA256SUMS").read_text().splitlines()}
    assert listed == set(expected) - {"SHA256SUMS", "SHA256SUMS.asc", "apt"}

    # Signed by the (test) key, whose public part the release ships and install.sh pins.
    fpr = fingerprint(throwaway_key())
    assert signing.key_fingerprints((out / signing.KEY_NAME).read_text()) == [fpr]
    r = gpgv((out / signing.KEY_NAME).read_text(), out / "SHA256SUMS.asc", out / "SHA256SUMS", tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    assert not [p for p in out.rglob("*") if p.is_file() and b"PRIVATE KEY" in p.read_bytes()]
    installer = (out / "install.sh").read_text()
    assert f"\n    RELEASE_KEY_FINGERPRINT={fpr}\n" in installer
    assert installer.startswith(f"#!/bin/sh\n# TEST release {HOOK_VERSION}, signed with the throwaway key {fpr}")
    assert f"TEST_RELEASE='TEST release {HOOK_VERSION}" in installer

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["version"] == HOOK_VERSION and manifest["source"]["kea_series"] == ["2.6", "3.0"]
    entry = next(e for e in manifest["cells"] if e["id"] == CELL.id)
    assert entry["kea_version"] == "2.6.3" and entry["kea_package_version"] == "2.6.3-1"
    assert entry["kea_hooks_version"] == 20603 and entry["hooks_dir"] == CELL.hooks_dir
    assert entry["artifacts"]["deb"]["depends"].startswith("kea-common (>= 2.6.3), kea-common (<< 2.6.3.~)")
    tb = out / entry["artifacts"]["tarball"]["name"]
    assert entry["artifacts"]["tarball"]["sha256"] == release.sha256_file(tb)

    top = tb.name[: -len(".tar.gz")]
    with tarfile.open(tb) as t:
        names = [n for n in t.getnames() if n != f"{top}/docs" and not n.startswith(f"{top}/docs/")]
        assert sorted(names) == [top] + [f"{top}/{n}" for n in ("LICENSE", "README.md", "build-info.json",
                                                               PACKAGES_FILE, f"{top}.spdx.json", release.LIBRARY)]
        assert entry["artifacts"]["tarball"]["sbom"] == f"{top}/{top}.spdx.json"  # manifest.json names it
        assert t.extractfile(f"{top}/LICENSE").read().startswith(b"Mozilla Public License Version 2.0")
        readme = t.extractfile(f"{top}/README.md").read().decode()
        # the README's links into docs/ resolve in the tarball: those pages ship beside it
        linked = set(re.findall(r"\]\((docs/[^)#]+)", readme))
        assert linked and {"docs/variables.md", "docs/hook.md"} <= linked
        assert {f"{top}/{rel}" for rel in linked} <= set(t.getnames())
        assert t.extractfile(f"{top}/docs/variables.md").read() == (ROOT / "docs/variables.md").read_bytes()
    assert "kea2.6.3-debian13-amd64" in readme and "2.6.3-1" in readme
    assert "## Variables" in readme and "## Troubleshooting" in readme

    deb = out / release.cell_artifact_name(HOOK_VERSION, CELL, "deb")
    fields = subprocess.run(["dpkg-deb", "-f", str(deb)], capture_output=True, text=True, check=True).stdout
    assert "Version: 2.0.0+kea2.6.3+debian13" in fields
    assert "Depends: kea-common (>= 2.6.3), kea-common (<< 2.6.3.~), kea-dhcp4-server | kea-dhcp6-server" in fields
    contents = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True).stdout
    assert f".{CELL.hooks_dir}/{release.LIBRARY}" in contents and "root/root" in contents
    assert "install|upgrade" in subprocess.run(["dpkg-deb", "-I", str(deb), "preinst"], capture_output=True,
                                               text=True, check=True).stdout

    with tarfile.open(out / release.source_name(HOOK_VERSION)) as t:
        assert f"{release.source_name(HOOK_VERSION)[:-7]}/kea-3.0/Makefile" in t.getnames()

    assert manifest["signing_key"] == {"fingerprint": fpr, "file": signing.KEY_NAME, "test_release": True}

    # Same inputs, same bytes (SHA256SUMS and the apt archive included: they hold nothing
    # signed); but for the signatures, which carry the time they were made, and the served apt
    # Release files, which the sign step stamps with the time (Date, Valid-Until).
    again = make(tmp_path, "again")
    signatures = {"SHA256SUMS.asc", "InRelease", "Release.gpg", "Release"}
    files = [p.relative_to(out) for p in out.rglob("*") if p.is_file()]
    assert sorted(files) == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for f in files:
        if f.name not in signatures:
            assert (again / f).read_bytes() == (out / f).read_bytes(), f


def paragraphs(text: str) -> list:
    """Debian control paragraphs as dicts (continuation lines folded into their field)."""
    out = []
    for block in text.strip().split("\n\n"):
        fields, key = {}, None
        for line in block.splitlines():
            if line.startswith(" ") and key:
                fields[key] += "\n" + line
            else:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        out.append(fields)
    return out


def test_apt_repository(tmp_path):
    fake_dist(tmp_path / "dist")
    out = make(tmp_path)
    apt = out / "apt"
    key = (apt / signing.KEY_NAME).read_text()
    assert key == (out / signing.KEY_NAME).read_text()
    manifest = json.loads((out / "manifest.json").read_text())["apt"]
    # One suite per verified Debian suite, each with every verified architecture of that suite.
    want = {}
    for c in M.verified:
        want.setdefault(c.apt_suite, set()).add(c.arch)
    assert sorted(p.name for p in (apt / "dists").iterdir()) == sorted(want)
    assert {s: set(v["architectures"]) for s, v in manifest["suites"].items()} == want
    for suite, archs in want.items():
        dist = apt / "dists" / suite
        for name in ("InRelease", "Release.gpg"):
            assert gpgv(key, dist / name, *([dist / "Release"] if name == "Release.gpg" else []),
                        tmp_path=tmp_path).returncode == 0, (suite, name)
        (release_fields,) = paragraphs((dist / "Release").read_text().split("\nMD5Sum:")[0])
        assert release_fields["Suite"] == release_fields["Codename"] == suite
        assert release_fields["Components"] == "main" and set(release_fields["Architectures"].split()) == archs
        # apt ignores Signed-By in a Release file (sid's warns on every update): not there.
        assert "Signed-By" not in release_fields and release_fields["Acquire-By-Hash"] == "yes"
        sha256 = (dist / "Release").read_text().split("\nSHA256:\n")[1].split("\nSHA512:")[0]
        hashed = {line.split()[2]: line.split()[0] for line in sha256.splitlines()}
        for arch in archs:
            packages = dist / "main" / f"binary-{arch}" / "Packages"
            assert hashed[f"main/binary-{arch}/Packages"] == release.sha256_file(packages)
            cells = [c for c in M.verified if c.apt_suite == suite and c.arch == arch]
            assert len(cells) == 1, (suite, arch)  # apt installs the one of its suite
            entries = paragraphs(packages.read_text())
            # the keyring package (Architecture: all) is in every architecture's index
            assert [(e["Package"], e["Version"], e["Architecture"]) for e in entries
                    if e["Package"] != release.PACKAGE] == [(release.KEYRING_PACKAGE, HOOK_VERSION, "all")]
            entries = [e for e in entries if e["Package"] == release.PACKAGE]
            assert [(e["Package"], e["Version"], e["Architecture"]) for e in entries] == \
                [(release.PACKAGE, release.deb_version(HOOK_VERSION, c), arch) for c in cells]
            for e, c in zip(entries, cells):
                deb = apt / e["Filename"]
                assert e["Filename"] == f"pool/{suite}/{release.pool_name(HOOK_VERSION, c)}"
                assert e["SHA256"] == release.sha256_file(deb) == \
                    release.sha256_file(out / release.cell_artifact_name(HOOK_VERSION, c, "deb"))
                assert e["Depends"] == release.deb_depends(c, f"{c.kea}-1")

    # A declared cell built anyway (--allow-declared) ships its .deb, but not through apt:
    # its suite would get a second, untested kea-hook-runscript.
    declared = M.by_id("kea2.6.1-debian12-amd64")
    fake_dist(tmp_path / "dist", cells=[declared])
    out2 = make(tmp_path, "with-declared")
    assert (out2 / release.cell_artifact_name(HOOK_VERSION, declared, "deb")).is_file()
    assert sorted(p.name for p in (out2 / "apt" / "pool" / "bookworm").iterdir()) == \
        sorted([release.keyring_deb_name(HOOK_VERSION)]
               + [release.pool_name(HOOK_VERSION, c) for c in M.verified if c.apt_suite == "bookworm"])

    # The same tree unsigned, as one archive: the next release's base and what the scheduled
    # job re-signs (the signatures are made by the sign step, not by the make step).
    top = release.apt_archive_name(HOOK_VERSION)[: -len(".tar.gz")]
    with tarfile.open(out / release.apt_archive_name(HOOK_VERSION)) as t:
        names = {n for n in t.getnames() if t.getmember(n).isfile()}
    assert names == {f"{top}/{p.relative_to(apt).as_posix()}" for p in apt.rglob("*")
                     if p.is_file() and p.name not in ("InRelease", "Release.gpg")}


def test_release_signs_only_with_the_project_key(tmp_path):
    fake_dist(tmp_path / "dist")
    other = signing.throwaway_secret_key()
    with signing.signer(other, allow_other_key=True) as s:
        public = s.public_key()
    opts = release.Options(version=HOOK_VERSION, dist=tmp_path / "dist", out=tmp_path / "out", allow_dirty=True,
                           python=False, series=("2.6",), public_key=public)
    with pytest.raises(release.ReleaseError, match="is not the release key " + signing.project_fingerprint()):
        release.make_release(M, opts, say=lambda _s: None, render=stub_render)
    with pytest.raises(signing.SigningError, match="is not the release key " + signing.project_fingerprint()):
        with signing.signer(other):
            pass
    with pytest.raises(signing.SigningError, match="no signing key: set KEA_RUNSCRIPT_SIGNING_KEY"):
        with signing.signer(""):
            pass
    with pytest.raises(release.ReleaseError, match="exactly one secret key"):
        make(tmp_path, signing_key=throwaway_key(1) + throwaway_key(2))
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["dist"]  # no half-written release either


def test_test_release_without_a_key_makes_a_throwaway_one(tmp_path):
    fake_dist(tmp_path / "dist")
    out = make(tmp_path, signing_key="")
    manifest = json.loads((out / "manifest.json").read_text())
    fpr = manifest["signing_key"]["fingerprint"]
    assert manifest["signing_key"]["test_release"] and fpr != signing.project_fingerprint()
    assert signing.key_fingerprints((out / signing.KEY_NAME).read_text()) == [fpr]
    assert f"RELEASE_KEY_FINGERPRINT={fpr}\n" in (out / "install.sh").read_text()


def test_secret_key_from_the_environment_leaves_it(tmp_path):
    key = throwaway_key()
    env = {signing.SECRET_ENV: key, "OTHER": "x"}
    assert signing.secret_from_environment(env) == key.strip() and env == {"OTHER": "x"}
    (tmp_path / "k.asc").write_text(key)  # GitLab's file-type variable: the value is a path
    env = {signing.SECRET_ENV: str(tmp_path / "k.asc")}
    assert signing.secret_from_environment(env) == key and env == {}
    assert signing.secret_from_environment({}) == ""
    with pytest.raises(signing.SigningError, match="neither an armored secret key"):
        signing.secret_from_environment({signing.SECRET_ENV: "-----BEGIN PGP PUBLIC KEY BLOCK-----\n..."})


def test_committed_key_is_public_and_pinned_by_install_sh():
    keys = list((ROOT / "keys").iterdir())
    assert [k.name for k in keys if k.suffix == ".asc"] == [signing.KEY_NAME]
    for k in keys:
        assert b"PRIVATE KEY" not in k.read_bytes(), k
    with signing.gnupg_home() as home:
        colons = subprocess.run(["gpg", "--homedir", str(home), "--with-colons", "--show-keys", str(signing.KEY_FILE)],
                                capture_output=True, text=True, check=True).stdout
    assert [line.split(":")[0] for line in colons.splitlines() if line[:3] in ("pub", "sec", "ssb", "sub")] == ["pub", "sub"]
    pins = re.findall(r"^    RELEASE_KEY_FINGERPRINT=([0-9A-F]{40})$", (ROOT / "install.sh").read_text(), re.M)
    assert pins == [signing.project_fingerprint()]
    assert release.installer_text(pins[0]) == (ROOT / "install.sh").read_text()
    with pytest.raises(release.ReleaseError, match="update the pin"):
        release.installer_text(fingerprint(throwaway_key()))


@pytest.mark.parametrize("breakage,message", [
    ("missing", "not built"),
    ("sha", "does not match the sha256"),
    ("old-info", "lacks kea_package_version"),
    ("no-packages", "builder-packages.txt is missing or does not match"),
    ("other-packages", "builder-packages.txt is missing or does not match"),
    ("other-kea", "not Kea 2.6.3"),
    ("dirty", "git_dirty"),
    ("load-check", "load check did not pass"),
    ("other-sources", "not built from the sources this checkout renders"),
])
def test_collect_refuses(tmp_path, breakage, message):
    dist = tmp_path / "dist"
    fake_dist(dist)
    info_path = dist / CELL.id / "build-info.json"
    info = json.loads(info_path.read_text())
    if breakage == "missing":
        shutil.rmtree(dist / CELL.id)
    elif breakage == "sha":
        (dist / CELL.id / release.LIBRARY).write_bytes(b"changed")
    elif breakage in ("no-packages", "other-packages"):  # an older toolkit's build, or a changed list
        listed = dist / CELL.id / PACKAGES_FILE
        if breakage == "no-packages":
            listed.unlink()
        else:
            listed.write_text("kea-common\t9\tamd64\n")
    else:
        if breakage == "old-info":
            del info["kea_package_version"]
        elif breakage == "other-kea":
            info["kea_package_version"] = "2.6.4-1"
        elif breakage == "dirty":
            info["git_dirty"] = True
        elif breakage == "load-check":
            info["load_check"]["kea-dhcp6 -t"] = "failed"
        elif breakage == "other-sources":
            info["source_sha256"] = stub_digest("9.9.9")
        info_path.write_text(json.dumps(info))
    with pytest.raises(release.ReleaseError, match=message) as e:
        release.collect(M, dist, render=stub_render)
    assert CELL.id in str(e.value)


# --------------------------------------------------------------------------------------------
# install.sh (POSIX sh: run with dash when there is one), on releases signed by a test key


SH = shutil.which("dash") or "sh"


@pytest.fixture(scope="module")
def signed(tmp_path_factory):
    """A release of the fake dist/, signed by throwaway_key(); its install.sh pins that key."""
    base = tmp_path_factory.mktemp("signed")
    fake_dist(base / "dist")
    return make(base)


def copy_release(signed, tmp_path) -> Path:
    return Path(shutil.copytree(signed, tmp_path / "copy"))


def run_installer(tmp_path, script, *args, kea="9.9.9", path=None):
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    (bindir / "kea-dhcp4").write_text(f"#!/bin/sh\necho {kea}\n")
    (bindir / "kea-dhcp4").chmod(0o755)
    env = {**os.environ, "PATH": f"{bindir}:{path or os.environ['PATH']}"}
    return subprocess.run([SH, str(script), *args], capture_output=True, text=True, env=env)


def resign(rel: Path, key: str) -> None:
    """Sign rel/SHA256SUMS with ``key`` and ship its public part as the release key."""
    with signing.signer(key, allow_other_key=True) as s:
        s.detach_sign(rel / "SHA256SUMS", rel / "SHA256SUMS.asc")
        (rel / signing.KEY_NAME).write_text(s.public_key())


def binary_key(key: str) -> bytes:
    with signing.gnupg_home() as home:
        subprocess.run(["gpg", "--homedir", str(home), "--batch", "--import"], input=key.encode(), check=True,
                       capture_output=True)
        return subprocess.run(["gpg", "--homedir", str(home), "--export"], check=True, capture_output=True).stdout


def path_without(tmp_path, *names) -> str:
    """A PATH with every command of this one but ``names``."""
    d = tmp_path / "path"
    d.mkdir()
    for entry in os.environ["PATH"].split(":"):
        if os.path.isdir(entry):
            for f in os.listdir(entry):
                if f not in names and not (d / f).exists() and os.access(os.path.join(entry, f), os.X_OK):
                    (d / f).symlink_to(os.path.join(entry, f))
    return str(d)


@contextlib.contextmanager
def http_server(directory):
    """A plain http server on 127.0.0.1 serving ``directory``; yields (url, requested paths)."""
    from http.server import SimpleHTTPRequestHandler
    requests = []

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(directory), **kw)

        def log_message(self, *_a):
            pass

        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}", requests
    finally:
        srv.shutdown()
        srv.server_close()


def test_installer_syntax(signed):
    subprocess.run([SH, "-n", str(ROOT / "install.sh")], check=True)
    subprocess.run([SH, "-n", str(signed / "install.sh")], check=True)


def test_installer_lists_and_refuses_unknown_kea(signed, tmp_path):
    r = run_installer(tmp_path, signed / "install.sh", "--list", "--from", str(signed))
    assert r.returncode == 0 and all(f"  {c.id}" in r.stdout for c in M.verified), r.stdout + r.stderr
    assert f"signed by the release key {fingerprint(throwaway_key())}" in r.stdout
    assert "WARNING: TEST release" in r.stderr  # the test key's release says what it is
    r = run_installer(tmp_path, signed / "install.sh", "--from", str(signed), "--hooks-dir", str(tmp_path / "hooks"))
    assert r.returncode == 3, r.stdout + r.stderr
    assert "no prebuilt kea-hook-runscript for this machine: Kea 9.9.9" in r.stderr
    assert all(f"  {c.id}" in r.stderr for c in M.verified), r.stderr
    assert not (tmp_path / "hooks").exists()
    r = run_installer(tmp_path, signed / "install.sh", "--from", str(tmp_path / "nowhere"))
    assert r.returncode == 4 and "SHA256SUMS" in r.stderr


def test_installer_of_the_repository_refuses_a_test_release(signed, tmp_path):
    r = run_installer(tmp_path, ROOT / "install.sh", "--list", "--from", str(signed))
    assert r.returncode == 4, r.stdout + r.stderr
    assert (f"signed by key {fingerprint(throwaway_key())}, not by the release key {signing.project_fingerprint()}"
            in r.stderr)


def test_installer_refuses_a_tampered_sha256sums(signed, tmp_path):
    rel = copy_release(signed, tmp_path)
    # An attacker's tarball with a matching checksum: only the signature can tell.
    tb = rel / release.cell_artifact_name(HOOK_VERSION, CELL)
    tb.write_bytes(tb.read_bytes() + b"\0")
    (rel / "SHA256SUMS").write_text(release.sha256sums(rel, [n.split()[1] for n in
                                                             (signed / "SHA256SUMS").read_text().splitlines()]))
    for args in (["--list"], ["--hooks-dir", str(tmp_path / "hooks")]):
        r = run_installer(tmp_path, rel / "install.sh", "--from", str(rel), *args, kea=CELL.kea)
        assert r.returncode == 4, r.stdout + r.stderr
        assert "SHA256SUMS does not carry a good signature by the release key; not installed" in r.stderr
        assert "BAD signature" in r.stderr and "builds in" not in r.stdout
    assert not (tmp_path / "hooks").exists()
    (rel / "SHA256SUMS.asc").unlink()
    r = run_installer(tmp_path, rel / "install.sh", "--list", "--from", str(rel))
    assert r.returncode == 4 and "SHA256SUMS.asc: the release is not signed" in r.stderr, r.stderr


def test_installer_refuses_another_key(signed, tmp_path):
    rel = copy_release(signed, tmp_path)
    pinned, other = fingerprint(throwaway_key()), fingerprint(throwaway_key(1))
    # The release's key file and signature both replaced: the pin catches it.
    resign(rel, throwaway_key(1))
    r = run_installer(tmp_path, rel / "install.sh", "--list", "--from", str(rel))
    assert r.returncode == 4, r.stdout + r.stderr
    assert f"SHA256SUMS is signed by key {other}, not by the release key {pinned}" in r.stderr
    # The pinned key and the other one in one keyring (binary), signed by the other.
    both = tmp_path / "both.gpg"
    both.write_bytes(binary_key(throwaway_key()) + binary_key(throwaway_key(1)))
    r = run_installer(tmp_path, rel / "install.sh", "--list", "--from", str(rel), "--key", str(both))
    assert r.returncode == 4 and f"signed by key {other}, not by the release key {pinned}" in r.stderr, r.stderr
    # A good release, checked against another key given with --key.
    (tmp_path / "other.asc").write_text((rel / signing.KEY_NAME).read_text())
    r = run_installer(tmp_path, signed / "install.sh", "--list", "--from", str(signed), "--key", str(tmp_path / "other.asc"))
    assert r.returncode == 4 and "does not carry a good signature" in r.stderr, r.stderr
    # ... and against the right one, armored or binary, from a local file.
    (tmp_path / "right.asc").write_text((signed / signing.KEY_NAME).read_text())
    (tmp_path / "right.gpg").write_bytes(binary_key(throwaway_key()))
    for key in ("right.asc", "right.gpg"):
        r = run_installer(tmp_path, signed / "install.sh", "--list", "--from", str(signed), "--key", str(tmp_path / key))
        assert r.returncode == 0 and f"signed by the release key {pinned}" in r.stdout, r.stderr


def test_installer_refuses_http_without_the_flag(signed, tmp_path):
    with http_server(signed) as (url, requests):
        r = run_installer(tmp_path, signed / "install.sh", "--list", "--from", url)
        assert r.returncode == 2 and "refusing plain http" in r.stderr and "--allow-http" in r.stderr, r.stderr
        env = {**os.environ, "KEA_RUNSCRIPT_RELEASE": url}
        r2 = subprocess.run([SH, str(signed / "install.sh"), "--list"], capture_output=True, text=True, env=env)
        assert r2.returncode == 2 and "refusing plain http" in r2.stderr
        assert requests == []  # refused before anything was downloaded
        r = run_installer(tmp_path, signed / "install.sh", "--list", "--from", url, "--allow-http")
        assert r.returncode == 0 and "signed by the release key" in r.stdout, r.stdout + r.stderr
        assert sorted(requests) == ["/SHA256SUMS", "/SHA256SUMS.asc", f"/{signing.KEY_NAME}"]
    for bad in ("ftp://127.0.0.1/x", "file:///tmp"):
        r = run_installer(tmp_path, signed / "install.sh", "--list", "--from", bad)
        assert r.returncode == 2 and "unsupported URL" in r.stderr


def test_installer_downloads_over_https_only(signed, tmp_path):
    """curl is told to use https only, redirects included (a fake curl records its arguments)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "curl").write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" >> {tmp_path}/curl.args\nexit 22\n')
    (bindir / "curl").chmod(0o755)
    r = run_installer(tmp_path, signed / "install.sh", "--list", "--from", "https://example.invalid/r")
    assert r.returncode == 4 and "cannot read https://example.invalid/r/SHA256SUMS" in r.stderr, r.stderr
    args = (tmp_path / "curl.args").read_text().splitlines()
    assert args[:4] == ["--proto", "=https", "--proto-redir", "=https"] and args[-1] == "https://example.invalid/r/SHA256SUMS"


def test_installer_without_a_verifier_says_so_and_has_an_explicit_opt_out(signed, tmp_path):
    path = path_without(tmp_path, "gpgv", "sqv")
    r = run_installer(tmp_path, signed / "install.sh", "--list", "--from", str(signed), path=path)
    assert r.returncode == 4, r.stdout + r.stderr
    assert "neither sqv nor gpgv is installed" in r.stderr and "--no-signature-check" in r.stderr
    assert "builds in" not in r.stdout
    r = run_installer(tmp_path, signed / "install.sh", "--list", "--from", str(signed), "--no-signature-check",
                      path=path)
    assert r.returncode == 0 and f"  {CELL.id}" in r.stdout, r.stderr
    assert "WARNING: --no-signature-check: SHA256SUMS is NOT checked against the release key" in r.stderr


def test_installer_cut_short_does_nothing(signed, tmp_path):
    """Every prefix of install.sh ending before its last line (a download cut short) runs
    nothing: no request reaches the release, nothing is installed."""
    text = (signed / "install.sh").read_bytes()
    last = text.rstrip(b"\n").rindex(b"\n") + 1
    assert text[last:] == b'main "$@"\n'
    with http_server(signed) as (url, requests):
        cuts = sorted(set(range(0, last, 97)) | {last, last - 1, text.index(b"main() {")})
        for cut in cuts:
            part = tmp_path / "part.sh"
            part.write_bytes(text[:cut])
            run_installer(tmp_path, part, "--from", url, "--allow-http", "--hooks-dir", str(tmp_path / "hooks"),
                          kea=CELL.kea)
        assert requests == [] and not (tmp_path / "hooks").exists(), (cut, requests)
        r = run_installer(tmp_path, signed / "install.sh", "--from", url, "--allow-http", "--list")
        assert r.returncode == 0 and requests  # the whole script does reach the server


# --------------------------------------------------------------------------------------------
# publishing


TOKEN = "ghp_TESTSECRET0123456789abcdefABCDEF"


class FakeGitHub(BaseHTTPRequestHandler):
    """Enough of the releases API, drafts included; every request must carry the token.

    Class attributes (per server): ``releases`` (its state), ``calls`` (method, path,
    Authorization, body), ``fail_uploads``, ``list_redirect`` (answer the release list with a
    302 to that URL), ``upload_base`` (origin of the upload URLs it hands out),
    ``published_meanwhile`` (a release another run publishes right after this one listed them).""" 

    releases: list = []
    calls: list = []
    fail_uploads = False
    list_redirect = ""
    upload_base = ""
    published_meanwhile = None

    def log_message(self, *_a):
        pass

    def _reply(self, code, obj, headers=()):
        body = json.dumps(obj).encode()
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _release(self, rid):
        return next(r for r in self.releases if r["id"] == rid)

    def _handle(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        self.calls.append((self.command, self.path, self.headers.get("Authorization"), body))
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._reply(401, {"message": "Bad credentials"})
        path = self.path.split("?")[0]
        host = self.upload_base or f"http://127.0.0.1:{self.server.server_address[1]}"
        if self.command == "GET" and path == "/repos/o/n/releases":
            if self.list_redirect:
                return self._reply(302, {}, [("Location", self.list_redirect)])
            listed = list(self.releases) if self.path.endswith("page=1") else []
            if self.published_meanwhile is not None:  # by another run, once this one has looked
                self.releases.append(self.published_meanwhile)
            return self._reply(200, listed)
        if self.command == "POST" and path == "/repos/o/n/releases":
            tag = json.loads(body)["tag_name"]
            if any(r["tag_name"] == tag for r in self.releases):  # as GitHub answers it
                return self._reply(422, {"message": "Validation Failed", "errors": [
                    {"resource": "Release", "code": "already_exists", "field": "tag_name"}]})
            rel = {**json.loads(body), "id": 7, "assets": [], "upload_url": f"{host}/uploads/7/assets{{?name,label}}"}
            self.releases.append(rel)
            return self._reply(201, rel)
        if self.command == "POST" and path.startswith("/uploads/"):
            if self.fail_uploads:  # a server that echoes what it got, token included
                return self._reply(422, {"message": f"rejected, you sent {self.headers.get('Authorization')}"})
            rel = self._release(int(path.split("/")[2]))
            name = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)["name"][0]
            asset = {"name": name, "id": 100 + len(self.calls), "size": len(body),
                     "digest": "sha256:" + hashlib.sha256(body).hexdigest()}
            rel["assets"].append(asset)
            return self._reply(201, asset)
        if self.command == "DELETE" and path.startswith("/repos/o/n/releases/assets/"):
            aid = int(path.rsplit("/", 1)[1])
            for rel in self.releases:
                rel["assets"] = [a for a in rel["assets"] if a["id"] != aid]
            return self._reply(204, {})
        if self.command == "PATCH" and path.startswith("/repos/o/n/releases/"):
            rel = self._release(int(path.rsplit("/", 1)[1]))
            rel.update(json.loads(body))
            return self._reply(200, rel)
        return self._reply(400, {"message": "unexpected"})

    do_GET = do_POST = do_DELETE = do_PATCH = _handle


@contextlib.contextmanager
def fake_github(**attrs):
    handler = type("H", (FakeGitHub,), {"calls": [], "releases": [], **attrs})
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}", handler
    finally:
        srv.shutdown()
        srv.server_close()


def small_release(tmp_path) -> Path:
    out = tmp_path / "rel"
    out.mkdir(parents=True)
    (out / "a.tar.gz").write_bytes(b"a")
    (out / "SHA256SUMS").write_text(release.sha256sums(out, ["a.tar.gz"]))
    return out


def asset(path: Path, aid: int) -> dict:
    data = path.read_bytes()
    return {"name": path.name, "id": aid, "size": len(data), "digest": "sha256:" + hashlib.sha256(data).hexdigest()}


def changes(h) -> list:
    """The calls that change something: (method, path without query)."""
    return [(c[0], c[1].split("?")[0]) for c in h.calls if c[0] != "GET"]


def test_publish_dry_run_needs_no_token(tmp_path):
    lines = []
    names = release.publish(small_release(tmp_path), repo="o/n", tag="v2.0.0", dry_run=True, say=lines.append)
    assert names == ["SHA256SUMS", "a.tar.gz"]
    assert lines[0].startswith("dry run: would upload 2 files to the GitHub release v2.0.0 of o/n")
    with pytest.raises(release.PublishError, match="no GitHub token"):
        release.publish(small_release(tmp_path / "x"), repo="o/n", tag="v2.0.0")


def test_publish_makes_a_draft_uploads_everything_then_publishes(tmp_path, capsys):
    rel = small_release(tmp_path)
    lines = []
    with fake_github() as (api, h):
        names = release.publish(rel, repo="o/n", tag="v2.0.0", token=TOKEN, api=api, say=lines.append)
    assert names == ["SHA256SUMS", "a.tar.gz"]
    assert changes(h) == [("POST", "/repos/o/n/releases"), ("POST", "/uploads/7/assets"),
                          ("POST", "/uploads/7/assets"), ("PATCH", "/repos/o/n/releases/7")]
    created = json.loads(h.calls[1][3])
    assert created["draft"] is True and created["tag_name"] == "v2.0.0"
    assert json.loads(h.calls[-1][3]) == {"draft": False}  # published last, once every file is there
    (published,) = h.releases
    assert [a["name"] for a in published["assets"]] == names and not published["draft"]
    assert all(c[2] == f"Bearer {TOKEN}" for c in h.calls)
    out = capsys.readouterr()
    assert TOKEN not in "\n".join(lines) + out.out + out.err


def test_publish_completes_a_draft_left_by_an_earlier_run(tmp_path):
    rel = small_release(tmp_path)
    draft = {"id": 7, "tag_name": "v2.0.0", "draft": True, "upload_url": "",
             "assets": [{"name": "a.tar.gz", "id": 3, "size": 9, "digest": "sha256:00"},
                        {"name": "stale.txt", "id": 4, "size": 1, "digest": "sha256:11"}]}
    with fake_github(releases=[draft]) as (api, h):
        draft["upload_url"] = f"{api}/uploads/7/assets{{?name,label}}"
        names = release.publish(rel, repo="o/n", tag="v2.0.0", token=TOKEN, api=api, say=lambda _s: None)
    assert names == ["SHA256SUMS", "a.tar.gz"]
    assert changes(h) == [("DELETE", "/repos/o/n/releases/assets/3"), ("DELETE", "/repos/o/n/releases/assets/4"),
                          ("POST", "/uploads/7/assets"), ("POST", "/uploads/7/assets"),
                          ("PATCH", "/repos/o/n/releases/7")]
    assert sorted(a["name"] for a in draft["assets"]) == names and draft["draft"] is False


def test_publish_never_changes_a_published_release(tmp_path):
    rel = small_release(tmp_path)
    same = [asset(rel / "SHA256SUMS", 1), asset(rel / "a.tar.gz", 2)]
    published = {"id": 7, "tag_name": "v2.0.0", "draft": False, "upload_url": "", "assets": same}
    with fake_github(releases=[published]) as (api, h):
        lines = []
        assert release.publish(rel, repo="o/n", tag="v2.0.0", token=TOKEN, api=api, say=lines.append) == []
        assert "already published with these files; nothing to do" in lines[-1]
        (rel / "a.tar.gz").write_bytes(b"b")  # same size, other bytes: a re-run of the tag that built anew
        with pytest.raises(release.PublishError, match="already published, with other files; refusing") as e:
            release.publish(rel, repo="o/n", tag="v2.0.0", token=TOKEN, api=api, say=lines.append)
        assert "a.tar.gz: differs from the published file" in str(e.value)
        (rel / "new.txt").write_text("x")
        with pytest.raises(release.PublishError, match="new.txt: not in the published release"):
            release.publish(rel, repo="o/n", tag="v2.0.0", token=TOKEN, api=api, say=lines.append)
    assert changes(h) == [] and published["assets"] == same


def test_publish_refuses_a_release_published_by_another_run_meanwhile(tmp_path):
    """Listed as absent, then created by another run before this one's create: GitHub refuses
    the create; the error says the release already exists, and nothing is uploaded."""
    rel = small_release(tmp_path)
    theirs = {"id": 9, "tag_name": "v2.0.0", "draft": False, "upload_url": "",
              "assets": [{"name": "other.tar.gz", "id": 5, "size": 1, "digest": "sha256:22"}]}
    with fake_github(published_meanwhile=dict(theirs, assets=list(theirs["assets"]))) as (api, h):
        with pytest.raises(release.PublishError) as e:
            release.publish(rel, repo="o/n", tag="v2.0.0", token=TOKEN, api=api, say=lambda _s: None)
        assert h.releases == [theirs]
    assert changes(h) == [("POST", "/repos/o/n/releases")]
    msg = str(e.value)
    assert "HTTP 422" in msg and "already_exists" in msg and "tag_name" in msg, msg


def test_publish_sends_the_token_to_the_api_host_only(tmp_path):
    rel = small_release(tmp_path)
    with fake_github() as (elsewhere, other):
        # The API redirects the release list to another host: the request goes, the token not.
        with fake_github(list_redirect=f"{elsewhere}/repos/o/n/releases?per_page=100&page=1") as (api, h):
            with pytest.raises(release.PublishError, match="HTTP 401"):
                release.publish(rel, repo="o/n", tag="v2.0.0", token=TOKEN, api=api, say=lambda _s: None)
        assert [c[0] for c in other.calls] == ["GET"] and other.calls[0][2] is None
        # An upload URL on another host: refused before anything is sent there.
        with fake_github(upload_base=elsewhere) as (api, h):
            with pytest.raises(release.PublishError, match="upload URL points to 127.0.0.1:.*not sending the token"):
                release.publish(rel, repo="o/n", tag="v2.0.0", token=TOKEN, api=api, say=lambda _s: None)
        assert len(other.calls) == 1
    assert release._Api("https://api.github.com", TOKEN).origins == {("https", "api.github.com", 443),
                                                                      ("https", "uploads.github.com", 443)}


def test_publish_error_is_redacted(tmp_path, capsys, monkeypatch):
    rel = small_release(tmp_path)
    from kea_runscript import cli
    with fake_github(fail_uploads=True) as (api, _h):
        with pytest.raises(release.PublishError) as e:
            release.publish(rel, repo="o/n", tag="v2.0.0", token=TOKEN, api=api, say=print)
        assert "HTTP 422" in str(e.value) and "***" in str(e.value) and TOKEN not in str(e.value)

        # The command line, too: token from the environment, error on stderr.
        monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
        monkeypatch.setenv("GITHUB_API_URL", api)
        rc = cli.main(["release", "publish", "--version", HOOK_VERSION, "--out", str(rel), "--repo", "o/n"])
    out = capsys.readouterr()
    assert rc == 1 and out.err.startswith("kea-runscript: ")
    assert TOKEN not in out.out + out.err
