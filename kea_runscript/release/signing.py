"""The sign step of a release: OpenPGP signatures made with gpg alone, in a throwaway GNUPGHOME.

A release is made without any key (:mod:`kea_runscript.release`: artifacts, ``SHA256SUMS``,
the apt repository's unsigned ``Release`` files). Signing is a step of its own that runs
nothing but this module (Python's standard library) and gpg:

    python3 -S -m kea_runscript.release.signing [--apt-only] [--test-release] DIR

(``-S``: no site-packages, so no third-party code can run beside the key). It checks that
every file ``SHA256SUMS`` lists has its checksum, stamps each apt ``Release`` with ``Date``
(now) and ``Valid-Until`` (:data:`VALID_DAYS` later), signs them (``InRelease``,
``Release.gpg``) and ``SHA256SUMS`` (``SHA256SUMS.asc``). ``--apt-only`` re-stamps and re-signs
a published apt repository (the scheduled job that keeps ``Valid-Until`` ahead).

The release key's secret part is never in the repository nor in anybody's ``~/.gnupg``: CI
hands it over armored in the environment (:data:`SECRET_ENV`, a CI secret of the signing job
alone); :func:`signer` imports it into a temporary GNUPGHOME (mode 0700) and deletes that
directory, gpg-agent included, when done. The key is a primary key that only certifies (kept
offline) and a signing subkey that expires; CI holds the subkey's secret only. The public key
is committed as :data:`KEY_FILE`, and :func:`signer` refuses to sign with any other key unless
the caller asks for a test release (the tests sign with :func:`throwaway_secret_key`).
"""

from __future__ import annotations

import argparse
import contextlib
import email.utils
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional, Sequence

from .. import ROOT
from ..errors import ToolkitError

KEY_NAME = "kea-hook-runscript.asc"
#: The release key's public part, committed; install.sh pins its primary fingerprint.
KEY_FILE = ROOT / "keys" / KEY_NAME
SECRET_ENV = "KEA_RUNSCRIPT_SIGNING_KEY"
PASSPHRASE_ENV = "KEA_RUNSCRIPT_SIGNING_PASSPHRASE"
TEST_KEY_UID = "kea-hook-runscript TEST release key, throwaway <test@example.invalid>"
#: How long a signed apt Release stays valid: apt refuses it afterwards (a frozen repository).
#: The scheduled re-sign runs weekly, so one missed run still leaves a week.
VALID_DAYS = 14
#: A signing subkey expiring sooner than this gets a warning at each signature.
EXPIRY_WARNING_DAYS = 60
APT_DIR = "apt"


class SigningError(ToolkitError, RuntimeError):
    """No signature can be made; the message says why and what to do."""


def _gpg_binary() -> str:
    gpg = shutil.which("gpg")
    if gpg is None:
        raise SigningError("gpg is not installed (apt-get install gnupg); it signs the release")
    return gpg


@contextlib.contextmanager
def gnupg_home() -> Iterator[Path]:
    """An empty GNUPGHOME, deleted afterwards with the gpg-agent gpg started for it."""
    # Short path under /tmp: gpg-agent's socket lives in it and socket paths are limited.
    home = tempfile.mkdtemp(prefix="krs-gnupg-", dir="/tmp" if os.path.isdir("/tmp") else None)
    os.chmod(home, 0o700)
    try:
        yield Path(home)
    finally:
        if shutil.which("gpgconf"):
            subprocess.run(["gpgconf", "--homedir", home, "--kill", "all"], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def _gpg(home: Path, *args: str, input: Optional[str] = None) -> str:
    r = subprocess.run([_gpg_binary(), "--homedir", str(home), "--batch", "--no-tty", *args],
                       input=input, capture_output=True, text=True)
    if r.returncode != 0:
        tail = "\n".join(r.stderr.strip().splitlines()[-8:])
        raise SigningError(f"gpg {args[0]} failed (exit {r.returncode}):\n{tail}")
    return r.stdout


def _primary_fingerprints(colons: str, kinds: tuple) -> list:
    """Fingerprints of the primary keys in ``gpg --with-colons`` output (not their subkeys')."""
    out, primary = [], False
    for line in colons.splitlines():
        fields = line.split(":")
        if fields[0] in ("pub", "sec", "sub", "ssb"):
            primary = fields[0] in kinds
        elif fields[0] == "fpr" and primary:
            out.append(fields[9])
            primary = False
    return out


@dataclass(frozen=True)
class Subkey:
    fingerprint: str
    capabilities: str
    expires: Optional[int]  # epoch seconds; None: never
    #: the secret part is here (not a stub, ``#``)
    secret: bool
    revoked_or_expired: bool


def subkeys(colons: str) -> list:
    """The subkeys of ``gpg --with-colons`` output (``sub``/``ssb`` records and their ``fpr``)."""
    out, pending = [], None
    for line in colons.splitlines():
        f = line.split(":")
        if f[0] in ("sub", "ssb"):
            pending = f
        elif f[0] == "fpr" and pending is not None:
            p = pending
            out.append(Subkey(fingerprint=f[9], capabilities=p[11], expires=int(p[6]) if p[6] else None,
                              secret=p[0] == "ssb" and not p[14].startswith("#"),
                              revoked_or_expired=p[1] in ("r", "e")))
            pending = None
        elif f[0] in ("pub", "sec"):
            pending = None
    return out


def key_fingerprints(key_text: str) -> list:
    """Primary-key fingerprints of an armored key block (public or secret), read without
    importing it anywhere."""
    with gnupg_home() as home:
        return _primary_fingerprints(_gpg(home, "--with-colons", "--show-keys", input=key_text), ("pub", "sec"))


def project_fingerprint(path: Path = KEY_FILE) -> str:
    """The fingerprint of the committed release key (exactly one key in the file)."""
    try:
        text = Path(path).read_text(encoding="ascii")
    except OSError as e:
        raise SigningError(f"cannot read the release's public key {path}: {e}") from None
    fprs = key_fingerprints(text)
    if len(fprs) != 1:
        raise SigningError(f"{path} must hold exactly one public key, not {len(fprs)}")
    return fprs[0]


@dataclass(frozen=True)
class Signer:
    home: Path
    fingerprint: str
    passphrase: str
    #: signed with another key than the committed one (a test release)
    test: bool
    #: the signing subkey gpg uses, and when it expires (None: never)
    subkey: str = ""
    expires: Optional[int] = None

    def _sign(self, mode: str, src: Path, dest: Path) -> Path:
        _gpg(self.home, "--yes", "--pinentry-mode", "loopback", "--passphrase-fd", "0",
             "--local-user", self.subkey + "!" if self.subkey else self.fingerprint,
             "--digest-algo", "SHA512", "--armor", mode, "--output", str(dest), str(src),
             input=self.passphrase + "\n")
        return dest

    def detach_sign(self, src: Path, dest: Path) -> Path:
        """``dest``: an armored detached signature of ``src`` (SHA256SUMS.asc, Release.gpg)."""
        return self._sign("--detach-sign", src, dest)

    def clearsign(self, src: Path, dest: Path) -> Path:
        """``dest``: ``src`` with its signature inline (apt's InRelease)."""
        return self._sign("--clearsign", src, dest)

    def public_key(self) -> str:
        return _gpg(self.home, "--armor", "--export-options", "export-minimal", "--export", self.fingerprint)


def _signing_subkey(colons: str, now: float) -> Subkey:
    """The newest valid signing subkey whose secret part is here."""
    usable = [k for k in subkeys(colons) if "s" in k.capabilities and k.secret and not k.revoked_or_expired
              and (k.expires is None or k.expires > now)]
    if not usable:
        raise SigningError(f"{SECRET_ENV} holds no valid signing subkey (expired, revoked or missing): "
                           f"add a new signing subkey with the offline primary key and hand CI its secret "
                           f"(docs/release.md, 'Rotating the signing subkey')")
    return max(usable, key=lambda k: k.expires or float("inf"))


@contextlib.contextmanager
def signer(secret_key: str, passphrase: str = "", *, allow_other_key: bool = False,
           expected: Optional[str] = None, now: Optional[float] = None) -> Iterator[Signer]:
    """A :class:`Signer` for the armored ``secret_key``, living as long as the ``with`` block.

    Refuses a key whose primary fingerprint is not ``expected`` (default: the committed
    :data:`KEY_FILE`'s) unless ``allow_other_key``; the signer then says ``test=True``. Signs
    with the key's newest valid signing subkey."""
    if not secret_key.strip():
        raise SigningError(f"no signing key: set {SECRET_ENV} to the armored secret release key "
                           f"(the CI secret of the signing job), or make a test release (--test-key)")
    expected = expected or project_fingerprint()
    with gnupg_home() as home:
        _gpg(home, "--import", input=secret_key)
        colons = _gpg(home, "--with-colons", "--list-secret-keys")
        fprs = _primary_fingerprints(colons, ("sec",))
        if len(fprs) != 1:
            raise SigningError(f"{SECRET_ENV} must hold exactly one secret key, not {len(fprs)}")
        fpr = fprs[0]
        if fpr != expected and not allow_other_key:
            raise SigningError(f"the signing key {fpr} is not the release key {expected} "
                               f"({KEY_FILE.relative_to(ROOT)}, pinned by install.sh): refusing to sign. "
                               f"Use the project's key, or --test-key for a test release")
        sub = _signing_subkey(colons, time.time() if now is None else now)
        yield Signer(home, fpr, passphrase, test=fpr != expected, subkey=sub.fingerprint, expires=sub.expires)


def secret_from_environment(environ=os.environ) -> str:
    """The armored secret key from :data:`SECRET_ENV`, removed from ``environ`` so that no
    process started later inherits it. The variable holds the key itself or, as GitLab's
    file-type variables do, the path of a file holding it."""
    value = environ.pop(SECRET_ENV, "").strip()
    if not value or value.startswith("-----BEGIN PGP PRIVATE KEY BLOCK-----"):
        return value
    if "\n" not in value and os.path.isfile(value):
        return Path(value).read_text(encoding="ascii")
    raise SigningError(f"{SECRET_ENV} holds neither an armored secret key (-----BEGIN PGP PRIVATE KEY BLOCK-----) "
                       f"nor the path of a file holding one")


def throwaway_secret_key(uid: str = TEST_KEY_UID, subkey_expires: str = "2y") -> str:
    """A new key shaped like the release key, without passphrase, armored secret part: an
    ed25519 primary key that only certifies and an ed25519 signing subkey expiring after
    ``subkey_expires`` (gpg's syntax: ``2y``, ``30d``, ``seconds=N``). For test releases."""
    with gnupg_home() as home:
        _gpg(home, "--passphrase", "", "--quick-gen-key", uid, "ed25519", "cert", "never")
        (fpr,) = _primary_fingerprints(_gpg(home, "--with-colons", "--list-secret-keys"), ("sec",))
        _gpg(home, "--passphrase", "", "--quick-add-key", fpr, "ed25519", "sign", subkey_expires)
        return _gpg(home, "--pinentry-mode", "loopback", "--passphrase", "", "--armor", "--export-secret-keys")


# --------------------------------------------------------------------------------------------
# the sign step


_DATE_RE = re.compile(r"^Date: .*\n", re.M)
_VALID_RE = re.compile(r"^Valid-Until: .*\n", re.M)


def stamp_release(text: str, now: float, days: int = VALID_DAYS) -> str:
    """An apt ``Release`` text with ``Date`` = ``now`` and ``Valid-Until`` = ``days`` later."""
    if not _DATE_RE.search(text):
        raise SigningError("an apt Release file without a Date field: not made by kea-runscript release")
    stamps = (f"Date: {email.utils.formatdate(now, usegmt=True)}\n"
              f"Valid-Until: {email.utils.formatdate(now + days * 86400, usegmt=True)}\n")
    return _DATE_RE.sub(lambda _m: stamps, _VALID_RE.sub("", text), count=1)


def sha256_file(path: Path) -> str:
    """Read in blocks: release files can be large, and this runs with the standard library only."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_sums(directory: Path) -> list:
    """The names ``SHA256SUMS`` lists, each checked against its file (a mismatch: refuse)."""
    names = []
    for line in (directory / "SHA256SUMS").read_text(encoding="utf-8").splitlines():
        digest, _, name = line.partition("  ")
        try:
            actual = sha256_file(directory / name)
        except OSError as e:
            raise SigningError(f"SHA256SUMS lists {name}, which cannot be read: {e}") from None
        if actual != digest:
            raise SigningError(f"{name} does not match SHA256SUMS: refusing to sign what was changed after it was made")
        names.append(name)
    return names


def sign_apt(apt: Path, s: Signer, now: float) -> list:
    """Stamp and sign every ``dists/<suite>/Release`` under ``apt``; the suites signed."""
    suites = sorted(p.parent for p in apt.glob("dists/*/Release"))
    if not suites:
        raise SigningError(f"no apt repository in {apt} (dists/<suite>/Release)")
    for dist in suites:
        release = dist / "Release"
        release.write_text(stamp_release(release.read_text(encoding="utf-8"), now), encoding="utf-8")
        s.clearsign(release, dist / "InRelease")
        s.detach_sign(release, dist / "Release.gpg")
    return [d.name for d in suites]


def sign_release(directory: Path, s: Signer, now: Optional[float] = None, apt_only: bool = False) -> None:
    """Sign a release directory made by ``kea-runscript release make`` (or, ``apt_only``, an
    apt repository) in place."""
    now = time.time() if now is None else now
    directory = Path(directory)
    if apt_only:
        sign_apt(directory, s, now)
        return
    check_sums(directory)
    if (directory / APT_DIR).is_dir():
        sign_apt(directory / APT_DIR, s, now)
    s.detach_sign(directory / "SHA256SUMS", directory / "SHA256SUMS.asc")


def _expected_key(directory: Path, test_release: bool, apt_only: bool) -> str:
    """The primary fingerprint the release must be signed by: the committed key's; for a test
    release, the key the release itself ships (and its install.sh pins)."""
    shipped = directory / KEY_NAME
    if not test_release:
        if not apt_only and shipped.read_bytes() != KEY_FILE.read_bytes():
            raise SigningError(f"{shipped} is not the committed {KEY_FILE.relative_to(ROOT)}: not signing")
        return project_fingerprint()
    return project_fingerprint(shipped)


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python3 -S -m kea_runscript.release.signing",
                                description="sign a release directory (or an apt repository) with gpg alone")
    p.add_argument("directory", type=Path)
    p.add_argument("--apt-only", action="store_true", help="re-stamp and re-sign an apt repository only")
    p.add_argument("--test-release", action="store_true",
                   help="sign with the key the release ships (a test release made with --test-key)")
    args = p.parse_args(argv)
    try:
        secret = secret_from_environment()
        passphrase = os.environ.pop(PASSPHRASE_ENV, "")
        expected = _expected_key(args.directory, args.test_release, args.apt_only)
        with signer(secret, passphrase, expected=expected) as s:
            sign_release(args.directory, s, apt_only=args.apt_only)
            _warn_expiry(s)
    except (SigningError, OSError) as e:
        print(f"sign: {e}", file=sys.stderr)
        return 1
    print(f"signed {args.directory} with subkey {s.subkey} of {s.fingerprint}")
    return 0


def _warn_expiry(s: Signer) -> None:
    if s.expires is not None and s.expires - time.time() < EXPIRY_WARNING_DAYS * 86400:
        when = time.strftime("%Y-%m-%d", time.gmtime(s.expires))
        print(f"sign: WARNING: the signing subkey {s.subkey} expires on {when}: add its "
              f"successor now (docs/release.md, 'Rotating the signing subkey')", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
