"""The package reads as its pipeline: each stage a subpackage, and imports run one way only.

    model -> generate -> engine -> builder -> verify -> bench -> release -> cli

A stage imports its own modules and earlier stages', never a later one; the foundation
(errors, output, the handler record format, the package root) imports no stage; only ``cli``
imports ``cli``'s callees' commands, and nothing imports ``cli``. Every import is walked, those
made inside functions too, and the graph has no cycle. What only tests run lives in
tests/support/, which the package never imports."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Set

import pytest

from kea_runscript import ROOT

PACKAGE = ROOT / "kea_runscript"
FOUNDATION = ("kea_runscript", "kea_runscript.errors", "kea_runscript.output",
              "kea_runscript.handler_records")
STAGES = ("model", "generate", "engine", "builder", "verify", "bench", "release")
TOP = "kea_runscript.cli"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> Dict[str, Path]:
    """Every module of the package, but the scripts copied into containers (verify/tools/),
    which are run there, not imported."""
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py")) if "tools" not in p.parts}


def imports_of(name: str, path: Path, known: Set[str]) -> Set[str]:
    """The package's modules that ``name`` imports, anywhere in its file."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
            continue
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            base = name.split(".") if is_package else name.split(".")[:-1]
            base = base[:len(base) - (node.level - 1)]
            source = ".".join(base + ([node.module] if node.module else []))
        else:
            source = node.module or ""
        submodules = {f"{source}.{a.name}" for a in node.names} & known  # `from . import facts`
        found |= submodules
        if len(submodules) < len(node.names):  # names defined by the module `source` itself
            found.add(source)
    return {m for m in found if m in known or m.startswith("tests")}


def graph() -> Dict[str, Set[str]]:
    mods = modules()
    return {name: imports_of(name, path, set(mods)) - {name} for name, path in mods.items()}


def stage(name: str) -> int:
    """0 the foundation, 1.. the stages in pipeline order, then the command line."""
    if name in FOUNDATION:
        return 0
    if name == TOP:
        return len(STAGES) + 1
    parts = name.split(".")
    if len(parts) > 1 and parts[1] in STAGES:
        return STAGES.index(parts[1]) + 1
    raise AssertionError(f"{name} is in no stage: put it in one of {', '.join(STAGES)} (or the foundation)")


def cycles(g: Dict[str, Set[str]]) -> List[List[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on: Set[str] = set()
    out: List[List[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def test_every_module_has_a_stage():
    for name in modules():
        stage(name)


def test_no_import_cycle():
    assert cycles(graph()) == []


def test_imports_run_from_later_stages_to_earlier_ones_only():
    backwards = [f"{a} imports {b}" for a, targets in graph().items() for b in sorted(targets)
                 if not b.startswith("tests") and stage(b) > stage(a)]
    assert backwards == []


def test_nothing_imports_the_command_line_and_the_package_never_imports_tests():
    g = graph()
    assert [a for a, t in g.items() if TOP in t] == []
    assert [f"{a} imports {b}" for a, t in g.items() for b in t if b.startswith("tests")] == []


@pytest.mark.parametrize("edge, found", [
    ({"kea_runscript.model.facts": {"kea_runscript.verify.smoke"}}, "backwards"),
    ({"kea_runscript.verify.smoke": {"kea_runscript.verify.examples"},
      "kea_runscript.verify.examples": {"kea_runscript.verify.smoke"}}, "cycle"),
])
def test_the_walk_sees_a_backward_import_and_a_cycle(edge, found):
    """The checks above can fail: a made-up edge of each kind is caught."""
    g = graph()
    for a, targets in edge.items():
        g[a] = g[a] | targets
    if found == "cycle":
        assert ["kea_runscript.verify.examples", "kea_runscript.verify.smoke"] in cycles(g)
    else:
        assert any(stage(b) > stage(a) for a, t in g.items() for b in t if not b.startswith("tests"))


def test_a_function_level_import_is_an_import(tmp_path):
    source = tmp_path / "kea_runscript" / "model" / "x.py"
    source.parent.mkdir(parents=True)
    source.write_text("def f():\n    from ..verify import smoke\n    return smoke\n")
    found = imports_of("kea_runscript.model.x", source, {"kea_runscript.verify.smoke"})
    assert found == {"kea_runscript.verify.smoke"}


MAX_FUNCTION_LINES = 80


def long_functions(paths, root: Path = ROOT) -> list:
    """(file, function, lines) of every function longer than MAX_FUNCTION_LINES."""
    found = []
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    found.append((str(path.relative_to(root)), node.name, lines))
    return found


def test_no_python_function_is_over_80_lines():
    """The toolkit's, the test rigs' and the tests' functions: each a reader can hold."""
    paths = sorted(PACKAGE.rglob("*.py")) + sorted((ROOT / "tests").rglob("*.py")) + [ROOT / "noxfile.py"]
    assert long_functions(paths) == []


def test_the_length_walk_sees_a_long_function(tmp_path):
    (tmp_path / "long.py").write_text("def long():\n" + "    x = 1\n" * MAX_FUNCTION_LINES)
    (tmp_path / "short.py").write_text("def short():\n    return 1\n")
    found = long_functions(sorted(tmp_path.glob("*.py")), tmp_path)
    assert found == [("long.py", "long", MAX_FUNCTION_LINES + 1)]
