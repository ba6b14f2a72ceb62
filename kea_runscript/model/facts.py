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
    # hook point -> {"skip": (verdict, effect), "drop": (verdict, effect)} at this version
    statuses: dict = field(default_factory=dict, compare=False)
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
        _check_steps(steps, f"{path}: fact {name}")
    for point, statuses in data["callout_status"].items():
        if point not in data["hook_points"]:
            raise ValueError(f"{path}: callout_status: {point} is no hook point of hook_points")
        if sorted(statuses) != ["drop", "skip"]:
            raise ValueError(f"{path}: callout_status: {point} needs exactly `skip` and `drop`")
        for status, steps in statuses.items():
            where = f"{path}: callout_status: {point} {status}"
            _check_steps(steps, where)
            for step in steps:
                if step.get("verdict") not in VERDICTS or not step.get("effect"):
                    raise ValueError(f"{where}: each step needs a verdict ({', '.join(VERDICTS)}) and an effect")
    return data


def _check_steps(steps: list, where: str) -> None:
    versions = [Version.parse(step["since"]) for step in steps]
    if versions != sorted(versions) or versions[0] != Version(1, 1, 0):
        raise ValueError(f"{where}: steps must start at 1.1.0 and be sorted")


#: What the hook does with a status a script asks for at a hook point (kea_facts.yaml's
#: callout_status), in the order of the hook's StatusVerdict.
VERDICTS = ("ok", "warn", "refuse")


def status_at(steps: list, version: Version) -> tuple:
    """(verdict, effect) of a callout_status entry at `version`."""
    current = steps[0]
    for step in steps:
        if Version.parse(step["since"]) <= version:
            current = step
    return current["verdict"], current["effect"]


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
    boundaries |= {Version.parse(step["since"]) for statuses in data["callout_status"].values()
                   for steps in statuses.values() for step in steps}
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
    statuses = {point: {status: status_at(steps, version) for status, steps in entry.items()}
                for point, entry in data["callout_status"].items()}
    valid_from, valid_until = _valid_range(data, version)
    return KeaFacts(version=version, values=values, hook_points=hook_points, parking=parking,
                    statuses=statuses, valid_from=valid_from, valid_until=valid_until)
