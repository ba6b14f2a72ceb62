"""Render the hook's complete C++ source tree for one Kea version.

Static sources come from hook/ as they are; the Kea-version-dependent files come from the
templates in templates/hook/, fed with the catalogue and the facts for that version.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import jinja2

from .. import HOOK_VERSION, ROOT
from ..model import hook_sources, no_libc
from . import templating
from ..model.catalogue import Catalogue, load as load_catalogue
from ..model.facts import VERDICTS, KeaFacts, facts_for

HOOK_DIR = hook_sources.HOOK_DIR
TEMPLATE_DIR = ROOT / "templates" / "hook"

# Static files of hook/ that go into every tree (data files and helpers stay out).
STATIC_SOURCES = hook_sources.SOURCES
STATIC_HEADERS = tuple(hook_sources.headers())
SHIM_SCRIPT = "make-cfg-globals-shim.sh"

# Callout argument kinds that are smart pointers a callout skips when null. Subnets are
# handled by their fields (1.4 sends empty values when no subnet was selected).
SKIP_WHEN_NULL = {"pkt4", "pkt6", "lease4", "lease6"}


def _environment() -> jinja2.Environment:
    return templating.environment(TEMPLATE_DIR, trim_blocks=True, lstrip_blocks=True)


def _pattern_expression(pattern) -> str:
    """C++ expression building a pattern's NAME= from `code_text` and `sub_text`."""
    pieces = {"<code>": "code_text", "<sub>": "sub_text"}
    parts = [pieces.get(part, f'std::string("{part}")') for part in pattern.cxx_parts()]
    return " + ".join(parts + ['"="'])


def version_number(version) -> int:
    """X.Y.Z as kea_features.h's version_number() reads config.h's VERSION."""
    return version.major * 10000 + version.minor * 100 + version.patch


def _statuses(kea: KeaFacts, name: str) -> dict:
    """What Kea does with `skip` / `drop` at hook point `name` (the hook's own replay events
    have no status: Kea does not wait for them)."""
    statuses = kea.statuses.get(name, {"skip": ("ok", ""), "drop": ("ok", "")})
    return {f"{status}_{part}": (VERDICTS.index(verdict) if part == "verdict" else effect)
            for status, (verdict, effect) in statuses.items() for part in ("verdict", "effect")}


def _hook_points(kea: KeaFacts, catalogue: Catalogue, by_name: dict, isc_points: dict) -> list:
    """Every hook point's facts for the templates: ours, ISC's, where Kea parks."""
    points = []
    for index, point in enumerate(catalogue.hook_points):
        available = kea.has_hook_point(point.name) and all(
            by_name[g]["cxx_type"] for g in point.emits)
        points.append({
            "name": point.name,
            "index": index,
            "ours": True,
            "available": available,
            "default": point.default,
            "family": point.family,
            "since": str(kea.hook_points[point.name]),
            "emits": point.emits,
            "max_vars": sum(len(by_name[g]["variables"]) for g in point.emits),
            # Kea parks the query there (park: true); the callout hands it over
            "parks": kea.parks_at(point.name),
            "park_since": str(kea.parking.get(point.name, "")),
            "query_type": kea.values[f"type_pkt{point.family}"],
            "query_argument": f"query{point.family}",
            # the hook's own lease replay: started at this Kea hook point
            "replay": point.replay,
            "lease_type": kea.values[f"type_lease{point.family}"],
        })
    for point in points:
        point.update(isc_points.get(point["name"], {"isc": False, "isc_available": False}))
        point.update(_statuses(kea, point["name"]))
    for name, extra in isc_points.items():  # ISC's hook points ours lacks (addr6_register)
        if not any(p["name"] == name for p in points):
            points.append({"name": name, "index": len(points), "ours": False,
                            "available": False, "default": False,
                            "family": 6 if "6" in name else 4,
                            "since": str(kea.hook_points[name]), "emits": (), "max_vars": 0,
                            "parks": False, "park_since": "", "replay": "", **extra,
                            **_statuses(kea, name)})
    return points


def template_context(kea: KeaFacts, catalogue: Catalogue) -> dict:
    groups = []
    for group in catalogue.groups.values():
        variables = [v for v in group.variables if v.since <= kea.version]
        groups.append({
            "name": group.name,
            "argument": group.argument,
            "cxx_type": kea.values[f"type_{group.object}"],
            "skip_when_null": group.object in SKIP_WHEN_NULL,
            "variables": variables,
            "family": 6 if group.object.endswith("6") else 4,
            "patterns": [{"name": p.name, "has_sub": "<sub>" in p.name,
                          "cxx": _pattern_expression(p)} for p in group.patterns],
            # variables named like one of the group's patterns (KEA_QUERY4_OPTION60): when the
            # operator lists that option, its hex form replaces the variable (one name, once)
            "shadowed": sorted(v.name for v in variables
                               if any(re.match(p.regex, v.name) for p in group.patterns)),
        })
    isc_blocks, isc_points = isc_context(kea, catalogue)
    points = _hook_points(kea, catalogue, {g["name"]: g for g in groups}, isc_points)
    missing = kea.missing_headers
    shim = missing if missing and missing["remedy"] == "shim" else None
    source_tree = missing if missing and missing["remedy"] == "source-tree" else None
    sources = list(STATIC_SOURCES) + ["callouts.cc"]
    valid_from, valid_until = kea.valid_from, kea.valid_until
    # a variable's `since` (and an ISC one's `until`) is a boundary of the tree too
    boundaries = [v.since for v in catalogue.variables()]
    if catalogue.isc:
        boundaries += [b for block in catalogue.isc.blocks.values() for v in block.variables
                       for b in (v.since, v.until) if b is not None]
    for boundary in boundaries:
        if boundary <= kea.version:
            valid_from = max(valid_from, boundary)
        else:
            valid_until = min(valid_until, boundary)
    return {
        "kea": kea,
        "hook_version": HOOK_VERSION,
        "groups": groups,
        # each shadowed name once, in a fixed order: the index of Runner::shadowed()
        "shadowable": sorted({name for g in groups for name in g["shadowed"]}),
        # the variables whose value identifies the client (the handler mode's key)
        "client_keys": {v.name for v in catalogue.variables() if catalogue.identifies_client(v)},
        "hook_points": points,
        "isc_blocks": isc_blocks,
        "shim": shim,
        "source_tree": source_tree,
        "sources": sorted(sources),
        "no_libc": {"source": no_libc.SOURCE, "flags": " ".join(no_libc.FLAGS),
                    "supervisor_symbol": no_libc.SUPERVISOR_SYMBOL,
                    "linker_defined": " ".join(no_libc.LINKER_DEFINED)},
        "valid_from": valid_from,
        "valid_until": valid_until,
        "valid_from_number": version_number(valid_from),
        "valid_until_number": version_number(valid_until),
    }


def isc_context(kea: KeaFacts, catalogue: Catalogue) -> tuple:
    """ISC's dialect for the template: its blocks (the variables this Kea's ISC hook sends) and,
    per hook point, its emits with the C++ types of their arguments."""
    isc = catalogue.isc
    if isc is None:
        return [], {}
    blocks = []
    for block in isc.blocks.values():
        cxx_type = kea.values[f"type_{block.object}"]
        variables = [{"suffix": v.suffix, "field": v.field, "conditional": bool(v.when),
                      "client": bool(isc.types[v.type].get("client"))}
                     for v in block.variables if v.sent_by(kea.version)]
        blocks.append({"name": block.name, "cxx_type": cxx_type, "variables": variables,
                       "nullable": bool(cxx_type) and cxx_type.endswith("Ptr"),
                       "collection_type": kea.values.get(f"type_{block.object}_collection")})
    by_name = {b["name"]: b for b in blocks}
    points = {}
    for point in isc.hook_points:
        emits = []
        for emit in point.emits:
            block = by_name[emit.block]
            emits.append({"block": emit.block, "prefix": emit.prefix, "argument": emit.argument,
                          "argument_pd": emit.argument_pd, "each": emit.each,
                          "only_if_set": emit.only_if_set,
                          "cxx_type": block["collection_type"] if emit.each else block["cxx_type"],
                          "names": [emit.prefix + v["suffix"] for v in block["variables"]]})
        available = bool(kea.isc_dialect) and kea.has_hook_point(point.name) and all(
            e["cxx_type"] for e in emits)
        points[point.name] = {
            "isc": True, "isc_available": available, "isc_emits": emits,
            # a collection counts as one lease: the reserve is a hint, not a bound
            "isc_max_vars": sum(len(e["names"]) + (1 if e["each"] else 0) for e in emits)}
    return blocks, points


def render_files(kea_version: str) -> dict[str, str]:
    """{relative path: content} of the complete tree, without writing anything."""
    kea = facts_for(kea_version, rendered_only=True)
    context = template_context(kea, load_catalogue())
    env = _environment()
    files = {}
    for name in STATIC_SOURCES + STATIC_HEADERS:
        files[name] = (HOOK_DIR / name).read_text()
    if context["shim"]:
        files[SHIM_SCRIPT] = (HOOK_DIR / SHIM_SCRIPT).read_text()
    for template, target in (("callouts.cc.j2", "callouts.cc"),
                             ("kea_features.h.j2", "kea_features.h"),
                             ("Makefile.j2", "Makefile")):
        files[target] = env.get_template(template).render(**context)
    return files


def render_tree(kea_version: str, dest: Path) -> Path:
    """Write the tree for `kea_version` (X.Y or X.Y.Z) into `dest`, replacing its contents."""
    dest = Path(dest)
    files = render_files(kea_version)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for name, content in sorted(files.items()):
        (dest / name).write_text(content)
    return dest
