"""The variables catalogue (hook/variables.yaml): load, validate, and answer questions."""

from __future__ import annotations

import re
from typing import List
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from .. import ROOT
from ..errors import ToolkitError
from .facts import facts_for
from .versions import Version

CATALOGUE_FILE = ROOT / "hook" / "variables.yaml"

VARIABLE_KEYS = {"name", "type", "field", "description", "reference", "when", "since", "values"}
REQUIRED_VARIABLE_KEYS = {"name", "type", "field", "description"}


@dataclass(frozen=True)
class Variable:
    name: str
    type: str
    field: str
    description: str
    group: str
    reference: str = ""
    when: str = ""
    since: Version = Version(1, 1, 0)
    values: tuple = ()  # the complete set of values, when it is a fixed enumeration

    @property
    def conditional(self) -> bool:
        return bool(self.when) and "else empty" not in self.when


@dataclass(frozen=True)
class Pattern:
    """A family of variables named after configured option codes: KEA_QUERY4_OPTION<code>."""

    name: str
    type: str
    description: str
    group: str
    when: str = ""

    @property
    def regex(self) -> str:
        return "^" + self.name.replace("<code>", "([0-9]+)").replace("<sub>", "([0-9]+)") + "$"

    def cxx_parts(self) -> list:
        """The name split around its placeholders: ["KEA_QUERY4_OPTION", "<code>", "_SUB", ...]."""
        return [part for part in re.split(r"(<code>|<sub>)", self.name) if part]


@dataclass(frozen=True)
class Group:
    name: str
    argument: str
    object: str
    variables: tuple
    patterns: tuple = ()


@dataclass(frozen=True)
class HookPoint:
    name: str
    emits: tuple
    default: bool

    @property
    def family(self) -> int:
        return 6 if "6" in self.name else 4


@dataclass(frozen=True)
class Catalogue:
    types: dict
    groups: dict  # name -> Group
    hook_points: tuple  # HookPoint, in catalogue order

    def variables(self) -> list:
        return [v for g in self.groups.values() for v in g.variables]

    def patterns(self) -> list:
        return [p for g in self.groups.values() for p in g.patterns]

    def variable(self, name: str) -> Variable:
        for v in self.variables():
            if v.name == name:
                return v
        raise KeyError(name)

    def hook_point(self, name: str) -> HookPoint:
        for point in self.hook_points:
            if point.name == name:
                return point
        raise KeyError(name)

    def variables_at(self, hook_point: str) -> list:
        """Variables a hook point can emit, in emission order."""
        return [v for g in self.hook_point(hook_point).emits for v in self.groups[g].variables]

    def patterns_at(self, hook_point: str) -> list:
        """Option-named variable families a hook point can emit when configured."""
        return [p for g in self.hook_point(hook_point).emits for p in self.groups[g].patterns]

    def identifies_client(self, variable: Variable) -> bool:
        """A value of its type identifies the client (`client: true`)."""
        return bool(self.types[variable.type].get("client"))

    def hook_points_of(self, variable: str) -> list:
        group = self.variable(variable).group
        return [p.name for p in self.hook_points if group in p.emits]


class CatalogueError(ToolkitError, ValueError):
    pass


def parse(data: dict, source: str = "variables.yaml") -> Catalogue:
    def fail(message: str) -> None:
        raise CatalogueError(f"{source}: {message}")

    types = data.get("types") or fail("no `types`")
    for tname, spec in types.items():
        if not isinstance(spec, dict) or "format" not in spec or set(spec) - {"format", "client"}:
            fail(f"type {tname}: keys are `format` and, optionally, `client`")
    groups = {}
    seen = set()
    for gname, g in (data.get("groups") or {}).items():
        variables = []
        for raw in g.get("variables", []):
            unknown = set(raw) - VARIABLE_KEYS
            missing = REQUIRED_VARIABLE_KEYS - set(raw)
            where = f"group {gname}, variable {raw.get('name', '?')}"
            if unknown:
                fail(f"{where}: unknown keys {sorted(unknown)}")
            if missing:
                fail(f"{where}: missing keys {sorted(missing)}")
            if raw["name"] in seen:
                fail(f"{where}: duplicate variable name")
            if not raw["name"].startswith("KEA_"):
                fail(f"{where}: names start with KEA_")
            if raw["type"] not in types:
                fail(f"{where}: unknown type {raw['type']!r}")
            seen.add(raw["name"])
            variables.append(
                Variable(
                    name=raw["name"], type=raw["type"], field=raw["field"],
                    description=str(raw["description"]), group=gname,
                    reference=raw.get("reference", ""), when=raw.get("when", ""),
                    since=Version.parse(raw.get("since", "1.1")),
                    values=tuple(str(x) for x in raw.get("values", ())),
                )
            )
        patterns = []
        for raw in g.get("patterns", []):
            if "<code>" not in raw.get("name", "") or raw.get("type") not in types:
                fail(f"group {gname}: pattern {raw.get('name')!r} needs <code> and a known type")
            patterns.append(Pattern(raw["name"], raw["type"], raw["description"], gname,
                                    raw.get("when", "")))
        groups[gname] = Group(gname, g["argument"], g["object"], tuple(variables),
                              tuple(patterns))
    for g in groups.values():
        for v in g.variables:
            if types[v.type].get("client") and any(re.match(p.regex, v.name) for p in g.patterns):
                fail(f"group {g.name}, variable {v.name}: a variable that identifies the client "
                     f"cannot be one an option's hex form replaces")
    points = []
    for pname, p in (data.get("hook_points") or {}).items():
        for g in p["emits"]:
            if g not in groups:
                fail(f"hook point {pname}: unknown group {g!r}")
        points.append(HookPoint(pname, tuple(p["emits"]), bool(p["default"])))
    return Catalogue(types=types, groups=groups, hook_points=tuple(points))


@lru_cache(maxsize=None)
def load(path: Path = CATALOGUE_FILE) -> Catalogue:
    return parse(yaml.safe_load(path.read_text()), source=str(path))


def hook_points(kea: Version, family: int, defaults_only: bool = False) -> List[str]:
    """The catalogue's hook points of ``family`` that Kea ``kea`` has (1.4's defaults only, with
    ``defaults_only``)."""
    has = facts_for(kea).has_hook_point
    return [p.name for p in load().hook_points
            if p.family == family and has(p.name) and (p.default or not defaults_only)]
