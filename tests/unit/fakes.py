"""Stand-ins for Docker in unit tests: a small fixture matrix and a fake ``Container``.

``FakeDocker.install(monkeypatch)`` replaces ``containers.Container``, ``containers.engine_arch``
and ``images.ensure_image`` so that ``build.build_cell(s)`` runs its whole pipeline (render,
cache key, make, copy out, load check, dist/, store) without an engine. What the fake answers
is set on the ``FakeDocker`` object (make's exit status, an exception for one container, ...);
what the code under test asked for is recorded on it (containers started, commands run).
"""

from __future__ import annotations

import textwrap
import threading
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from kea_runscript.engine import containers, images
from kea_runscript.model import matrix

#: A small matrix for behaviour tests (the real matrix.yaml changes with the project): series
#: 2.6 mixes verified cells (two architectures) and a declared one, 1.8 and 1.4 are declared
#: only (ISC's repository, a source build), 3.0.3 comes from backports.
SMALL_MATRIX = textwrap.dedent("""\
    os:
      debian10: {distro: debian, release: "10", suite: buster, mirror: "http://archive.debian.org/debian"}
      debian12: {distro: debian, release: "12", suite: bookworm}
      debian13: {distro: debian, release: "13", suite: trixie}
    sources:
      debian: {dev: kea-dev, servers: [kea-dhcp4-server, kea-dhcp6-server]}
      isc-repo: {dev: isc-kea-dev, servers: [isc-kea-dhcp4, isc-kea-dhcp6]}
      source: {dev: "", servers: []}
    cells:
      - {kea: "2.2.0", os: debian12, source: debian, status: verified}
      - {kea: "2.6.3", os: debian13, source: debian, status: verified, note: "Debian 13's own Kea"}
      - {kea: "2.6.3", os: debian13, source: debian, arch: arm64, status: verified}
      - {kea: "2.6.1", os: debian12, source: isc-repo, status: declared}
      - {kea: "3.0.3", os: debian13, source: debian, backports: true, status: verified}
      - {kea: "1.8.2", os: debian10, source: isc-repo, status: declared}
      - {kea: "1.4.0", os: debian10, source: source, status: declared}
    """)


#: What a Debian 13 amd64 builder answers to the inventory's queries (builder/inventory.py):
#: dpkg-query's list (a package removed but for its configuration files among them) and the
#: inventory script's lines (a NEEDED library and a header no package owns among them).
FAKE_DPKG_STATUS = "".join(f"{status}\t{name}\t{version}\t{arch}\n" for status, name, version, arch in [
    ("install ok installed", "make", "4.4.1-2", "amd64"),
    ("install ok installed", "kea-common", "2.6.3-1+deb13u1", "amd64"),
    ("install ok installed", "kea-dev", "2.6.3-1+deb13u1", "amd64"),
    ("install ok installed", "kea-dhcp4-server", "2.6.3-1+deb13u1", "amd64"),
    ("install ok installed", "g++", "4:14.2.0-1", "amd64"),
    ("install ok installed", "g++-14-x86-64-linux-gnu", "14.2.0-19", "amd64"),
    ("install ok installed", "libboost-dev", "1.83.0.2+b2", "amd64"),
    ("install ok installed", "libboost1.83-dev", "1.83.0-4.2", "amd64"),
    ("install ok installed", "libc6", "2.41-12+deb13u5", "amd64"),
    ("install ok installed", "libgcc-s1", "14.2.0-19", "amd64"),
    ("install ok installed", "libstdc++6", "14.2.0-19", "amd64"),
    ("deinstall ok config-files", "isc-dhcp-server", "4.4.3-P1-8", "amd64"),
])
FAKE_INVENTORY = """\
needed\tlibkea-dhcpsrv.so.111\tkea-common: /usr/lib/x86_64-linux-gnu/libkea-dhcpsrv.so.111
needed\tlibkea-hooks.so.100\tkea-common: /usr/lib/x86_64-linux-gnu/libkea-hooks.so.100
needed\tlibkea-dhcp++.so.92\tkea-common: /usr/lib/x86_64-linux-gnu/libkea-dhcp++.so.92
needed\tlibstdc++.so.6\tlibstdc++6:amd64: /usr/lib/x86_64-linux-gnu/libstdc++.so.6
needed\tlibgcc_s.so.1\tlibgcc-s1:amd64: /lib/x86_64-linux-gnu/libgcc_s.so.1
needed\tlibc.so.6\tlibc6:amd64: /usr/lib/x86_64-linux-gnu/libc.so.6
needed\tlibextra.so.1\t-: /usr/local/lib/libextra.so.1
input\tcompiler\tg++-14-x86-64-linux-gnu: /usr/bin/x86_64-linux-gnu-g++-14
input\tcompiler-driver\tg++: /usr/bin/g++
input\tmake\tmake: /usr/bin/make
input\tkea-headers\tkea-dev: /usr/include/kea/hooks/hooks.h
input\tboost-headers\tlibboost1.83-dev:amd64: /usr/include/boost/version.hpp
"""


def small_matrix() -> matrix.Matrix:
    return matrix.parse(SMALL_MATRIX, "small-matrix.yaml")


def write_small_matrix(dest: Path) -> Path:
    dest.write_text(SMALL_MATRIX)
    return dest


class FakeContainer:
    """Answers like a builder/runtime container of a cell would, without an engine."""

    def __init__(self, docker: "FakeDocker", image: str, name: str, **kw):
        self.docker, self.image, self.label_name = docker, image, name
        self.name = f"kea-runscript-{name}-fake"
        self.kw = kw
        self.files: Dict[str, bytes] = {}
        self.made = False

    def __enter__(self) -> "FakeContainer":
        if self.docker.unavailable:
            raise containers.DockerUnavailable("fake: the Docker daemon is not reachable")
        boom = self.docker.fail_on_start.get(self.label_name)
        if boom is not None:
            raise boom
        with self.docker.lock:
            self.docker.started.append(self.label_name)
        return self

    def __exit__(self, *exc) -> None:
        with self.docker.lock:
            self.docker.removed.append(self.label_name)

    def _record(self, cmd: Sequence[str]) -> None:
        with self.docker.lock:
            self.docker.calls.append((self.label_name, list(cmd)))

    def call(self, cmd: Sequence[str], *, env=None, workdir=None, log: Optional[Path] = None,
             on_line: Optional[Callable[[str], None]] = None) -> containers.CallResult:
        self._record(cmd)
        code, out = 0, ""
        if cmd[0] == "make":
            if self.docker.on_make:
                self.docker.on_make(self.label_name)
            code = self.docker.make_exit
            out = "g++ -shared -o kea-hook-runscript.so stub.cc\n" if code == 0 else "stub.cc:1: error: boom\n"
            self.made = code == 0
        elif cmd[0] == "test":
            code = 0 if self.made else 1
        elif cmd[0] in ("kea-dhcp4", "kea-dhcp6"):
            code = self.docker.kea_check_exit.get(cmd[0], 0)
            out = "" if code == 0 else f"{cmd[0]}: the library failed to load\n"
        elif cmd[0].endswith("readelf"):
            out = "".join(f" 0x01 (NEEDED)  Shared library: [{line.split(chr(9))[1]}]\n"
                          for line in self.docker.inventory.splitlines() if line.startswith("needed\t"))
        elif cmd[0] == "/bin/sh":
            out = self._sh(cmd[2])
        if on_line:
            for line in out.splitlines():
                on_line(line)
        if log is not None:
            log.parent.mkdir(parents=True, exist_ok=True)
            with open(log, "a") as f:
                f.write(f"$ {' '.join(cmd)}\n{out}[exit status {code}]\n")
        return containers.CallResult(code, out)

    def _sh(self, script: str) -> str:
        if "${Status}" in script:
            return self.docker.dpkg_status
        if "own()" in script:
            return self.docker.inventory
        if "--version" in script:
            return "g++ (Debian 14.2.0-19) 14.2.0\n"
        if "dpkg-query" in script:
            return "2.6.3-1+deb13u1"
        if "KEA_HOOKS_VERSION" in script:
            return "20"
        return ""

    def sh(self, script: str, **kw) -> containers.CallResult:
        return self.call(["/bin/sh", "-c", script], **kw)

    def copy_into(self, src: Path, dest: str) -> None:
        self._record(["copy_into", str(src), dest])

    def write_file(self, dest: str, content: str, mode: int = 0o644) -> None:
        self.files[dest] = content.encode()

    def copy_out(self, src: str, dest: Path) -> None:
        Path(dest).parent.mkdir(parents=True, exist_ok=True)
        Path(dest).write_bytes(b"\x7fELF fake library of " + self.label_name.encode())


class FakeDocker:
    """The engine as the build sees it: one builder image per cell, containers, the host arch."""

    def __init__(self, host_arch: str = "amd64"):
        self.host_arch = host_arch
        self.unavailable = False
        self.make_exit = 0
        #: "kea-dhcp4" / "kea-dhcp6" -> exit status of its `-t` load check (0 when absent)
        self.kea_check_exit: Dict[str, int] = {}
        #: container name (cell id, or "<id>-check") -> exception raised when it starts
        self.fail_on_start: Dict[str, BaseException] = {}
        #: called with the container's name when make runs (e.g. to meet another thread)
        self.on_make: Optional[Callable[[str], None]] = None
        self.lock = threading.Lock()
        self.started: List[str] = []
        self.removed: List[str] = []
        self.calls: List[tuple] = []
        self.images_asked: List[str] = []
        #: the builder's answers to the inventory's queries (builder/inventory.py)
        self.dpkg_status = FAKE_DPKG_STATUS
        self.inventory = FAKE_INVENTORY

    def ensure_image(self, kind, cell, logs, say=None, **_kw) -> images.Image:
        if self.unavailable:
            raise containers.DockerUnavailable("fake: the Docker daemon is not reachable")
        with self.lock:
            self.images_asked.append(cell.id)
        return images.Image(kind, f"kea-runscript/{kind}:{cell.id}", f"sha256:{kind}-{cell.id}", "h", built=False)

    def container(self, image: str, name: str, **kw) -> FakeContainer:
        return FakeContainer(self, image, name, **kw)

    def install(self, monkeypatch) -> "FakeDocker":
        monkeypatch.setattr(containers, "Container", self.container)
        monkeypatch.setattr(containers, "engine_arch", lambda: self.host_arch)
        monkeypatch.setattr(images, "ensure_image", self.ensure_image)
        return self

    def made(self) -> List[str]:
        """The containers in which make ran."""
        return [name for name, cmd in self.calls if cmd[0] == "make"]
