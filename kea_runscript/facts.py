"""Kea version facts (hook/kea_facts.yaml): what the API looks like in a given release."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from . import ROOT
from .versions import Version

FACTS_FILE = ROOT / "hook" / "kea_facts.yaml"


class UnsupportedVersion(ValueError):
    pass


@dataclass(frozen=True)
class KeaFacts:
    """Every fact resolved for one Kea version; attributes are the fact names."""

    version: Version
    values: dict = field(compare=False)
    hook_points: dict = field(compare=False)  # name -> first Version

    def __getattr__(self, name: str) -> Any:
        values = self.__dict__.get("values", {})
        if name in values:
            return values[name]
        raise AttributeError(name)

    def has_hook_point(self, name: str) -> bool:
        return self.hook_points[name] <= self.version


@lru_cache(maxsize=None)
def _load(path: Path = FACTS_FILE) -> dict:
    data = yaml.safe_load(path.read_text())
    for name, steps in data["facts"].items():
        versions = [Version.parse(step["since"]) for step in steps]
        if versions != sorted(versions) or versions[0] != Version(1, 1, 0):
            raise ValueError(f"{path}: fact {name}: steps must start at 1.1.0 and be sorted")
    return data


def supported_series() -> list[str]:
    return list(_load()["series"])


def resolve_version(text: str) -> Version:
    """`X.Y` -> the series' reference release; `X.Y.Z` -> itself. Unknown series fail."""
    data = _load()
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


def facts_for(text: str) -> KeaFacts:
    version = resolve_version(text)
    data = _load()
    values = {}
    for name, steps in data["facts"].items():
        current = None
        for step in steps:
            if Version.parse(step["since"]) <= version:
                current = step["value"]
        values[name] = current
    hook_points = {name: Version.parse(since) for name, since in data["hook_points"].items()}
    return KeaFacts(version=version, values=values, hook_points=hook_points)
