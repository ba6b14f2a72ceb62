"""Cache keys and the rendered Dockerfiles: pure functions, no Docker."""

import json

import pytest

from kea_runscript.builder import hook, inventory
from kea_runscript.engine import images
from kea_runscript.model import matrix
from tests.conftest import DockerForbidden
from tests.unit.fakes import small_matrix

#: Behaviour on the small fixture matrix; test_every_cell_renders_its_dockerfiles is about the real one.
SMALL = small_matrix()


@pytest.fixture
def tree(tmp_path, stub_render):
    return stub_render("2.6.3", tmp_path / "src")


CMD = ["make", "-C", "/src"]


def test_cache_key_is_stable(tree, tmp_path, stub_render):
    """The same inputs give the same key wherever the tree is; each input changes it."""
    key = hook.cache_key(tree, "sha256:aa", CMD)
    elsewhere = stub_render("2.6.3", tmp_path / "another" / "checkout" / "src")
    assert hook.cache_key(elsewhere, "sha256:aa", list(CMD)) == key
    changed = {
        "image": hook.cache_key(tree, "sha256:ab", CMD),
        "command": hook.cache_key(tree, "sha256:aa", [*CMD, "-j2"]),
    }
    (elsewhere / "Makefile").chmod(0o755)
    changed["mode"] = hook.cache_key(elsewhere, "sha256:aa", CMD)
    (elsewhere / "Makefile").chmod(0o644)
    assert hook.cache_key(elsewhere, "sha256:aa", CMD) == key
    (elsewhere / "stub.cc").write_text((elsewhere / "stub.cc").read_text().replace("load", "lOad"))
    changed["content"] = hook.cache_key(elsewhere, "sha256:aa", CMD)
    (elsewhere / "stub.cc").rename(elsewhere / "stub2.cc")
    changed["name"] = hook.cache_key(elsewhere, "sha256:aa", CMD)
    assert {what: k for what, k in changed.items() if k == key} == {}
    assert len(set(changed.values())) == len(changed)


def test_cache_key_changes_with_one_source_byte(tree):
    before = hook.cache_key(tree, "sha256:aa", CMD)
    f = tree / "stub.cc"
    data = bytearray(f.read_bytes())
    data[-2] ^= 1
    f.write_bytes(bytes(data))
    assert hook.cache_key(tree, "sha256:aa", CMD) != before


def test_cache_key_changes_with_new_file_mode_image_command(tree):
    base = hook.cache_key(tree, "sha256:aa", CMD)
    assert hook.cache_key(tree, "sha256:bb", CMD) != base
    assert hook.cache_key(tree, "sha256:aa", CMD + ["-j2"]) != base
    (tree / "Makefile").chmod(0o755)
    k2 = hook.cache_key(tree, "sha256:aa", CMD)
    assert k2 != base
    (tree / "extra.h").write_text("")
    assert hook.cache_key(tree, "sha256:aa", CMD) != k2


def test_is_cached_needs_matching_key_and_so(tmp_path):
    out = tmp_path / "dist"
    out.mkdir()
    so = out / hook.LIBRARY
    so.write_bytes(b"\x7fELF fake")
    info = {"cache_key": "k1", "sha256": hook.sha256_file(so), **packages_recorded(out)}
    (out / "build-info.json").write_text(json.dumps(info))
    assert hook.is_cached(out, "k1")
    assert not hook.is_cached(out, "k2")
    so.write_bytes(b"tampered")
    assert not hook.is_cached(out, "k1")
    so.unlink()
    assert not hook.is_cached(out, "k1")


def packages_recorded(out) -> dict:
    """Write the builder's package list into ``out``; what build-info.json says of it."""
    (out / inventory.PACKAGES_FILE).write_text("kea-dev\t2.6.3-1\tamd64\n")
    return {"builder_packages": {"file": inventory.PACKAGES_FILE,
                                 "sha256": hook.sha256_file(out / inventory.PACKAGES_FILE)}}


def test_check_config_loads_hook_from_hooks_dir():
    cell = SMALL.by_id("kea2.6.3-debian13-amd64")
    for fam in (4, 6):
        cfg = json.loads(hook.check_config(fam, cell))[f"Dhcp{fam}"]
        lib = cfg["hooks-libraries"][0]
        assert lib["library"] == "/usr/lib/x86_64-linux-gnu/kea/hooks/kea-hook-runscript.so"
        assert lib["parameters"] == {"script": "/usr/local/bin/true-script"}


def test_build_command_uses_fixed_src_and_cell_paths():
    m = SMALL
    assert hook.build_command(m.by_id("kea2.6.3-debian13-amd64"), "amd64") == [
        "make", "-C", "/src", "KEA_INCLUDE=/usr/include/kea", "KEA_LIB=/usr/lib/x86_64-linux-gnu", "-j2"]
    src = hook.build_command(m.by_id("kea1.4.0-debian10-amd64"), "amd64")
    assert "KEA_INCLUDE=/usr/local/include/kea" in src and "KEA_LIB=/usr/local/lib" in src


def test_an_arm64_cell_is_cross_compiled_on_amd64_and_native_on_arm64():
    cell = SMALL.by_id("kea2.6.3-debian13-arm64")
    assert hook.build_command(cell, "amd64") == [
        "make", "-C", "/src", "KEA_INCLUDE=/usr/include/kea", "KEA_LIB=/usr/lib/aarch64-linux-gnu",
        "CXX=aarch64-linux-gnu-g++", "NM=aarch64-linux-gnu-nm", "-j2"]
    assert hook.build_command(cell, "arm64") == [
        "make", "-C", "/src", "KEA_INCLUDE=/usr/include/kea", "KEA_LIB=/usr/lib/aarch64-linux-gnu", "-j2"]
    assert cell.hooks_dir == "/usr/lib/aarch64-linux-gnu/kea/hooks"
    builder = images.render_dockerfile("builder", cell, images.base_ref(cell), "amd64")
    assert "FROM kea-runscript/debian:trixie" in builder  # the machine's own OS image
    assert "dpkg --add-architecture arm64" in builder
    assert "g++-aarch64-linux-gnu make libboost-dev:arm64 kea-dev:arm64 kea-dhcp4-server:arm64 " \
           "kea-dhcp6-server:arm64" in builder
    runtime = images.render_dockerfile("runtime", cell, images.base_ref(cell), "amd64")
    # the clients (scapy) are native: qemu-user cannot emulate their packet sockets
    assert "python3 python3-scapy iproute2 kea-doc kea-dhcp4-server:arm64 kea-dhcp6-server:arm64 kea-admin:arm64" in runtime
    native = images.render_dockerfile("builder", cell, images.base_ref(cell), "arm64")
    assert "add-architecture" not in native and ":arm64" not in native
    assert "g++ make libboost-dev kea-dev kea-dhcp4-server kea-dhcp6-server" in native


def test_a_backports_cell_installs_kea_from_backports():
    cell = SMALL.by_id("kea3.0.3-debian13-amd64")
    assert cell.apt_suite == "trixie-backports"
    for kind in ("builder", "runtime"):
        text = images.render_dockerfile(kind, cell, images.base_ref(cell), "amd64")
        assert "deb http://deb.debian.org/debian trixie-backports main" in text
        assert "apt-get install -y --no-install-recommends -t trixie-backports " in text


def test_every_cell_renders_its_dockerfiles():
    for cell in matrix.load().cells:
        for kind in ("builder", "runtime", "install-test"):
            text = images.render_dockerfile(kind, cell, images.base_ref(cell), "amd64")
            assert text.count("FROM ") == 1 and cell.id in text
            assert ("Check-Valid-Until" in text) == cell.apt_ignore_valid_until
            if cell.source == "isc-repo":
                assert f"isc/{cell.isc_repo}" in text and f"={cell.kea}*" in text
            if cell.source == "source":
                assert f"kea-{cell.kea}.tar.gz" in text


def test_recipe_hash_changes_with_base_or_text():
    h = images.recipe_hash("FROM x\n", "sha256:1")
    assert h != images.recipe_hash("FROM x\nRUN true\n", "sha256:1")
    assert h != images.recipe_hash("FROM x\n", "sha256:2")


def test_unit_tests_cannot_reach_docker():
    from kea_runscript.engine import containers
    with pytest.raises(DockerForbidden):
        containers.client()


def test_a_fresh_checkout_takes_a_build_from_the_machines_store(tmp_path, stub_render, monkeypatch):
    """The store is read before any container runs; a tampered entry is not taken."""
    cell = SMALL.by_id("kea2.6.3-debian13-arm64")
    builder = images.Image("builder", "kea-runscript/builder:x", "sha256:b1", "h", built=False)
    monkeypatch.setattr(images, "ensure_image", lambda *a, **k: builder)
    monkeypatch.setattr(hook.containers, "engine_arch", lambda: "amd64")
    store = tmp_path / "store"
    key = hook.cache_key(stub_render(cell.kea, tmp_path / "probe"), builder.id,
                          hook.build_command(cell, "amd64"))
    entry = store / key
    entry.mkdir(parents=True)
    (entry / hook.LIBRARY).write_bytes(b"\x7fELF built elsewhere")
    info = {"id": cell.id, "cache_key": key, "sha256": hook.sha256_file(entry / hook.LIBRARY),
            "git_commit": "c0ffee", **packages_recorded(entry)}
    (entry / "build-info.json").write_text(json.dumps(info))

    paths = hook.Paths(build=tmp_path / "build", dist=tmp_path / "dist", store=store)
    r = hook.build_cell(cell, paths=paths, render=stub_render)
    assert r.status == "cached", r.message
    assert (paths.out(cell) / hook.LIBRARY).read_bytes() == b"\x7fELF built elsewhere"
    assert hook.read_info(paths.out(cell))["git_commit"] == "c0ffee"  # the build as it was made

    (entry / hook.LIBRARY).write_bytes(b"tampered")
    paths2 = hook.Paths(build=tmp_path / "build2", dist=tmp_path / "dist2", store=store)
    with pytest.raises(DockerForbidden):  # it went on to build
        hook.build_cell(cell, paths=paths2, render=stub_render)


def test_one_build_of_a_cell_at_a_time(tmp_path):
    import fcntl
    cell = SMALL.by_id("kea2.6.3-debian13-amd64")
    paths = hook.Paths(build=tmp_path / "build", dist=tmp_path / "dist")
    with hook._cell_lock(paths, cell):
        with open(paths.build / f".{cell.id}.lock", "w") as other:  # another process's open
            with pytest.raises(BlockingIOError):
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    with open(paths.build / f".{cell.id}.lock", "w") as other:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free again
