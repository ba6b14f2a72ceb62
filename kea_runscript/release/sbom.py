"""The SPDX 2.3 SBOM of a cell's ``.so`` (``<artifact>.spdx.json`` in its tarball): what it was
built from and what it links, made from build-info.json and the builder's package list
(:mod:`kea_runscript.builder.inventory` records both at build time).

* the hook: name, version, the ``.so``'s sha256, MPL-2.0, built from the toolkit's git commit
  (``GENERATED_FROM`` a source package carrying the commit as a gitoid);
* ``DYNAMIC_LINK``: the hook to the package of each library it links (``NEEDED``), at its
  version in the builder, with a purl (``pkg:deb/<distro>/<name>@<version>?arch=<arch>``);
  the sonames it provides in the relationship's comment;
* ``BUILD_TOOL_OF`` the hook: the compiler (its real package and the ``g++`` driver's),
  ``make``; ``BUILD_DEPENDENCY_OF`` the hook: ``kea-dev`` (Kea's headers), the Boost headers'
  package and ``libboost-dev``.

Deterministic: ``created`` is the release's SOURCE_DATE_EPOCH, the namespace a digest of
the content, packages and relationships sorted, keys sorted. What is not known is said so
(``NOASSERTION``), never guessed.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import urllib.parse
from typing import Dict, List, Tuple

from .. import HOOK_VERSION
from ..builder.hook import LIBRARY
from ..builder.inventory import PACKAGES_FILE, package_versions
from ..model.matrix import Cell
from .naming import PACKAGE, ReleaseError, cell_artifact_name

HOOK_ID = "SPDXRef-Package-kea-hook-runscript"
SOURCE_ID = "SPDXRef-Package-kea-hook-runscript-source"
NOASSERTION = "NOASSERTION"
#: The namespace only has to be a unique URI (SPDX 2.3 section 6.5); the project has no
#: domain of its own, so it takes the form of the specification's examples.
NAMESPACE_BASE = "https://spdx.org/spdxdocs/"
#: Who supplies the packages of a distribution's archive.
DISTRO_SUPPLIERS = {"debian": "Organization: Debian", "ubuntu": "Organization: Ubuntu"}
ISC = "Organization: Internet Systems Consortium"
#: build-info's build input roles (inventory.parse_inventory) and how each relates to the hook.
ROLE_RELATIONSHIPS = {"compiler": "BUILD_TOOL_OF", "compiler-driver": "BUILD_TOOL_OF", "make": "BUILD_TOOL_OF",
                      "kea-headers": "BUILD_DEPENDENCY_OF", "boost-headers": "BUILD_DEPENDENCY_OF",
                      "boost": "BUILD_DEPENDENCY_OF"}


def sbom_name(version: str, cell: Cell) -> str:
    """``kea-hook-runscript-<ver>-<cell id>.spdx.json``: the tarball's name, as an SBOM."""
    return cell_artifact_name(version, cell)[: -len(".tar.gz")] + ".spdx.json"


def sbom_member(version: str, cell: Cell) -> str:
    """Where the SBOM is in the cell's tarball (as manifest.json names it)."""
    return f"{cell_artifact_name(version, cell)[: -len('.tar.gz')]}/{sbom_name(version, cell)}"


def spdx_date(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def agent(maintainer: str) -> str:
    """``Name <email>`` as an SPDX organization: ``Organization: Name (email)``."""
    name, _, email = maintainer.partition("<")
    return f"Organization: {name.strip()} ({email.rstrip('> ')})" if email else f"Organization: {name.strip()}"


def purl(distro: str, name: str, version: str, arch: str) -> str:
    """A Debian package's purl; ':' (an epoch) stays as it is, '+' is percent-encoded."""
    q = lambda s: urllib.parse.quote(s, safe=":")  # noqa: E731
    return f"pkg:deb/{distro}/{q(name)}@{q(version)}?arch={q(arch)}"


def _spdx_id(kind: str, *parts: str) -> str:
    """An SPDXID (letters, digits, '.', '-'): Debian names are lower case, so '+' -> 'P' is
    unambiguous; anything else not allowed becomes '-'."""
    text = "-".join(p for p in parts if p).replace("+", "P")
    return f"SPDXRef-{kind}-" + re.sub(r"[^A-Za-z0-9.-]", "-", text)


# --------------------------------------------------------------------------------------------
# the document


def document(info: dict, packages_text: str, *, name: str, version: str, created: int,
             maintainer: str) -> dict:
    """The SBOM of the build ``info`` (build-info.json) whose builder had ``packages_text``
    (builder-packages.txt); ``name``: the document's (the artifact's), ``created``: the
    release's SOURCE_DATE_EPOCH, ``maintainer``: ``Name <email>``, the hook's supplier."""
    versions = package_versions(packages_text)
    packages = {HOOK_ID: _hook_package(info, version, maintainer), SOURCE_ID: _source_package(info)}
    links: Dict[Tuple[str, str, str], List[str]] = {}  # (A, type, B) -> what it is about

    def relate(a: str, kind: str, b: str, why: str) -> None:
        links.setdefault((a, kind, b), []).append(why)

    relate("SPDXRef-DOCUMENT", "DESCRIBES", HOOK_ID, "")
    relate(HOOK_ID, "GENERATED_FROM", SOURCE_ID, "")
    for lib in info["linked_libraries"]:
        pid = _add_package(packages, info, versions, lib, lib["soname"])
        relate(HOOK_ID, "DYNAMIC_LINK", pid, lib["soname"])
    for item in info["build_inputs"]:
        pid = _add_package(packages, info, versions, item, item["path"].rsplit("/", 1)[-1] or item["role"])
        where = f": {item['path']}" if item["path"] else ""
        relate(pid, ROLE_RELATIONSHIPS.get(item["role"], "OTHER"), HOOK_ID, item["role"] + where)
    doc = {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": name,
        "creationInfo": {
            "created": spdx_date(created),
            "creators": [f"Tool: kea-runscript-{HOOK_VERSION}", agent(maintainer)],
            "comment": f"Made from the build's build-info.json and the builder's package list "
                       f"({PACKAGES_FILE}, sha256 {info.get('builder_packages', {}).get('sha256', '?')}).",
        },
        "packages": [packages[k] for k in sorted(packages, key=lambda k: (k != HOOK_ID, k))],
        "relationships": [_relationship(a, kind, b, whys) for (a, kind, b), whys in sorted(links.items())],
    }
    digest = hashlib.sha256(to_json(doc)).hexdigest()
    doc["documentNamespace"] = f"{NAMESPACE_BASE}{name}-{digest}"
    return doc


def to_json(doc: dict) -> bytes:
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()


def _relationship(a: str, kind: str, b: str, whys: List[str]) -> dict:
    rel = {"spdxElementId": a, "relationshipType": kind, "relatedSpdxElement": b}
    comment = ", ".join(w for w in dict.fromkeys(whys) if w)
    return {**rel, "comment": comment} if comment else rel


def _hook_package(info: dict, version: str, maintainer: str) -> dict:
    os_ = info["os"]
    hooks = info.get("kea_hooks_version")
    return {
        "SPDXID": HOOK_ID,
        "name": PACKAGE,
        "versionInfo": version,
        "packageFileName": LIBRARY,
        "checksums": [{"algorithm": "SHA256", "checksumValue": info["sha256"]}],
        "downloadLocation": NOASSERTION,
        "filesAnalyzed": False,
        "primaryPackagePurpose": "LIBRARY",
        "supplier": agent(maintainer),
        "originator": agent(maintainer),
        "licenseDeclared": "MPL-2.0",
        "licenseConcluded": NOASSERTION,
        "copyrightText": NOASSERTION,
        "builtDate": spdx_date(int(info.get("source_date_epoch") or 0)),
        "comment": f"Kea hook library for Kea {info['kea_version']}"
                   f"{f' (KEA_HOOKS_VERSION {hooks})' if hooks else ''}, {os_['distro']} {os_['release']} "
                   f"{info['arch']}; cell {info['id']}.",
        "sourceInfo": f"built by the project's toolkit at git commit {info.get('git_commit', 'unknown')}"
                      f"{' (with uncommitted changes)' if info.get('git_dirty') else ''}, rendered sources "
                      f"sha256 {info.get('source_sha256', '?')}, in builder image "
                      f"{info.get('builder_image', {}).get('id', '?')} with {info.get('compiler', '?')}",
    }


def _source_package(info: dict) -> dict:
    commit = info.get("git_commit", "")
    pkg = {"SPDXID": SOURCE_ID, "name": f"{PACKAGE}-source", "versionInfo": commit or "unknown",
           "downloadLocation": NOASSERTION, "filesAnalyzed": False, "primaryPackagePurpose": "SOURCE",
           "comment": "The kea-hook-runscript repository at this git commit: the toolkit that rendered "
                      "the hook's C++ for this Kea version and built it."}
    if re.fullmatch(r"[0-9a-f]{40}", commit):
        pkg["externalRefs"] = [{"referenceCategory": "PERSISTENT-ID", "referenceType": "gitoid",
                                "referenceLocator": f"gitoid:commit:sha1:{commit}"}]
    return pkg


def _add_package(packages: dict, info: dict, versions: dict, entry: dict, fallback_name: str) -> str:
    """The SPDXID of the package that ``entry`` (a linked library or build input of
    build-info) comes from, added to ``packages`` once."""
    name, arch = entry["package"], entry["architecture"]
    if not name:  # a file no package owns (a Kea built from source): known by its path only
        pid = _spdx_id("File", fallback_name)
        packages.setdefault(pid, {"SPDXID": pid, "name": fallback_name, "downloadLocation": NOASSERTION,
                                  "filesAnalyzed": False,
                                  "comment": f"not installed by a package in the builder: {entry['path'] or 'not found'}"})
        return pid
    if (name, arch) not in versions:
        raise ReleaseError(f"{info['id']}: {name}:{arch} (for {fallback_name}) is not in the builder's "
                           f"{PACKAGES_FILE}; rebuild the cell (nox -s build)")
    pid = _spdx_id("deb", name, arch)
    packages.setdefault(pid, _deb_package(pid, info, name, versions[(name, arch)], arch))
    return pid


def _deb_package(pid: str, info: dict, name: str, version: str, arch: str) -> dict:
    distro = info["os"]["distro"]
    pkg = {"SPDXID": pid, "name": name, "versionInfo": version, "downloadLocation": NOASSERTION,
           "filesAnalyzed": False, "supplier": _supplier(info, name),
           "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                             "referenceLocator": purl(distro, name, version, arch)}],
           "comment": f"{distro} package installed in the builder ({arch})"}
    if name.startswith(("kea-", "libkea", "isc-kea")):
        pkg["originator"] = ISC
    return pkg


def _supplier(info: dict, name: str) -> str:
    """ISC supplies its own repository's Kea packages; the distribution the rest."""
    if info.get("kea_source") == "isc-repo" and name.startswith("isc-kea"):
        return ISC
    return DISTRO_SUPPLIERS.get(info["os"]["distro"], NOASSERTION)


def sbom_bytes(info: dict, packages_text: str, *, version: str, cell: Cell, created: int,
               maintainer: str) -> bytes:
    """The SBOM file of a cell's tarball."""
    name = sbom_name(version, cell)[: -len(".spdx.json")]
    return to_json(document(info, packages_text, name=name, version=version, created=created,
                            maintainer=maintainer))
