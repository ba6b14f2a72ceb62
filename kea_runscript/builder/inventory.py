"""What a cell's builder had, read in the container that built the ``.so`` (:func:`record`).

* the builder's full package list (``builder-packages.txt`` beside the ``.so``: one installed
  package a line, ``name<TAB>version<TAB>architecture``, sorted): what a rebuilder must
  recreate, since the builder image itself is not published;
* the libraries the ``.so`` links (its ``NEEDED`` entries), each with the file and the
  package that provides it in the builder (``dpkg -S``);
* what built it: the compiler (the real binary and the ``g++`` driver's package), ``make``,
  the Kea and Boost headers, and ``libboost-dev``.

build-info.json records the packages by name and architecture only; their versions are in
the package list (one fact, one place). The release makes the SBOM from both
(:mod:`kea_runscript.release.sbom`).
"""

from __future__ import annotations

import re
import shlex
from typing import Dict, List, Tuple

from . import time_abi
from ..errors import ToolkitError
from ..model.matrix import Cell

PACKAGES_FILE = "builder-packages.txt"

#: dpkg-query's format: the status first, so that a package removed but for its
#: configuration files ("deinstall ok config-files") is not taken for an installed one.
_QUERY = "dpkg-query -W -f='${Status}\\t${Package}\\t${Version}\\t${Architecture}\\n'"

#: Prints the dpkg -S line of the first existing path of its arguments ("-: PATH" when no
#: package owns it, "-: " when none exists). On a merged-/usr system dpkg may know a library
#: by its /lib/... name only (Debian 12), so the path without /usr is asked as well.
_OWNER_FUNCTION = """\
own() {
  for p in "$@"; do
    [ -n "$p" ] && [ -e "$p" ] || continue
    for q in "$p" "${p#/usr}"; do
      o=$(dpkg -S "$q" 2>/dev/null | grep -v '^diversion by' | head -n 1)
      if [ -n "$o" ]; then printf '%s\\n' "$o"; return; fi
    done
    printf '%s: %s\\n' - "$p"; return
  done
  printf '%s: \\n' -
}
"""


class InventoryError(ToolkitError):
    pass


# --------------------------------------------------------------------------------------------
# pure helpers (unit-tested without Docker)


def parse_package_list(dpkg_output: str) -> str:
    """The installed packages of ``dpkg-query -W -f='${Status}\\t...'`` output, as the sorted
    text of builder-packages.txt."""
    rows = set()
    for line in dpkg_output.splitlines():
        fields = line.split("\t")
        if len(fields) == 4 and fields[0].endswith(" installed"):
            rows.add(tuple(fields[1:]))
    return "".join(f"{n}\t{v}\t{a}\n" for n, v, a in sorted(rows))


def package_versions(packages_text: str) -> Dict[Tuple[str, str], str]:
    """{(name, architecture): version} of builder-packages.txt."""
    out = {}
    for line in packages_text.splitlines():
        name, version, arch = line.split("\t")
        out[(name, arch)] = version
    return out


def needed_sonames(readelf_output: str) -> List[str]:
    """The ``NEEDED`` entries of ``readelf -d``, in the library's order."""
    found = []
    for line in readelf_output.splitlines():
        if "(NEEDED)" in line and "[" in line:
            soname = line[line.index("[") + 1:line.rindex("]")]
            if soname not in found:
                found.append(soname)
    return found


def parse_owner(line: str) -> Tuple[List[str], str]:
    """(packages, path) of one ``dpkg -S`` line (``libc6:amd64, libc6:arm64: /path``); no
    packages for the ``-: PATH`` the owner function prints for a file no package owns."""
    owners, _, path = line.partition(": ")
    if owners.strip() in ("-", ""):
        return [], path.strip()
    return [o.strip() for o in owners.split(",")], path.strip()


def _choose(owners: List[str], arch: str, versions: Dict[Tuple[str, str], str]) -> Tuple[str, str]:
    """(name, architecture) of the owner of the cell's architecture. dpkg -S leaves the
    architecture out for a package that can be installed for one only: the package list has it."""
    candidates = []
    for owner in owners:
        name, _, qualifier = owner.partition(":")
        archs = [qualifier] if qualifier else sorted(a for n, a in versions if n == name)
        candidates += [(name, a) for a in archs]
    for pick in ([c for c in candidates if c[1] == arch], [c for c in candidates if c[1] == "all"], candidates):
        if pick:
            return pick[0]
    return "", ""


def library_dirs(cell: Cell) -> List[str]:
    """Where the loader of the cell's architecture finds the libraries the hook links."""
    dirs = [cell.kea_lib, f"/usr/lib/{cell.multiarch}", f"/lib/{cell.multiarch}", "/usr/local/lib"]
    return list(dict.fromkeys(dirs))


def inventory_script(cell: Cell, host_arch: str, sonames: List[str]) -> str:
    """One shell script: a ``needed`` line per library of ``sonames`` and an ``input`` line per
    build input, each ``KIND<TAB>WHAT<TAB>`` and the owner function's line."""
    gxx = cell.tool("g++", host_arch)
    inputs = {
        "compiler": f'"$(readlink -f "$(command -v {gxx})")"',
        "compiler-driver": f'"$(command -v {gxx})"',
        "make": '"$(command -v make)"',
        "kea-headers": shlex.quote(f"{cell.kea_include}/hooks/hooks.h"),
        "boost-headers": "/usr/include/boost/version.hpp",
    }
    lines = [_OWNER_FUNCTION]
    for so in sonames:
        where = " ".join(shlex.quote(f"{d}/{so}") for d in library_dirs(cell))
        lines.append(f"printf 'needed\\t%s\\t' {shlex.quote(so)}; own {where}")
    lines += [f"printf 'input\\t{role}\\t'; own {arg}" for role, arg in inputs.items()]
    return "\n".join(lines) + "\n"


def parse_inventory(output: str, packages_text: str, arch: str) -> dict:
    """build-info's ``linked_libraries`` and ``build_inputs`` from the script's output;
    ``libboost-dev`` (headers only through its dependency) is named from the package list."""
    versions = package_versions(packages_text)
    linked, inputs = [], []
    for line in output.splitlines():
        kind, what, owner_line = (line.split("\t", 2) + ["", ""])[:3]
        if kind not in ("needed", "input"):
            continue
        owners, path = parse_owner(owner_line)
        package, package_arch = _choose(owners, arch, versions)
        entry = {"path": path, "package": package, "architecture": package_arch}
        if kind == "needed":
            linked.append({"soname": what, **entry})
        else:
            inputs.append({"role": what, **entry})
    name, boost_arch = _choose(["libboost-dev"], arch, versions)
    if (name, boost_arch) in versions:
        inputs.append({"role": "boost", "path": "", "package": name, "architecture": boost_arch})
    return {"linked_libraries": linked, "build_inputs": inputs}


# --------------------------------------------------------------------------------------------
# in the builder


def record(c, cell: Cell, host_arch: str, library: str) -> Tuple[str, dict]:
    """(builder-packages.txt text, build-info facts) read in the builder container ``c``,
    where ``library`` was just built. Reads only: the built bytes stay as make left them."""
    r = c.sh(_QUERY + " 2>/dev/null")
    packages = parse_package_list(r.output) if r.ok else ""
    if not packages:
        raise InventoryError(f"dpkg-query listed no installed package in the builder (exit {r.exit_code}):\n"
                             f"{r.output[-2000:]}")
    readelf = cell.tool("readelf", host_arch)  # the cross binutils' for a foreign cell: the only one there
    r = c.call([readelf, "-d", library])
    sonames = needed_sonames(r.output) if r.ok else []
    if not sonames:
        raise InventoryError(f"{readelf} -d {library} found no NEEDED entry (exit {r.exit_code}):\n{r.output[-2000:]}")
    _check_time_abi(c, readelf, cell, library)
    r = c.sh(inventory_script(cell, host_arch, sonames))
    if not r.ok:
        raise InventoryError(f"asking dpkg which packages provide what {library} was built with and links "
                             f"failed (exit {r.exit_code}):\n{r.output[-2000:]}")
    return packages, parse_inventory(r.output, packages, cell.arch)


def _check_time_abi(c, readelf: str, cell: Cell, library: str) -> None:
    """The hook's time_t is Kea's (time_abi says why), read off both objects' symbols. Only a
    32-bit hook (ELF32) has a width to check: on 64-bit architectures time_t has one."""
    kea_library = f"{cell.kea_lib}/{time_abi.KEA_LIBRARY}"
    bits = []
    for path in (library, kea_library):
        r = c.call([readelf, "--dyn-syms", "-W", "-h", path])
        if not r.ok:
            raise InventoryError(f"{readelf} --dyn-syms {path} failed (exit {r.exit_code}):\n{r.output[-2000:]}")
        if path == library and not re.search(r"Class:\s+ELF32", r.output):
            return
        bits.append(time_abi.time_bits(time_abi.undefined_symbols(r.output), elf64=False))
    try:
        time_abi.check(bits[0], bits[1], library, kea_library)
    except time_abi.TimeAbiMismatch as e:
        raise InventoryError(str(e)) from None
