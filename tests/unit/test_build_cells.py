"""hook.build_cells / build_cell end to end against a fake engine (tests/unit/fakes.py):
caches, crashes, Docker missing, parallel jobs, the summary."""

import json
import threading

import pytest

from kea_runscript.builder import hook
from kea_runscript import cli
from kea_runscript.engine import containers
from kea_runscript.errors import ExitCode
from tests.unit.fakes import FakeDocker, small_matrix, write_small_matrix

A, B = "kea2.2.0-debian12-amd64", "kea2.6.3-debian13-amd64"


@pytest.fixture
def docker(monkeypatch):
    return FakeDocker().install(monkeypatch)


@pytest.fixture
def paths(tmp_path):
    return hook.Paths(build=tmp_path / "build", dist=tmp_path / "dist", store=tmp_path / "store")


@pytest.fixture
def cells():
    m = small_matrix()
    return [m.by_id(A), m.by_id(B)]


@pytest.fixture
def said(monkeypatch):
    lines = []
    monkeypatch.setattr(hook, "say", lambda s="": lines.extend(str(s).splitlines()))
    return lines


def test_a_first_build_makes_checks_and_writes_dist_and_store(docker, paths, cells, stub_render, said):
    r = hook.build_cells(cells[:1], paths=paths, render=stub_render)[0]
    assert r.status == "built", r.message
    assert docker.made() == [A]
    assert docker.started == [A, f"{A}-check"] and sorted(docker.removed) == sorted(docker.started)
    out = paths.out(cells[0])
    info = json.loads((out / "build-info.json").read_text())
    assert info["sha256"] == hook.sha256_file(out / hook.LIBRARY)
    assert info["kea_package_version"] == "2.6.3-1+deb13u1" and info["kea_hooks_version"] == 20
    assert info["load_check"] == {"kea-dhcp4 -t": "passed", "kea-dhcp6 -t": "passed"}
    assert (paths.store / info["cache_key"] / hook.LIBRARY).read_bytes() == (out / hook.LIBRARY).read_bytes()


def test_a_current_dist_is_a_cache_hit_without_any_container(docker, paths, cells, stub_render, said):
    hook.build_cells(cells[:1], paths=paths, render=stub_render)
    docker.started.clear(), docker.calls.clear()
    r = hook.build_cells(cells[:1], paths=paths, render=stub_render)[0]
    assert r.status == "cached" and docker.started == [] and docker.calls == []


def test_a_changed_source_is_built_again(docker, paths, cells, stub_render, said):
    hook.build_cells(cells[:1], paths=paths, render=stub_render)

    def render(version, dest):
        stub_render(version, dest)
        (dest / "extra.h").write_text("// changed\n")
    r = hook.build_cells(cells[:1], paths=paths, render=render)[0]
    assert r.status == "built" and docker.made() == [A, A]


def test_the_machine_store_serves_a_fresh_checkout(docker, paths, cells, stub_render, said, tmp_path):
    first = hook.build_cells(cells[:1], paths=paths, render=stub_render)[0]
    docker.started.clear(), docker.calls.clear()
    fresh = hook.Paths(build=tmp_path / "b2", dist=tmp_path / "d2", store=paths.store)
    r = hook.build_cells(cells[:1], paths=fresh, render=stub_render)[0]
    assert r.status == "cached" and docker.started == []
    assert (fresh.out(cells[0]) / hook.LIBRARY).read_bytes() == (paths.out(cells[0]) / hook.LIBRARY).read_bytes()
    assert r.info["cache_key"] == first.info["cache_key"]


def test_an_unexpected_error_in_one_cell_is_a_crash_log_and_the_others_go_on(docker, paths, cells, stub_render, said):
    docker.fail_on_start[A] = KeyError("engine said something odd")
    a, b = hook.build_cells(cells, paths=paths, render=stub_render)
    assert a.status == "failed" and a.message == "KeyError: 'engine said something odd'"
    assert a.log == paths.logs(cells[0]) / "crash.log"
    assert "Traceback" in a.log.read_text() and "engine said something odd" in a.log.read_text()
    assert b.status == "built" and docker.made() == [B]
    assert f"    full log: {a.log}" in said


def test_a_make_failure_names_its_log(docker, paths, cells, stub_render, said):
    docker.make_exit = 2
    r = hook.build_cells(cells[:1], paths=paths, render=stub_render)[0]
    assert r.status == "failed" and r.message.startswith("make failed (exit 2):") and "error: boom" in r.message
    assert r.log == paths.logs(cells[0]) / "build.log"
    assert not (paths.out(cells[0]) / hook.LIBRARY).exists()


def test_docker_unavailable_stops_the_run(docker, paths, cells, stub_render, said):
    docker.unavailable = True
    with pytest.raises(containers.DockerUnavailable):
        hook.build_cells(cells, paths=paths, render=stub_render)


def test_docker_unavailable_is_exit_3_from_the_cli(docker, paths, stub_render, tmp_path, monkeypatch, capsys):
    docker.unavailable = True
    real = hook.build_cells
    # the CLI's own build_cells, kept out of the checkout's build/ and dist/
    monkeypatch.setattr(hook, "build_cells",
                        lambda cells, **kw: real(cells, **{**kw, "paths": paths, "render": stub_render}))
    code = cli.main(["--matrix", str(write_small_matrix(tmp_path / "m.yaml")), "build", "--only", A])
    assert code == ExitCode.DOCKER == 3
    assert "Docker daemon is not reachable" in capsys.readouterr().err


def test_jobs_2_builds_both_cells_at_once(docker, paths, cells, stub_render, said):
    # Each make waits for the other cell's: with one job at a time the barrier breaks (a crash).
    meet = threading.Barrier(2, timeout=20)
    docker.on_make = lambda _name: meet.wait()
    results = hook.build_cells(cells, jobs=2, paths=paths, render=stub_render)
    assert [(r.cell.id, r.status) for r in results] == [(A, "built"), (B, "built")], [r.message for r in results]
    assert sorted(docker.made()) == [A, B]


def test_the_summary_has_one_line_per_cell_and_the_counts(docker, paths, stub_render, said):
    m = small_matrix()
    arm = "kea2.6.3-debian13-arm64"
    cells = [m.by_id(A), m.by_id(arm), m.by_id(B), m.by_id("kea1.8.2-debian10-amd64")]
    hook.build_cells(cells[:2], paths=paths, render=stub_render)  # A and arm are then cached
    docker.fail_on_start[B] = RuntimeError("boom")
    said.clear()
    results = hook.build_cells(cells, paths=paths, render=stub_render)
    assert [r.status for r in results] == ["cached", "cached", "failed", "skipped"]
    head = said.index(f"{'cell':<32} {'status':<7} {'time':>8}  artifact / log")
    table = said[head + 1:]
    assert table[0].startswith(f"{A:<32} cached ") and table[0].endswith(results[0].info["sha256"][:16])
    assert table[1].startswith(f"{arm:<32} cached ") and table[1].endswith(results[1].info["sha256"][:16])
    assert table[2].startswith(f"{B:<32} failed ") and table[2].endswith(str(paths.logs(cells[2]) / "crash.log"))
    assert table[3].startswith(f"{'kea1.8.2-debian10-amd64':<32} skipped") and "declared: it needs" in table[3]
    assert table[4] == "2 cached, 1 failed, 1 skipped"
    assert table[5].startswith("skipped: declared cells, not buildable here;")
    assert len(table) == 6


def test_the_arm64_cell_is_cross_compiled_on_an_amd64_engine(docker, paths, stub_render, said):
    cell = small_matrix().by_id("kea2.6.3-debian13-arm64")
    r = hook.build_cells([cell], paths=paths, render=stub_render)[0]
    assert r.status == "built", r.message
    make = next(cmd for name, cmd in docker.calls if cmd[0] == "make")
    assert "CXX=aarch64-linux-gnu-g++" in make and r.info["build_command"] == make


@pytest.mark.parametrize("server", ["kea-dhcp4", "kea-dhcp6"])
def test_a_library_kea_refuses_to_load_is_a_failed_cell_with_nothing_in_dist(docker, paths, cells, stub_render,
                                                                            said, server):
    """The load check is the build's last gate: the fake engine answers kea-dhcpN -t as told."""
    docker.kea_check_exit[server] = 1
    r = hook.build_cells(cells[:1], paths=paths, render=stub_render)[0]
    assert r.status == "failed", r.message
    assert f"{server} -t rejected the hook (exit 1)" in r.message and "failed to load" in r.message
    assert not (paths.out(cells[0]) / hook.LIBRARY).exists()
    assert not any(paths.store.rglob(hook.LIBRARY)) if paths.store.exists() else True
