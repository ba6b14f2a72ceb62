"""Release names and versions: the one place artifact, package and archive names are spelled
(:func:`artifact_name` and its inverse), the Debian versions and dependencies of the packages,
the release version."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Optional

from .. import PACKAGE, ROOT
from ..errors import ToolkitError
from ..model.matrix import Cell, cell_id, parse_id
from .github import is_prerelease  # noqa: F401  (one definition: the publish job has no yaml)

#: Library package holding libkea-*.so of a Kea package source (the hook links against it).
KEA_LIB_PACKAGE = {"debian": "kea-common", "isc-repo": "isc-kea-common"}


class ReleaseError(ToolkitError, RuntimeError):
    """The release cannot be made; the message says why and what to do."""


# --------------------------------------------------------------------------------------------
# names: the one place artifact names are spelled


def artifact_name(hook_version: str, kea: str, distro: str, release: str, arch: str,
                  kind: str = "tar.gz") -> str:
    """``kea-hook-runscript-2.0.0-kea2.6.3-debian13-amd64.tar.gz`` (kind ``tar.gz`` or ``deb``).

    The part after the hook version is the cell id: install.sh takes exactly
    ``kea-hook-runscript-<its release version>-<cell id>.tar.gz``."""
    if kind not in ("tar.gz", "deb"):
        raise ValueError(f"unknown artifact kind {kind!r} (tar.gz or deb)")
    return f"{PACKAGE}-{hook_version}-{cell_id(kea, distro, release, arch)}.{kind}"


def cell_artifact_name(hook_version: str, cell: Cell, kind: str = "tar.gz") -> str:
    return artifact_name(hook_version, cell.kea, cell.os.distro, cell.os.release, cell.arch, kind)


def source_name(hook_version: str) -> str:
    return f"{PACKAGE}-{hook_version}-src.tar.gz"


def parse_artifact_name(name: str) -> dict:
    """Inverse of :func:`artifact_name`: ``{"hook_version", "cell_id", "kind"}``. The cell id is
    the name's last three ``-`` fields, as :func:`matrix.parse_id` reads it."""
    prefix = f"{PACKAGE}-"
    kind = next((k for k in ("tar.gz", "deb") if name.endswith(f".{k}")), None)
    parts = name[len(prefix):-len(kind) - 1].rsplit("-", 3) if kind and name.startswith(prefix) else []
    if len(parts) != 4 or not parts[0]:
        raise ValueError(f"{name!r} is not a {PACKAGE} binary artifact name")
    cell = "-".join(parts[1:])
    try:
        parse_id(cell)
    except ValueError as e:
        raise ValueError(f"{name!r} is not a {PACKAGE} binary artifact name: {e}") from None
    return {"hook_version": parts[0], "cell_id": cell, "kind": kind}


def deb_version(hook_version: str, cell: Cell) -> str:
    """Debian version of the cell's package, e.g. ``2.0.0+kea2.6.3+debian13``.

    A ``-`` in the hook version (``2.0.0-rc1``) becomes ``~`` so a pre-release sorts first."""
    return f"{hook_version.replace('-', '~')}+kea{cell.kea}+{cell.os.distro}{cell.os.release}"


def kea_version_range(kea: str, kea_package_version: str) -> tuple:
    """``(lowest, bound)``: Debian versions of the Kea packages carrying upstream ``kea``.

    A hook is bound to an upstream Kea release, not to its Debian revision: a security update
    ``2.6.3-1+deb13u1`` -> ``2.6.3-1+deb13u2`` keeps the ABI and must keep the hook. Satisfied
    exactly by ``lowest <= v < bound``: ``2.6.3 <= v`` takes every revision and repack
    (``2.6.3-1``, ``2.6.3+dfsg-1``) but no pre-release (``2.6.3~rc1``); ``v < 2.6.3.~`` stops
    at the next upstream (``2.6.4``, ``2.6.3.1``) because ``+`` and ``-`` sort before ``.`` and
    ``.`` followed by anything sorts after ``.~``. The epoch of the package built against is
    kept: with ``1:`` any epoch-0 bound would be meaningless."""
    v = kea_package_version
    epoch = v.split(":", 1)[0] + ":" if ":" in v else ""
    return f"{epoch}{kea}", f"{epoch}{kea}.~"


def deb_depends(cell: Cell, kea_package_version: str) -> str:
    """The upstream Kea the hook was built against (its libraries, any Debian revision of them)
    and one of its servers. The servers depend on their exact ``kea-common``, so pinning
    ``kea-common`` pins theirs."""
    low, bound = kea_version_range(cell.kea, kea_package_version)
    libs = KEA_LIB_PACKAGE.get(cell.source)
    parts = [f"{libs} (>= {low}), {libs} (<< {bound})"] if libs else []
    if cell.server_packages:
        parts.append(" | ".join(cell.server_packages))
    return ", ".join(parts)


def upstream_version(debian_version: str) -> str:
    """``1:2.6.3-1+deb13u1`` -> ``2.6.3`` (epoch and Debian revision dropped)."""
    v = debian_version.split(":", 1)[-1]
    return v.rsplit("-", 1)[0] if "-" in v else v


def is_debian_family(cell: Cell) -> bool:
    return cell.os.distro in ("debian", "ubuntu") and cell.source in KEA_LIB_PACKAGE


def apt_archive_name(hook_version: str) -> str:
    return f"{PACKAGE}-{hook_version}-apt.tar.gz"


def pool_name(version: str, cell: Cell) -> str:
    """Debian's own file name, ``<package>_<version>_<arch>.deb``: apt-ftparchive --arch goes by it."""
    return f"{PACKAGE}_{deb_version(version, cell)}_{cell.arch}.deb"


# --------------------------------------------------------------------------------------------
# versions


def release_version(explicit: Optional[str] = None, root: Path = ROOT) -> str:
    """``--version`` if given, else the tag on HEAD (``v2.0.0`` -> ``2.0.0``)."""
    if explicit and explicit.strip():
        v = explicit.strip()
    else:
        try:
            tag = subprocess.run(["git", "-C", str(root), "describe", "--tags", "--exact-match", "HEAD"],
                                 capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            raise ReleaseError("HEAD carries no git tag: tag the release (git tag v2.0.0) or pass "
                               "--version X.Y.Z") from None
        v = tag[1:] if tag.startswith("v") else tag
    v = v[1:] if v.startswith("v") else v
    if not re.match(r"^\d+\.\d+\.\d+([-+~][0-9A-Za-z.]+)?$", v):
        raise ReleaseError(f"release version {v!r} is not X.Y.Z[-pre] (e.g. 2.0.0 or 2.0.0-rc1)")
    return v


def check_version_matches(version: str, hook_version: str) -> None:
    if version != hook_version and not any(version.startswith(hook_version + s) for s in "-+~"):
        raise ReleaseError(f"release version {version} does not match the hook version {hook_version} "
                           f"the cells were built with (kea_runscript.HOOK_VERSION); bump one of them")

