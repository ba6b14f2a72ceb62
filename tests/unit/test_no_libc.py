"""The supervisor's no-libc rule is kept by the build (hook/supervisor.h): the generated
Makefile's supervisor.o rule, and the test programs' build, refuse an object that references
any symbol."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from kea_runscript import ROOT
from kea_runscript.builder import launcher_driver
from kea_runscript.model import no_libc
from kea_runscript.generate import render

# A libc call in the supervisor's code: what the rule is there to refuse.
LIBC_CALL = """
#include <string.h>
namespace runscript { unsigned long sneaked_libc_call(const char* s) { return strlen(s); } }
"""


def test_the_makefile_builds_the_supervisor_object_with_no_symbol_referenced(tmp_path):
    tree = render.render_tree("3.0", tmp_path / "tree")
    r = subprocess.run(["make", "-C", str(tree), "supervisor.o"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    for flag in no_libc.FLAGS:
        assert flag in r.stdout
    undefined = subprocess.run(["nm", "--undefined-only", str(tree / "supervisor.o")],
                               capture_output=True, text=True, check=True).stdout
    assert undefined.strip() == ""


def test_the_makefile_refuses_a_libc_call_in_the_supervisor_object(tmp_path):
    tree = render.render_tree("3.0", tmp_path / "tree")
    with open(tree / no_libc.SOURCE, "a") as f:
        f.write(LIBC_CALL)
    # a distribution's usual flags do not get in the way of the refusal, nor hide it
    r = subprocess.run(["make", "-C", str(tree), "supervisor.o",
                        "CXXFLAGS=-O2 -fstack-protector-strong -D_FORTIFY_SOURCE=2"],
                       capture_output=True, text=True)
    assert r.returncode != 0
    assert "supervisor.cc must reference no symbol" in r.stderr and "strlen" in r.stderr, r.stderr
    assert not (tree / "supervisor.o").exists() and not (tree / "supervisor.o.tmp").exists()


@pytest.mark.parametrize("arch", sorted(launcher_driver.CROSS))
def test_the_makefile_takes_each_architecture_s_supervisor_object_and_still_refuses_libc(tmp_path, arch):
    """i386's position-independent code names _GLOBAL_OFFSET_TABLE_, ppc64el's .TOC. (the
    linker's, no code): the rule lets them through, and nothing else (before, the i386 and
    ppc64el builds refused the object)."""
    cross = launcher_driver.cross_compiler(arch)
    assert shutil.which(cross), f"{cross} is needed: run ./bootstrap.sh as root"
    tools = [f"CXX={cross}", f"NM={cross[:-3]}nm"]
    tree = render.render_tree("3.0", tmp_path / "tree")
    r = subprocess.run(["make", "-C", str(tree), "supervisor.o", *tools], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    defined = subprocess.run([f"{cross[:-3]}nm", "--defined-only", str(tree / "supervisor.o")],
                             capture_output=True, text=True, check=True).stdout
    assert no_libc.SUPERVISOR_SYMBOL in defined
    with open(tree / no_libc.SOURCE, "a") as f:
        f.write(LIBC_CALL)
    r = subprocess.run(["make", "-C", str(tree), "supervisor.o", *tools], capture_output=True, text=True)
    assert r.returncode != 0 and "strlen" in r.stderr, r.stderr


def test_only_an_object_holding_the_supervisor_must_be_symbol_free(tmp_path):
    """Where there is no supervisor (architectures without our raw system calls), raw_syscall
    is libc's syscall(), used by a vfork child alone."""
    src = tmp_path / "x.cc"
    obj = tmp_path / "x.o"
    for with_supervisor, want in ((True, ["strlen"]), (False, [])):
        src.write_text(LIBC_CALL + ('extern "C" void runscript_clone() {}\n' if with_supervisor else ""))
        subprocess.run(["g++", "-O2", "-c", str(src), "-o", str(obj)], check=True)
        assert no_libc.violations("nm", obj) == want


def test_the_test_programs_refuse_it_too(tmp_path, monkeypatch):
    hook = tmp_path / "hook"
    shutil.copytree(ROOT / "hook", hook)
    with open(hook / no_libc.SOURCE, "a") as f:
        f.write(LIBC_CALL)
    monkeypatch.setattr(launcher_driver, "ROOT", tmp_path)
    with pytest.raises(no_libc.LibcInSupervisor, match="strlen"):
        launcher_driver.compile_cached("launcher_driver", [hook / "launcher.cc", hook / no_libc.SOURCE,
                                                           launcher_driver.DRIVERS / "launcher_driver.cc"],
                                       [], tmp_path / "out")
