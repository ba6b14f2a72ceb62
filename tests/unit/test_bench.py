"""The benchmark's arithmetic (kea_runscript/bench.py), without Kea or Docker."""

from kea_runscript.bench import Row, RowResult, Search, Trial, sync_floor


def _searched(key: str, passes: list) -> Search:
    s = Search(25, 6400)
    for rate, ok in passes:
        s.record(Trial(key, rate, 4.0, sent=rate * 4, completed=rate * 4 if ok else 0))
    return s


def test_search_keeps_the_highest_passing_rate_and_knows_when_it_is_only_a_bound():
    s = _searched("x", [(400, True), (1600, False), (800, True)])
    assert s.best == 800 and not s.at_edge
    assert 800 < s.next_rate() < 1600
    assert _searched("y", [(400, True)]).at_edge


def test_sync_floor_divides_the_bare_spawn_bound_by_isc_per_pass():
    isc = Row(4, "isc", False, script="sh")
    default = Row(4, "runscript", False, script="sh", wait=True)
    results = {
        isc.key: RowResult(isc, [_searched(isc.key, [(800, True), (1600, False)]),
                                 _searched(isc.key, [(1000, True), (1200, False)])]),
        default.key: RowResult(default, [_searched(default.key, [(100, True), (200, False)])]),
    }
    # 8 runs of 625 µs: 200 DORA/s at most, 0.25× and 0.20× ISC's 800 and 1000.
    [line] = sync_floor(results, {"#!/bin/sh exit 0": 625.0})
    assert "at most 200 DORA/s" in line and "= 0.25 / 0.20× ISC" in line
    assert sync_floor(results, {}) == []


def test_bench_refuses_an_emulated_cell_before_measuring(monkeypatch, capsys):
    """arm64 cells run under qemu-user on an amd64 machine: their timings mean nothing."""
    from kea_runscript import bench, cli, containers
    monkeypatch.setattr(containers, "engine_arch", lambda: "amd64")
    monkeypatch.setattr(bench, "launcher_costs", lambda **_k: (_ for _ in ()).throw(AssertionError("measured")))
    assert cli.main(["bench", "--cell", "kea2.6.3-debian13-arm64"]) == 2
    err = capsys.readouterr().err
    assert "kea2.6.3-debian13-arm64 runs under qemu-user emulation" in err and "mean nothing" in err
    assert cli.main(["bench", "--cell", "kea9.9.9-debian13-amd64"]) == 2
    assert "is not a verified cell" in capsys.readouterr().err
