"""The README's list of the Kea builds that are verified, generated from matrix.yaml.

`kea-runscript docs` rewrites the block between the markers below in README.md (`--check`
only compares); a unit test fails when the page and the matrix drift apart, so the README
never claims more than CI tests.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

from .. import ROOT
from .blocks import Block
from ..model import matrix as matrix_mod
from ..model.versions import Version

README = ROOT / "README.md"
BEGIN = "<!-- BEGIN coverage: generated from matrix.yaml by `kea-runscript docs` -->"
END = "<!-- END coverage -->"
_block = Block(README, BEGIN, END)


def coverage_section(m: matrix_mod.Matrix | None = None) -> str:
    m = m or matrix_mod.load()
    by_build: "OrderedDict[tuple, list]" = OrderedDict()
    for c in sorted(m.verified, key=lambda c: (Version.parse(c.kea), c.apt_suite)):
        by_build.setdefault((c.kea, c.os.distro.capitalize(), c.os.release, c.apt_suite), []).append(c.arch)
    lines = [BEGIN, "", "| Kea | from | architectures |", "|---|---|---|"]
    for (kea, distro, release, suite), arches in by_build.items():
        lines.append(f"| {kea} | {distro} {release} (`{suite}`) | {', '.join(arches)} |")
    arches = sorted({c.arch for c in m.verified if c.tier == "arches"})
    if arches:
        lines += ["", f"{', '.join(arches)}: built and loaded on every change, smoke-tested by "
                      "`nox -s arches`."]
    declared = [c for c in m.cells if not c.verified and c.tier != "arches"]
    if declared:
        low = min(declared, key=lambda c: Version.parse(c.kea)).kea
        high = max(declared, key=lambda c: Version.parse(c.kea)).kea
        lines += ["", f"{len(declared)} more cells of [`matrix.yaml`](matrix.yaml) (Kea {low} to {high}) "
                      "are declared only: recipes needing networks our CI cannot reach, never built "
                      "or tested here."]
    unrunnable = [c for c in m.cells if not c.verified and c.tier == "arches"]
    if unrunnable:
        lines += ["", "Declared only, as our machines cannot run them (`kea-runscript list -v` says why): "
                      + ", ".join(f"{c.kea} {c.arch}" for c in unrunnable) + "."]
    return "\n".join(lines + ["", END])


def section(page: Path | None = None) -> str | None:
    """The generated block as the page has it (None without markers)."""
    return _block.section(page or README)


def write(page: Path | None = None) -> bool:
    """Rewrite the generated block; returns True when the file changed."""
    return _block.write(coverage_section, page or README)
