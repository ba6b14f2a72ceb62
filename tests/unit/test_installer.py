"""install.sh on test releases (signed by a throwaway key, which their install.sh pins): the
signature checked by the sqv of this host's Debian or Ubuntu release, the release version it
installs, Kea's load check after copying (and the restore when Kea refuses), --uninstall.

The releases, keys and helpers are test_release.py's; the other install.sh tests are there.
Kea's load check succeeding is tested with real Kea only (tests/integration/test_release.py):
here a fake kea-dhcp4 rejects every configuration.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from kea_runscript import ROOT, release
from kea_runscript.model import matrix
from tests.unit.test_release import (SH, fake_dist, fingerprint, make, path_without, resign, run_installer,
                                     throwaway_key)
from tests.unit.test_release import signed  # noqa: F401  (a fixture, used by name)

#: A Kea version no cell of the fake matrix has: the release gets a build for this machine
#: with it (add_machine_build), whatever distribution the tests run on.
MACHINE_KEA = "7.7.7"


# --------------------------------------------------------------------------------------------
# helpers


def copy_release(rel: Path, tmp_path: Path, name="copy") -> Path:
    return Path(shutil.copytree(rel, tmp_path / name))


def machine_cell(rel: Path, tmp_path: Path) -> str:
    """The cell id install.sh forms on this machine when kea-dhcp4 -V says MACHINE_KEA."""
    r = run_installer(tmp_path, rel / "install.sh", "--from", str(rel), "--dry-run", kea=MACHINE_KEA)
    m = re.search(r"-> build (\S+)", r.stdout)
    assert m, f"install.sh did not say which build it looks for:\n{r.stdout}{r.stderr}"
    return m[1]


def release_version_of(rel: Path) -> str:
    return json.loads((rel / "manifest.json").read_text())["version"]


def add_machine_build(rel: Path, tmp_path: Path, so: bytes = b"a library\n") -> str:
    """Add to ``rel`` a tarball for this machine (see machine_cell) holding ``so``, list it in
    SHA256SUMS and sign that anew with the release's own key; returns its name."""
    cell = machine_cell(rel, tmp_path)
    p = matrix.parse_id(cell)
    name = release.artifact_name(release_version_of(rel), p["kea"], p["distro"], p["release"], p["arch"])
    top = name[: -len(".tar.gz")]
    info = json.dumps({"id": cell, "kea_version": MACHINE_KEA}, indent=2).encode()
    release.write_tar_gz(rel / name, {f"{top}/{release.LIBRARY}": so, f"{top}/build-info.json": info}, 1700000000)
    names = [line.split()[1] for line in (rel / "SHA256SUMS").read_text().splitlines()]
    (rel / "SHA256SUMS").write_text(release.sha256sums(rel, names + [name]))
    resign(rel, throwaway_key())
    return name


def versioned_release(base: Path, version: str) -> Path:
    """A test release ``version`` of the fake dist/, signed by throwaway_key() like ``signed``."""
    fake_dist(base / "dist", hook_version=version)
    return make(base, version, version=version)


# --------------------------------------------------------------------------------------------
# the signature, checked by Debian's own sqv


@pytest.fixture(scope="module")
def debian_sqv(tmp_path_factory) -> Path:
    """The directory holding the sqv of this host's distribution (Debian 12: 1.1.0, Ubuntu
    24.04: 1.2.1, both without --signature-file), unpacked from its package: not installed."""
    d = tmp_path_factory.mktemp("sqv")
    why = ""
    try:
        r = subprocess.run(["apt-get", "download", "sqv"], cwd=d, capture_output=True, text=True, timeout=600)
        debs = sorted(d.glob("sqv_*.deb"))
        if r.returncode != 0 or len(debs) != 1:
            why = f"apt-get download sqv: exit {r.returncode}\n{r.stdout}{r.stderr}"
        else:
            subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(d / "root")], check=True, capture_output=True)
    except (OSError, subprocess.SubprocessError) as e:
        why = f"{type(e).__name__}: {e}"
    if why:
        pytest.fail("this test needs the sqv package of the host's distribution (a Debian or Ubuntu host "
                    f"whose package lists are there: apt-get update), and could not get it:\n{why}",
                    pytrace=False)
    bindir = d / "root" / "usr" / "bin"
    v = subprocess.run([str(bindir / "sqv"), "--version"], capture_output=True, text=True)
    assert v.returncode == 0 and v.stdout.startswith("sqv "), v.stdout + v.stderr
    return bindir


def test_installer_checks_the_signature_with_the_sqv_of_this_distribution(signed, debian_sqv, tmp_path):
    path = f"{debian_sqv}:{os.environ['PATH']}"
    pinned, other = fingerprint(throwaway_key()), fingerprint(throwaway_key(1))
    version = subprocess.run([str(debian_sqv / "sqv"), "--version"], capture_output=True, text=True).stdout.strip()
    r = run_installer(tmp_path, signed / "install.sh", "--list", "--from", str(signed), path=path)
    assert r.returncode == 0, f"{version}: {r.stdout}{r.stderr}"
    assert f"verified SHA256SUMS.asc (sqv): signed by the release key {pinned}" in r.stdout, r.stdout
    # The same sqv refuses: SHA256SUMS changed after signing; signed (and the key file
    # replaced) by another key, which sqv names and the pin refuses.
    changed = copy_release(signed, tmp_path, "changed")
    with open(changed / "SHA256SUMS", "a") as f:
        f.write(f"{'0' * 64}  kea-hook-runscript-0.0.1-kea1.0.0-debian12-amd64.tar.gz\n")
    r = run_installer(tmp_path, changed / "install.sh", "--list", "--from", str(changed), path=path)
    assert r.returncode == 4 and "does not carry a good signature by the release key" in r.stderr, r.stderr
    other_key = copy_release(signed, tmp_path, "other")
    resign(other_key, throwaway_key(1))
    r = run_installer(tmp_path, other_key / "install.sh", "--list", "--from", str(other_key), path=path)
    assert r.returncode == 4, r.stdout + r.stderr
    assert f"SHA256SUMS is signed by key {other}, not by the release key {pinned}" in r.stderr
    assert "builds in" not in r.stdout


def test_installer_takes_gpgv_without_sqv(signed, tmp_path):
    r = run_installer(tmp_path, signed / "install.sh", "--list", "--from", str(signed),
                      path=path_without(tmp_path, "sqv"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"verified SHA256SUMS.asc (gpgv): signed by the release key {fingerprint(throwaway_key())}" in r.stdout


# --------------------------------------------------------------------------------------------
# the release version: an install.sh installs its own release, not an older signed one


@pytest.fixture(scope="module")
def releases(tmp_path_factory):
    """Test releases 1.0.0 and 9.9.9, both signed by throwaway_key()."""
    return {v: versioned_release(tmp_path_factory.mktemp(f"release-{v}"), v) for v in ("1.0.0", "9.9.9")}


def test_installer_text_fills_in_the_release_version(releases):
    line = re.compile(r"^ *RELEASE_VERSION=(.*)$", re.M)
    assert line.findall((ROOT / "install.sh").read_text()) == [""]  # a checkout's: no release
    for v, rel in releases.items():
        assert line.findall((rel / "install.sh").read_text()) == [v]
    fpr = fingerprint(throwaway_key())
    for bad in ("1.0", "1.0.0'; rm -rf /; '", "1.0.0\nTEST_RELEASE="):
        with pytest.raises(release.ReleaseError, match="version"):
            release.installer_text(fpr, "TEST", version=bad)


def test_installer_refuses_a_release_of_another_version(releases, tmp_path):
    old, new = copy_release(releases["1.0.0"], tmp_path, "1.0.0"), releases["9.9.9"]
    old_build = add_machine_build(old, tmp_path)
    hooks = tmp_path / "hooks"
    for args in (["--dry-run", "--hooks-dir", str(hooks)], ["--list"]):
        r = run_installer(tmp_path, new / "install.sh", "--from", str(old), *args, kea=MACHINE_KEA)
        assert r.returncode == 4, r.stdout + r.stderr
        assert f"{old} holds kea-hook-runscript 1.0.0, not 9.9.9" in r.stderr, r.stderr
        assert "--version 1.0.0" in r.stderr  # how to install it knowingly
        assert "would install" not in r.stdout and "builds in" not in r.stdout
    # Asked for by name, it is installed.
    r = run_installer(tmp_path, new / "install.sh", "--from", str(old), "--dry-run", "--hooks-dir", str(hooks),
                      "--version", "1.0.0", kea=MACHINE_KEA)
    assert r.returncode == 0 and f"would install {release.LIBRARY} from {old_build}" in r.stdout, r.stdout + r.stderr
    # Newer is not better: 1.0.0's install.sh installs 1.0.0 only.
    r = run_installer(tmp_path, old / "install.sh", "--from", str(new), "--list")
    assert r.returncode == 4 and f"{new} holds kea-hook-runscript 9.9.9, not 1.0.0" in r.stderr, r.stderr
    r = run_installer(tmp_path, old / "install.sh", "--from", str(old), "--dry-run", "--hooks-dir", str(hooks),
                      kea=MACHINE_KEA)
    assert r.returncode == 0 and f"from {old_build}" in r.stdout, r.stdout + r.stderr
    assert not hooks.exists()
    for bad in ("1.0", "1.0.0;x", ""):
        r = run_installer(tmp_path, new / "install.sh", "--from", str(old), "--list", "--version", bad)
        assert r.returncode == 2 and "--version" in r.stderr, r.stderr


def test_installer_that_knows_no_version_needs_one(releases, tmp_path):
    """A checkout's install.sh (RELEASE_VERSION empty) installs only the release named with
    --version; it still lists any."""
    script = tmp_path / "install.sh"
    script.write_text(release.installer_text(fingerprint(throwaway_key()), "TEST unversioned", version=""))
    old = releases["1.0.0"]
    r = run_installer(tmp_path, script, "--from", str(old), "--dry-run", "--hooks-dir", str(tmp_path / "h"))
    assert r.returncode == 2 and "pass --version" in r.stderr, r.stderr
    r = run_installer(tmp_path, script, "--from", str(old), "--list")
    assert r.returncode == 0 and f"builds in {old} (kea-hook-runscript 1.0.0):" in r.stdout, r.stdout + r.stderr
    r = run_installer(tmp_path, script, "--from", str(old), "--list", "--version", "9.9.9")
    assert r.returncode == 4 and "holds kea-hook-runscript 1.0.0, not 9.9.9" in r.stderr, r.stderr


def test_installer_refuses_sums_that_name_no_release_version(releases, tmp_path):
    rel = copy_release(releases["1.0.0"], tmp_path)
    lines = (rel / "SHA256SUMS").read_text().splitlines(keepends=True)
    kept = [line for line in lines if not line.rstrip().endswith(release.source_name("1.0.0"))]
    assert len(kept) == len(lines) - 1
    (rel / "SHA256SUMS").write_text("".join(kept))
    resign(rel, throwaway_key())  # the release's own key: a good signature
    r = run_installer(tmp_path, rel / "install.sh", "--from", str(rel), "--list")
    assert r.returncode == 4 and "names no kea-hook-runscript-<version>-src.tar.gz" in r.stderr, r.stderr


# --------------------------------------------------------------------------------------------
# Kea's load check: a library Kea refuses is not left installed


def rejecting_kea(tmp_path: Path) -> Path:
    """A kea-dhcp4 whose -V says MACHINE_KEA and whose -t keeps a copy of the configuration
    (and its path) in tmp_path/seen and rejects it."""
    d = tmp_path / "kea-bin"
    d.mkdir()
    seen = tmp_path / "seen"
    (d / "kea-dhcp4").write_text(
        "#!/bin/sh\n"
        f'case $1 in -V) echo {MACHINE_KEA} ;; -t) printf "%s\\n" "$2" >{seen}.path; cp "$2" {seen}.json\n'
        '  echo "FAKE KEA: HOOKS_OPEN_ERROR cannot load the library"; exit 1 ;; esac\n')
    (d / "kea-dhcp4").chmod(0o755)
    return d


@pytest.mark.parametrize("previous", [b"the library installed before\n", None], ids=["replacing", "new"])
def test_installer_restores_when_kea_cannot_load_the_library(signed, tmp_path, previous):
    rel = copy_release(signed, tmp_path)
    add_machine_build(rel, tmp_path, so=b"a library Kea refuses\n")
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    target = hooks / release.LIBRARY
    if previous is not None:
        target.write_bytes(previous)
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    env = {**os.environ, "PATH": f"{rejecting_kea(tmp_path)}:{os.environ['PATH']}", "TMPDIR": str(tmpdir)}
    r = subprocess.run([SH, str(rel / "install.sh"), "--from", str(rel), "--hooks-dir", str(hooks)],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 5, r.stdout + r.stderr
    assert f"Kea cannot load {target}" in r.stderr and "FAKE KEA: HOOKS_OPEN_ERROR" in r.stderr, r.stderr
    if previous is None:
        assert not target.exists() and "removed it again" in r.stderr
    else:
        assert target.read_bytes() == previous and "put back the library that was there before" in r.stderr
    assert [p.name for p in hooks.iterdir()] == ([release.LIBRARY] if previous else [])  # no record either
    # What Kea was asked to check: the installed library, a no-op script, nothing of the real
    # server's (no interface, no lease file), in a temporary directory removed afterwards.
    config_path = Path((tmp_path / "seen.path").read_text().strip())
    assert config_path.parent.parent == tmpdir and list(tmpdir.iterdir()) == []
    dhcp4 = json.loads((tmp_path / "seen.json").read_text())["Dhcp4"]
    (lib,) = dhcp4["hooks-libraries"]
    assert lib["library"] == str(target) and set(lib["parameters"]) == {"script"}
    script = lib["parameters"]["script"]
    assert os.path.isabs(script) and subprocess.run([script], capture_output=True).returncode == 0
    assert dhcp4["lease-database"] == {"type": "memfile", "persist": False}
    assert dhcp4["interfaces-config"] == {"interfaces": []}


# --------------------------------------------------------------------------------------------
# --uninstall (installing and removing for real: tests/integration/test_release.py)


RECORD = "kea-hook-runscript.installed"


def uninstall(tmp_path, hooks):
    return run_installer(tmp_path, ROOT / "install.sh", "--uninstall", "--hooks-dir", str(hooks))


def test_uninstall_removes_only_what_the_record_names(tmp_path):
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    target, record = hooks / release.LIBRARY, hooks / RECORD
    target.write_bytes(b"installed by hand\n")
    r = uninstall(tmp_path, hooks)
    assert r.returncode == 5 and f"no {record}" in r.stderr, r.stdout + r.stderr
    assert target.read_bytes() == b"installed by hand\n"
    # The record of another file: the library has changed since.
    fields = f"path={target}\nversion=1.0.0\ncell=kea2.6.3-debian13-amd64\n"
    record.write_text(fields + f"sha256={'0' * 64}\n")
    r = uninstall(tmp_path, hooks)
    assert r.returncode == 5 and "has changed since install.sh installed it" in r.stderr, r.stderr
    assert target.exists() and record.exists()
    # A record naming a file outside its directory is not followed.
    elsewhere = tmp_path / "elsewhere.so"
    elsewhere.write_bytes(b"x")
    record.write_text(f"path={elsewhere}\nsha256={hashlib.sha256(b'x').hexdigest()}\n")
    r = uninstall(tmp_path, hooks)
    assert r.returncode == 5 and f"does not name {target}" in r.stderr, r.stderr
    assert elsewhere.exists() and target.exists() and record.exists()
    # The record of this very file: both go.
    record.write_text(fields + f"sha256={hashlib.sha256(target.read_bytes()).hexdigest()}\n")
    r = uninstall(tmp_path, hooks)
    assert r.returncode == 0 and f"removed {target} (kea-hook-runscript 1.0.0" in r.stdout, r.stdout + r.stderr
    assert list(hooks.iterdir()) == []


# --------------------------------------------------------------------------------------------
# Kea's architecture from its ELF header (detect_arch)

#: Debian architecture -> (ELF class, byte order, e_machine, e_flags) of its binaries: what
#: Debian's kea-dhcp4 of that architecture has (32-bit ARM: EABI 5 with the float ABI).
ELF_HEADERS = {
    "amd64": (2, "little", 62, 0), "arm64": (2, "little", 183, 0),
    "armhf": (1, "little", 40, 0x05000400), "armel": (1, "little", 40, 0x05000200),
    "i386": (1, "little", 3, 0), "ppc64el": (2, "little", 21, 2), "s390x": (2, "big", 22, 0),
    "riscv64": (2, "little", 243, 5),
}


def elf_header(elf_class: int, order: str, machine: int, flags: int) -> bytes:
    ident = b"\x7fELF" + bytes([elf_class, 1 if order == "little" else 2, 1]) + bytes(9)
    head = ident + (3).to_bytes(2, order) + machine.to_bytes(2, order) + (1).to_bytes(4, order)
    addr = 4 if elf_class == 1 else 8
    head += bytes(3 * addr)  # e_entry, e_phoff, e_shoff
    return head + flags.to_bytes(4, order) + bytes(16)


def detect_arch(kea: Path, tmp_path: Path, dpkg_says: str = "amd64") -> tuple:
    """install.sh's detect_arch on a Kea binary ``kea``, with a dpkg that prints ``dpkg_says``:
    (arch, triplet)."""
    text = (ROOT / "install.sh").read_text()
    function = re.search(r"^detect_arch\(\) \{\n.*?^\}\n", text, re.M | re.S).group(0)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "dpkg").write_text(f"#!/bin/sh\necho {dpkg_says}\n")
    (bin_dir / "dpkg").chmod(0o755)
    script = f"{function}kea_path={kea}\ndetect_arch\necho \"$arch $triplet\"\n"
    r = subprocess.run([SH, "-c", script], capture_output=True, text=True, check=True,
                       env={"PATH": f"{bin_dir}:{os.environ['PATH']}"})
    return tuple(r.stdout.split())


@pytest.mark.parametrize("arch", sorted(matrix.MULTIARCH))
def test_installer_takes_keas_architecture_from_its_elf_header(arch, tmp_path):
    """Every architecture the matrix knows, read off Kea's binary whatever dpkg's default is
    (a multiarch system: an armhf Kea on arm64, an i386 one on amd64), with the multiarch
    triplet of its hooks directory."""
    kea = tmp_path / "kea-dhcp4"
    kea.write_bytes(elf_header(*ELF_HEADERS[arch]) + bytes(64))
    other = "arm64" if arch != "arm64" else "amd64"
    assert detect_arch(kea, tmp_path, dpkg_says=other) == (arch, matrix.MULTIARCH[arch])


def test_installer_asks_dpkg_for_an_unknown_elf_machine(tmp_path):
    kea = tmp_path / "kea-dhcp4"
    kea.write_bytes(elf_header(2, "little", 258, 0) + bytes(64))  # LoongArch
    assert detect_arch(kea, tmp_path, dpkg_says="loong64") == ("loong64", "loong64-linux-gnu")
