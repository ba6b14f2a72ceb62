"""The toolkit's wheel works once installed (``pytest -m integration``; pip needs the index for
the wheel's dependencies): made as the release makes it (``python -m build``: sdist, then the
wheel from the sdist), installed into a fresh venv, run outside any checkout, ``kea-runscript
list`` prints the matrix and ``kea-runscript render`` writes the same C++ as the checkout, into
the current directory."""

import subprocess
import venv
from pathlib import Path

import pytest

from kea_runscript import build, matrix, release, render

pytestmark = pytest.mark.integration


def test_installed_wheel_lists_and_renders(tmp_path):
    (tmp_path / "dists").mkdir()
    dists = release.python_dists(tmp_path / "dists")
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
    assert build.tree_digest(src) == build.tree_digest(render.render_tree(cell.kea, tmp_path / "checkout-render"))
    assert list((work / "build" / "render").iterdir()), r.stdout  # --kea 3.0 -> build/render/3.0.x/

    # The data came from the installed package, not from this checkout.
    r = subprocess.run([str(py), "-c", "import kea_runscript as k; print(k.ROOT); print(k.WORK)"], cwd=work,
                       capture_output=True, text=True, env=env)
    root, work_dir = r.stdout.split()
    assert root.startswith(str(env_dir)) and root.endswith("kea_runscript/data") and work_dir == str(work)
    assert not (Path(root) / "build").exists()
