"""Unit tests (no Docker) of the pure parts of scenario 18 (tests.support.scenarios.handler):
reading Kea's log times and the queue-full counts, the once-a-second rule, the backoff bound."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ..support import scenarios
from tests.support.scenarios import handler


def test_kea_log_time_is_read_in_the_container_s_local_time():
    line = "2026-11-30 10:00:01.250 WARN  [kea-dhcp4.hook-runscript/42.1] RUNSCRIPT_HANDLER_TIMEOUT x"
    utc = handler.kea_time(line, timedelta(0))
    assert utc == pytest.approx(1796032801.25)
    assert handler.kea_time(line, handler.parse_utc_offset("+0100")) == pytest.approx(utc - 3600)
    assert handler.parse_utc_offset("-0130\n") == -timedelta(hours=1, minutes=30)
    assert handler.kea_time("no time here", timedelta(0)) is None


def test_queue_full_counts_are_the_last_number_of_each_line():
    lines = ["2026-11-30 10:00:01.250 WARN [kea-dhcp4.hook-runscript/42.1] RUNSCRIPT_HANDLER_QUEUE_FULL "
             "handler /smoke/rt/hnd-never.sh worker 0: 17 events dropped",
             "... RUNSCRIPT_HANDLER_QUEUE_FULL handler /x worker 1 dropped 3"]
    assert handler.dropped_counts(lines) == [17, 3]


def test_lines_per_second_window():
    assert handler.max_per_second([]) == 0
    assert handler.max_per_second([0.0, 1.0, 2.0, 3.0]) == 1
    assert handler.max_per_second([0.0, 1.0, 1.5, 1.9]) == 3


def test_backoff_allows_a_few_restarts_not_a_busy_loop():
    # first at once, then 0.1 0.2 0.4 0.8 (1.5 s): 5 per worker, with slack
    assert 2 * 5 <= handler.backoff_restarts_allowed(1.5, 2) <= 2 * 8
    assert handler.backoff_restarts_allowed(60, 1) < 20


def test_handler_processes_are_told_apart_by_their_command_lines():
    sync = {"pid": 5, "state": "S", "cmdline": ["/usr/bin/python3", "/smoke/tools/handler_recorder.py"]}
    never_sh = {"pid": 6, "state": "S", "cmdline": ["/bin/sh", "/smoke/rt/hnd-never.sh"]}
    never_sleep = {"pid": 7, "state": "S", "cmdline": ["sleep", "100000"]}
    other = {"pid": 8, "state": "S", "cmdline": ["sleep", "300"]}
    assert handler.is_sync_handler(sync) and not handler.is_sync_handler(never_sh)
    assert handler.is_never_reader(never_sh) and handler.is_never_reader(never_sleep)
    assert not handler.is_never_reader(other)
    zombie = dict(sync, state="Z")
    assert handler.alive([sync, zombie, other], handler.is_sync_handler) == [sync]


def test_problems_are_filed_by_phase():
    o = scenarios.Outcome("x", problems=["crash: a", "restart gap: b", "crash: c"])
    assert scenarios.phase_problems(o, "crash") == ["crash: a", "crash: c"]
    with pytest.raises(AssertionError):
        scenarios.phase_problems(o, "no such phase")


def test_option60_bytes_are_every_byte_but_nul():
    assert len(scenarios.OPTION60_BYTES) == 255 and b"\0" not in scenarios.OPTION60_BYTES


def _rec(point, t):
    return {"argv": ["/x", point], "env": {}, "time": t}


def test_sync_records_alternate_exec_then_handler_at_each_event():
    execs = [_rec("pkt4_receive", 1.0), _rec("lease4_select", 1.2)]
    hands = [_rec("pkt4_receive", 1.1), _rec("lease4_select", 1.3)]
    assert handler.alternates(execs, hands)
    assert handler.interleaving(execs, hands) == ["e:pkt4_receive", "h:pkt4_receive",
                                                  "e:lease4_select", "h:lease4_select"]
    # the handler's record written after Kea went on to the next event: a stale reply let it go
    late = [_rec("pkt4_receive", 1.25), _rec("lease4_select", 1.3)]
    assert not handler.alternates(execs, late)
    # one missing, or the same times but another hook point
    assert not handler.alternates(execs, hands[:1])
    assert not handler.alternates(execs, [_rec("pkt4_receive", 1.1), _rec("pkt4_send", 1.3)])
