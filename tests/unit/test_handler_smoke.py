"""Unit tests (no Docker) of the smoke test's handler side: smoke_tools/handler_recorder.py
(the persistent handler that records what the hook sends), smoke_tools/recorder.py's ordered
environment, checks.compare_handler (handler records against exec calls) and the table's
handler columns."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from kea_runscript.verify import checks, smoke, testnet
from kea_runscript.model.catalogue import load

TOOLS = testnet.TOOLS
HANDLER = str(TOOLS / "handler_recorder.py")
RECORDER = str(TOOLS / "recorder.py")

#: what a client controls, as the hook passes it: a newline, shell text, non-UTF-8
HOSTILE = b"a$(touch /tmp/x);\nb\x01\x7f\xff\xfe c"


def record(point: bytes, *fields: bytes) -> bytes:
    """The contract's framing: NUL-terminated fields, then an empty one."""
    return b"".join(f + b"\0" for f in (point,) + fields) + b"\0"


def run_handler(tmp_path, stdin: bytes, **env):
    out = tmp_path / "handler.jsonl"
    environ = {"SMOKE_RECORD": str(out), **env}
    p = subprocess.run([sys.executable, HANDLER], input=stdin, capture_output=True, env=environ,
                       timeout=20)
    lines = [json.loads(ln) for ln in out.read_text().splitlines()] if out.exists() else []
    return p, lines


def test_handler_records_each_record_byte_for_byte_and_replies_in_order(tmp_path):
    stream = (record(b"pkt4_receive", b"KEA_QUERY4_HWADDR=02:00:00:00:00:01", b"KEA_LEASE4_HOSTNAME=" + HOSTILE)
              + record(b"lease4_expire", b"KEA_REMOVE_LEASE=1", b"KEA_LEASE4_HOSTNAME="))
    p, lines = run_handler(tmp_path, stream)
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"exit 0\nexit 0\n"
    assert [ln["argv"][1] for ln in lines] == ["pkt4_receive", "lease4_expire"]
    first = lines[0]
    assert first["handler"] is True and "errors" not in first
    assert first["env"]["KEA_LEASE4_HOSTNAME"].encode("utf-8", "surrogateescape") == HOSTILE
    assert [f.encode("utf-8", "surrogateescape") for f in first["environ"]] == [
        b"KEA_QUERY4_HWADDR=02:00:00:00:00:01", b"KEA_LEASE4_HOSTNAME=" + HOSTILE]
    assert lines[1]["env"] == {"KEA_REMOVE_LEASE": "1", "KEA_LEASE4_HOSTNAME": ""}


def test_handler_reassembles_records_split_anywhere(tmp_path):
    """The hook's writes reach the handler in pieces of any size: one byte at a time too."""
    sys.path.insert(0, str(TOOLS))
    try:
        import handler_recorder
    finally:
        sys.path.remove(str(TOOLS))
    stream = record(b"pkt4_send", b"A=1", b"B=" + HOSTILE) + record(b"unload")
    chunks = [stream[i:i + 1] for i in range(len(stream))] + [b""]
    replies = []
    r, w = os.pipe()
    h = handler_recorder.Handler({"SMOKE_RECORD": str(tmp_path / "h.jsonl")}, out=w)
    h.run(lambda: chunks.pop(0))
    os.close(w)
    replies = os.read(r, 100)
    os.close(r)
    lines = [json.loads(ln) for ln in (tmp_path / "h.jsonl").read_text().splitlines()]
    assert replies == b"exit 0\nexit 0\n"
    assert [(ln["argv"][1], ln["environ"]) for ln in lines][1] == ("unload", [])
    assert lines[0]["environ"][1].encode("utf-8", "surrogateescape") == b"B=" + HOSTILE


def test_handler_reports_framing_errors_instead_of_repairing_them(tmp_path):
    p, lines = run_handler(tmp_path, record(b"pkt4_receive", b"NOEQUALS", b"A=1", b"A=2") + b"lease4_select\0A=1")
    assert p.returncode == 0
    assert "field without NAME=" in " ".join(lines[0]["errors"]) and "A twice" in " ".join(lines[0]["errors"])
    assert lines[1]["argv"][1] == "?" and lines[1]["errors"] == ["partial record at the end of the input"]
    assert checks.compare_handler([], lines[:1])[0].startswith("handler record #0 (pkt4_receive): field without")


def test_handler_knobs_drop_and_crash_by_mac(tmp_path):
    drop, crash = "02:00:00:00:77:03", "02:00:00:00:77:05"
    stream = (record(b"pkt4_receive", b"KEA_QUERY4_HWADDR=02:00:00:00:77:04")
              + record(b"pkt4_receive", b"KEA_QUERY4_HWADDR=" + drop.encode())
              + record(b"pkt4_receive", b"KEA_QUERY4_HWADDR=" + crash.encode())
              + record(b"pkt4_receive", b"KEA_QUERY4_HWADDR=02:00:00:00:77:04"))
    p, lines = run_handler(tmp_path, stream, HANDLER_DROP_MAC=drop, HANDLER_EXIT_MAC=crash)
    assert p.returncode == 7
    assert p.stdout == b"exit 0\nexit 3\n"
    assert len(lines) == 3  # the crash's record is written before it exits


def test_handler_hang_knob_stops_reading_and_replying(tmp_path):
    hang = "02:00:00:00:77:06"
    out = tmp_path / "h.jsonl"
    p = subprocess.Popen([sys.executable, HANDLER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         env={"SMOKE_RECORD": str(out), "HANDLER_HANG_MAC": hang})
    try:
        p.stdin.write(record(b"pkt4_receive", b"KEA_QUERY4_HWADDR=" + hang.encode()))
        p.stdin.flush()
        p.stdin.close()  # a handler that still read would now exit at the end of its input
        try:
            p.wait(timeout=1.5)
            assert False, f"the hung handler exited with {p.returncode}"
        except subprocess.TimeoutExpired:
            pass
        assert out.read_text().count("\n") == 1
    finally:
        p.kill()
        p.wait()
    assert p.stdout.read() == b""


def test_recorder_keeps_the_environment_in_the_order_the_hook_passed_it(tmp_path):
    out = tmp_path / "r.jsonl"
    env = {"KEA_Z": "1", "SMOKE_RECORD": str(out), "KEA_A": HOSTILE.decode("utf-8", "surrogateescape")}
    envb = {k.encode(): v.encode("utf-8", "surrogateescape") for k, v in env.items()}
    subprocess.run([sys.executable, RECORDER, "pkt4_receive"], env=envb, check=True, timeout=20)
    line = json.loads(out.read_text())
    fields = [f for f in line["environ"] if not f.startswith("LC_CTYPE=")]
    assert [f.partition("=")[0] for f in fields] == ["KEA_Z", "SMOKE_RECORD", "KEA_A"]
    assert line["env"]["KEA_A"].encode("utf-8", "surrogateescape") == HOSTILE


# --------------------------------------------------------------------------------------------
# handler records against exec calls


def exec_call(point, fields, own=("SMOKE_RECORD=/x", "SMOKE_MODE=m")):
    environ = list(fields) + list(own)
    return {"argv": ["/smoke/tools/recorder.py", point], "environ": environ,
            "env": dict(f.partition("=")[::2] for f in environ)}


def handled(point, fields):
    return {"argv": [HANDLER, point], "environ": list(fields),
            "env": dict(f.partition("=")[::2] for f in fields), "handler": True}


OWN = ("SMOKE_RECORD", "SMOKE_MODE")
E1 = ("KEA_QUERY4_HWADDR=02:00:00:00:00:01", "KEA_LEASE4_HOSTNAME=" + HOSTILE.decode("utf-8", "surrogateescape"))
E2 = ("KEA_QUERY4_HWADDR=02:00:00:00:00:02", "KEA_LEASE4_HOSTNAME=")


def test_same_events_in_another_order_across_events_compare_equal():
    execs = [exec_call("pkt4_receive", E1), exec_call("pkt4_receive", E2), exec_call("pkt4_receive", E2)]
    hands = [handled("pkt4_receive", E2), handled("pkt4_receive", E1), handled("pkt4_receive", E2)]
    assert checks.compare_handler(execs, hands, OWN) == []


def test_a_missing_event_an_extra_one_and_a_changed_byte_are_each_reported():
    execs = [exec_call("pkt4_receive", E1), exec_call("lease4_expire", E2)]
    assert "1 event the exec script got, the handler did not: lease4_expire x1" in \
        checks.compare_handler(execs, [handled("pkt4_receive", E1)], OWN)
    problems = checks.compare_handler(execs[:1], [handled("pkt4_receive", E1), handled("pkt4_send", E1)], OWN)
    assert problems[0] == "1 event the handler got, the exec script did not: pkt4_send x1"
    changed = (E1[0], E1[1][:-1] + "C")
    problems = checks.compare_handler(execs[:1], [handled("pkt4_receive", changed)], OWN)
    assert len(problems) == 4 and "KEA_LEASE4_HOSTNAME" in problems[1]


def test_an_event_twice_on_one_side_is_told_from_a_lost_one():
    """A duplicate delivery and a lost exec call both leave one extra handler event: the
    report says which it was."""
    execs = [exec_call("pkt4_send", E1)]
    problems = checks.compare_handler(execs, [handled("pkt4_send", E1), handled("pkt4_send", E1)], OWN)
    assert problems == ["1 event the handler got, the exec script did not: pkt4_send x1",
                        "  pkt4_send: the same event x2 on this side, x1 on the other"]
    problems = checks.compare_handler(execs, [handled("pkt4_send", E1), handled("pkt4_send", E2)], OWN)
    assert problems[1] != "  pkt4_send: the same event x2 on this side, x1 on the other"


def test_the_records_must_keep_the_exec_environment_order():
    problems = checks.compare_handler([exec_call("pkt4_receive", E1)], [handled("pkt4_receive", E1[::-1])], OWN)
    assert problems and "same variables in another order" in problems[1]


def test_own_environment_counts_when_it_is_not_the_entry_s():
    """Only the names of the entry's `environment` are left out of the exec side."""
    problems = checks.compare_handler([exec_call("pkt4_receive", E1)], [handled("pkt4_receive", E1)],
                                      own_names=("SMOKE_MODE",))
    assert problems and "SMOKE_RECORD" in problems[1]


def test_handler_records_pass_the_catalogue_checks_as_exec_calls_do():
    """The handler's lines have the recorder's shape: check_run reads them unchanged."""
    from kea_runscript.model.versions import Version
    fields = ["KEA_REMOVE_LEASE=1"]
    run = checks.check_run([handled("lease4_expire", fields)], load(), Version(2, 6, 3),
                           checks.Traffic(family=4), ["lease4_expire"])
    assert run.points["lease4_expire"].calls == 1
    assert any("missing KEA_LEASE4_ADDRESS" in p for p in run.points["lease4_expire"].problems)


def test_table_has_a_handler_column_per_mode():
    from kea_runscript.model.matrix import load as load_matrix
    from kea_runscript.model.versions import Version
    cell = load_matrix().by_id("kea2.6.3-debian13-amd64")
    runs = []
    for handler in (False, True):
        r = checks.check_run([], load(), Version(2, 6, 3), checks.Traffic(family=4), ["pkt4_receive"],
                             mode="wait+mt")
        r.handler = handler
        runs.append(r)
    runs[1].problems.append("x")
    text = smoke.table(smoke.CellResult(cell, runs=runs))
    header = text.splitlines()[1].split()
    assert header[-3:] == ["wait+mt", "wait+mt", "h"]
    assert "'<mode> h': the persistent handler" in text
    assert "[wait+mt h v4] x" in smoke.details(smoke.CellResult(cell, runs=runs))


def test_handler_mode_in_every_smoke_mode_but_the_14_one():
    assert [m.name for m in smoke.MODES if m.handler] == ["wait+mt", "async+mt", "wait+st", "async+st"]
    for m in smoke.MODES:
        if m.handler:
            assert smoke.record_path(m, 4, handler=True) != smoke.record_path(m, 4)


def test_unordered_comparison_is_for_an_exec_script_behind_a_shell():
    """A shell passes its environment on in its own order and adds PWD: values still count."""
    shell = exec_call("pkt4_receive", E1[::-1], own=("PWD=/", "SMOKE_RECORD=/x"))
    assert checks.compare_handler([shell], [handled("pkt4_receive", E1)], ("SMOKE_RECORD", "PWD"), ordered=False) == []
    changed = (E1[0], E1[1] + "x")
    assert checks.compare_handler([shell], [handled("pkt4_receive", changed)], ("SMOKE_RECORD", "PWD"),
                                  ordered=False)
    assert checks.compare_handler([shell], [handled("pkt4_receive", E1)], ("SMOKE_RECORD", "PWD"))


def test_handler_hello_writes_one_line_to_stderr_and_one_outside_the_protocol(tmp_path):
    p, lines = run_handler(tmp_path, record(b"pkt4_receive", b"A=1"), HANDLER_HELLO="1")
    out = p.stdout.decode().splitlines()
    assert out[0].startswith("handler_recorder: hello on stdout") and out[1:] == ["exit 0"]
    assert p.stderr.decode().startswith("handler_recorder: hello on stderr")


def test_details_show_kea_s_stdout_where_scripts_without_capture_write(tmp_path):
    """A recorder that failed said why on its stderr, which is Kea's: the details show it."""
    from kea_runscript.model.matrix import load as load_matrix
    from kea_runscript.model.versions import Version
    cell = load_matrix().by_id("kea2.6.3-debian13-amd64")
    r = checks.check_run([], load(), Version(2, 6, 3), checks.Traffic(family=4), ["pkt4_receive"],
                         mode="async+st")
    (tmp_path / "async-st-kea-dhcp4.log").write_text("INFO a log line\n")
    (tmp_path / "async-st-kea-dhcp4.out").write_text("Traceback (most recent call last):\nOSError: boom\n")
    text = smoke.details(smoke.CellResult(cell, runs=[r], out_dir=tmp_path))
    assert "OSError: boom" in text and "INFO a log line" in text
    (tmp_path / "async-st-kea-dhcp4.out").write_text("")
    assert "stdout and stderr" not in smoke.details(smoke.CellResult(cell, runs=[r], out_dir=tmp_path))
