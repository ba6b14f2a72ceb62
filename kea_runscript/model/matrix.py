"""The build matrix: ``matrix.yaml`` parsed and validated into frozen dataclasses.

A *cell* is one Kea version on one OS image and architecture. Its id is computed by
:func:`cell_id` from the fields and parsed back by :func:`parse_id`; nothing else spells ids.
Errors are one line naming the file and line (``matrix.yaml:12: ...``) and suggest the key that
was meant. Every name that reaches a path (``build/<id>/``), a Dockerfile ``RUN`` line or a CI
file is checked against a strict pattern here, so nothing downstream has to quote it.
"""

from __future__ import annotations

import difflib
import fnmatch
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional

import yaml

from .. import ROOT
from . import facts
from ..errors import UsageError

#: Environment variable naming another matrix file (for the CLI's --matrix default and nox).
MATRIX_ENV = "KEA_RUNSCRIPT_MATRIX"
MATRIX_PATH = Path(os.environ.get(MATRIX_ENV) or ROOT / "matrix.yaml")

DISTROS = ("debian", "ubuntu")
SOURCES = ("debian", "isc-repo", "source")
STATUSES = ("verified", "declared")
#: Where a verified cell's tests run: `ci` every test in CI; `arches` only its build and load
#: check in CI, the rest in `nox -s arches` (tests/conftest.py; docs/testing.md's coverage).
TIERS = ("ci", "arches")
#: Debian architecture -> multiarch triplet (library directory under /usr/lib).
MULTIARCH = {"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu",
             "armhf": "arm-linux-gnueabihf", "armel": "arm-linux-gnueabi", "i386": "i386-linux-gnu",
             "ppc64el": "powerpc64le-linux-gnu", "s390x": "s390x-linux-gnu",
             "riscv64": "riscv64-linux-gnu"}
#: Debian architecture -> GNU type of its cross compilers (i686-linux-gnu-g++), where it is
#: not the multiarch triplet.
GNU_TYPE = {"i386": "i686-linux-gnu"}
#: Kernel machine name (uname -m, Docker's "Architecture") -> Debian architecture.
MACHINE_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "i686": "i386", "armv7l": "armhf",
                "riscv64": "riscv64", "ppc64le": "ppc64el"}
def multiarch(arch: str) -> str:
    """The multiarch triplet of a Debian architecture (``arm-linux-gnueabihf`` for armhf)."""
    return MULTIARCH.get(arch, f"{arch}-linux-gnu")


def gnu_type(arch: str) -> str:
    """The GNU type of a Debian architecture's cross compilers (``i686-linux-gnu`` for i386)."""
    return GNU_TYPE.get(arch, multiarch(arch))


#: Machine architecture -> the other architectures its kernel runs without emulation (an
#: x86_64 kernel runs i386 binaries); every other foreign cell runs under qemu-user.
RUNS_NATIVELY = {"amd64": ("i386",)}

_VERSION_RE = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
# Debian policy 5.6.1 for package names; suites as the archives name them (trixie-backports).
_PACKAGE_RE = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
_SUITE_RE = re.compile(r"^[a-z0-9][a-z0-9.-]*$")
_RELEASE_RE = re.compile(r"^(?:[0-9]+(?:\.[0-9]+)*|[a-z]+)$")
_ARCH_RE = re.compile(r"^[a-z0-9]+$")
_MIRROR_RE = re.compile(r"^https?://[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]+)?"
                        r"(?:/[A-Za-z0-9._~%+/-]*)?$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_ID_RE = re.compile(
    r"^kea(?P<kea>\d+\.\d+\.\d+)-(?P<distro>%s)(?P<release>\d+(?:\.\d+)*|[a-z]+)-(?P<arch>[a-z0-9_]+)$"
    % "|".join(DISTROS)
)

_TOP_KEYS = ("os", "sources", "cells")
_OS_KEYS = ("distro", "release", "suite", "mirror")
_SOURCE_KEYS = ("dev", "servers")
_CELL_KEYS = ("kea", "os", "source", "arch", "status", "tier", "backports", "apt_ignore_valid_until",
              "packages", "note")
_CELL_REQUIRED = ("kea", "os", "source", "status")


class MatrixError(UsageError, ValueError):
    """matrix.yaml is invalid or unreadable; the message is one line starting with ``file:line:``
    (``file:`` alone when the file cannot be read)."""


# --------------------------------------------------------------------------------------------
# ids


def cell_id(kea: str, distro: str, release: str, arch: str) -> str:
    """The one spelling of a cell id: ``kea2.6.3-debian13-amd64``."""
    return f"kea{kea}-{distro}{release}-{arch}"


def parse_id(text: str) -> dict:
    """Inverse of :func:`cell_id`: ``{"kea", "distro", "release", "arch"}``."""
    m = _ID_RE.match(text)
    if not m:
        raise ValueError(
            f"{text!r} is not a cell id (expected kea<X.Y.Z>-<distro><release>-<arch>, "
            f"e.g. kea2.6.3-debian13-amd64)"
        )
    return m.groupdict()


def series(version: str) -> str:
    """``"2.6.3"`` -> ``"2.6"``."""
    return ".".join(version.split(".")[:2])


# --------------------------------------------------------------------------------------------
# data


@dataclass(frozen=True)
class OS:
    key: str
    distro: str
    release: str
    suite: str
    mirror: str = ""

    @property
    def default_mirror(self) -> str:
        if self.mirror:
            return self.mirror
        return "http://archive.ubuntu.com/ubuntu" if self.distro == "ubuntu" else "http://deb.debian.org/debian"


@dataclass(frozen=True)
class Cell:
    kea: str
    os: OS
    source: str
    arch: str
    status: str
    dev_package: str = ""
    server_packages: tuple = ()
    apt_ignore_valid_until: bool = False
    backports: bool = False
    note: str = ""
    line: int = 0
    tier: str = "ci"

    @property
    def id(self) -> str:
        return cell_id(self.kea, self.os.distro, self.os.release, self.arch)

    @property
    def series(self) -> str:
        return series(self.kea)

    @property
    def version_tuple(self) -> tuple:
        return tuple(int(p) for p in self.kea.split("."))

    @property
    def verified(self) -> bool:
        return self.status == "verified"

    @property
    def multiarch(self) -> str:
        return multiarch(self.arch)

    @property
    def apt_suite(self) -> str:
        """The archive suite Kea's packages come from: the OS's own, or its backports."""
        return f"{self.os.suite}-backports" if self.backports else self.os.suite

    @property
    def gnu_type(self) -> str:
        return gnu_type(self.arch)

    def emulated(self, host_arch: str) -> bool:
        """True when the cell's Kea runs under qemu-user on a ``host_arch`` machine (a foreign
        cell the machine's kernel cannot run natively)."""
        return self.foreign(host_arch) and self.arch not in RUNS_NATIVELY.get(host_arch, ())

    def foreign(self, host_arch: str) -> bool:
        """True when the cell's Kea is of another architecture than the machine building it:
        its images are the host's OS with the cell's architecture added (dpkg multiarch), the
        hook is cross-compiled and the cell's Kea runs under emulation (qemu-user, binfmt_misc)
        unless the machine's kernel runs it (:meth:`emulated`)."""
        return self.arch != host_arch

    def package(self, name: str, host_arch: str) -> str:
        """Package ``name`` of the cell's architecture, as apt-get install takes it."""
        return f"{name}:{self.arch}" if self.foreign(host_arch) else name

    def tool(self, name: str, host_arch: str) -> str:
        """A compiler tool for the cell's architecture: ``g++`` or ``aarch64-linux-gnu-g++``."""
        return f"{self.gnu_type}-{name}" if self.foreign(host_arch) else name

    @property
    def prefix(self) -> str:
        """Install prefix of Kea in the cell's image."""
        return "/usr/local" if self.source == "source" else "/usr"

    @property
    def kea_include(self) -> str:
        return f"{self.prefix}/include/kea"

    @property
    def kea_lib(self) -> str:
        if self.source == "source":
            return f"{self.prefix}/lib"
        return f"/usr/lib/{self.multiarch}"

    @property
    def hooks_dir(self) -> str:
        """Where the cell's Kea looks for hook libraries (2.6.3+ and 3.0 load only from there)."""
        return f"{self.kea_lib}/kea/hooks"

    @property
    def isc_repo(self) -> str:
        """Cloudsmith repository name of the series, e.g. ``kea-2-6``."""
        return "kea-" + self.series.replace(".", "-")

    def why_not_buildable_here(self) -> str:
        """Reason a declared cell cannot run on this project's machines ('' if verified)."""
        if self.verified:
            return ""
        if self.source == "isc-repo":
            need = (f"ISC's package repository (cloudsmith, isc/{self.isc_repo}), "
                    "which this machine cannot reach")
        elif self.source == "source":
            need = (f"ISC's source tarball (downloads.isc.org/isc/kea/{self.kea}/), "
                    "which this machine cannot reach")
        else:
            need = f"the {self.os.distro} {self.os.suite} archive, which is not verified here"
        if self.os.distro != "debian":
            need += f", and a {self.os.distro}:{self.os.release} base image (no registry or "\
                    f"{self.os.distro} archive is reachable)"
        return f"it needs {need}"


@dataclass(frozen=True)
class Matrix:
    cells: tuple
    path: Path = MATRIX_PATH

    def by_id(self, ident: str) -> Cell:
        for c in self.cells:
            if c.id == ident:
                return c
        raise KeyError(ident)

    @property
    def verified(self) -> tuple:
        return tuple(c for c in self.cells if c.verified)

    @property
    def series(self) -> list:
        """Kea series present in the matrix, in version order (``["1.1", ..., "3.0"]``)."""
        seen = sorted({c.version_tuple[:2] for c in self.cells})
        return [f"{a}.{b}" for a, b in seen]

    def in_series(self, s: str) -> tuple:
        return tuple(c for c in self.cells if c.series == s)

    def select(self, patterns: Optional[Iterable[str]] = None, *, series: Optional[str] = None,
               verified_only: bool = False) -> tuple:
        """Cells matching any glob in ``patterns`` (all if none), optionally narrowed."""
        cells = self.cells
        if series:
            cells = tuple(c for c in cells if c.series == series)
        if verified_only:
            cells = tuple(c for c in cells if c.verified)
        pats = [p for p in (patterns or []) if p]
        if pats:
            cells = tuple(c for c in cells if any(fnmatch.fnmatchcase(c.id, p) for p in pats))
        return cells


# --------------------------------------------------------------------------------------------
# YAML with line numbers


class _Map(dict):
    """A YAML mapping remembering the line of itself and of each key (1-based)."""

    line = 0
    key_lines: dict


class _Seq(list):
    """A YAML sequence remembering the line of each item (1-based)."""

    item_lines: list


def _convert(node: yaml.Node, where: str) -> Any:
    if isinstance(node, yaml.MappingNode):
        out = _Map()
        out.line = node.start_mark.line + 1
        out.key_lines = {}
        for knode, vnode in node.value:
            key = _convert(knode, where)
            kline = knode.start_mark.line + 1
            if not isinstance(key, str):
                raise MatrixError(f"{where}:{kline}: keys must be strings, got {key!r}")
            if key in out:
                raise MatrixError(f"{where}:{kline}: duplicate key {key!r} "
                                  f"(first at line {out.key_lines[key]})")
            out[key] = _convert(vnode, where)
            out.key_lines[key] = kline
        return out
    if isinstance(node, yaml.SequenceNode):
        out = _Seq(_convert(n, where) for n in node.value)
        out.item_lines = [n.start_mark.line + 1 for n in node.value]
        return out
    # Scalars stay as the text written (so 20.04 is "20.04", not a float), except booleans/null.
    if node.tag == "tag:yaml.org,2002:bool":
        return node.value.lower() in ("true", "yes", "on")
    if node.tag == "tag:yaml.org,2002:null":
        return None
    return node.value


def load_yaml(text: str, where: str) -> Any:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark else 0
        problem = " ".join(str(getattr(e, "problem", None) or e).split())
        raise MatrixError(f"{where}:{line}: invalid YAML: {problem}") from None
    return _convert(node, where) if node is not None else None


def _check_keys(m: _Map, allowed: tuple, what: str, where: str) -> None:
    for key in m:
        if key not in allowed:
            hint = difflib.get_close_matches(key, allowed, n=1)
            dym = f"; did you mean {hint[0]!r}?" if hint else f" (known keys: {', '.join(allowed)})"
            raise MatrixError(f"{where}:{m.key_lines[key]}: unknown key {key!r} in {what}{dym}")


def _need_map(v: Any, what: str, where: str, line: int) -> _Map:
    if not isinstance(v, _Map):
        raise MatrixError(f"{where}:{line}: {what} must be a mapping")
    return v


def _str(m: _Map, key: str, where: str, what: str) -> str:
    v = m[key]
    if not isinstance(v, str) or not v:
        raise MatrixError(f"{where}:{m.key_lines[key]}: {what}: {key} must be a non-empty string")
    return v


def _choice(m: _Map, key: str, choices: tuple, where: str, what: str) -> str:
    v = _str(m, key, where, what)
    if v not in choices:
        hint = difflib.get_close_matches(v, choices, n=1)
        dym = f"; did you mean {hint[0]!r}?" if hint else ""
        raise MatrixError(f"{where}:{m.key_lines[key]}: {what}: {key} {v!r} is not one of "
                          f"{', '.join(choices)}{dym}")
    return v


def _pattern(m: _Map, key: str, pattern: re.Pattern, where: str, what: str, expected: str) -> str:
    v = _str(m, key, where, what)
    if not pattern.fullmatch(v):
        raise MatrixError(f"{where}:{m.key_lines[key]}: {what}: {key} {v!r} is not {expected}")
    return v


_PACKAGE_RULE = ("a Debian package name (lower-case letters, digits, '+', '-' and '.', "
                 "at least two characters, the first a letter or digit)")


def _package(v: Any, where: str, line: int, what: str) -> str:
    if not isinstance(v, str):
        raise MatrixError(f"{where}:{line}: {what} must be a package name, not {v!r}")
    if not _PACKAGE_RE.fullmatch(v):
        raise MatrixError(f"{where}:{line}: {what}: {v!r} is not {_PACKAGE_RULE}")
    return v


def _packages(spec: _Map, where: str, what: str) -> dict:
    """The ``dev`` and ``servers`` keys of ``spec`` that are present, checked."""
    out = {}
    if "dev" in spec:
        dev, line = spec["dev"], spec.key_lines["dev"]
        # "" (or nothing) says the source has no dev package: Kea from a tarball.
        if dev not in (None, ""):
            if not isinstance(dev, str):
                raise MatrixError(f'{where}:{line}: {what}: dev must be a package name or "", not {dev!r}')
            _package(dev, where, line, f"{what}: dev")
        out["dev"] = dev or ""
    if "servers" in spec:
        servers, line = spec["servers"], spec.key_lines["servers"]
        if servers is None:
            servers = _Seq()
            servers.item_lines = []
        if not isinstance(servers, _Seq):
            raise MatrixError(f"{where}:{line}: {what}: servers must be a list of package names, "
                              f"e.g. [kea-dhcp4-server], not {servers!r}")
        out["servers"] = tuple(_package(v, where, item_line, f"{what}: servers")
                               for v, item_line in zip(servers, servers.item_lines))
    return out


def _kea_version(raw: _Map, where: str) -> str:
    kea, line = _str(raw, "kea", where, "cell"), raw.key_lines["kea"]
    if not _VERSION_RE.fullmatch(kea):
        raise MatrixError(f"{where}:{line}: kea version {kea!r} is not X.Y.Z "
                          f"(quote it in YAML, e.g. kea: \"2.6.3\")")
    # A version the facts do not know would fail only when rendered, minutes later.
    try:
        facts.resolve_version(kea)
    except facts.UnsupportedVersion:
        known = facts.supported_series()
        try:
            table = facts.FACTS_FILE.relative_to(ROOT)
        except ValueError:
            table = facts.FACTS_FILE
        raise MatrixError(f"{where}:{line}: Kea {kea} is not a version the facts know "
                          f"({table}: supported {known[0]}..{known[-1]})") from None
    return kea


def parse(text: str, where: str = "matrix.yaml") -> Matrix:
    """Parse and validate matrix text; ``where`` prefixes error messages."""
    doc = load_yaml(text, where)
    top = _need_map(doc, "the document", where, 1)
    _check_keys(top, _TOP_KEYS, "the top level", where)
    for k in ("os", "cells"):
        if k not in top:
            raise MatrixError(f"{where}:{top.line}: missing top-level key {k!r}")
    oses = _parse_oses(top, where)
    pkg_defaults = _parse_sources(top, where)
    cells_raw = top["cells"]
    if not isinstance(cells_raw, list):
        raise MatrixError(f"{where}:{top.key_lines['cells']}: cells must be a list")
    cells, seen = [], {}
    for raw in cells_raw:
        cell = _parse_cell(raw, top, oses, pkg_defaults, where)
        if cell.id in seen:
            raise MatrixError(f"{where}:{cell.line}: duplicate cell id {cell.id} "
                              f"(first defined at line {seen[cell.id]})")
        seen[cell.id] = cell.line
        cells.append(cell)
    return Matrix(cells=tuple(cells), path=Path(where))


def _parse_oses(top, where: str) -> dict:
    """The `os` table: {key: OS}."""
    oses = {}
    os_table = _need_map(top["os"], "os", where, top.key_lines["os"])
    for key, spec in os_table.items():
        spec = _need_map(spec, f"os {key}", where, os_table.key_lines[key])
        _check_keys(spec, _OS_KEYS, f"os {key}", where)
        for req in ("distro", "release", "suite"):
            if req not in spec:
                raise MatrixError(f"{where}:{spec.line}: os {key}: missing key {req!r}")
        what = f"os {key}"
        distro = _choice(spec, "distro", DISTROS, where, what)
        # The release is part of cell ids, which name directories under build/.
        release = _pattern(spec, "release", _RELEASE_RE, where, what,
                           'a release name (numbers with dots, e.g. "12" or "22.04", or '
                           'lower-case letters, e.g. sid)')
        if key != f"{distro}{release}":
            raise MatrixError(f"{where}:{os_table.key_lines[key]}: os key {key!r} must be "
                              f"<distro><release> = {distro + release!r}")
        suite = _pattern(spec, "suite", _SUITE_RE, where, what,
                         "a suite name (lower-case letters, digits, '.' and '-', e.g. bookworm)")
        mirror = ""
        if spec.get("mirror") is not None:
            mirror = _pattern(spec, "mirror", _MIRROR_RE, where, what,
                              "an http:// or https:// URL of an archive (host and path, "
                              "no spaces or quotes)")
        oses[key] = OS(key=key, distro=distro, release=release, suite=suite, mirror=mirror)
    return oses


def _parse_sources(top, where: str) -> dict:
    """Each source's default packages, from the optional `sources` table."""
    pkg_defaults = {s: {"dev": "", "servers": ()} for s in SOURCES}
    if "sources" in top:
        src_table = _need_map(top["sources"], "sources", where, top.key_lines["sources"])
        for name, spec in src_table.items():
            if name not in SOURCES:
                hint = difflib.get_close_matches(name, SOURCES, n=1)
                dym = f"; did you mean {hint[0]!r}?" if hint else ""
                raise MatrixError(f"{where}:{src_table.key_lines[name]}: unknown source {name!r}{dym}")
            spec = _need_map(spec, f"sources {name}", where, src_table.key_lines[name])
            _check_keys(spec, _SOURCE_KEYS, f"sources {name}", where)
            pkg_defaults[name] = {"dev": "", "servers": (), **_packages(spec, where, f"sources {name}")}
    return pkg_defaults


def _parse_cell(raw, top, oses: dict, pkg_defaults: dict, where: str) -> Cell:
    """One entry of `cells`."""
    raw = _need_map(raw, "a cell", where, top.key_lines["cells"])
    _check_keys(raw, _CELL_KEYS, "a cell", where)
    for req in _CELL_REQUIRED:
        if req not in raw:
            raise MatrixError(f"{where}:{raw.line}: cell is missing required key {req!r}")
    kea = _kea_version(raw, where)
    os_key = _str(raw, "os", where, "cell")
    if os_key not in oses:
        hint = difflib.get_close_matches(os_key, list(oses), n=1)
        dym = f"; did you mean {hint[0]!r}?" if hint else f" (known: {', '.join(oses)})"
        raise MatrixError(f"{where}:{raw.key_lines['os']}: unknown os {os_key!r}{dym}")
    source = _choice(raw, "source", SOURCES, where, "cell")
    status = _choice(raw, "status", STATUSES, where, "cell")
    arch = "amd64"
    if "arch" in raw:
        arch = _pattern(raw, "arch", _ARCH_RE, where, "cell",
                        "a Debian architecture name (lower-case letters and digits, e.g. arm64)")
    tier = _choice(raw, "tier", TIERS, where, "cell") if "tier" in raw else "ci"
    ivu = raw.get("apt_ignore_valid_until", False)
    if not isinstance(ivu, bool):
        raise MatrixError(f"{where}:{raw.key_lines['apt_ignore_valid_until']}: "
                          f"apt_ignore_valid_until must be true or false")
    bp = raw.get("backports", False)
    if not isinstance(bp, bool):
        raise MatrixError(f"{where}:{raw.key_lines['backports']}: backports must be true or false")
    if bp and (source != "debian" or not oses[os_key].release.isdigit()):
        raise MatrixError(f"{where}:{raw.key_lines['backports']}: backports needs source debian and a "
                          f"numbered Debian release ({oses[os_key].suite} has no backports)")
    pk = dict(pkg_defaults[source])
    if "packages" in raw:
        over = _need_map(raw["packages"], "packages", where, raw.key_lines["packages"])
        _check_keys(over, _SOURCE_KEYS, "packages", where)
        pk.update(_packages(over, where, "packages"))
    note = raw.get("note") or ""
    if not isinstance(note, str) or _CONTROL_RE.search(note):
        raise MatrixError(f"{where}:{raw.key_lines['note']}: note must be one line of text "
                          f"without control characters, not {note!r}")
    cell = Cell(kea=kea, os=oses[os_key], source=source, arch=arch, status=status,
                dev_package=pk["dev"], server_packages=pk["servers"],
                apt_ignore_valid_until=ivu, backports=bp, note=note, line=raw.line, tier=tier)
    return cell


def load(path: Path = MATRIX_PATH) -> Matrix:
    """The matrix in ``path``; an unreadable file is a :class:`MatrixError` too, so callers
    have one error to report."""
    path = Path(path)
    try:
        where = str(path.relative_to(ROOT))
    except ValueError:
        where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise MatrixError(f"{where}: cannot read the matrix: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise MatrixError(f"{where}: not UTF-8 text (byte {e.start})") from None
    m = parse(text, where)
    return Matrix(cells=m.cells, path=path)
