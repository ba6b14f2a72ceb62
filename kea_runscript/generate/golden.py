"""Golden copies of the rendered, version-dependent files, one directory per Kea series.

They make every template or catalogue change show its effect per Kea version in review:
`kea-runscript golden --update` rewrites them, `kea-runscript golden` and
tests/unit/test_render.py compare.
"""

from __future__ import annotations

from pathlib import Path

from .. import ROOT
from ..model.facts import supported_series
from .render import STATIC_HEADERS, STATIC_SOURCES, render_files

GOLDEN_DIR = ROOT / "tests" / "golden"


def rendered_per_series() -> dict[str, dict[str, str]]:
    """{series: {file: content}} for the files that templates produce."""
    static = set(STATIC_SOURCES) | set(STATIC_HEADERS)
    result = {}
    for series in supported_series():
        files = render_files(series)
        result[series] = {name: text for name, text in files.items() if name not in static
                          and not name.endswith(".sh")}
    return result


def differences(golden_dir: Path | None = None) -> list[str]:
    golden_dir = golden_dir or GOLDEN_DIR
    problems = []
    for series, files in rendered_per_series().items():
        for name, text in files.items():
            path = golden_dir / series / name
            if not path.exists():
                problems.append(f"{path}: missing")
            elif path.read_text() != text:
                problems.append(f"{path}: differs from the rendered {name} for Kea {series}")
    return problems


def update(golden_dir: Path | None = None) -> list[Path]:
    golden_dir = golden_dir or GOLDEN_DIR
    written = []
    for series, files in rendered_per_series().items():
        for name, text in files.items():
            path = golden_dir / series / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists() or path.read_text() != text:
                path.write_text(text)
                written.append(path)
    return written
