"""Real Docker builds of the verified cells (``pytest -m integration`` / ``nox -s integration``).

* ``test_pipeline_with_stub_hook``: the toolkit's pipeline on a tiny stand-in hook, in a
  temporary build/dist: build, cache hit, rebuild after a one-byte change, broken load check.
* ``test_verified_cell``: the real hook (kea_runscript.generate.render) for each verified cell, into
  the repository's dist/<id>/ (so a later `nox -s build` is warm).
Test names carry the cell id, so a failure says which cell broke.
"""

import json

import pytest

from kea_runscript.builder import hook
from kea_runscript.model import matrix

pytestmark = pytest.mark.integration

from tests.integration.cells import NATIVE_AND_ONE_PER_FOREIGN_ARCH, POLICIES, VERIFIED


def assert_artifact(paths, cell):
    out = paths.out(cell)
    so = out / hook.LIBRARY
    assert so.is_file(), f"{cell.id}: no {so}"
    info = json.loads((out / "build-info.json").read_text())
    assert info["id"] == cell.id and info["kea_version"] == cell.kea
    assert info["sha256"] == hook.sha256_file(so)
    assert info["load_check"] == {"kea-dhcp4 -t": "passed", "kea-dhcp6 -t": "passed"}
    return info


@pytest.mark.parametrize("cell", NATIVE_AND_ONE_PER_FOREIGN_ARCH, ids=lambda c: c.id)
def test_pipeline_with_stub_hook(cell, tmp_path, stub_render):
    paths = hook.Paths(build=tmp_path / "build", dist=tmp_path / "dist")
    r = hook.build_cell(cell, paths=paths, render=stub_render)
    assert r.status == "built", f"{cell.id}: {r.message} (log {r.log})"
    first = assert_artifact(paths, cell)

    r = hook.build_cell(cell, paths=paths, render=stub_render)
    assert r.status == "cached", r.message

    def changed(version, dest):
        stub_render(version, dest)
        (dest / "stub.cc").write_text((dest / "stub.cc").read_text() + "// one more line\n")
        return dest

    r = hook.build_cell(cell, paths=paths, render=changed)
    assert r.status == "built", r.message
    assert assert_artifact(paths, cell)["cache_key"] != first["cache_key"]


@pytest.mark.parametrize("cell", POLICIES["one cell"], ids=lambda c: c.id)
def test_load_check_rejects_a_library_kea_cannot_use(cell, tmp_path, stub_render):
    def no_version(version, dest):
        stub_render(version, dest)
        src = (dest / "stub.cc").read_text().replace("int version()", "int not_version()")
        (dest / "stub.cc").write_text(src)
        return dest

    paths = hook.Paths(build=tmp_path / "build", dist=tmp_path / "dist")
    r = hook.build_cell(cell, paths=paths, render=no_version)
    assert r.status == "failed" and "kea-dhcp4 -t rejected the hook" in r.message
    assert r.log and r.log.name == "kea-check.log" and r.log.is_file()
    assert not (paths.out(cell) / hook.LIBRARY).exists()


@pytest.mark.parametrize("cell", VERIFIED, ids=lambda c: c.id)
def test_verified_cell(cell):
    r = hook.build_cell(cell)
    assert r.ok, f"{cell.id}: {r.message}\nlog: {r.log}"
    assert_artifact(hook.Paths(), cell)
