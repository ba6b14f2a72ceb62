"""The test programs' builds: one object per source, each given only the RUNSCRIPT_* defines
it can see (kea_runscript/builder/launcher_driver.py compile_cached)."""

from __future__ import annotations

import subprocess

from kea_runscript.builder.launcher_driver import compile_cached

HEADER = """#pragma once
#ifdef RUNSCRIPT_IN_HEADER
inline int from_header() { return 1; }
#else
inline int from_header() { return 0; }
#endif
"""
A = """#include <cstdio>
#include "seen.h"
int b_value();
int main() { std::printf("%d %d\\n", from_header(), b_value()); }
"""
B = """#ifdef RUNSCRIPT_ONLY_B
int b_value() { return 2; }
#else
int b_value() { return 0; }
#endif
"""


def _tree(tmp_path):
    for name, text in (("seen.h", HEADER), ("a.cc", A), ("b.cc", B)):
        (tmp_path / name).write_text(text)
    return [tmp_path / "a.cc", tmp_path / "b.cc"], [tmp_path / "seen.h"]


def _run(binary):
    return subprocess.run([str(binary)], capture_output=True, text=True, check=True).stdout.split()


def test_a_define_reaches_the_files_that_name_it_through_their_headers_too(tmp_path):
    sources, headers = _tree(tmp_path)
    out = tmp_path / "out"
    assert _run(compile_cached("p", sources, headers, out)) == ["0", "0"]
    assert _run(compile_cached("p", sources, headers, out, ("RUNSCRIPT_IN_HEADER",))) == ["1", "0"]
    assert _run(compile_cached("p", sources, headers, out, ("RUNSCRIPT_ONLY_B",))) == ["0", "2"]


def test_a_build_differing_by_one_define_recompiles_only_the_files_that_name_it(tmp_path):
    sources, headers = _tree(tmp_path)
    out = tmp_path / "out"
    compile_cached("p", sources, headers, out)
    before = {p.name for p in (out / "objects").glob("*.o")}
    compile_cached("p", sources, headers, out, ("RUNSCRIPT_ONLY_B",))
    new = {p.name for p in (out / "objects").glob("*.o")} - before
    assert [n.split("-")[0] for n in new] == ["b"], new
    # a define outside the RUNSCRIPT_ names may mean anything to any file: every file gets it
    compile_cached("p", sources, headers, out, ("_FORTIFY_SOURCE=2",))
    assert len(list((out / "objects").glob("a-*.o"))) == 2
