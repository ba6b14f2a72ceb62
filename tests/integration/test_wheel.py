"""The toolkit's wheel works once installed (``pytest -m integration``; pip needs the index for
the wheel's dependencies): made as the release makes it (``python -m build``: sdist, then the
wheel from the sdist), installed into a fresh venv, run outside any checkout, ``kea-runscript
list`` prints the matrix, ``kea-runscript render`` writes the same C++ as the checkout, into
the current directory, ``kea-runscript bench --launcher-only --quick`` prints its tables, and
the public handler_records module is there. The wheel holds every module of the package and
nothing that only tests run."""

import subprocess
import venv
import zipfile
from pathlib import Path

import pytest

from kea_runscript.builder import hook
from kea_runscript.model import matrix
from kea_runscript import ROOT, release
from kea_runscript.generate import render

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def dists(tmp_path_factory):
    return release.python_dists(tmp_path_factory.mktemp("dists"))


def test_installed_wheel_lists_renders_and_benchmarks(tmp_path, dists):
    (wheel,) = [p for p in dists if p.suffix == ".whl"]
    (sdist,) = [p for p in dists if p.name.endswith(".tar.gz")]
    assert wheel.name.startswith("kea_runscript-") and sdist.name.startswith("kea_runscript-")

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    py, tool = env_dir / "bin" / "python", env_dir / "bin" / "kea-runscript"
    r = subprocess.run([str(py), "-m", "pip", "install", "--quiet", str(wheel)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    work = tmp_path / "work"  # no checkout here: the wheel must carry its data
    work.mkdir()
    env = {"PATH": f"{env_dir / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path)}

    r = subprocess.run([str(tool), "list"], cwd=work, capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert [line.split()[:2] for line in r.stdout.splitlines()] == [[c.id, c.status] for c in matrix.load().cells]

    cell = matrix.load().by_id("kea2.6.3-debian13-amd64")
    r = subprocess.run([str(tool), "render", "--only", cell.id, "--kea", "3.0"], cwd=work, capture_output=True,
                       text=True, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    src = work / "build" / cell.id / "src"
    assert (src / "Makefile").is_file(), r.stdout
    assert hook.tree_digest(src) == hook.tree_digest(render.render_tree(cell.kea, tmp_path / "checkout-render"))
    assert list((work / "build" / "render").iterdir()), r.stdout  # --kea 3.0 -> build/render/3.0.x/

    # What only a benchmark needs ships: the launcher driver's sources, the handler's C program.
    r = subprocess.run([str(tool), "bench", "--launcher-only", "--quick"], cwd=work, capture_output=True,
                       text=True, env=env, timeout=900)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stdout + r.stderr
    assert "posix_spawn" in r.stdout and "handler" in r.stdout, r.stdout
    assert (work / "build").is_dir() and not (env_dir / "lib").joinpath("build").exists()

    r = subprocess.run([str(py), "-c", "from kea_runscript.handler_records import encode_record, decode_records\n"
                        "r = encode_record('lease4_renew', [b'KEA_HOSTNAME=a\\nb'])\n"
                        "assert decode_records(r)[0].vars == [b'KEA_HOSTNAME=a\\nb']"],
                       cwd=work, capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr

    # The data came from the installed package, not from this checkout.
    r = subprocess.run([str(py), "-c", "import kea_runscript as k; print(k.ROOT); print(k.WORK)"], cwd=work,
                       capture_output=True, text=True, env=env)
    root, work_dir = r.stdout.split()
    assert root.startswith(str(env_dir)) and root.endswith("kea_runscript/data") and work_dir == str(work)
    assert not (Path(root) / "build").exists()


def test_the_wheel_holds_the_package_and_no_test_rig(dists):
    (wheel,) = [p for p in dists if p.suffix == ".whl"]
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {str(p.relative_to(ROOT)) for p in (ROOT / "kea_runscript").rglob("*.py")}
    assert modules - names == set()
    assert {"kea_runscript/builder/drivers/launcher_driver.cc", "kea_runscript/bench/tools/handler_rtt.c",
            "kea_runscript/handler_records.py"} <= names
    assert [n for n in names if n.startswith("tests/") or "/scenarios/" in n or "handler_driver" in n
            or "qemu_system" in n] == []
