"""The variable reference (docs/variables.md), generated from the catalogue.

`kea-runscript docs` rewrites the block between the markers below in docs/variables.md
(`kea-runscript docs --check` only compares); a unit test fails when the page and the
catalogue drift apart.
"""

from __future__ import annotations

from pathlib import Path

from .. import ROOT
from .blocks import Block
from ..model.catalogue import Catalogue, load as load_catalogue
from ..model.facts import load_table as load_facts
from ..model.versions import Version

VARIABLES = ROOT / "docs" / "variables.md"
BEGIN = "<!-- BEGIN variables: generated from hook/variables.yaml by `kea-runscript docs` -->"
END = "<!-- END variables -->"
_block = Block(VARIABLES, BEGIN, END)


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|")


def variables_section(catalogue: Catalogue | None = None) -> str:
    catalogue = catalogue or load_catalogue()
    first_version = {name: since for name, since in load_facts()["hook_points"].items()}
    lines = [BEGIN, ""]
    lines.append("Value formats by type:")
    lines.append("")
    lines.append("| Type | Format |")
    lines.append("|---|---|")
    for name, spec in catalogue.types.items():
        lines.append(f"| `{name}` | {_cell(spec['format'])} |")
    for family, title in ((4, "DHCPv4"), (6, "DHCPv6")):
        points = [p for p in catalogue.hook_points if p.family == family]
        groups = []
        for point in points:
            for g in point.emits:
                if g not in groups:
                    groups.append(g)
        lines += ["", f"### {title} variables", ""]
        lines.append("| Variable | Type | Description | Present | Kea | Reference |")
        lines.append("|---|---|---|---|---|---|")
        for g in groups:
            for v in catalogue.groups[g].variables:
                present = v.when or "always"
                if v.values:
                    present += "; one of " + ", ".join(f"`{x}`" for x in v.values)
                lines.append(
                    f"| `{v.name}` | {v.type} | {_cell(v.description)} | {_cell(present)} "
                    f"| {v.since.series}+ | {_cell(v.reference)} |")
            for p in catalogue.groups[g].patterns:
                lines.append(f"| `{p.name}` | {p.type} | {_cell(p.description)} "
                             f"| {_cell(p.when)} | 1.1+ |  |")
        lines += ["", f"### {title} hook points", ""]
        lines.append("| Hook point (`argv[1]`) | Called by default | Kea | Variables |")
        lines.append("|---|---|---|---|")
        for point in points:
            names = " ".join(f"`{v.name}`" for v in catalogue.variables_at(point.name))
            default = ("no (`replay: true`: one event per active lease at start)" if point.replay
                       else "yes" if point.default else "no (list it in `hook-points`)")
            since = ".".join(first_version[point.name].split(".")[:2])
            lines.append(f"| `{point.name}` | {default} | {since}+ | {names} |")
    if catalogue.isc:
        lines += isc_section(catalogue, first_version)
    lines += ["", END]
    return "\n".join(lines)


def isc_section(catalogue: Catalogue, first_version: dict) -> list:
    """ISC's dialect: its blocks (a second naming of the data), then what each hook point
    sends, in ISC's order."""
    isc = catalogue.isc
    since = next(step["since"] for step in load_facts()["facts"]["isc_dialect"] if step["value"])
    lines = ["", "### ISC's dialect (`name`): blocks", "",
             f"Kea {'.'.join(since.split('.')[:2])}+. A variable's name is its block's prefix "
             "at the hook point (below) followed by its suffix. When Kea passes no object "
             "(no subnet selected, say), every variable of the block that is always present "
             "is sent with an empty value.", "",
             "Formats of ISC's own types: " + "; ".join(
                 f"`{name}`: {spec['format']}" for name, spec in isc.types.items()
                 if name not in catalogue.types) + ".", "",
             "| Block | Suffix | Type | Description | Present | Kea | Same data as |",
             "|---|---|---|---|---|---|---|"]
    for block in isc.blocks.values():
        for v in block.variables:
            present = v.when or "always"
            if v.values:
                present += "; one of " + ", ".join(f"`{x}`" for x in v.values)
            kea = f"{v.since.series}+" + (f", before {v.until}" if v.until else "")
            same = f"`{v.same}`" if v.same else ""
            lines.append(f"| {block.name} | `{v.suffix or '(none)'}` | {v.type} | "
                         f"{_cell(v.description)} | {_cell(present)} | {kea} | {same} |")
    lines += ["", "### ISC's dialect (`name`): hook points", "",
              "| Hook point (`argv[1]`) | Kea | Blocks, in order (prefix: block) |", "|---|---|---|"]
    for point in isc.hook_points:
        parts = []
        for e in point.emits:
            if e.each:
                text = f"`{e.prefix}_SIZE`, then per lease i `{e.prefix}_AT<i>`: {e.block}"
            else:
                text = f"`{e.prefix}`: {e.block}"
            if e.only_if_set:
                text += " (only when Kea passes one)"
            if e.argument_pd:
                text += f" (`{e.argument}`, `{e.argument_pd}` for a prefix)"
            parts.append(text)
        first = max(Version.parse(first_version[point.name]), Version.parse(since))
        lines.append(f"| `{point.name}` | {first.series}+ | {'; '.join(parts)} |")
    return lines


def section(page: Path | None = None) -> str | None:
    """The generated block as the page has it (None without markers)."""
    return _block.section(page or VARIABLES)


def write(page: Path | None = None) -> bool:
    """Rewrite the generated block; returns True when the file changed."""
    return _block.write(variables_section, page or VARIABLES)
