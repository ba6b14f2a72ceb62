"""The table of what Kea does with `skip` and `drop` at each hook point (docs/hook.md, section
"Callout status"), generated from kea_facts.yaml's callout_status: the facts the hook's
refusals and warnings come from, so the page and the hook cannot disagree.

`kea-runscript docs` rewrites the block between the markers; a unit test fails on drift.
"""

from __future__ import annotations

from pathlib import Path

from .. import ROOT
from .blocks import Block
from ..model.catalogue import load as load_catalogue
from ..model.facts import load_table

PAGE = ROOT / "docs" / "hook.md"
BEGIN = "<!-- BEGIN callout-status: generated from hook/kea_facts.yaml by `kea-runscript docs` -->"
END = "<!-- END callout-status -->"
_block = Block(PAGE, BEGIN, END)
LABELS = {"ok": "", "warn": "**warning**: ", "refuse": "**refused**: "}


def cell(steps: list) -> str:
    """One status at one hook point, each Kea version range with its verdict and effect."""
    parts = []
    for i, step in enumerate(steps):
        if len(steps) == 1:
            when = ""
        elif i + 1 < len(steps):
            when = (f"{step['since']} to < {steps[i + 1]['since']}: " if i else
                    f"< {steps[i + 1]['since']}: ")
        else:
            when = f"≥ {step['since']}: "
        parts.append(when + LABELS[step["verdict"]] + step["effect"])
    return "<br>".join(parts).replace("|", "\\|")


def status_section() -> str:
    statuses = load_table()["callout_status"]
    order = [p.name for p in load_catalogue().hook_points if p.name in statuses]
    order += [name for name in statuses if name not in order]  # ISC's only (addr6_register)
    lines = [BEGIN, "", "| Hook point | `skip` | `drop` |", "|---|---|---|"]
    for name in order:
        lines.append(f"| `{name}` | {cell(statuses[name]['skip'])} | {cell(statuses[name]['drop'])} |")
    return "\n".join(lines + ["", END])


def section(page: Path | None = None) -> str | None:
    return _block.section(page or PAGE)


def write(page: Path | None = None) -> bool:
    return _block.write(status_section, page or PAGE)
