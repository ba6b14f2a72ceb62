"""Release artifacts in clean containers of each verified cell (``pytest -m integration``).

The release is a test release: signed by a throwaway key, which its install.sh pins.

* ``test_installer``: the release served over HTTP on 127.0.0.1 inside a container with no
  network and only Kea's DHCPv4 server installed (+ curl, python3, sqv, gpgv); install.sh
  (with ``--allow-http``: there is no TLS here) checks the signature with the OS's sqv, then
  again with gpgv (sqv hidden), picks, verifies and installs the hook, has the real Kea load
  it (``-t``) without touching Kea's files, and records it; ``kea-dhcp4 -t`` accepts a config
  loading it; ``--uninstall`` removes it and the record.
* ``test_installer_refuses``: an http URL without ``--allow-http`` -> exit 2; SHA256SUMS
  re-made for a tampered tarball, or signed by another key -> exit 4; a tampered tarball
  -> exit 4; another release version (RC) than the install.sh's -> exit 4; a Kea version
  with no build -> exit 3 listing the builds; nothing installed.
* ``test_installer_load_check``: a validly signed release whose library Kea cannot load:
  install.sh exits 5 with Kea's words and leaves no library, or puts back the one installed
  before, byte for byte; ``--uninstall`` refuses a library changed since, or owned by a
  package (the .deb installed over it).
* ``test_deb``: ``dpkg -i`` / ``kea-dhcp4 -t`` / ``dpkg -r``, and the .deb of another cell is
  refused by dpkg (its Depends pins another Kea).
* ``test_deb_follows_kea_revisions``: Kea's installed packages rebuilt at a new Debian revision
  (a security update) install over the hook's .deb and keep it; rebuilt at the next upstream
  version, apt would remove the hook and refuses with ``--no-remove``.
* ``test_apt``: the release's apt repository served on 127.0.0.1, added as the README says
  (the keyring package, ``deb [signed-by=...]`` line), with the Debian mirrors removed: ``apt-get
  install kea-hook-runscript`` from the stable suite installs the cell's build (never the
  candidate's, which has its own ``<suite>-rc``), ``kea-dhcp4 -t`` loads it; with the candidates'
  suite the earlier build is still installable by version, and ``apt-get upgrade`` goes back
  to HOOK_VERSION. A Packages file that is not the signed one, a .deb that is not the listed
  one, a repository signed by another key and one whose Valid-Until has passed are refused.
* ``test_reproducible_build``: two builds of one cell, cache bypassed, same sha256.
* ``test_rebuild_in_the_recorded_builder_image``: each built cell rebuilt from what its
  build-info.json records (builder image id, command, SOURCE_DATE_EPOCH, sources), same sha256.
Test names carry the cell id. Installing (install.sh, dpkg, apt) runs on every verified cell;
the other tests on the cells of tests/integration/cells.py's NATIVE_AND_ONE_PER_FOREIGN_ARCH.
"""

import dataclasses
import json
import shutil
import tarfile
import time
from pathlib import Path

import pytest

from kea_runscript import HOOK_VERSION, output, release
from kea_runscript.builder import hook as build
from kea_runscript.engine import containers
from kea_runscript.model import matrix
from kea_runscript.release import signing

pytestmark = pytest.mark.integration

from tests.integration.cells import NATIVE_AND_ONE_PER_FOREIGN_ARCH, POLICIES, VERIFIED
PORT = 8765
URL = f"http://127.0.0.1:{PORT}"


RC = f"{HOOK_VERSION}-rc1"  # the release before HOOK_VERSION: apt upgrades from it


@pytest.fixture(scope="module")
def test_key():
    """One throwaway key for every release of this module (apt's signed-by pins one key)."""
    return signing.throwaway_secret_key()


@pytest.fixture(scope="module")
def release_matrix(request):
    """The matrix of the cells this session's tests of this module run on: the test releases
    hold them alone (CI's session leaves out the cells of tier `arches`, `nox -s arches` has
    only them: tests/integration/cells.py)."""
    ids = set()
    for item in request.session.items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if item.path.name == Path(__file__).name:
            ids |= {v.id for v in params.values() if isinstance(v, matrix.Cell)}
    m = matrix.load()
    return dataclasses.replace(m, cells=tuple(c for c in m.cells if c.id in ids or not c.verified))


@pytest.fixture(scope="module")
def built(release_matrix):
    cells = release_matrix.verified
    results = build.build_cells(cells, verified_ids=[c.id for c in cells])
    assert all(r.ok for r in results), [f"{r.cell.id}: {r.message}" for r in results if not r.ok]


def make_release(version, key, tmp_path_factory, m, base=None):
    """A test release of matrix ``m``'s verified cells, made and signed as the CI jobs do, on
    top of ``base``'s apt repository."""
    out = tmp_path_factory.mktemp("release") / version
    return release.make_test_release(m, release.Options(version=version, out=out, allow_dirty=True,
                                                        python=False, apt_base=base), key)


@pytest.fixture(scope="module")
def rc_release_dir(built, release_matrix, test_key, tmp_path_factory):
    return make_release(RC, test_key, tmp_path_factory, release_matrix)


@pytest.fixture(scope="module")
def release_dir(rc_release_dir, release_matrix, test_key, tmp_path_factory):
    """The release after the candidate: its apt repository keeps the candidate's suite."""
    return make_release(HOOK_VERSION, test_key, tmp_path_factory, release_matrix,
                        base=rc_release_dir / release.APT_DIR)


def clean_container(cell, tmp_path):
    image = release.ensure_install_test_image(cell, build.Paths().logs(cell), output.say)
    return containers.Container(image, f"{cell.id}-release")  # network_mode none


def serve(c, directory, **more):
    """Serve ``directory`` at URL/ (and each of ``more``, name -> directory, at URL/name/)."""
    c.copy_into(directory, "/release")
    for name, d in more.items():
        c.copy_into(d, f"/release/{name}")
    c.sh(f"cd / && nohup python3 -m http.server --bind 127.0.0.1 {PORT} --directory /release "
         f">/tmp/http.log 2>&1 </dev/null &")
    for _ in range(50):
        if c.call(["curl", "-fsS", "-o", "/dev/null", f"{URL}/SHA256SUMS"]).ok:
            return
        time.sleep(0.2)
    pytest.fail("the release HTTP server on 127.0.0.1 did not come up: " + c.sh("cat /tmp/http.log").output)


def system_arch(c):
    return c.sh("dpkg --print-architecture").output.strip()


def kea_accepts(c, cell):
    c.write_file(build.TRUE_SCRIPT, "#!/bin/sh\nexit 0\n", mode=0o755)
    c.write_file("/etc/kea-runscript/check4.json", build.check_config(4, cell))
    return c.call(["kea-dhcp4", "-t", "/etc/kea-runscript/check4.json"])


#: install.sh's record of what it installed, beside the library
RECORD = "kea-hook-runscript.installed"

#: Kea's own files (configuration, leases, logs, lock and pid files), with their sizes and times:
#: install.sh's load check must leave them alone.
KEA_FILES = "find /etc/kea /var/lib/kea /var/log/kea /run/kea -printf '%p %s %T@\\n' 2>/dev/null | sort; true"


def sha256_in(c, path):
    return c.sh(f"sha256sum {path}").output.split()[0]


@pytest.mark.parametrize("cell", VERIFIED, ids=lambda c: c.id)
def test_installer(cell, release_dir, tmp_path):
    target = f"{cell.hooks_dir}/{build.LIBRARY}"
    built = json.loads((build.Paths().out(cell) / "build-info.json").read_text())["sha256"]
    with clean_container(cell, tmp_path) as c:
        assert not c.call(["test", "-e", target]).ok
        sqv = c.sh("command -v sqv").output.strip()
        assert sqv and c.sh("command -v gpgv").ok, f"{cell.id}: the install-test image lacks sqv or gpgv"
        kea_files = c.sh(KEA_FILES).output
        serve(c, release_dir)
        assert c.sh(f"curl -fsS -o /tmp/install.sh {URL}/install.sh").ok
        # With the OS's own sqv (Debian 12's 1.1 has no --signature-file), then with gpgv.
        for verifier in ("sqv", "gpgv"):
            if verifier == "gpgv":
                c.sh(f"mv {sqv} {sqv}.hidden")
            hold = " --hold" if verifier == "gpgv" else ""  # the second install holds Kea
            r = c.sh(f"sh /tmp/install.sh --from {URL} --allow-http{hold}")
            assert r.ok, f"{cell.id}: install.sh ({verifier}) failed (exit {r.exit_code}):\n{r.output}"
            assert f"verified SHA256SUMS.asc ({verifier}): signed by the release key" in r.output, r.output
            assert f"-> build {cell.id}" in r.output and f"verified {release.cell_artifact_name(HOOK_VERSION, cell)}" in r.output
            assert f"installed {target}; kea-dhcp4 -t loads it" in r.output, r.output
            assert sha256_in(c, target) == built
            if hold:
                assert "held kea-common kea-dhcp4-server (apt-mark)" in r.output, r.output
            else:
                assert "Hold Kea: sudo apt-mark hold kea-common kea-dhcp4-server" in r.output, r.output
        assert c.sh(KEA_FILES).output == kea_files, f"{cell.id}: the load check changed Kea's files"
        assert held_packages(c) == ["kea-common", "kea-dhcp4-server"]
        record = c.sh(f"grep -v '^#' {cell.hooks_dir}/{RECORD}").output.split()
        assert record == [f"path={target}", f"sha256={built}", f"version={HOOK_VERSION}", f"cell={cell.id}",
                          "held=kea-common", "kea-dhcp4-server"]
        installer_check(c, cell, target)
        k = kea_accepts(c, cell)
        assert k.ok, f"{cell.id}: kea-dhcp4 -t rejected the installed hook:\n{k.output}"
        r = c.sh("sh /tmp/install.sh --uninstall")
        assert r.ok and f"removed {target}" in r.output, r.output
        assert not c.call(["test", "-e", target]).ok and not c.call(["test", "-e", f"{cell.hooks_dir}/{RECORD}"]).ok
        assert "released kea-common kea-dhcp4-server" in r.output and held_packages(c) == []


def held_packages(c):
    """apt-mark showhold's packages, without the architecture it names for a foreign one
    (an arm64 Kea on a multiarch amd64 system: kea-common:arm64)."""
    return [p.split(":")[0] for p in c.sh("apt-mark showhold").output.split()]


#: install.sh --check's configuration: the hook with a script that changes routes (never run)
CHECK_CONF = "/etc/kea/rs-check.conf"
ROUTE_SCRIPT = "/usr/local/sbin/rs-route.sh"
DROPIN = "/etc/systemd/system/kea-dhcp4-server.service.d/runscript.conf"


def installer_check(c, cell, target):
    """install.sh --check, as root and as the unit's user (_kea), on the installed build: it
    names the build, finds the library exact, runs kea-dhcp4 -t as _kea, and says when a
    route-changing script lacks CAP_NET_ADMIN or cannot be run by _kea."""
    check = "sh /tmp/install.sh --check"
    r = c.sh(check)
    assert r.exit_code == 0, f"{cell.id}: install.sh --check found a problem on a fresh install:\n{r.output}"
    assert f"-> build {cell.id}" in r.output and f"ok: {target} is build {cell.id} of release {HOOK_VERSION}" in r.output
    assert "ok: kea-dhcp4 -t loads" in r.output and "/etc/kea/kea-dhcp4.conf does not load" in r.output, r.output
    conf = json.loads(build.check_config(4, cell))
    conf["Dhcp4"]["hooks-libraries"][0]["parameters"] = {"script": ROUTE_SCRIPT, "wait": False}
    c.write_file(CHECK_CONF, json.dumps(conf), mode=0o644)
    c.write_file(ROUTE_SCRIPT, "#!/bin/sh\nip route replace \"$KEA_LEASE4_ADDRESS/32\" dev lo\n", mode=0o755)
    as_kea = f"runuser -u _kea -- {check} --kea-config {CHECK_CONF}"
    for who, cmd in (("root", f"{check} --kea-config {CHECK_CONF}"), ("_kea", as_kea)):
        r = c.sh(cmd)
        assert r.exit_code == 6, f"{cell.id} ({who}): no CAP_NET_ADMIN, yet exit {r.exit_code}:\n{r.output}"
        assert f"ok: kea-dhcp4 -t {CHECK_CONF} as _kea, the user of kea-dhcp4-server.service" in r.output, r.output
        assert f"problem: {ROUTE_SCRIPT} changes routes or firewall rules" in r.output, r.output
    c.write_file(DROPIN, "[Service]\nAmbientCapabilities=CAP_NET_ADMIN\n", mode=0o644)
    r = c.sh(f"{check} --kea-config {CHECK_CONF}")
    assert r.exit_code == 0 and "gives CAP_NET_ADMIN" in r.output, f"{cell.id}: with the drop-in:\n{r.output}"
    c.sh(f"chmod 0700 {ROUTE_SCRIPT}")  # root's only: the service's user cannot run it
    for who, cmd in (("root", f"{check} --kea-config {CHECK_CONF}"), ("_kea", as_kea)):
        r = c.sh(cmd)
        assert r.exit_code == 6 and "is not executable by the user Kea runs as" in r.output, \
            f"{cell.id} ({who}): a script _kea cannot run passed:\n{r.output}"
    c.sh(f"rm -f {CHECK_CONF} {ROUTE_SCRIPT} {DROPIN}")


def tampered_releases(release_dir, tmp_path, cell):
    """{name: directory}: the release with this cell's tarball changed, and (a) SHA256SUMS left
    as is, (b) SHA256SUMS re-made to match, (c) re-made and signed by another key, which
    replaces the release's key file too."""
    out = {}
    for name in ("tarball", "sums", "otherkey"):
        d = tmp_path / name
        shutil.copytree(release_dir, d)
        tb = d / release.cell_artifact_name(HOOK_VERSION, cell)
        tb.write_bytes(tb.read_bytes() + b"\0")
        if name != "tarball":
            names = [line.split()[1] for line in (release_dir / "SHA256SUMS").read_text().splitlines()]
            (d / "SHA256SUMS").write_text(release.sha256sums(d, names))
        if name == "otherkey":
            with signing.signer(signing.throwaway_secret_key(), allow_other_key=True) as s:
                s.detach_sign(d / "SHA256SUMS", d / "SHA256SUMS.asc")
                (d / signing.KEY_NAME).write_text(s.public_key())
        out[name] = d
    return out


@pytest.mark.parametrize("cell", NATIVE_AND_ONE_PER_FOREIGN_ARCH, ids=lambda c: c.id)
def test_installer_refuses(cell, release_dir, rc_release_dir, release_matrix, tmp_path):
    target = f"{cell.hooks_dir}/{build.LIBRARY}"
    with clean_container(cell, tmp_path) as c:
        serve(c, release_dir, rc=rc_release_dir, **tampered_releases(release_dir, tmp_path, cell))
        r = c.sh(f"sh /release/install.sh --from {URL}")
        assert r.exit_code == 2 and "refusing plain http" in r.output, r.output
        r = c.sh(f"sh /release/install.sh --from {URL}/tarball --allow-http")
        assert r.exit_code == 4 and "checksum mismatch" in r.output, r.output
        r = c.sh(f"sh /release/install.sh --from {URL}/sums --allow-http")
        assert r.exit_code == 4 and "does not carry a good signature by the release key" in r.output, r.output
        r = c.sh(f"sh /release/install.sh --from {URL}/otherkey --allow-http")
        assert r.exit_code == 4 and "not by the release key" in r.output, r.output
        # The release before, validly signed: not what this install.sh installs.
        r = c.sh(f"sh /release/install.sh --from {URL}/rc --allow-http")
        assert r.exit_code == 4 and f"holds {release.PACKAGE} {RC}, not {HOOK_VERSION}" in r.output, r.output
        assert not c.call(["test", "-e", target]).ok

        # A Kea release nobody built for (kea-dhcp4 earlier in PATH reports 9.9.9).
        c.write_file("/usr/local/sbin/kea-dhcp4", "#!/bin/sh\necho 9.9.9\n", mode=0o755)
        r = c.sh(f"sh /release/install.sh --from {URL} --allow-http")
        assert r.exit_code == 3, r.output
        # (a script, not an ELF binary: install.sh takes the system's architecture then)
        assert f"kea9.9.9-{cell.os.distro}{cell.os.release}-{system_arch(c)}" in r.output
        for other in release_matrix.verified:  # every build of the release
            assert f"  {other.id}" in r.output, f"{other.id} missing from the list:\n{r.output}"
        assert not c.call(["test", "-e", target]).ok


def unloadable_release(release_dir, key, cell, dest):
    """The release with this cell's library replaced by bytes that are no library, SHA256SUMS
    made anew and signed by the release's own (test) key: install.sh's checks all pass, only
    Kea's load check can tell."""
    d = Path(shutil.copytree(release_dir, dest))
    tb = d / release.cell_artifact_name(HOOK_VERSION, cell)
    with tarfile.open(tb) as t:
        members = [m for m in t.getmembers() if m.isfile()]
        files = {m.name: (t.extractfile(m).read(), m.mode) for m in members}
    (lib,) = [n for n in files if n.endswith(f"/{build.LIBRARY}")]
    files[lib] = (b"not a shared library\n" * 64, files[lib][1])
    release.write_tar_gz(tb, files, members[0].mtime)
    names = [line.split()[1] for line in (release_dir / "SHA256SUMS").read_text().splitlines()]
    (d / "SHA256SUMS").write_text(release.sha256sums(d, names))
    with signing.signer(key, allow_other_key=True) as s:
        s.detach_sign(d / "SHA256SUMS", d / "SHA256SUMS.asc")
    return d


@pytest.mark.parametrize("cell", NATIVE_AND_ONE_PER_FOREIGN_ARCH, ids=lambda c: c.id)
def test_installer_load_check(cell, release_dir, test_key, tmp_path):
    target = f"{cell.hooks_dir}/{build.LIBRARY}"
    record = f"{cell.hooks_dir}/{RECORD}"
    deb = release.cell_artifact_name(HOOK_VERSION, cell, "deb")
    with clean_container(cell, tmp_path) as c:
        serve(c, release_dir, unloadable=unloadable_release(release_dir, test_key, cell, tmp_path / "unloadable"))
        install = f"sh /release/install.sh --allow-http --from {URL}"
        # Nothing installed before: Kea refuses the new library, which goes again.
        r = c.sh(f"{install}/unloadable")
        assert r.exit_code == 5 and f"Kea cannot load {target} (kea-dhcp4 -t rejected it); removed it again" in r.output, r.output
        kea_said = r.output.split("Kea's output:", 1)[1]
        assert f"HOOKS_OPEN_ERROR failed to open hook library {target}" in kea_said, r.output
        assert not c.call(["test", "-e", target]).ok and not c.call(["test", "-e", record]).ok
        # The release installed, then the unloadable one: the installed library comes back.
        r = c.sh(install)
        assert r.ok, r.output
        good, recorded = sha256_in(c, target), c.sh(f"cat {record}").output
        r = c.sh(f"{install}/unloadable")
        assert r.exit_code == 5 and "put back the library that was there before" in r.output, r.output
        assert sha256_in(c, target) == good and c.sh(f"cat {record}").output == recorded
        k = kea_accepts(c, cell)
        assert k.ok, f"{cell.id}: kea-dhcp4 -t rejected the restored hook:\n{k.output}"

        # --uninstall removes only the file install.sh put there: not one changed since ...
        c.sh(f"cp -p {target} /tmp/good.so && printf x >> {target}")
        r = c.sh("sh /release/install.sh --uninstall")
        assert r.exit_code == 5 and "has changed since install.sh installed it" in r.output, r.output
        assert c.call(["test", "-e", target]).ok
        # ... nor the same bytes once a package owns them (dpkg takes over an unowned file).
        c.sh(f"cp -p /tmp/good.so {target}")
        c.copy_into(release_dir / deb, f"/tmp/{deb}")
        assert c.call(["dpkg", "-i", f"/tmp/{deb}"]).ok
        r = c.sh("sh /release/install.sh --uninstall")
        assert r.exit_code == 5 and f"belongs to the package {release.PACKAGE}" in r.output, r.output
        assert sha256_in(c, target) == good and c.call(["test", "-e", record]).ok


@pytest.mark.parametrize("cell", VERIFIED, ids=lambda c: c.id)
def test_deb(cell, release_dir, tmp_path):
    deb = release.cell_artifact_name(HOOK_VERSION, cell, "deb")
    # the .deb of another Kea of this architecture in the release (riscv64, armel and ppc64el
    # have one Kea each: the preinst's refusal is checked on the other architectures)
    other = next((o for o in VERIFIED if o.arch == cell.arch and o.kea != cell.kea
                  and (release_dir / release.cell_artifact_name(HOOK_VERSION, o, "deb")).is_file()), None)
    target = f"{cell.hooks_dir}/{build.LIBRARY}"
    with clean_container(cell, tmp_path) as c:
        c.copy_into(release_dir, "/release")
        r = c.call(["dpkg", "-i", f"/release/{deb}"])
        assert r.ok, f"{cell.id}: dpkg -i {deb} failed:\n{r.output}"
        assert c.call(["test", "-f", target]).ok
        k = kea_accepts(c, cell)
        assert k.ok, f"{cell.id}: kea-dhcp4 -t rejected the packaged hook:\n{k.output}"
        r = c.call(["dpkg", "-r", release.PACKAGE])
        assert r.ok, r.output
        assert not c.call(["test", "-e", target]).ok, f"{cell.id}: dpkg -r left {target}"

        # The .deb of another Kea: its preinst refuses before anything is unpacked.
        if other is not None:
            other_deb = release.cell_artifact_name(HOOK_VERSION, other, "deb")
            r = c.call(["dpkg", "-i", f"/release/{other_deb}"])
            assert not r.ok and f"built for Kea {other.kea}" in r.output, r.output
            assert not c.call(["test", "-e", target]).ok, f"{cell.id}: {other_deb} was unpacked anyway"


# Rebuilds every installed binary package of Kea's Debian source at another version from the
# files dpkg has on disk: what a Debian update of Kea installs, without a network. argv[1]:
# "revision" (2.6.3-1+deb13u1 -> 2.6.3-1+deb13u1+bump1) or "upstream" (-> 2.6.4-1). Maintainer
# scripts are left out: the update only has to change versions.
REBUILD_KEA = r"""
import re, subprocess, sys
from pathlib import Path

def run(*cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout

rows = [l.split("\t") for l in run("dpkg-query", "-W", "-f", "${Package}\t${Version}\t${Source}\t${Status}\n").splitlines()]
pkgs = [(p, v) for p, v, src, st in rows if src.split(" ")[0] in ("isc-kea", "kea") and st.endswith(" installed")]
old = {v for _, v in pkgs}
assert len(old) == 1, pkgs
old = old.pop()
if sys.argv[1] == "revision":
    new = old + "+bump1"
else:
    up = old.split(":")[-1].rsplit("-", 1)[0].split(".")
    new = (old.split(":")[0] + ":" if ":" in old else "") + ".".join(up[:-1] + [str(int(up[-1]) + 1)]) + "-1"
out = Path("/bump")
out.mkdir()
for pkg, _ in pkgs:
    root = Path("/tmp/rebuild") / pkg
    (root / "DEBIAN").mkdir(parents=True)
    for path in run("dpkg", "-L", pkg).splitlines():
        if not path.startswith("/") or path == "/.":
            continue
        if Path(path).is_dir():  # a directory through a merged-/usr link (/lib) too
            (root / path.lstrip("/")).mkdir(parents=True, exist_ok=True)
        elif Path(path).exists() or Path(path).is_symlink():
            subprocess.run(["cp", "-a", "--parents", path, str(root)], check=True)
    control, conffiles, field = [], [], None
    for line in run("dpkg-query", "-s", pkg).splitlines():
        if not line.startswith(" "):
            field = line.split(":", 1)[0]
        if field == "Conffiles":
            if line.startswith(" "):
                conffiles.append(line.split()[0])
            continue
        if field == "Status":
            continue
        if field == "Version":
            line = "Version: " + new
        elif field in ("Depends", "Pre-Depends", "Recommends", "Breaks", "Replaces"):
            line = line.replace("(= " + old + ")", "(= " + new + ")")
        control.append(line)
    (root / "DEBIAN/control").write_text("\n".join(control) + "\n")
    if conffiles:
        (root / "DEBIAN/conffiles").write_text("\n".join(conffiles) + "\n")
    run("dpkg-deb", "--build", "--root-owner-group", str(root), str(out / (pkg + ".deb")))
print(old, new)
"""


def rebuild_kea(c, how):
    """Kea's packages of the container rebuilt (see REBUILD_KEA) in /bump/; (old, new) versions."""
    c.write_file("/tmp/rebuild_kea.py", REBUILD_KEA)
    r = c.call(["python3", "/tmp/rebuild_kea.py", how])
    assert r.ok, f"rebuilding Kea's packages failed:\n{r.output}"
    return tuple(r.output.split()[-2:])


def installed_version(c, package):
    r = c.call(["dpkg-query", "-W", "-f", "${Status} ${Version}", package])
    return r.output.split()[-1] if r.ok and r.output.startswith("install ok installed") else None


@pytest.mark.parametrize("cell", NATIVE_AND_ONE_PER_FOREIGN_ARCH, ids=lambda c: c.id)
@pytest.mark.parametrize("how", ["revision", "upstream"])
def test_deb_follows_kea_revisions(cell, how, release_dir, tmp_path):
    deb = release.cell_artifact_name(HOOK_VERSION, cell, "deb")
    with clean_container(cell, tmp_path) as c:
        c.copy_into(release_dir / deb, f"/tmp/{deb}")
        r = c.call(["dpkg", "-i", f"/tmp/{deb}"])
        assert r.ok, f"{cell.id}: dpkg -i {deb} failed:\n{r.output}"
        hook = installed_version(c, release.PACKAGE)
        old, new = rebuild_kea(c, how)
        assert installed_version(c, "kea-common") == old
        if how == "revision":
            # What `apt upgrade` does with a security update of Kea: the hook stays, still loads.
            r = c.sh("apt-get install -y --no-install-recommends /bump/*.deb")
            assert r.ok, f"{cell.id}: apt-get could not install Kea {new} next to the hook:\n{r.output}"
            assert installed_version(c, "kea-common") == new, r.output
            assert installed_version(c, release.PACKAGE) == hook, f"{cell.id}: Kea {new} removed the hook:\n{r.output}"
            k = kea_accepts(c, cell)
            assert k.ok, f"{cell.id}: kea-dhcp4 -t rejected the hook after Kea {new}:\n{k.output}"
        else:
            # Another upstream Kea: the hook can no longer stay; apt says so instead of keeping it.
            r = c.sh("apt-get install -s /bump/*.deb")
            assert f"Remv {release.PACKAGE}" in r.output, r.output
            r = c.sh("apt-get install -y --no-remove /bump/*.deb")
            assert not r.ok and release.PACKAGE in r.output, r.output
            assert installed_version(c, "kea-common") == old
            assert installed_version(c, release.PACKAGE) == hook


SOURCES = "/etc/apt/sources.list.d/kea-hook-runscript.list"


def tampered_apt(apt, tmp_path, cell, key):
    """{name: apt tree}: ``packages``: this cell's Packages file changed after signing (its
    by-hash copy too: apt fetches that one); ``deb``: its .deb changed (same size); ``otherkey``:
    Release signed anew by another key; ``expired``: signed by the release key 30 days ago, so
    its Valid-Until has passed (a frozen repository)."""
    out = {}
    suite = cell.apt_suite
    for name in ("packages", "deb", "otherkey", "expired"):
        d = Path(shutil.copytree(apt, tmp_path / f"apt-{name}"))
        dist = d / "dists" / suite
        if name == "packages":
            index = dist / "main" / f"binary-{cell.arch}"
            text = (index / "Packages").read_text().replace("Priority: optional", "Priority: required")
            for f in [index / "Packages", *(index / "by-hash" / "SHA256").iterdir()]:
                f.write_text(text)
        elif name == "deb":
            (deb,) = (d / "pool" / suite).glob(f"*_{cell.arch}.deb")
            data = bytearray(deb.read_bytes())
            data[-100] ^= 0xFF
            deb.write_bytes(bytes(data))
        elif name == "otherkey":
            with signing.signer(signing.throwaway_secret_key(), allow_other_key=True) as s:
                s.clearsign(dist / "Release", dist / "InRelease")
                s.detach_sign(dist / "Release", dist / "Release.gpg")
        else:
            with signing.signer(key, allow_other_key=True) as s:
                signing.sign_release(d, s, now=time.time() - 30 * 86400, apt_only=True)
        out[f"apt-{name}"] = d
    return out


def apt_source(c, path, *suites):
    c.write_file(SOURCES, "".join(f"deb [signed-by={release.KEYRING_PATH}] {URL}/{path} {s} {release.APT_COMPONENT}\n"
                                  for s in suites))


def refused(c, path, suite, *reasons):
    apt_source(c, path, suite)
    r = c.sh("rm -rf /var/lib/apt/lists/* && apt-get update")
    assert not r.ok and any(x in r.output for x in reasons), f"{path}: {r.output}"


@pytest.mark.parametrize("cell", VERIFIED, ids=lambda c: c.id)
def test_apt(cell, release_dir, test_key, tmp_path):
    """As the README says: the keyring package, then the stable suite; the candidate's suite
    apart; an earlier build still installable; a frozen, forged or altered repository refused."""
    target = f"{cell.hooks_dir}/{build.LIBRARY}"
    stable, candidates = cell.apt_suite, f"{cell.apt_suite}-rc"
    with clean_container(cell, tmp_path) as c:
        serve(c, release_dir, **tampered_apt(release_dir / release.APT_DIR, tmp_path, cell, test_key))
        # An arm64 Kea on this amd64 system (multiarch) takes the hook of its architecture by
        # name; on an arm64 machine the plain name is the same package.
        pkg = release.PACKAGE if system_arch(c) == cell.arch else f"{release.PACKAGE}:{cell.arch}"
        # No network here: only our repository is configured (Kea is already installed).
        c.sh("rm -f /etc/apt/sources.list /etc/apt/sources.list.d/*")
        # apt's default, which a cell of a frozen snapshot turns off for its own archive (read
        # after that setting: later name).
        c.write_file("/etc/apt/apt.conf.d/99zz-check-valid-until", 'Acquire::Check-Valid-Until "true";\n')
        keyring = release.keyring_deb_name(HOOK_VERSION)
        r = c.sh(f"curl -fsSL -o /tmp/{keyring} {URL}/{keyring} && dpkg -i /tmp/{keyring}")
        assert r.ok and c.call(["test", "-s", release.KEYRING_PATH]).ok, r.output

        refused(c, "apt-packages", stable, "Hash Sum mismatch", "unexpected size")
        refused(c, "apt-otherkey", stable, "NO_PUBKEY", "not signed", "signatures couldn't be verified", "Missing key")
        refused(c, "apt-expired", stable, "is expired", "is no longer valid")
        apt_source(c, "apt-deb", stable)
        r = c.sh("rm -rf /var/lib/apt/lists/* && apt-get update")
        assert r.ok, r.output
        r = c.sh(f"apt-get install -y {pkg}")
        assert not r.ok and "Hash Sum mismatch" in r.output, r.output
        assert installed_version(c, release.PACKAGE) is None and not c.call(["test", "-e", target]).ok

        # The stable suite: the release, never the candidate; no warning about the Release file.
        apt_source(c, "apt", stable)
        r = c.sh(f"rm -rf /var/lib/apt/lists/* && apt-get update && apt-get install -y {pkg} && apt-cache policy {pkg}")
        assert r.ok, f"{cell.id}: apt-get install {pkg} failed:\n{r.output}"
        assert "Signed-By" not in r.output and release.deb_version(RC, cell) not in r.output, r.output
        assert installed_version(c, release.PACKAGE) == release.deb_version(HOOK_VERSION, cell)
        so = c.sh(f"sha256sum {target}").output.split()[0]
        assert so == json.loads((build.Paths().out(cell) / "build-info.json").read_text())["sha256"]
        k = kea_accepts(c, cell)
        assert k.ok, f"{cell.id}: kea-dhcp4 -t rejected the hook installed by apt:\n{k.output}"

        # With the candidates' suite: the earlier build is still in the pool, installable by
        # version; an upgrade goes back to the release.
        apt_source(c, "apt", stable, candidates)
        older = release.deb_version(RC, cell)
        r = c.sh(f"apt-get update && apt-get install -y --allow-downgrades {pkg}={older}")
        assert r.ok and installed_version(c, release.PACKAGE) == older, r.output
        k = kea_accepts(c, cell)
        assert k.ok, f"{cell.id}: kea-dhcp4 -t rejected the earlier hook:\n{k.output}"
        r = c.sh("apt-get upgrade -y")
        assert r.ok and installed_version(c, release.PACKAGE) == release.deb_version(HOOK_VERSION, cell), r.output


@pytest.mark.parametrize("cell", POLICIES["the Kea 2.6 cells"], ids=lambda c: c.id)
def test_reproducible_build(cell, tmp_path):
    digests = []
    for n in (1, 2):
        paths = build.Paths(build=tmp_path / f"build{n}", dist=tmp_path / f"dist{n}")  # no cache
        r = build.build_cell(cell, paths=paths)
        assert r.status == "built", f"{cell.id}: build {n}: {r.message} (log {r.log})"
        digests.append(build.sha256_file(paths.out(cell) / build.LIBRARY))
    assert digests[0] == digests[1], f"{cell.id}: two builds differ: {digests}"


@pytest.mark.parametrize("cell", NATIVE_AND_ONE_PER_FOREIGN_ARCH, ids=lambda c: c.id)
def test_rebuild_in_the_recorded_builder_image(cell, built, tmp_path):
    """What build-info.json records is enough to rebuild the same bytes: the sources this
    checkout renders (source_sha256), the builder image by id, the build command and
    SOURCE_DATE_EPOCH, in a fresh container, outside the build cache."""
    from kea_runscript.generate import render
    info = json.loads((build.Paths().out(cell) / "build-info.json").read_text())
    image = info["builder_image"]["id"]
    assert containers.image_id(image) == image, f"{cell.id}: the recorded builder image {image} is gone"
    src = render.render_tree(cell.kea, tmp_path / "src")
    assert build.tree_digest(src) == info["source_sha256"], f"{cell.id}: this checkout renders other sources"
    with containers.Container(image, f"{cell.id}-rebuild") as c:
        c.copy_into(src, build.SRC)
        r = c.call(info["build_command"], env={"SOURCE_DATE_EPOCH": str(info["source_date_epoch"])})
        assert r.ok, f"{cell.id}: rebuild failed:\n{r.output[-3000:]}"
        c.copy_out(f"{build.SRC}/{build.LIBRARY}", tmp_path / build.LIBRARY)
    assert build.sha256_file(tmp_path / build.LIBRARY) == info["sha256"], \
        f"{cell.id}: rebuilt in {image}, the .so differs from the recorded one"


@pytest.mark.parametrize("cell", NATIVE_AND_ONE_PER_FOREIGN_ARCH, ids=lambda c: c.id)
def test_source_tarball_builds_with_make_alone(cell, release_dir):
    from kea_runscript.engine import images
    name = release.source_name(HOOK_VERSION)
    builder = images.ensure_image("builder", cell, build.Paths().logs(cell), output.say)
    # an arm64 cell on an amd64 machine: the same make, with its cross compiler
    cross = " ".join(a for a in build.build_command(cell, containers.engine_arch()) if a.startswith(("CXX=", "NM=")))
    with containers.Container(builder.tag, f"{cell.id}-srctar") as c:
        c.copy_into(release_dir / name, f"/tmp/{name}")
        r = c.sh(f"cd /tmp && tar -xzf {name} && cd {name[:-len('.tar.gz')]}/kea-{cell.series} && "
                 f"make KEA_INCLUDE={cell.kea_include} KEA_LIB={cell.kea_lib} {cross} && test -f {build.LIBRARY}")
        assert r.ok, f"{cell.id}: the source tarball's kea-{cell.series}/ did not build:\n{r.output[-3000:]}"
