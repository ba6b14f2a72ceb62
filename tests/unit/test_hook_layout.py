"""The hook's C++ reads one concern per file: every source is in the one list the Makefile, the
drivers and the fuzz targets read (kea_runscript/model/hook_sources.py), no file of hook/ is
over 400 lines, no function over 80, and the file that holds the supervisor states its
invariants at its top."""

from __future__ import annotations

import re
from pathlib import Path
from typing import List, Tuple

import pytest

from kea_runscript.model import hook_sources, no_libc

MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 80
HOOK = hook_sources.HOOK_DIR


def code_of(line: str) -> str:
    """The line without comments, strings and character literals (their braces are text)."""
    line = re.sub(r'"(\\.|[^"\\])*"', '""', line)
    line = re.sub(r"'(\\.|[^'\\])*'", "''", line)
    return line.split("//", 1)[0]


def functions(text: str) -> List[Tuple[str, int, int]]:
    """(name, first line, lines) of each function body at namespace or class level: a brace
    that opens after a parameter list closes its function. Lambdas and blocks inside a
    function count as the function's."""
    found, depth, start, name, pending = [], 0, 0, "", ""
    preprocessor = False
    for number, raw in enumerate(text.split("\n"), 1):
        line = code_of(raw)
        if preprocessor or line.lstrip().startswith("#"):  # no function starts there
            preprocessor = raw.rstrip().endswith("\\")  # continued on the next line
            continue
        if not name:
            m = re.search(r"([~\w:]+)\s*\(", line)
            if m and not pending and not re.match(r"\s*(if|for|while|switch|return|namespace|struct|class|enum)\b", line):
                pending = (m.group(1), number)
            if pending and line.strip().endswith((";", "}")) and "{" not in line:
                pending = ""  # a declaration, a call: no body follows
        for ch in line:
            if ch == "{":
                if not name and pending and ")" in code_of("\n".join(text.split("\n")[pending[1] - 1:number])):
                    name, start = pending[0], pending[1]
                    opened_at = depth
                    pending = ""
                depth += 1
            elif ch == "}":
                depth -= 1
                if name and depth == opened_at:
                    found.append((name, start, number - start + 1))
                    name = ""
    return found


def test_every_source_is_in_the_one_list_and_the_list_names_no_other():
    on_disk = sorted(p.name for p in HOOK.glob("*.cc"))
    assert sorted(hook_sources.SOURCES) == on_disk
    for group in (hook_sources.LAUNCHER, hook_sources.HANDLER, hook_sources.PARAMETERS,
                  hook_sources.PROTOCOL, hook_sources.LOG_TEXT):
        assert set(group) <= set(on_disk)
    assert no_libc.SOURCE in hook_sources.LAUNCHER


@pytest.mark.parametrize("path", sorted(HOOK.glob("*.cc")) + sorted(HOOK.glob("*.h")), ids=lambda p: p.name)
def test_no_file_of_the_hook_is_over_400_lines(path: Path):
    assert len(path.read_text().splitlines()) <= MAX_FILE_LINES


@pytest.mark.parametrize("path", sorted(HOOK.glob("*.cc")) + sorted(HOOK.glob("*.h")), ids=lambda p: p.name)
def test_no_function_of_the_hook_is_over_80_lines(path: Path):
    long = [f"{name} (line {start}): {lines} lines" for name, start, lines in functions(path.read_text())
            if lines > MAX_FUNCTION_LINES]
    assert long == []


def test_the_function_walk_measures_bodies_and_sees_a_long_one():
    text = ("namespace x {\n"
            "int short_one(int a) {\n    return a;\n}\n"
            "void Pool::long_one(const char* s,\n                   int n) {\n"
            + "    if (n) { s = \"{\"; }\n" * 90 + "}\n}  // namespace x\n")
    found = {name: lines for name, _, lines in functions(text)}
    assert found["short_one"] == 3
    assert found["Pool::long_one"] == 93  # from its first line to its closing brace


def test_the_supervisor_file_states_its_invariants_at_its_top():
    top = (HOOK / no_libc.SOURCE).read_text().split("#include", 1)[0]
    for invariant in ("No libc", "No PLT", "Its own stacks", "No thread-local state"):
        assert invariant in top


@pytest.mark.parametrize("path", sorted(HOOK.glob("*.h")), ids=lambda p: p.name)
def test_no_header_of_the_hook_is_named_like_a_system_header(path: Path):
    """The test programs compile with -I hook/: a hook/spawn.h would shadow <spawn.h>."""
    assert not any(Path(d, path.name).exists() for d in ("/usr/include", "/usr/local/include")), path.name
