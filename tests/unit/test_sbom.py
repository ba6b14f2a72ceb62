"""Provenance without Docker: what the builder had (builder/inventory.py: its package list, the
packages of the libraries the .so links, its compiler and headers), recorded at build time
beside the .so, and the SPDX 2.3 SBOM the release makes of it (release/sbom.py) in each cell's
tarball."""

from __future__ import annotations

import hashlib
import json
import tarfile
import urllib.parse
from pathlib import Path

import pytest

from kea_runscript import HOOK_VERSION
from kea_runscript.builder import hook, inventory
from kea_runscript.release import archives, naming, sbom
from tests.unit.fakes import FAKE_DPKG_STATUS, FAKE_INVENTORY, FakeDocker, small_matrix

M = small_matrix()
CELL = M.by_id("kea2.6.3-debian13-amd64")
PACKAGES = inventory.parse_package_list(FAKE_DPKG_STATUS)
VERSIONS = inventory.package_versions(PACKAGES)
NAME = f"kea-hook-runscript-2.0.0-{CELL.id}"
MAINTAINER = "The Maintainers <maintainers@example.org>"


def fake_info(**override) -> dict:
    """build-info.json of a Debian 13 amd64 build, as hook._build writes it."""
    info = {"id": CELL.id, "hook_version": HOOK_VERSION, "git_commit": "a" * 40, "git_dirty": False,
            "source_date_epoch": 1700000000, "kea_version": "2.6.3", "kea_source": "debian",
            "kea_package": "kea-dhcp4-server", "kea_package_version": "2.6.3-1+deb13u1",
            "kea_hooks_version": 20603, "os": {"distro": "debian", "release": "13", "suite": "trixie"},
            "arch": "amd64", "compiler": "g++ (Debian 14.2.0-19) 14.2.0", "source_sha256": "b" * 64,
            "sha256": "c" * 64, "builder_image": {"tag": "kea-runscript/builder:x", "id": "sha256:" + "d" * 64},
            "builder_packages": {"file": inventory.PACKAGES_FILE,
                                 "sha256": hashlib.sha256(PACKAGES.encode()).hexdigest()},
            **inventory.parse_inventory(FAKE_INVENTORY, PACKAGES, "amd64")}
    info.update(override)
    return info


def make_document(info=None, packages=PACKAGES, created=1700000000) -> dict:
    return sbom.document(info or fake_info(), packages, name=NAME, version="2.0.0", created=created,
                         maintainer=MAINTAINER)


def by_name(doc: dict) -> dict:
    return {p["name"]: p for p in doc["packages"]}


def relations(doc: dict, kind: str) -> dict:
    """{related package name: relationship} of the hook's relationships of ``kind``."""
    names = {p["SPDXID"]: p["name"] for p in doc["packages"]}
    out = {}
    for r in doc["relationships"]:
        if r["relationshipType"] != kind:
            continue
        a, b = r["spdxElementId"], r["relatedSpdxElement"]
        other = b if a == sbom.HOOK_ID else a
        out[names[other]] = r
    return out


def purl(name: str, version: str, arch: str) -> str:
    q = lambda s: urllib.parse.quote(s, safe=":")  # noqa: E731  (purl: ':' stays, '+' is %2B)
    return f"pkg:deb/debian/{q(name)}@{q(version)}?arch={arch}"


# --------------------------------------------------------------------------------------------
# at build time: what the builder had


def test_the_package_list_has_the_installed_packages_sorted():
    lines = PACKAGES.splitlines()
    assert lines == sorted(lines) and len(lines) == 11
    assert "kea-common\t2.6.3-1+deb13u1\tamd64" in lines
    assert not [line for line in lines if line.startswith("isc-dhcp-server")]  # config files only
    shuffled = "".join(reversed(FAKE_DPKG_STATUS.splitlines(keepends=True)))
    assert inventory.parse_package_list(shuffled) == PACKAGES


def test_needed_entries_come_from_readelf_in_the_librarys_order():
    text = (" 0x0000000000000001 (NEEDED)             Shared library: [libkea-dhcpsrv.so.111]\n"
            " 0x000000000000000e (SONAME)             Library soname: [kea-hook-runscript.so]\n"
            " 0x0000000000000001 (NEEDED)             Shared library: [libc.so.6]\n")
    assert inventory.needed_sonames(text) == ["libkea-dhcpsrv.so.111", "libc.so.6"]


def test_each_linked_library_and_build_input_is_mapped_to_its_package():
    facts = inventory.parse_inventory(FAKE_INVENTORY, PACKAGES, "amd64")
    linked = {e["soname"]: (e["package"], e["architecture"]) for e in facts["linked_libraries"]}
    assert linked["libkea-dhcpsrv.so.111"] == ("kea-common", "amd64")  # dpkg -S said no arch: the list's
    assert linked["libgcc_s.so.1"] == ("libgcc-s1", "amd64")
    assert linked["libextra.so.1"] == ("", "")  # no package owns it
    assert [e["soname"] for e in facts["linked_libraries"]][:2] == ["libkea-dhcpsrv.so.111", "libkea-hooks.so.100"]
    inputs = {e["role"]: e["package"] for e in facts["build_inputs"]}
    assert inputs == {"compiler": "g++-14-x86-64-linux-gnu", "compiler-driver": "g++", "make": "make",
                      "kea-headers": "kea-dev", "boost-headers": "libboost1.83-dev", "boost": "libboost-dev"}


def test_a_multiarch_owner_is_taken_for_the_cells_architecture():
    packages = inventory.parse_package_list("install ok installed\tlibc6\t2.41\tamd64\n"
                                            "install ok installed\tlibc6\t2.41\tarm64\n")
    out = "needed\tlibc.so.6\tlibc6:amd64, libc6:arm64: /usr/include/x.h\n"
    (entry,) = inventory.parse_inventory(out, packages, "arm64")["linked_libraries"]
    assert (entry["package"], entry["architecture"]) == ("libc6", "arm64")


def test_the_inventory_asks_for_the_cells_libraries_and_tools():
    arm = M.by_id("kea2.6.3-debian13-arm64")
    script = inventory.inventory_script(arm, "amd64", ["libkea-hooks.so.100", "libstdc++.so.6"])
    assert "own /usr/lib/aarch64-linux-gnu/libkea-hooks.so.100 /lib/aarch64-linux-gnu/libkea-hooks.so.100 " in script
    assert "own /usr/lib/aarch64-linux-gnu/libstdc++.so.6 " in script and "x86_64" not in script
    assert "command -v aarch64-linux-gnu-g++" in script
    native = inventory.inventory_script(CELL, "amd64", [])
    assert "command -v g++)" in native and "needed" not in native


@pytest.fixture
def docker(monkeypatch):
    return FakeDocker().install(monkeypatch)


def test_a_build_records_the_builder_packages_beside_the_so(docker, tmp_path, stub_render, monkeypatch):
    monkeypatch.setattr(hook, "say", lambda *_a: None)
    paths = hook.Paths(build=tmp_path / "build", dist=tmp_path / "dist", store=tmp_path / "store")
    r = hook.build_cell(CELL, paths=paths, render=stub_render)
    assert r.status == "built", r.message
    out = paths.out(CELL)
    listed = out / inventory.PACKAGES_FILE
    assert listed.read_text() == PACKAGES
    info = json.loads((out / "build-info.json").read_text())
    assert info["builder_packages"] == {"file": inventory.PACKAGES_FILE, "sha256": hook.sha256_file(listed)}
    assert info["linked_libraries"][0] == {"soname": "libkea-dhcpsrv.so.111", "package": "kea-common",
                                           "architecture": "amd64",
                                           "path": "/usr/lib/x86_64-linux-gnu/libkea-dhcpsrv.so.111"}
    # read in the container that built the .so, after make (the library is there to read)
    calls = [(name, " ".join(cmd)) for name, cmd in docker.calls]
    make_at = next(i for i, (_n, cmd) in enumerate(calls) if cmd.startswith("make "))
    asked = [i for i, (name, cmd) in enumerate(calls) if name == CELL.id and ("own()" in cmd or "readelf" in cmd)]
    # readelf -d (the NEEDED entries), readelf --dyn-syms -h (the time_t check: a 64-bit .so
    # here, so Kea's library is not read), the inventory script
    assert len(asked) == 3 and asked[0] > make_at
    assert (paths.store / info["cache_key"] / inventory.PACKAGES_FILE).read_text() == PACKAGES


@pytest.mark.parametrize("where", ["dist", "store"])
def test_a_build_without_the_package_list_is_not_a_cache_hit(docker, tmp_path, stub_render, monkeypatch, where):
    """A dist/<id>/ or store entry of an older toolkit (no builder-packages.txt) is built again."""
    monkeypatch.setattr(hook, "say", lambda *_a: None)
    store = tmp_path / "store" if where == "store" else None  # (a complete store entry restores it)
    paths = hook.Paths(build=tmp_path / "build", dist=tmp_path / "dist", store=store)
    first = hook.build_cell(CELL, paths=paths, render=stub_render)
    entry = paths.out(CELL) if where == "dist" else paths.store / first.info["cache_key"]
    (entry / inventory.PACKAGES_FILE).unlink()
    if where == "store":
        paths = hook.Paths(build=tmp_path / "build2", dist=tmp_path / "dist2", store=paths.store)
    assert hook.build_cell(CELL, paths=paths, render=stub_render).status == "built"
    assert (paths.out(CELL) / inventory.PACKAGES_FILE).read_text() == PACKAGES


def test_a_changed_package_list_is_not_a_cache_hit(docker, tmp_path, stub_render, monkeypatch):
    monkeypatch.setattr(hook, "say", lambda *_a: None)
    paths = hook.Paths(build=tmp_path / "build", dist=tmp_path / "dist")
    first = hook.build_cell(CELL, paths=paths, render=stub_render)
    assert hook.is_cached(paths.out(CELL), first.info["cache_key"])
    (paths.out(CELL) / inventory.PACKAGES_FILE).write_text(PACKAGES + "extra\t1\tamd64\n")
    assert not hook.is_cached(paths.out(CELL), first.info["cache_key"])


def test_the_cache_key_changed_with_what_a_build_records():
    """Builds cached before the package list was recorded are rebuilt, not taken."""
    assert int(hook.CACHE_SCHEMA) >= 4


# --------------------------------------------------------------------------------------------
# the SBOM


def test_every_linked_library_is_in_the_sbom_at_its_package_version():
    doc = make_document()
    packages, links = by_name(doc), relations(doc, "DYNAMIC_LINK")
    for lib in fake_info()["linked_libraries"]:
        if not lib["package"]:
            assert lib["soname"] in packages and lib["soname"] in links
            assert "versionInfo" not in packages[lib["soname"]]
            assert packages[lib["soname"]]["downloadLocation"] == "NOASSERTION"
            continue
        p = packages[lib["package"]]
        version = VERSIONS[(lib["package"], lib["architecture"])]
        assert p["versionInfo"] == version, lib
        assert {"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                "referenceLocator": purl(lib["package"], version, "amd64")} in p["externalRefs"]
        assert p["downloadLocation"] == "NOASSERTION" and p["supplier"] == "Organization: Debian"
        assert lib["soname"] in links[lib["package"]]["comment"]
        assert links[lib["package"]]["spdxElementId"] == sbom.HOOK_ID
    assert packages["kea-common"]["originator"] == "Organization: Internet Systems Consortium"
    assert purl("libstdc++6", "14.2.0-19", "amd64") == "pkg:deb/debian/libstdc%2B%2B6@14.2.0-19?arch=amd64"
    assert by_name(doc)["g++"]["externalRefs"][0]["referenceLocator"] == "pkg:deb/debian/g%2B%2B@4:14.2.0-1?arch=amd64"


def test_the_compiler_boost_and_kea_dev_built_the_hook():
    doc = make_document()
    packages, tools, deps = by_name(doc), relations(doc, "BUILD_TOOL_OF"), relations(doc, "BUILD_DEPENDENCY_OF")
    assert set(tools) == {"g++-14-x86-64-linux-gnu", "g++", "make"}
    assert set(deps) == {"kea-dev", "libboost1.83-dev", "libboost-dev"}
    for name in list(tools) + list(deps):
        assert packages[name]["versionInfo"] == VERSIONS[(name, "amd64")]
        rel = (tools.get(name) or deps[name])
        assert rel["relatedSpdxElement"] == sbom.HOOK_ID  # A BUILD_TOOL_OF / BUILD_DEPENDENCY_OF the hook
    assert packages["g++-14-x86-64-linux-gnu"]["versionInfo"] == "14.2.0-19"
    assert packages["libboost-dev"]["versionInfo"] == "1.83.0.2+b2"
    assert packages["kea-dev"]["versionInfo"] == "2.6.3-1+deb13u1"
    assert "/usr/include/kea/hooks/hooks.h" in deps["kea-dev"]["comment"]


def test_the_sbom_describes_the_so_and_the_commit_it_was_built_from():
    doc = make_document()
    assert doc["spdxVersion"] == "SPDX-2.3" and doc["dataLicense"] == "CC0-1.0" and doc["name"] == NAME
    assert {"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES",
            "relatedSpdxElement": sbom.HOOK_ID} in doc["relationships"]
    hook_pkg = next(p for p in doc["packages"] if p["SPDXID"] == sbom.HOOK_ID)
    assert hook_pkg["name"] == "kea-hook-runscript" and hook_pkg["versionInfo"] == "2.0.0"
    assert hook_pkg["packageFileName"] == hook.LIBRARY
    assert hook_pkg["checksums"] == [{"algorithm": "SHA256", "checksumValue": "c" * 64}]
    assert hook_pkg["licenseDeclared"] == "MPL-2.0" and hook_pkg["downloadLocation"] == "NOASSERTION"
    assert hook_pkg["supplier"] == "Organization: The Maintainers (maintainers@example.org)"
    (source,) = relations(doc, "GENERATED_FROM")
    src = by_name(doc)[source]
    assert src["versionInfo"] == "a" * 40
    assert {"referenceCategory": "PERSISTENT-ID", "referenceType": "gitoid",
            "referenceLocator": "gitoid:commit:sha1:" + "a" * 40} in src["externalRefs"]
    assert doc["creationInfo"]["created"] == "2023-11-14T22:13:20Z"
    assert doc["creationInfo"]["creators"] == [f"Tool: kea-runscript-{HOOK_VERSION}",
                                               "Organization: The Maintainers (maintainers@example.org)"]


def test_the_sbom_is_the_same_bytes_for_the_same_inputs():
    one = sbom.to_json(make_document())
    assert one == sbom.to_json(make_document()) and one.endswith(b"}\n")
    assert json.dumps(json.loads(one), indent=2, sort_keys=True).encode() + b"\n" == one  # sorted keys
    ns = json.loads(one)["documentNamespace"]
    assert ns.startswith(f"https://spdx.org/spdxdocs/{NAME}-")
    other = make_document(fake_info(sha256="e" * 64))
    assert other["documentNamespace"] != ns  # derived from the content
    assert make_document(created=1700000001)["documentNamespace"] != ns


def test_a_package_missing_from_the_package_list_is_refused():
    packages = "".join(line + "\n" for line in PACKAGES.splitlines() if not line.startswith("kea-common\t"))
    with pytest.raises(naming.ReleaseError, match="kea-common:amd64 .*builder-packages.txt"):
        make_document(packages=packages)


def spdx_tools_round_trip(path: Path) -> tuple:
    """(validation messages, the document as spdx-tools writes it back)."""
    from spdx_tools.spdx.parser.json import json_parser
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document
    from spdx_tools.spdx.writer.json import json_writer
    document = json_parser.parse_from_file(str(path))
    messages = [m.validation_message for m in validate_full_spdx_document(document, "SPDX-2.3")]
    again = path.with_suffix(".again.json")
    json_writer.write_document_to_file(document, str(again), validate=False)
    return messages, json.loads(again.read_text())


def contained(ours, theirs) -> list:
    """Where ``ours`` has something ``theirs`` lacks (lists compared as sets of their items)."""
    if isinstance(ours, dict):
        if not isinstance(theirs, dict):
            return [f"{ours!r} != {theirs!r}"]
        return [f"{k}: {m}" for k, v in ours.items() for m in
                (contained(v, theirs[k]) if k in theirs else ["missing"])]
    if isinstance(ours, list):
        return [f"no match for {json.dumps(x, sort_keys=True)[:400]}" for x in ours
                if not any(not contained(x, y) for y in theirs)]
    return [] if ours == theirs else [f"{ours!r} != {theirs!r}"]


@pytest.mark.parametrize("unpackaged", [False, True])
def test_the_sbom_is_valid_spdx_2_3(tmp_path, unpackaged):
    """spdx-tools parses and validates it; written back by spdx-tools it keeps every field
    (its parser ignores a field it does not know: a misspelt one would be lost)."""
    info = fake_info()
    if unpackaged:  # a Kea built from source: its libraries and headers come from no package
        for entry in info["linked_libraries"] + info["build_inputs"]:
            entry.update(package="", architecture="")
    path = tmp_path / "doc.spdx.json"
    path.write_bytes(sbom.to_json(make_document(info)))
    messages, written_back = spdx_tools_round_trip(path)
    assert messages == []
    assert contained(same_categories(json.loads(path.read_text())), same_categories(written_back)) == []


def same_categories(doc: dict) -> dict:
    """The specification spells a category PACKAGE-MANAGER, spdx-tools writes PACKAGE_MANAGER
    (the 2.3 JSON schema takes both): one spelling, to compare."""
    for p in doc["packages"]:
        for ref in p.get("externalRefs", []):
            ref["referenceCategory"] = ref["referenceCategory"].replace("-", "_")
    return doc


def test_the_cell_tarball_carries_the_sbom_and_the_package_list(tmp_path):
    out = tmp_path / "dist" / CELL.id
    out.mkdir(parents=True)
    (out / hook.LIBRARY).write_bytes(b"\x7fELF the hook")
    (out / inventory.PACKAGES_FILE).write_text(PACKAGES)
    info = fake_info(sha256=hook.sha256_file(out / hook.LIBRARY))
    (out / "build-info.json").write_text(json.dumps(info))
    tb = archives.binary_tarball(archives.BuiltCell(CELL, out, info), "2.0.0", tmp_path, 1700000000, "")
    top = tb.name[: -len(".tar.gz")]
    assert sbom.sbom_name("2.0.0", CELL) == f"{top}.spdx.json" == f"{NAME}.spdx.json"
    with tarfile.open(tb) as t:
        assert t.extractfile(f"{top}/{inventory.PACKAGES_FILE}").read() == PACKAGES.encode()
        doc = json.loads(t.extractfile(f"{top}/{top}.spdx.json").read())
    hook_pkg = next(p for p in doc["packages"] if p["SPDXID"] == sbom.HOOK_ID)
    assert hook_pkg["checksums"][0]["checksumValue"] == info["sha256"]
    assert doc["creationInfo"]["created"] == "2023-11-14T22:13:20Z"  # the release's SOURCE_DATE_EPOCH
    assert by_name(doc)["kea-common"]["versionInfo"] == "2.6.3-1+deb13u1"
