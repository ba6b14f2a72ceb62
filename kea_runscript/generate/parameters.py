"""The hook's parameters, from their one description (hook/parameters.yaml): the parser's key
lists and limits (hook/parameter_table.h), the README's tables and docs/parameters.md.

`kea-runscript docs` writes them, `kea-runscript docs --check` only compares; a unit test fails
when any of them drifts from the description, so the parser and the pages cannot disagree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional, Tuple

import yaml

from .. import ROOT
from .blocks import Block

SOURCE = ROOT / "hook" / "parameters.yaml"
HEADER = ROOT / "hook" / "parameter_table.h"
PAGE = ROOT / "docs" / "parameters.md"
README = ROOT / "README.md"
README_BLOCKS = {table: Block(README, f"<!-- BEGIN parameters-{table}: hook/parameters.yaml -->",
                              f"<!-- END parameters-{table} -->") for table in ("main", "handlers")}
SCOPES = ("script", "global")
TABLES = ("main", "handlers", "none")
KINDS = ("bool", "seconds", "count", "string", "list", "map")
Range = Optional[Tuple[int, int]]


@dataclass(frozen=True)
class Parameter:
    name: str
    scope: str
    table: str
    kind: str
    meaning: str
    type_text: str = ""
    default: Any = None
    default_text: str = ""
    range: Range = None
    key_range: Range = None
    sub_range: Range = None

    @property
    def ident(self) -> str:
        """The C++ prefix of its limits: `max-async` -> MAX_ASYNC."""
        return self.name.replace("-", "_").upper()

    def type_cell(self) -> str:
        if self.kind == "bool":
            return "bool"
        if self.kind == "seconds":
            return f"number (seconds) {_span(self.range)}"
        if self.kind == "count":
            return f"integer {_span(self.range)}"
        text = self.type_text
        for name, r in (("range", self.range), ("key_range", self.key_range), ("sub_range", self.sub_range)):
            text = text.replace("{" + name + "}", _span(r))
        return text

    def default_cell(self) -> str:
        if self.default_text:
            return self.default_text
        if isinstance(self.default, bool):
            return f"`{'true' if self.default else 'false'}`"
        if isinstance(self.default, str):
            return f'`"{self.default}"`'
        if isinstance(self.default, (list, dict)):
            return "`[]`" if isinstance(self.default, list) else "`{}`"
        return f"`{self.default}`"


def _span(r: Range) -> str:
    return f"{r[0]}–{r[1]}" if r else ""


def _range(raw: dict, key: str, where: str) -> Range:
    value = raw.get(key)
    if value is None:
        return None
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value)
            and value[0] <= value[1]):
        raise ValueError(f"{where}: '{key}' must be [min, max] integers, got {value!r}")
    return (value[0], value[1])


def load(path: Path = SOURCE) -> List[Parameter]:
    """The description, checked: a mistake names the parameter and the field."""
    params: List[Parameter] = []
    for i, raw in enumerate(yaml.safe_load(path.read_text())["parameters"]):
        where = f"{path.name}: parameters[{i}] ({raw.get('name', '?')})"
        for field, allowed in (("scope", SCOPES), ("table", TABLES), ("kind", KINDS)):
            if raw.get(field) not in allowed:
                raise ValueError(f"{where}: '{field}' must be one of {', '.join(allowed)}")
        if raw["kind"] in ("seconds", "count") and "range" not in raw:
            raise ValueError(f"{where}: a {raw['kind']} needs a 'range'")
        if ("default" in raw) == ("default_text" in raw):
            raise ValueError(f"{where}: give exactly one of 'default', 'default_text'")
        if raw["name"] in (p.name for p in params):
            raise ValueError(f"{where}: described twice")
        params.append(Parameter(
            name=raw["name"], scope=raw["scope"], table=raw["table"], kind=raw["kind"],
            meaning=raw["meaning"], type_text=raw.get("type", ""), default=raw.get("default"),
            default_text=raw.get("default_text", ""), range=_range(raw, "range", where),
            key_range=_range(raw, "key_range", where), sub_range=_range(raw, "sub_range", where)))
    return params


def _meaning(p: Parameter, params: List[Parameter], page_dir: str = "") -> str:
    keys = ", ".join(f"`{q.name}`" for q in params if q.scope == "script" and q.table != "none")
    text = p.meaning.replace("{script_keys}", keys)
    if page_dir:  # links are written from the repository's root
        text = re.sub(r"\]\((?!https?:|#)([^)]+)\)",
                      lambda m: "](" + _relative(m.group(1), page_dir) + ")", text)
    return text.replace("|", "\\|")


def _relative(link: str, page_dir: str) -> str:
    prefix = page_dir.rstrip("/") + "/"
    return link[len(prefix):] if link.startswith(prefix) else "../" + link


def header(params: Optional[List[Parameter]] = None) -> str:
    params = params if params is not None else load()
    quoted = lambda scope: ", ".join(f'"{p.name}"' for p in params if p.scope == scope)
    lines = ["// Generated from hook/parameters.yaml by `kea-runscript docs`: do not edit.",
             "#ifndef RUNSCRIPT_PARAMETER_TABLE_H", "#define RUNSCRIPT_PARAMETER_TABLE_H", "",
             "namespace runscript {", "namespace parameter {", "",
             "// Keys of the top level and of each `scripts` entry; keys of the top level only.",
             f"const char* const SCRIPT_KEYS[] = {{{quoted('script')}}};",
             f"const char* const GLOBAL_ONLY_KEYS[] = {{{quoted('global')}}};", "",
             "// Limits (inclusive) and numeric defaults; seconds are in seconds."]
    for p in params:
        for suffix, r in (("", p.range), ("_KEY", p.key_range), ("_SUB", p.sub_range)):
            if r:
                lines.append(f"const long {p.ident}{suffix}_MIN = {r[0]};")
                lines.append(f"const long {p.ident}{suffix}_MAX = {r[1]};")
        if p.kind in ("seconds", "count"):
            lines.append(f"const long {p.ident}_DEFAULT = {p.default};")
    lines += ["", "}  // namespace parameter", "}  // namespace runscript", "",
              "#endif  // RUNSCRIPT_PARAMETER_TABLE_H", ""]
    return "\n".join(lines)


def readme_table(table: str, params: Optional[List[Parameter]] = None) -> str:
    params = params if params is not None else load()
    block = README_BLOCKS[table]
    lines = [block.begin, "", "| Parameter | Type | Default | Meaning |", "|---|---|---|---|"]
    lines += [f"| `{p.name}` | {p.type_cell()} | {p.default_cell()} | {_meaning(p, params)} |"
              for p in params if p.table == table]
    return "\n".join(lines + ["", block.end])


def page(params: Optional[List[Parameter]] = None) -> str:
    params = params if params is not None else load()
    lines = ["# Parameters", "",
             "<!-- Generated from hook/parameters.yaml by `kea-runscript docs`: do not edit. -->", "",
             "Every parameter of the hook's `parameters` map. *Scope* `script`: at the top level "
             "(where it is the default of every script) and in each entry of `scripts`; `global`: "
             "at the top level only. The hook refuses any value outside the type and range shown, "
             "naming the parameter ([configuration errors](hook.md#configuration-errors)).", "",
             "| Parameter | Scope | Type | Default | Meaning |", "|---|---|---|---|---|"]
    lines += [f"| `{p.name}` | {p.scope} | {p.type_cell()} | {p.default_cell()} | "
              f"{_meaning(p, params, 'docs')} |" for p in params]
    return "\n".join(lines) + "\n"


def differences() -> List[str]:
    """The generated files that differ from the description."""
    params = load()
    stale = [str(path) for path, text in ((HEADER, header(params)), (PAGE, page(params)))
             if not path.exists() or path.read_text() != text]
    stale += [f"{README} ({table} parameters)" for table, block in README_BLOCKS.items()
              if block.section() != readme_table(table, params)]
    return stale


def write() -> List[Path]:
    """Write what drifted; returns the files written."""
    params, written = load(), []
    for path, text in ((HEADER, header(params)), (PAGE, page(params))):
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            written.append(path)
    for table, block in README_BLOCKS.items():
        if block.write(lambda t=table: readme_table(t, params)) and README not in written:
            written.append(README)
    return written
