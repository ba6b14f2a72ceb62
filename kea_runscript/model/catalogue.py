"""The variables catalogue (hook/variables.yaml): load, validate, and answer questions."""

from __future__ import annotations

import re
from typing import List, Optional
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
    replay: str = ""  # the hook's own lease replay, started at this Kea hook point

    @property
    def family(self) -> int:
        return 6 if "6" in self.name else 4


@dataclass(frozen=True)
class IscVariable:
    """A variable of one of ISC's blocks: its name is the emit's prefix + `suffix`."""

    suffix: str
    type: str
    field: str
    description: str
    block: str
    same: str = ""  # our variable holding the same data, if any
    when: str = ""
    since: Version = Version(1, 1, 0)
    until: Optional[Version] = None  # first Kea version whose ISC hook no longer sends it
    values: tuple = ()

    def sent_by(self, kea: Version) -> bool:
        return self.since <= kea and (self.until is None or kea < self.until)


@dataclass(frozen=True)
class IscBlock:
    name: str
    object: str
    variables: tuple  # IscVariable, in ISC's order


@dataclass(frozen=True)
class IscEmit:
    """One block sent at a hook point, read from callout argument `argument`."""

    block: str
    prefix: str
    argument: str
    each: bool = False          # a collection: <prefix>_SIZE, then <prefix>_AT<i> blocks
    only_if_set: bool = False   # left out when the object is null
    argument_pd: str = ""       # the argument read instead when the lease is a PD lease


@dataclass(frozen=True)
class IscHookPoint:
    name: str
    emits: tuple  # IscEmit

    @property
    def family(self) -> int:
        return 6 if "6" in self.name else 4


@dataclass(frozen=True)
class IscDialect:
    types: dict
    blocks: dict       # name -> IscBlock
    hook_points: tuple  # IscHookPoint, in ISC's source order

    def hook_point(self, name: str) -> IscHookPoint:
        for point in self.hook_points:
            if point.name == name:
                return point
        raise KeyError(name)

    def names_at(self, hook_point: str, kea: Version, sizes: Optional[dict] = None) -> list:
        """(name, IscVariable) in ISC's order at ``hook_point``; ``sizes`` gives the length of
        each collection (by prefix, default 1). Conditional and only-if-set ones included."""
        out = []
        for emit in self.hook_point(hook_point).emits:
            variables = [v for v in self.blocks[emit.block].variables if v.sent_by(kea)]
            if emit.each:
                out.append((emit.prefix + "_SIZE", None))
                prefixes = [f"{emit.prefix}_AT{i}" for i in range((sizes or {}).get(emit.prefix, 1))]
            else:
                prefixes = [emit.prefix]
            out += [(prefix + v.suffix, v) for prefix in prefixes for v in variables]
        return out

    def variable_for(self, hook_point: str, name: str, kea: Version):
        """The IscVariable a name sent at ``hook_point`` stands for (None for a collection's
        _SIZE); KeyError when ISC never sends that name there."""
        for emit in self.hook_point(hook_point).emits:
            if emit.each and name == emit.prefix + "_SIZE":
                return None
            pattern = re.escape(emit.prefix) + (r"_AT(0|[1-9][0-9]*)" if emit.each else "")
            for v in self.blocks[emit.block].variables:
                if v.sent_by(kea) and re.fullmatch(pattern + re.escape(v.suffix), name):
                    return v
        raise KeyError(f"{hook_point}: {name}")


@dataclass(frozen=True)
class Catalogue:
    types: dict
    groups: dict  # name -> Group
    hook_points: tuple  # HookPoint, in catalogue order
    isc: Optional[IscDialect] = None

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
        if p.get("replay") and p["default"]:
            fail(f"hook point {pname}: a replay event is asked for with `replay: true`, "
                 f"never by default")
        points.append(HookPoint(pname, tuple(p["emits"]), bool(p["default"]),
                                p.get("replay", "")))
    isc = parse_isc(data.get("isc"), types, {v.name for g in groups.values() for v in g.variables},
                    fail) if data.get("isc") else None
    return Catalogue(types=types, groups=groups, hook_points=tuple(points), isc=isc)


ISC_VARIABLE_KEYS = {"suffix", "type", "field", "description", "same", "when", "since", "until",
                     "values"}
ISC_EMIT_KEYS = {"block", "prefix", "argument", "each", "only_if_set", "argument_pd"}


def parse_isc(data: dict, our_types: dict, our_names: set, fail) -> IscDialect:
    types = dict(our_types)
    for tname, spec in (data.get("types") or {}).items():
        if tname in types or not isinstance(spec, dict) or set(spec) != {"format"}:
            fail(f"isc type {tname}: a new name with one key, `format`")
        types[tname] = spec
    blocks = {}
    for bname, b in (data.get("blocks") or {}).items():
        variables = []
        for raw in b.get("variables", []):
            where = f"isc block {bname}, variable {raw.get('suffix', '?')!r}"
            if set(raw) - ISC_VARIABLE_KEYS or {"suffix", "type", "field", "description"} - set(raw):
                fail(f"{where}: keys are {sorted(ISC_VARIABLE_KEYS)}, the first four required")
            if raw["type"] not in types:
                fail(f"{where}: unknown type {raw['type']!r}")
            if raw.get("same") and raw["same"] not in our_names:
                fail(f"{where}: `same` names no variable of ours: {raw['same']!r}")
            if any(v.suffix == raw["suffix"] for v in variables):
                fail(f"{where}: duplicate suffix")
            variables.append(IscVariable(
                suffix=raw["suffix"], type=raw["type"], field=raw["field"],
                description=str(raw["description"]), block=bname, same=raw.get("same", ""),
                when=raw.get("when", ""), since=Version.parse(raw.get("since", "1.1")),
                until=Version.parse(raw["until"]) if raw.get("until") else None,
                values=tuple(str(x) for x in raw.get("values", ()))))
        blocks[bname] = IscBlock(bname, b["object"], tuple(variables))
    points = []
    for pname, emits in (data.get("hook_points") or {}).items():
        parsed = []
        for raw in emits:
            if set(raw) - ISC_EMIT_KEYS or raw.get("block") not in blocks:
                fail(f"isc hook point {pname}: emit {raw!r}: keys are {sorted(ISC_EMIT_KEYS)}, "
                     f"`block` one of {sorted(blocks)}")
            parsed.append(IscEmit(raw["block"], raw["prefix"], raw["argument"],
                                  bool(raw.get("each")), bool(raw.get("only_if_set")),
                                  raw.get("argument_pd", "")))
        points.append(IscHookPoint(pname, tuple(parsed)))
    return IscDialect(types=types, blocks=blocks, hook_points=tuple(points))


@lru_cache(maxsize=None)
def load(path: Path = CATALOGUE_FILE) -> Catalogue:
    return parse(yaml.safe_load(path.read_text()), source=str(path))


def isc_hook_points(kea: Version, family: int) -> List[str]:
    """ISC's dialect's hook points of ``family`` that Kea ``kea`` has."""
    has = facts_for(kea).has_hook_point
    return [p.name for p in load().isc.hook_points if p.family == family and has(p.name)]


def hook_points(kea: Version, family: int, defaults_only: bool = False) -> List[str]:
    """The catalogue's hook points of ``family`` that Kea ``kea`` has and `hook-points` can list
    (1.4's defaults only, with ``defaults_only``): not the replay events (`replay: true`)."""
    has = facts_for(kea).has_hook_point
    return [p.name for p in load().hook_points
            if p.family == family and has(p.name) and not p.replay and (p.default or not defaults_only)]
