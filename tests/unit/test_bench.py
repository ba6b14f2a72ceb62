"""The benchmark's arithmetic (kea_runscript/bench/dhcp.py, bench_rows.py, bench_report.py), without
Kea or Docker."""

from kea_runscript.bench.trials import RowResult, Search, Trial
from kea_runscript.bench.report import sync_floor
from kea_runscript.bench.rows import Row


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
    from kea_runscript.bench import dhcp
    from kea_runscript import cli
    from kea_runscript.engine import containers
    monkeypatch.setattr(containers, "engine_arch", lambda: "amd64")
    monkeypatch.setattr(dhcp, "launcher_costs", lambda **_k: (_ for _ in ()).throw(AssertionError("measured")))
    assert cli.main(["bench", "--cell", "kea2.6.3-debian13-arm64"]) == 2
    err = capsys.readouterr().err
    assert "kea2.6.3-debian13-arm64 runs under qemu-user emulation" in err and "mean nothing" in err
    assert cli.main(["bench", "--cell", "kea9.9.9-debian13-amd64"]) == 2
    assert "is not a verified cell" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# issue 14: handler rows, lease database rows


import ipaddress

import pytest

from kea_runscript.bench import dhcp, leases as bench_leases, report, rows as bench_rows
from kea_runscript.bench.dhcp import Settings
from kea_runscript.bench.rows import HANDLER_WORKERS_MT


def _result(row: Row, *caps) -> RowResult:
    """A row whose pass i found capacity caps[i] (the next rate up failed)."""
    return RowResult(row, [_searched(row.key, [(c, True), (c + c // 4 + 1, False)]) for c in caps])


def test_every_row_of_a_run_has_its_own_key():
    for full in (True, False):
        rows = [r for fam in (4, 6) for r in bench_rows.capacity_rows(fam, full) + bench_rows.handler_rows(fam, full)]
        rows += bench_rows.lease_rows(full)
        assert len({r.key for r in rows}) == len(rows)


def test_full_run_has_both_handlers_sync_and_async_with_mt_off_and_on():
    v4 = bench_rows.handler_rows(4, full=True)
    assert {(r.script, r.wait, r.mt) for r in v4} == {
        (h, w, mt) for h in ("hc", "hpy") for w in (True, False) for mt in (False, True)}
    assert all(r.points is None and r.handler for r in v4)


def test_handler_parameters_are_the_contract_s_and_exec_rows_are_unchanged():
    sync_mt = Row(4, "runscript", True, script="hc", wait=True)
    assert sync_mt.parameters("/s/h") == {"script": "/s/h", "wait": True, "persistent": True,
                                          "workers": HANDLER_WORKERS_MT}
    py = Row(4, "runscript", False, script="hpy", wait=False)
    assert py.parameters("/s/h.py") == {"script": "/s/h.py", "wait": False, "persistent": True,
                                        "environment": {"HANDLER_LOG": "/dev/null"}}
    assert Row(4, "runscript", False, wait=True).parameters("/s/x") == {"script": "/s/x", "wait": True}
    assert Row(4, "isc", False).parameters("/s/x") == {"name": "/s/x", "sync": False}
    assert "handler" in sync_mt.label and "handler" not in Row(4, "runscript", False, wait=True).label


def test_rows_are_compared_with_references_of_the_same_lease_database():
    rows = [Row(6, "none", False), Row(6, "isc", False), Row(6, "none", False, leases=200000),
            Row(6, "isc", False, leases=200000)]
    big = Row(6, "runscript", False, script="hc", wait=True, leases=200000)
    assert bench_rows.references(big, rows) == (rows[2], rows[3])
    assert bench_rows.references(bench_rows.empty_twin(big), rows) == (rows[0], rows[1])
    assert bench_rows.empty_twin(big) == Row(6, "runscript", False, script="hc", wait=True)


def test_log_counts_add_the_counts_of_the_skipped_runs_and_dropped_records_lines():
    log = "\n".join([
        "2026-11-30 INFO  [kea-dhcp4.runscript/1] RUNSCRIPT_HANDLER_QUEUE_FULL handler /x/h2 worker 1: queue full, 17 events dropped",
        "2026-11-30 WARN  [kea-dhcp4.runscript/1] RUNSCRIPT_ASYNC_LIMIT 5 script runs not started: 64 asynchronous scripts were already running (max-async); the last: script /x/s at pkt4_receive",
        "2026-11-30 INFO  [kea-dhcp4.runscript/1] RUNSCRIPT_HANDLER_QUEUE_FULL handler /x/h2 worker 0: queue full, 3 events dropped",
        "2026-11-30 ERROR [kea-dhcp4.runscript/1] RUNSCRIPT_HANDLER_TIMEOUT handler /x/h2 worker 0 ...",
    ])
    assert dhcp.log_counts(log) == (25, 1)
    assert dhcp.log_counts("") == (0, 0)


def _handler_results(none_caps, isc_caps, row, caps):
    none, isc = Row(4, "none", row.mt), Row(4, "isc", row.mt)
    return {none.key: _result(none, *none_caps), isc.key: _result(isc, *isc_caps), row.key: _result(row, *caps)}


def test_handler_targets_say_met_and_missed_per_pass():
    sync = Row(4, "runscript", False, script="hc", wait=True)
    # ≥ 0.5x no hook (4000): 2400 and 1600 -> pass 1 only; > 3x ISC (500): 4.8, 3.2 -> met
    [line] = report.handler_targets(_handler_results((4000, 4000), (500, 500), sync, (2400, 1600)), {})
    assert "0.60 / 0.40× no hook (target ≥ 0.5×: met in pass 1 only)" in line
    assert "4.80 / 3.20× ISC (target > 3×: met)" in line
    async_ = Row(4, "runscript", True, script="hpy", wait=False)
    [line] = report.handler_targets(_handler_results((4000,), (500,), async_, (3000,)), {})
    assert "trivial Python handler" in line and "MT on" in line
    assert "0.75× no hook (target ≥ 0.9×: missed)" in line and "ISC" not in line


def test_a_missed_target_names_the_measured_cost_that_bounds_it():
    sync = Row(4, "runscript", False, script="hc", wait=True)
    results = _handler_results((5000,), (500,), sync, (2000,))
    costs = {"trivial C handler": {"roundtrip_us": 25.0, "stream_us": 2.0, "record_bytes": 1070}}
    [line] = report.handler_targets(results, costs)
    # Kea alone: 200 µs per DORA; 8 round trips of 25 µs: 200 µs -> at most 0.50x; measured
    # 500 µs per DORA: (500 - 200 - 200) / 8 = 12 µs per event left for the hook's own work.
    assert "8 records per DORA × 25.0 µs per round trip" in line
    assert "= 200 µs beside Kea's own 200 µs per DORA" in line and "at most 0.50× no hook" in line
    assert "measured 500 µs per DORA" in line and "is 12 µs per event: bounded by the pipe" in line
    # the floor: 1e6 / 400 µs = 2500 DORA/s; 2000 reached is 0.80 of it
    assert "reaches 0.80 of that floor (target ≥ 0.9: missed)" in line
    # the faster bare round trip is the floor's: the reply read before sleeping, 12.5 µs
    spin = {"trivial C handler": {**costs["trivial C handler"], "roundtrip_spin_us": 12.5}}
    [line] = report.handler_targets(_handler_results((5000,), (500,), sync, (2000,)), spin)
    assert "8 records per DORA × 12.5 µs per round trip" in line and "at most 0.67× no hook" in line
    assert "reaches 0.60 of that floor" in line
    # 1000 DORA/s: 1000 - 200 - 200 = 600 µs per DORA of the hook's own work
    [line] = report.handler_targets(_handler_results((5000,), (500,), sync, (1000,)), costs)
    assert "is 75 µs per event: bounded by the hook's own work (600 µs per DORA), not by the pipe" in line
    # a capacity that is only a bound (no trial failed) gives no time per exchange to split
    at_edge = _handler_results((5000,), (500,), sync, (2000,))
    none = Row(4, "none", False)
    at_edge[none.key] = RowResult(none, [_searched(none.key, [(5000, True)])])
    [line] = report.handler_targets(at_edge, costs)
    assert "at most" in line and "per event" not in line and "the rest is not known" in line
    met = _handler_results((5000,), (500,), sync, (4000,))
    [line] = report.handler_targets(met, costs)
    assert "Bound" not in line


def test_lease_table_shows_rss_start_time_and_the_ratio_to_the_empty_kea():
    n = 200000
    rows = [Row(6, "none", False), Row(6, "isc", False), Row(6, "none", False, leases=n),
            Row(6, "isc", False, leases=n)]
    caps = {rows[0]: 4000, rows[1]: 800, rows[2]: 3000, rows[3]: 100}
    results = {}
    for r in rows:
        res = _result(r, caps[r])
        for t in res.passes[0].trials:
            t.rss_kb, t.start_s = (128 * 1024 if r.leases else 20 * 1024), (6.0 if r.leases else 1.0)
        results[r.key] = res
    table = report.capacity_table(results, 6, n).splitlines()
    assert "÷ empty Kea" in table[0] and "Kea RSS MiB" in table[0] and "Kea start s" in table[0]
    assert table[2].split(" | ")[1:] == ["off", "", "3000", "1", "30.00", "0.75", "128", "6.0 |"]
    assert table[3].split(" | ")[-4:] == ["1", "0.12", "128", "6.0 |"]
    empty = report.capacity_table(results, 6).splitlines()
    assert len(empty) == 4 and "Kea start s" not in empty[0] and empty[2].endswith("| 20 |")


def test_lease_rows_search_below_their_empty_twin_s_capacity():
    s = Settings()
    row = Row(6, "isc", False, leases=200000)
    twin = bench_rows.empty_twin(row)
    search = dhcp.lease_search(row, {twin.key: _result(twin, 800)}, s)
    assert (search.lo, search.hi) == (20, 1600)
    search = dhcp.lease_search(row, {}, s)
    assert (search.lo, search.hi) == (s.lo / 2.5, s.hi)


V6_HEADER = ("address,duid,valid_lifetime,expire,subnet_id,pref_lifetime,lease_type,iaid,prefix_len,"
             "fqdn_fwd,fqdn_rev,hostname,hwaddr,state,user_context,hwtype,hwaddr_source,pool_id")
V4_HEADER = "address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state,user_context,pool_id"


def test_lease_file_follows_the_header_kea_wrote_in_the_allowed_ranges():
    lines = list(bench_leases.csv_lines(6, 3, V6_HEADER + "\n", now=1000))
    assert lines[0] == V6_HEADER + "\n" and len(lines) == 4
    first = dict(zip(V6_HEADER.split(","), lines[1].rstrip("\n").split(",")))
    assert first["address"] == "2001:db8:1:0:1::1" and first["expire"] == str(1000 + bench_leases.LIFETIME)
    assert first["subnet_id"] == "1" and first["duid"].startswith("00:02:")
    # a header in another order (another Kea version) gets its own order
    swapped = "duid,address," + ",".join(V6_HEADER.split(",")[2:])
    assert list(bench_leases.csv_lines(6, 1, swapped, 0))[1].startswith("00:02:00:00:ab:cd:00:00:00:00,2001:db8:1:0:1::1,")
    doc = ipaddress.ip_network("2001:db8::/32")
    last = bench_leases.lease_fields(6, 999_999, 0)["address"]
    assert ipaddress.ip_address(last) in bench_leases.V6_LOADED and bench_leases.V6_LOADED.subnet_of(doc)
    v4 = list(bench_leases.csv_lines(4, 100_000, V4_HEADER, 0))
    assert all(ipaddress.ip_address(l.split(",")[0]) in ipaddress.ip_network("198.18.0.0/15") for l in v4[1::9999])


def test_lease_file_refuses_what_it_cannot_do_honestly():
    with pytest.raises(ValueError, match="does not know: lease_color"):
        list(bench_leases.csv_lines(6, 1, V6_HEADER + ",lease_color", 0))
    with pytest.raises(ValueError, match="do not fit in 198.18.0.0/15"):
        list(bench_leases.csv_lines(4, 200_000, V4_HEADER, 0))


def test_loaded_and_trial_pools_do_not_overlap():
    for fam, n in ((6, 1_000_000), (4, bench_leases.v4_capacity())):
        loaded, trial = bench_leases.loaded_pool(fam, n), bench_leases.trial_pool(fam, n)
        if fam == 6:
            lo, hi = (ipaddress.ip_address(x.strip()) for x in trial.split("-"))
            net = ipaddress.ip_network(loaded)
            assert not (lo <= net.network_address <= hi or lo <= net.broadcast_address <= hi)
        else:
            l_lo, l_hi = (ipaddress.ip_address(x.strip()) for x in loaded.split("-"))
            t_lo, t_hi = (ipaddress.ip_address(x.strip()) for x in trial.split("-"))
            assert int(l_hi) + 1 == int(t_lo) and int(t_hi) - int(t_lo) + 1 >= bench_leases.V4_TRIAL_ADDRESSES
            assert l_lo >= ipaddress.ip_address("198.18.0.0") and t_hi <= ipaddress.ip_address("198.19.255.255")


def test_lease_row_config_loads_the_persisted_file_and_serves_from_the_trial_pool():
    import json
    from kea_runscript.model import matrix
    m = matrix.load(matrix.MATRIX_PATH)
    cell = next(c for c in m.cells if c.id == "kea2.6.3-debian13-amd64")
    db = dhcp.DhcpBench(cell, None, Settings(), None, print)
    d = json.loads(db.config(Row(6, "runscript", False, script="hc", wait=True, leases=200000)))["Dhcp6"]
    assert d["lease-database"] == {"type": "memfile", "persist": True, "lfc-interval": 0,
                                   "name": "/var/lib/kea/bench-leases6.csv"}
    assert [p["pool"] for p in d["subnet6"][0]["pools"]] == ["2001:db8:1::1:0 - 2001:db8:1::ffff:ffff",
                                                              "2001:db8:1:0:1::/80"]
    assert d["hooks-libraries"][0]["parameters"]["persistent"] is True
    empty = json.loads(db.config(Row(6, "none", False)))["Dhcp6"]
    assert empty["lease-database"]["persist"] is False and len(empty["subnet6"][0]["pools"]) == 1


# -- issue 25: parked queries, charts ------------------------------------------------------------


def test_park_rows_compare_park_with_wait_true_and_false_on_the_same_configuration():
    rows = bench_rows.park_rows(4)
    keys = [r.key for r in rows]
    assert len(keys) == len(set(keys))
    park = [r for r in rows if r.park]
    assert {(r.script, r.mt) for r in park} == {(s, mt) for s in ("sh", "hc") for mt in (False, True)}
    for r in park:
        p = r.parameters("/x")
        assert p["park"] is True and "wait" not in p and p["exit-codes"] == {"3": "drop"}
        assert p["hook-points"] == ["leases4_committed"] and p.get("persistent", False) == (r.script == "hc")
    waiting = [r for r in rows if r.hook == "runscript" and r.wait]
    assert all(r.parameters("/x")["exit-codes"] == {"3": "drop"} for r in waiting)
    async_ = [r for r in rows if r.hook == "runscript" and not r.wait and not r.park]
    assert all("exit-codes" not in r.parameters("/x") for r in async_)  # refused with wait: false


def test_park_targets_are_ratios_to_the_same_configuration_per_pass():
    def row(**kw):
        return Row(6, "runscript", True, script="hc", points=("leases6_committed",), **kw)
    park, wait, async_ = row(park=True), row(wait=True), row()
    results = {r.key: RowResult(r, [_searched(r.key, [(c, True), (c * 2, False)])])
               for r, c in ((park, 950), (wait, 300), (async_, 1000))}
    [line] = report.park_targets(results)
    assert line.startswith("DHCPv6, trivial C handler, MT on:")
    assert "÷ wait: false 0.95 (target ≥ 0.9: met)" in line and "÷ wait: true 3.17 (target ≥ 3: met)" in line
    results[async_.key] = RowResult(async_, [_searched(async_.key, [(1200, True), (2400, False)])])
    assert "÷ wait: false 0.79 (target ≥ 0.9: missed)" in report.park_targets(results)[0]


def test_charts_are_drawn_from_a_run_s_results(tmp_path):
    from kea_runscript.bench import charts
    rows = [Row(4, "none", False), Row(4, "isc", False), Row(4, "runscript", False, wait=True),
            Row(6, "none", False, leases=200_000), Row(6, "none", False),
            Row(6, "isc", False, leases=200_000), Row(6, "isc", False)]
    results = {r.key: RowResult(r, [_searched(r.key, [(c, True), (c * 2, False)])])
               for r, c in zip(rows, (4000, 700, 300, 2000, 3500, 600, 650))}
    records = charts.result_records(results)
    charts.save_results(records, tmp_path / "results.json", "a run", "cell")
    title, stem, again = charts.load_results(tmp_path / "results.json")
    assert (title, stem) == ("a run", "cell") and again == records
    # 4000 passed and 8000 failed beyond the search's range: only a bound, as the tables show it
    assert [r["shown"] for r in again][:2] == [["≥4000"], ["700"]]
    made = charts.draw(again, tmp_path, stem, title)
    assert [p.name for p in made] == ["cell-v4.png", "cell-v6.png", "cell-leases.png"]
    for p in made:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 10_000
    # the lease chart has a point at 0 leases from each row's empty twin
    lease_rows = [r for r in again if r["leases"]]
    assert {r["twin"] for r in lease_rows} <= {r["key"] for r in again}
    assert charts.lease_chart([r for r in again if not r["leases"]], tmp_path / "none.png", "t") is None
