"""The release's trust chain, finding by finding (a supply-chain review): the signing key meets
only the sign step, which runs gpg and the standard library; apt's Release files expire and are
fetched by hash; candidates have their own suite; the pool keeps earlier versions; the key
reaches apt through a keyring package; the release key is a certifying primary key with an
expiring signing subkey."""

from __future__ import annotations

import email.utils
import hashlib
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from kea_runscript import HOOK_VERSION, ROOT, release
from kea_runscript.release import signing
from tests.unit.test_release import (CELL, M, fake_dist, gpgv, make, paragraphs, stub_render, throwaway_key)


def options(tmp_path, name="out", **kw):
    kw = {"version": HOOK_VERSION, "dist": tmp_path / "dist", "out": tmp_path / name, "allow_dirty": True,
          "python": False, "series": ("2.6",), **kw}
    return release.Options(**kw)


def public_part(secret: str) -> str:
    with signing.signer(secret, allow_other_key=True) as s:
        return s.public_key()


def unsigned(tmp_path, name="out", **kw):
    key = public_part(throwaway_key())
    return release.make_release(M, options(tmp_path, name, public_key=key, test_key=True, **kw),
                                say=lambda _s: None, render=stub_render)


def release_fields(path: Path) -> dict:
    (fields,) = paragraphs(path.read_text().split("\nMD5Sum:")[0])
    return fields


# --------------------------------------------------------------------------------------------
# 1. the key only where it signs


def test_make_step_refuses_the_signing_key_in_its_environment(tmp_path, monkeypatch):
    """The make step runs python -m build (setuptools from PyPI), dpkg-deb, apt-ftparchive: the
    key must not be in its environment, nor in a GNUPGHOME beside it."""
    fake_dist(tmp_path / "dist")
    monkeypatch.setenv(signing.SECRET_ENV, throwaway_key())
    with pytest.raises(release.ReleaseError, match="must not reach the make step"):
        release.make_release(M, options(tmp_path, test_key=True), say=lambda _s: None, render=stub_render)
    assert not (tmp_path / "out").exists()


def test_made_release_is_unsigned_until_the_sign_step(tmp_path):
    fake_dist(tmp_path / "dist")
    out = unsigned(tmp_path)
    assert not [p for p in out.rglob("*") if p.name in ("SHA256SUMS.asc", "InRelease", "Release.gpg")]
    assert (out / "SHA256SUMS").is_file() and list(out.glob("apt/dists/*/Release"))

    # The sign step as CI runs it: Python without site-packages, the key in its environment only.
    env = {**os.environ, signing.SECRET_ENV: throwaway_key()}
    r = subprocess.run([sys.executable, "-S", "-m", "kea_runscript.release.signing", "--test-release", str(out)],
                       cwd=ROOT, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    key = (out / signing.KEY_NAME).read_text()
    assert gpgv(key, out / "SHA256SUMS.asc", out / "SHA256SUMS", tmp_path=tmp_path).returncode == 0
    for dist in out.glob("apt/dists/*"):
        assert gpgv(key, dist / "InRelease", tmp_path=tmp_path).returncode == 0
        assert gpgv(key, dist / "Release.gpg", dist / "Release", tmp_path=tmp_path).returncode == 0


def test_the_sign_step_imports_no_third_party_code():
    code = ("import sys, kea_runscript.release.signing as s; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('jinja2', 'yaml', 'docker', 'setuptools')))")
    r = subprocess.run([sys.executable, "-S", "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stdout + r.stderr


def test_the_sign_step_runs_gpg_alone(tmp_path, monkeypatch):
    fake_dist(tmp_path / "dist")
    out = unsigned(tmp_path)
    ran = []
    real = subprocess.run

    def recording(argv, *a, **kw):
        ran.append(os.path.basename(argv[0]))
        return real(argv, *a, **kw)

    monkeypatch.setattr(signing.subprocess, "run", recording)
    with signing.signer(throwaway_key(), allow_other_key=True) as s:
        signing.sign_release(out, s)
    assert ran and set(ran) <= {"gpg", "gpgconf"}, ran


def test_the_sign_step_refuses_a_file_changed_after_make(tmp_path):
    fake_dist(tmp_path / "dist")
    out = unsigned(tmp_path)
    tarball = out / release.cell_artifact_name(HOOK_VERSION, CELL, "tar.gz")
    tarball.write_bytes(tarball.read_bytes() + b"\0")
    with signing.signer(throwaway_key(), allow_other_key=True) as s:
        with pytest.raises(signing.SigningError, match=f"{tarball.name} does not match SHA256SUMS"):
            signing.sign_release(out, s)
    assert not (out / "SHA256SUMS.asc").exists()


def test_the_sign_step_signs_only_a_release_of_the_committed_key(tmp_path):
    """A test release (other key shipped) is signed only when asked for as one."""
    fake_dist(tmp_path / "dist")
    out = unsigned(tmp_path)
    env = {**os.environ, signing.SECRET_ENV: throwaway_key()}
    r = subprocess.run([sys.executable, "-S", "-m", "kea_runscript.release.signing", str(out)],
                       cwd=ROOT, env=env, capture_output=True, text=True)
    assert r.returncode == 1 and "is not the committed keys/kea-hook-runscript.asc: not signing" in r.stderr
    assert not (out / "SHA256SUMS.asc").exists()


# --------------------------------------------------------------------------------------------
# 3. no freeze; 5. no Signed-By in Release; by-hash


def test_signed_release_files_expire_and_are_fetched_by_hash(tmp_path):
    fake_dist(tmp_path / "dist")
    before = time.time()
    out = make(tmp_path)
    for dist in (out / "apt" / "dists").iterdir():
        fields = release_fields(dist / "Release")
        date = email.utils.parsedate_to_datetime(fields["Date"]).timestamp()
        until = email.utils.parsedate_to_datetime(fields["Valid-Until"]).timestamp()
        assert before - 1 <= date <= time.time() + 1 and until - date == signing.VALID_DAYS * 86400
        assert fields["Acquire-By-Hash"] == "yes" and "Signed-By" not in fields
        listed = (dist / "Release").read_text().split("\nSHA256:\n")[1].split("\nSHA512:")[0]
        hashes = {line.split()[2]: line.split()[0] for line in listed.splitlines()}
        for index in dist.glob("main/binary-*/Packages"):
            digest = hashes[index.relative_to(dist).as_posix()]
            assert (index.parent / "by-hash" / "SHA256" / digest).read_bytes() == index.read_bytes()


def test_re_signing_moves_valid_until_and_keeps_the_indexes(tmp_path):
    fake_dist(tmp_path / "dist")
    out = make(tmp_path)
    apt = out / "apt"
    first = {d.name: (d / "Release").read_text() for d in (apt / "dists").iterdir()}
    later = time.time() + 10 * 86400
    with signing.signer(throwaway_key(), allow_other_key=True) as s:
        signing.sign_release(apt, s, now=later, apt_only=True)
    for suite, text in first.items():
        again = (apt / "dists" / suite / "Release").read_text()
        until = email.utils.parsedate_to_datetime(release_fields(apt / "dists" / suite / "Release")["Valid-Until"])
        assert abs(until.timestamp() - (later + signing.VALID_DAYS * 86400)) < 2
        assert again.count("Valid-Until:") == 1
        assert again.split("\nMD5Sum:")[1] == text.split("\nMD5Sum:")[1]  # the same indexes


# --------------------------------------------------------------------------------------------
# 4. candidates apart, earlier versions kept


def test_a_candidate_goes_to_its_own_suite(tmp_path):
    fake_dist(tmp_path / "dist")
    out = make(tmp_path, version=f"{HOOK_VERSION}-rc1")
    suites = sorted(p.name for p in (out / "apt" / "dists").iterdir())
    assert suites == sorted({f"{c.apt_suite}-rc" for c in M.verified})
    assert json.loads((out / "manifest.json").read_text())["apt"]["suites"].keys() == set(suites)


def test_the_pool_keeps_earlier_versions(tmp_path):
    old = "1.9.0"
    fake_dist(tmp_path / "old", hook_version=old)
    first = make(tmp_path, "first", version=old, dist=tmp_path / "old")
    fake_dist(tmp_path / "dist")
    second = make(tmp_path, "second", apt_base=first / release.apt_archive_name(old))
    packages = paragraphs((second / "apt" / "dists" / CELL.apt_suite / "main" / f"binary-{CELL.arch}" / "Packages").read_text())
    versions = sorted(e["Version"] for e in packages if e["Package"] == release.PACKAGE)
    assert versions == sorted([release.deb_version(old, CELL), release.deb_version(HOOK_VERSION, CELL)])
    for e in packages:
        assert hashlib.sha256((second / "apt" / e["Filename"]).read_bytes()).hexdigest() == e["SHA256"]
    # The same name with other bytes is never re-released.
    fake_dist(tmp_path / "dist", cells=[CELL])
    (tmp_path / "dist" / CELL.id / release.LIBRARY).write_bytes(b"other bytes\n")
    info = json.loads((tmp_path / "dist" / CELL.id / "build-info.json").read_text())
    info["sha256"] = hashlib.sha256(b"other bytes\n").hexdigest()
    (tmp_path / "dist" / CELL.id / "build-info.json").write_text(json.dumps(info))
    with pytest.raises(release.ReleaseError, match="already in the earlier repository with other contents"):
        make(tmp_path, "third", apt_base=second / "apt")


# --------------------------------------------------------------------------------------------
# 5. the keyring package; the key's shape


def test_keyring_package_installs_the_key_where_apt_looks(tmp_path):
    fake_dist(tmp_path / "dist")
    out = make(tmp_path)
    deb = out / release.keyring_deb_name(HOOK_VERSION)
    fields = subprocess.run(["dpkg-deb", "-f", str(deb)], capture_output=True, text=True, check=True).stdout
    assert f"Package: {release.KEYRING_PACKAGE}\n" in fields and "Architecture: all\n" in fields
    subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp_path / "x")], check=True)
    keyring = tmp_path / "x" / release.KEYRING_PATH.lstrip("/")
    assert release.KEYRING_PATH == "/usr/share/keyrings/kea-hook-runscript-archive-keyring.gpg"
    # apt's Signed-By file as installed verifies the repository, and holds the pinned key only.
    for dist in (out / "apt" / "dists").iterdir():
        r = subprocess.run(["gpgv", "--keyring", str(keyring), str(dist / "InRelease")], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    colons = subprocess.run(["gpg", "--with-colons", "--show-keys", str(keyring)], capture_output=True,
                            text=True, check=True).stdout
    assert signing._primary_fingerprints(colons, ("pub",)) == [json.loads((out / "manifest.json").read_text())
                                                                ["signing_key"]["fingerprint"]]
    assert (out / "apt" / "pool" / CELL.apt_suite / deb.name).read_bytes() == deb.read_bytes()


def shape(key_text: str) -> list:
    """[(record, capabilities, expires?)] of a key's primary key and subkeys."""
    with signing.gnupg_home() as home:
        colons = subprocess.run(["gpg", "--homedir", str(home), "--with-colons", "--show-keys"], input=key_text,
                                capture_output=True, text=True, check=True).stdout
    return [(f[0], f[11], bool(f[6])) for f in (line.split(":") for line in colons.splitlines())
            if f[0] in ("pub", "sub", "sec", "ssb")]


@pytest.mark.parametrize("which", ["committed", "throwaway"])
def test_release_key_certifies_and_an_expiring_subkey_signs(which):
    text = signing.KEY_FILE.read_text() if which == "committed" else public_part(throwaway_key())
    (primary, *subs) = shape(text)
    assert primary[0] == "pub" and "".join(ch for ch in primary[1] if ch.islower()) == "c", primary  # certifies only
    signers = [s for s in subs if "s" in s[1]]
    assert signers and all(expires for _r, _c, expires in signers), subs


def test_signatures_are_made_by_the_subkey_and_name_the_primary(tmp_path):
    fake_dist(tmp_path / "dist")
    out = make(tmp_path)
    key = (out / signing.KEY_NAME).read_text()
    primary = signing.key_fingerprints(key)[0]
    with signing.gnupg_home() as home:
        subprocess.run(["gpg", "--homedir", str(home), "--batch", "--import"], input=key.encode(), check=True,
                       capture_output=True)
        subprocess.run(["gpg", "--homedir", str(home), "--batch", "--export", "-o", str(tmp_path / "k.gpg")], check=True)
        r = subprocess.run(["gpgv", "--homedir", str(home), "--status-fd", "1", "--keyring", str(tmp_path / "k.gpg"),
                            str(out / "SHA256SUMS.asc"), str(out / "SHA256SUMS")], capture_output=True, text=True)
    validsig = next(line.split() for line in r.stdout.splitlines() if " VALIDSIG " in line)
    assert validsig[-1] == primary and validsig[2] != primary  # made by a subkey, of the pinned key


def test_an_expired_signing_subkey_is_refused_with_what_to_do():
    in_three_years = time.time() + 3 * 365 * 86400
    with pytest.raises(signing.SigningError, match="no valid signing subkey .*Rotating the signing subkey"):
        with signing.signer(throwaway_key(), allow_other_key=True, now=in_three_years):
            pass


# --------------------------------------------------------------------------------------------
# the previous release's apt repository, fetched and verified (ci/apt-base.sh)


def fake_github(tmp_path, out, tag):
    """file:// stand-ins for the GitHub API's release list and a release's downloads."""
    api = tmp_path / "api" / "repos" / "o" / "n"
    api.mkdir(parents=True)
    (api / "releases").write_text(json.dumps([{"tag_name": "v9.9.9", "draft": True}, {"tag_name": tag, "draft": False}]))
    dl = tmp_path / "server" / "o" / "n" / "releases" / "download" / tag
    dl.mkdir(parents=True)
    for p in out.iterdir():
        if p.is_file():
            (dl / p.name).write_bytes(p.read_bytes())
    env = {**os.environ, "GITHUB_API_URL": f"file://{tmp_path / 'api'}", "GITHUB_SERVER_URL": f"file://{tmp_path / 'server'}",
           "KEA_RUNSCRIPT_RELEASE_KEY": str(out / signing.KEY_NAME)}
    return dl, env


def apt_base(env, dest):
    return subprocess.run(["sh", str(ROOT / "ci" / "apt-base.sh"), "o/n", str(dest)], env=env, capture_output=True, text=True)


def test_apt_base_fetches_the_latest_release_verified(tmp_path):
    fake_dist(tmp_path / "dist")
    out = make(tmp_path)
    dl, env = fake_github(tmp_path, out, f"v{HOOK_VERSION}")
    r = apt_base(env, tmp_path / "base")
    assert r.returncode == 0, r.stdout + r.stderr
    assert sorted(p.relative_to(tmp_path / "base").as_posix() for p in (tmp_path / "base").rglob("*.deb")) == \
        sorted(p.relative_to(out / "apt").as_posix() for p in (out / "apt").rglob("*.deb"))

    archive = dl / release.apt_archive_name(HOOK_VERSION)
    archive.write_bytes(archive.read_bytes() + b"\0")
    r = apt_base(env, tmp_path / "tampered")
    assert r.returncode == 4 and "does not match" in r.stderr and not (tmp_path / "tampered").exists()
    other = make(tmp_path, "other", signing_key=throwaway_key(3))
    (dl / "SHA256SUMS.asc").write_bytes((other / "SHA256SUMS.asc").read_bytes())
    r = apt_base(env, tmp_path / "otherkey")
    assert r.returncode == 4 and "not signed by the release key" in r.stderr

    (tmp_path / "api" / "repos" / "o" / "n" / "releases").write_text("[]")
    r = apt_base(env, tmp_path / "none")
    assert r.returncode == 0 and "starts empty" in r.stdout and not (tmp_path / "none").exists()
    r = subprocess.run(["sh", str(ROOT / "ci" / "apt-base.sh"), "", str(tmp_path / "unset")], env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0 and "starts empty" in r.stdout and not (tmp_path / "unset").exists()


def test_ci_sign_sh_signs_and_checks_as_users_will(tmp_path):
    """The sign job's script on an unsigned release: signed, then install.sh --list (signature by
    the pinned key, this version) and every checksum pass; a file changed meanwhile: refused."""
    fake_dist(tmp_path / "dist")
    out = unsigned(tmp_path)
    env = {**os.environ, signing.SECRET_ENV: throwaway_key()}
    r = subprocess.run(["sh", str(ROOT / "ci" / "sign.sh"), "--test-release", str(out)], env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "verified SHA256SUMS.asc" in r.stdout and (out / "SHA256SUMS.asc").is_file()
    again = unsigned(tmp_path, "again")
    (again / "install.sh").write_text((again / "install.sh").read_text() + "\n")
    r = subprocess.run(["sh", str(ROOT / "ci" / "sign.sh"), "--test-release", str(again)], env=env,
                       capture_output=True, text=True)
    assert r.returncode == 1 and "install.sh does not match SHA256SUMS" in r.stderr
    assert not (again / "SHA256SUMS.asc").exists()
