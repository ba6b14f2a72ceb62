"""Real Docker builds of the verified cells (``pytest -m integration`` / ``nox -s integration``).

* ``test_pipeline_with_stub_hook``: the toolkit's pipeline on a tiny stand-in hook, in a
  temporary build/dist: build, cache hit, rebuild after a one-byte change, broken load check.
* ``test_verified_cell``: the real hook (kea_runscript.generate.render) for each verified cell, into
  the repository's dist/<id>/ (so a later `nox -s build` is warm), with what the builder had
  recorded beside it (builder-packages.txt) and the SBOM the release makes of it.
Test names carry the cell id, so a failure says which cell broke.
"""

import json

import pytest

from kea_runscript.builder import hook, inventory
from kea_runscript.model import matrix
from kea_runscript.release import naming, sbom

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


def assert_provenance(cell, out, info):
    """builder-packages.txt lists the cell's kea-dev at the Kea package version the build
    recorded; the SBOM made of it names the package of each libkea-* the .so links, at the
    version the builder had."""
    listed = out / inventory.PACKAGES_FILE
    assert info["builder_packages"]["sha256"] == hook.sha256_file(listed)
    versions = inventory.package_versions(listed.read_text())
    assert versions.get((cell.dev_package, cell.arch)) == info["kea_package_version"], \
        f"{cell.id}: {cell.dev_package}:{cell.arch} not at {info['kea_package_version']} in {listed}"
    doc = sbom.document(info, listed.read_text(), name=cell.id, version=info["hook_version"], created=0,
                        maintainer="test <t@example.invalid>")
    packages = {p["SPDXID"]: p for p in doc["packages"]}
    links = [r for r in doc["relationships"] if r["relationshipType"] == "DYNAMIC_LINK"]
    kea_links = [r for r in links if "libkea-" in r.get("comment", "")]
    assert kea_links, f"{cell.id}: the SBOM names no libkea-* library: {links}"
    for lib in (x for x in info["linked_libraries"] if x["soname"].startswith("libkea-")):
        linked = [packages[r["relatedSpdxElement"]] for r in kea_links if lib["soname"] in r["comment"].split(", ")]
        assert [(p["name"], p["versionInfo"]) for p in linked] == \
            [(lib["package"], versions[(lib["package"], lib["architecture"])])], lib
        assert naming.upstream_version(linked[0]["versionInfo"]) == cell.kea


@pytest.mark.parametrize("cell", VERIFIED, ids=lambda c: c.id)
def test_verified_cell(cell):
    r = hook.build_cell(cell)
    assert r.ok, f"{cell.id}: {r.message}\nlog: {r.log}"
    info = assert_artifact(hook.Paths(), cell)
    assert_provenance(cell, hook.Paths().out(cell), info)
