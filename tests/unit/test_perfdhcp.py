"""perfdhcp's report, read by the one parser of the run-time scenarios and the benchmark, on real
outputs (tests/unit/data/perfdhcp/: a run-time load run, a benchmark trial that lost packets,
perfdhcp -6 of the smoke test, perfdhcp -6 failing under qemu-user)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kea_runscript.bench import dhcp
from kea_runscript.verify import perfdhcp
from ..support import scenarios

DATA = Path(__file__).parent / "data" / "perfdhcp"


def parse(name: str) -> perfdhcp.Perf:
    return perfdhcp.parse_perfdhcp((DATA / name).read_text())


def test_one_parser_for_the_scenarios_and_the_benchmark():
    assert scenarios.parse_perfdhcp is perfdhcp.parse_perfdhcp
    assert dhcp.parse_perfdhcp is perfdhcp.parse_perfdhcp


def test_v4_load_run():
    p = parse("v4-runtime-load.txt")
    assert list(p.stats) == ["DISCOVER-OFFER", "REQUEST-ACK"]
    assert (p.get("DISCOVER-OFFER", "sent packets"), p.offers, p.requests, p.acks) == (4799, 4799, 4799, 4799)
    assert p.get("DISCOVER-OFFER", "drops") == 0
    t = p.totals()
    assert (t["sent"], t["completed"]) == (4799, 4799)
    assert t["delay_ms"] == pytest.approx(13.906 + 13.091)


def test_v4_trial_with_drops():
    p = parse("v4-bench-drops.txt")
    assert (p.get("DISCOVER-OFFER", "sent packets"), p.offers, p.requests, p.acks) == (799, 186, 186, 134)
    assert (p.get("DISCOVER-OFFER", "drops"), p.get("REQUEST-ACK", "drops")) == (613, 52)
    assert p.get("DISCOVER-OFFER", "drops ratio") == pytest.approx(76.7209)
    assert p.get("REQUEST-ACK", "orphans") == 6
    t = p.totals()
    assert (t["sent"], t["completed"]) == (799, 134)
    assert t["delay_ms"] == pytest.approx(514.524 + 849.054)


def test_perfdhcp_error_has_no_statistics():
    p = parse("v6-emulated-socket-error.txt")
    assert p.stats == {} and p.acks == 0
    with pytest.raises(ValueError, match="unexpected perfdhcp output"):
        p.totals()


def test_v6_smoke_run():
    p = parse("v6-smoke-wait-mt.txt")
    assert list(p.stats) == ["SOLICIT-ADVERTISE", "REQUEST-REPLY"]
    assert (p.get("SOLICIT-ADVERTISE", "sent packets"), p.get("SOLICIT-ADVERTISE", "received packets")) == (4, 3)
    assert (p.get("REQUEST-REPLY", "sent packets"), p.get("REQUEST-REPLY", "received packets")) == (3, 1)
    assert p.get("REQUEST-REPLY", "drops ratio") == pytest.approx(66.667)
    assert p.acks == 0  # the v4 names: nothing of them in a -6 report
    t = p.totals()
    assert (t["sent"], t["completed"]) == (4, 1)
    assert t["delay_ms"] == pytest.approx(884.771 + 791.349)
