"""Kea version facts (hook/kea_facts.yaml): what the API looks like in a given release."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from .. import ROOT
from ..errors import UsageError
from .versions import Version

FACTS_FILE = ROOT / "hook" / "kea_facts.yaml"


class UnsupportedVersion(UsageError, ValueError):
    pass


@dataclass(frozen=True)
class KeaFacts:
    """Every fact resolved for one Kea version; attributes are the fact names."""

    version: Version
    values: dict = field(compare=False)
    hook_points: dict = field(compare=False)  # name -> first Version
    parking: dict = field(default_factory=dict, compare=False)  # name -> first Version that parks
    # Releases whose rendered facts and hook points equal this version's: valid_from <= V <
    # valid_until (valid_until is at most the first series after the newest known one).
    valid_from: Version = field(default=Version(1, 1, 0), compare=False)
    valid_until: Version = field(default=Version(1, 1, 0), compare=False)

    def __getattr__(self, name: str) -> Any:
        values = self.__dict__.get("values", {})
        if name in values:
            return values[name]
        raise AttributeError(name)

    def has_hook_point(self, name: str) -> bool:
        return self.hook_points[name] <= self.version

    def parks_at(self, name: str) -> bool:
        """Whether this Kea parks a query a callout asks to park at hook point `name`."""
        return name in self.parking and self.parking[name] <= self.version

    def parking_points(self) -> list[str]:
        return [name for name in self.parking if self.parks_at(name)]


@lru_cache(maxsize=None)
def load_table(path: Path = FACTS_FILE) -> dict:
    """The table of Kea version facts as the file holds it (checked, not yet per version)."""
    data = yaml.safe_load(path.read_text())
    both = set(data["facts"]) & set(data["toolkit_facts"])
    if both:
        raise ValueError(f"{path}: facts listed both as rendered and as toolkit facts: {sorted(both)}")
    for name, steps in {**data["facts"], **data["toolkit_facts"]}.items():
        versions = [Version.parse(step["since"]) for step in steps]
        if versions != sorted(versions) or versions[0] != Version(1, 1, 0):
            raise ValueError(f"{path}: fact {name}: steps must start at 1.1.0 and be sorted")
    return data


def _resolve(steps: list, version: Version) -> Any:
    current = None
    for step in steps:
        if Version.parse(step["since"]) <= version:
            current = step["value"]
    return current


def _valid_range(data: dict, version: Version) -> tuple:
    """[from, until) around `version` in which no rendered fact and no hook point changes."""
    boundaries = {Version.parse(step["since"]) for steps in data["facts"].values() for step in steps}
    boundaries |= {Version.parse(since) for since in data["hook_points"].values()}
    boundaries |= {Version.parse(since) for since in data["parking"].values()}
    newest = max(Version.parse(s) for s in data["series"])
    # Facts are known up to the newest series: a later release is not vouched for.
    boundaries.add(Version(newest.major, newest.minor + 1, 0))
    return (max(b for b in boundaries if b <= version),
            min(b for b in boundaries if b > version))


def supported_series() -> list[str]:
    return list(load_table()["series"])


def resolve_version(text: str) -> Version:
    """`X.Y` -> the series' reference release; `X.Y.Z` -> itself. Unknown series fail."""
    data = load_table()
    series = data["series"]
    try:
        wanted = Version.parse(text)
    except ValueError as exc:
        raise UnsupportedVersion(f"{exc}; supported series: {', '.join(series)}") from None
    if wanted.series not in series:
        raise UnsupportedVersion(
            f"Kea {text} is not supported: known series are {', '.join(series)}"
        )
    if "." not in str(text).strip().split(".", 1)[1]:
        return Version.parse(series[wanted.series])
    return wanted


def facts_for(text: str, rendered_only: bool = False) -> KeaFacts:
    """Every fact for Kea `text`; with `rendered_only`, only those the rendered tree may depend
    on (the render asks for these, so a template cannot read a fact that the tree's validity
    range ignores)."""
    version = resolve_version(text)
    data = load_table()
    sections = [data["facts"]] if rendered_only else [data["facts"], data["toolkit_facts"]]
    values = {name: _resolve(steps, version) for section in sections for name, steps in section.items()}
    hook_points = {name: Version.parse(since) for name, since in data["hook_points"].items()}
    parking = {name: Version.parse(since) for name, since in data["parking"].items()}
    valid_from, valid_until = _valid_range(data, version)
    return KeaFacts(version=version, values=values, hook_points=hook_points, parking=parking,
                    valid_from=valid_from, valid_until=valid_until)
