"""Release: turn built cells (``dist/<id>/``) into files downstream users can trust.

Two steps, in two CI jobs, so that the signing key meets no code but gpg and ours:

1. **make** (:mod:`.make`, no key): ``dist/release/<version>/`` with every artifact (per cell a
   reproducible tarball and, for Debian-family cells, a ``.deb``; the source tarball; the
   toolkit's sdist and wheel; ``install.sh``; the keyring package; ``manifest.json``;
   ``SHA256SUMS``) and the apt repository (:mod:`.apt`), unsigned. Names come from
   :mod:`.naming`, archives from :mod:`.archives`.
2. **sign** (:mod:`.signing`, run as ``python3 -S -m kea_runscript.release.signing DIR``: the
   standard library and gpg only): ``SHA256SUMS.asc`` and the apt ``InRelease``/``Release.gpg``.

:mod:`.github` uploads a signed release directory to a GitHub release.

Importing this package imports nothing else, so that the sign step runs without the
toolkit's dependencies; every public name of its modules is reachable from it all the same
(``release.artifact_name``), loaded on first use.
"""

import importlib

#: Where the package's public names live, searched in this order.
_MODULES = ("make", "naming", "archives", "apt", "github", "signing")


def __getattr__(name: str):
    if name.startswith("__"):
        raise AttributeError(name)
    for module in _MODULES:
        m = importlib.import_module(f"{__name__}.{module}")
        if name == module:
            return m
        if hasattr(m, name):
            return getattr(m, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
