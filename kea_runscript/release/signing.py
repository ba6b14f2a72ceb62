"""OpenPGP signatures of a release, made with gpg in a throwaway GNUPGHOME.

The release key's secret part is never in the repository nor in anybody's ``~/.gnupg``: CI
hands it over armored in the environment (:data:`SECRET_ENV`, a CI secret), :func:`signer`
imports it into a temporary GNUPGHOME (mode 0700) and deletes that directory, gpg-agent
included, when the release is written. The public key is committed as :data:`KEY_FILE`, and
:func:`signer` refuses to sign with any other key unless the caller asks for a test release
(the tests sign with a key made by :func:`throwaway_secret_key`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

from .. import ROOT
from ..errors import ToolkitError

KEY_NAME = "kea-hook-runscript.asc"
#: The release key's public part, committed; install.sh pins its fingerprint.
KEY_FILE = ROOT / "keys" / KEY_NAME
SECRET_ENV = "KEA_RUNSCRIPT_SIGNING_KEY"
PASSPHRASE_ENV = "KEA_RUNSCRIPT_SIGNING_PASSPHRASE"
TEST_KEY_UID = "kea-hook-runscript TEST release key, throwaway <test@example.invalid>"


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

    def _sign(self, mode: str, src: Path, dest: Path) -> Path:
        _gpg(self.home, "--yes", "--pinentry-mode", "loopback", "--passphrase-fd", "0",
             "--local-user", self.fingerprint, "--digest-algo", "SHA512", "--armor", mode,
             "--output", str(dest), str(src), input=self.passphrase + "\n")
        return dest

    def detach_sign(self, src: Path, dest: Path) -> Path:
        """``dest``: an armored detached signature of ``src`` (SHA256SUMS.asc, Release.gpg)."""
        return self._sign("--detach-sign", src, dest)

    def clearsign(self, src: Path, dest: Path) -> Path:
        """``dest``: ``src`` with its signature inline (apt's InRelease)."""
        return self._sign("--clearsign", src, dest)

    def public_key(self) -> str:
        return _gpg(self.home, "--armor", "--export-options", "export-minimal", "--export", self.fingerprint)


@contextlib.contextmanager
def signer(secret_key: str, passphrase: str = "", *, allow_other_key: bool = False,
           expected: Optional[str] = None) -> Iterator[Signer]:
    """A :class:`Signer` for the armored ``secret_key``, living as long as the ``with`` block.

    Refuses a key whose fingerprint is not ``expected`` (default: the committed
    :data:`KEY_FILE`'s) unless ``allow_other_key``; the signer then says ``test=True``."""
    if not secret_key.strip():
        raise SigningError(f"no signing key: set {SECRET_ENV} to the armored secret release key "
                           f"(the CI secret), or make a test release (--test-key)")
    expected = expected or project_fingerprint()
    with gnupg_home() as home:
        _gpg(home, "--import", input=secret_key)
        fprs = _primary_fingerprints(_gpg(home, "--with-colons", "--list-secret-keys"), ("sec",))
        if len(fprs) != 1:
            raise SigningError(f"{SECRET_ENV} must hold exactly one secret key, not {len(fprs)}")
        fpr = fprs[0]
        if fpr != expected and not allow_other_key:
            raise SigningError(f"the signing key {fpr} is not the release key {expected} "
                               f"({KEY_FILE.relative_to(ROOT)}, pinned by install.sh): refusing to sign. "
                               f"Use the project's key, or --test-key for a test release")
        yield Signer(home, fpr, passphrase, test=fpr != expected)


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


def throwaway_secret_key(uid: str = TEST_KEY_UID) -> str:
    """A new ed25519 signing key without passphrase, armored secret part: for test releases."""
    with gnupg_home() as home:
        _gpg(home, "--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign", "never")
        return _gpg(home, "--pinentry-mode", "loopback", "--passphrase", "", "--armor", "--export-secret-keys")
