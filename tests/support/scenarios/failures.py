"""Scenarios 7, 8, 11 and 12: what a script's exit code or failure does to the packet, and
hostname bytes that reach the script untouched."""

from __future__ import annotations

import json
import time
from typing import Dict, List, Optional

from kea_runscript.verify import testnet
from kea_runscript.builder.hook import LIBRARY
from .runtime import C_RT, C_RT_OUT, MAC_ALLOWED, MAC_BLOCKED, Outcome, Runtime, answered, timed

#: The hostname bytes of scenario 8: command substitution, ';', a newline, non-UTF-8.
HOSTNAME_BYTES = b"a$(touch /tmp/pwned);b`touch /tmp/pwned2`\nc\xff\xfe"
PWNED = ("/tmp/pwned", "/tmp/pwned2")


# --------------------------------------------------------------------------------------------
# 7. exit code -> drop


@timed
def exit_code_drop(rt: Runtime) -> Outcome:
    """exit-codes {"3": "drop"} at pkt4_receive: the blocked MAC gets no OFFER, others do."""
    o = Outcome("exit-code-drop")
    path = rt.script("block.sh", f"#!/bin/sh\n[ \"$KEA_QUERY4_HWADDR\" = \"{MAC_BLOCKED}\" ] && exit 3\nexit 0\n")
    text, log, _ = rt.config4("drop", {"script": path, "hook-points": ["pkt4_receive"],
                                       "exit-codes": {"3": "drop"}}, debug=True)
    with rt.kea4("drop", text, log):
        blocked = rt.dora(MAC_BLOCKED)
        blocked_err = rt.read(f"{testnet.C_OUT}/client.err").strip()
        allowed = rt.dora(MAC_ALLOWED)
        actions = rt.count_in(log, "RUNSCRIPT_EXIT_ACTION")
    o.facts.update({"blocked MAC": blocked or blocked_err, "allowed MAC address": allowed.get("address"),
                    "RUNSCRIPT_EXIT_ACTION lines": actions})
    if blocked:
        o.problems.append(f"{MAC_BLOCKED} (script exits 3 -> drop) got a lease: {blocked.get('address')}")
    elif "no answer" not in blocked_err:
        o.problems.append(f"{MAC_BLOCKED}: the client failed otherwise than by a missing OFFER: {blocked_err!r}")
    if not allowed.get("address"):
        o.problems.append(f"{MAC_ALLOWED} (script exits 0) got no lease")
    if actions < 1:
        o.problems.append("no RUNSCRIPT_EXIT_ACTION in Kea's log")
    return o


# --------------------------------------------------------------------------------------------
# 8. hostname bytes


@timed
def hostname_bytes(rt: Runtime) -> Outcome:
    """Option 12 with shell metacharacters, a newline and non-UTF-8 bytes: the script gets the
    exact bytes (KEA_QUERY4_OPTION12 hex; KEA_LEASE4_HOSTNAME as Kea stored it) and nothing
    executes them."""
    o = Outcome("hostname-bytes")
    record = f"{C_RT_OUT}/hostname.jsonl"
    raw = f"{C_RT_OUT}/hostname-lease.raw"
    rt.sh(f"rm -f {record} {raw} " + " ".join(PWNED))
    # a shell script on the way, as users write them: quoted expansions only
    path = rt.script("hostname.sh", f"""#!/bin/sh
if [ "$1" = lease4_select ] && [ "$KEA_FAKE_ALLOCATION" = 0 ]; then
    printf '%s' "$KEA_LEASE4_HOSTNAME" > {raw}
fi
exec {testnet.RECORDER} "$@"
""")
    params = {"script": path, "hook-points": ["pkt4_receive", "lease4_select"], "options4": [12],
              "environment": {"SMOKE_RECORD": record}}
    # Kea keeps the client's name as it is: no character replacement, no qualifying suffix.
    extra = {"hostname-char-set": "", "ddns-replace-client-name": "never",
             "ddns-qualifying-suffix": ""}
    text, log, _ = rt.config4("hostname", params, extra=extra)
    with rt.kea4("hostname", text, log):
        ack = rt.dora("02:00:00:00:12:01", "--hostname-hex", HOSTNAME_BYTES.hex())
        time.sleep(0.3)
    recs = rt.tn.read_records(record)
    sent_hex = "0x" + HOSTNAME_BYTES.hex().upper()
    opt12 = [r["env"].get("KEA_QUERY4_OPTION12") for r in recs if r["argv"][1:2] == ["pkt4_receive"]]
    commits = [r for r in recs if r["argv"][1:2] == ["lease4_select"]
               and r["env"].get("KEA_FAKE_ALLOCATION") == "0"]
    lease_hn = [r["env"].get("KEA_LEASE4_HOSTNAME", "").encode("utf-8", "surrogateescape") for r in commits]
    ack_hn = bytes.fromhex(ack.get("ack_options", {}).get("hostname", "")) if ack else b""
    raw_bytes = rt.read_bytes(raw)
    pwned = [p for p in PWNED if rt.exists(p)]
    o.facts.update({"sent": repr(HOSTNAME_BYTES), "KEA_QUERY4_OPTION12": opt12,
                    "KEA_LEASE4_HOSTNAME (recorder)": [repr(b) for b in lease_hn],
                    "KEA_LEASE4_HOSTNAME (shell printf)": repr(raw_bytes),
                    "option 12 in Kea's ACK": repr(ack_hn), "pwned files": pwned})
    if not ack:
        o.problems.append("no DORA with the hostname option")
    if not opt12 or any(v != sent_hex for v in opt12):
        o.problems.append(f"KEA_QUERY4_OPTION12 {opt12}, sent {sent_hex}")
    if not commits:
        o.problems.append("no lease4_select call for the committed lease")
    elif any(b != HOSTNAME_BYTES for b in lease_hn):
        o.problems.append(f"KEA_LEASE4_HOSTNAME {lease_hn!r}, sent {HOSTNAME_BYTES!r}"
                          f" (Kea's ACK carries {ack_hn!r})")
    if raw_bytes != HOSTNAME_BYTES:
        o.problems.append(f"the shell script's \"$KEA_LEASE4_HOSTNAME\" is {raw_bytes!r}, sent {HOSTNAME_BYTES!r}")
    if pwned:
        o.problems.append(f"the hostname was executed: {pwned} exist")
    return o


# --------------------------------------------------------------------------------------------
# 11-14. failures, trust, parameters and callouts (issue 10, items 6-8)


#: Each failure kind of a synchronous script at pkt4_receive that the real Kea can produce:
#: (name, how the script is changed after load, the log message that shows the kind).
FAILURE_KINDS = (
    ("missing file (ENOENT)", "rm", "RUNSCRIPT_SPAWN_FAILED"),
    ("not executable (EACCES)", "chmod", "RUNSCRIPT_SPAWN_FAILED"),
    ("killed by a signal", "#!/bin/sh\nkill -9 $$\n", "RUNSCRIPT_SCRIPT_SIGNALED"),
    ("timeout", "#!/bin/sh\nsleep 5\n", "RUNSCRIPT_TIMEOUT"),
)


def _judge_failure(o: Outcome, results: dict, kind: str, action: Optional[str], message: str,
                   logged: int, address: Optional[str], err: str) -> None:
    """One failed run of :func:`on_failure`: the failure was logged, and the client got a
    lease unless on-failure is drop, in which case it got no answer at all."""
    results[kind] = {"lease": address, "client": err[-120:], message: logged}
    if logged < 1:
        o.problems.append(f"{kind}: no {message} in Kea's log: the failure did not happen")
    if action != "drop" and not address:
        o.problems.append(f"{kind}: on-failure {action or '(default)'}, but no lease: {err[-200:]!r}")
    if action == "drop" and address:
        o.problems.append(f"{kind}: on-failure drop, but the client got a lease ({address})")
    if action == "drop" and not address and "no answer" not in err:
        o.problems.append(f"{kind}: the client failed otherwise than by a missing answer: {err[-200:]!r}")


def _refusals_are_counted_not_logged_each(o: Outcome, rt: Runtime, log: str, before: int) -> None:
    """With max-async's only slot held, perfdhcp's packets are each a run not started: Kea's
    log counts them in a line a second at most (a line each flooded it), and every ACK's
    DISCOVER and REQUEST are in the counts."""
    seconds = 2
    perf = rt.perfdhcp4(rate=200, seconds=seconds, clients=1000000, tag="of-limit-flood")
    time.sleep(1.5)  # the last second's count is due
    lines = rt.count_in(log, "RUNSCRIPT_ASYNC_LIMIT")
    skipped = rt.skipped_runs(log) - before
    # + 1: the previous exchange's REQUEST, whose refusal may be in the next count
    sent = perf.get("DISCOVER-OFFER", "sent packets") + perf.requests + 1
    o.facts["max-async refusals under perfdhcp"] = {"perfdhcp ACKs": perf.acks, "packets sent (+1)": sent,
                                                    "runs not started (counted)": skipped,
                                                    "RUNSCRIPT_ASYNC_LIMIT lines": lines}
    if not 2 * perf.acks <= skipped <= sent:
        o.problems.append(f"max-async refusals: {skipped} counted in Kea's log, expected between "
                          f"2 per ACK ({2 * perf.acks}) and the packets sent ({sent})")
    if lines > seconds + 4:
        o.problems.append(f"max-async refusals: {lines} RUNSCRIPT_ASYNC_LIMIT lines in {seconds} s "
                          f"of refusals (at most one a second)")


@timed
def on_failure(rt: Runtime, action: Optional[str]) -> Outcome:
    """A script at pkt4_receive (timeout 0.5 s) with ``on-failure: action`` (None: the default,
    continue) fails in each way Kea can show: removed after load, made non-executable after
    load, killed by a signal, timed out, and (asynchronous, ``max-async: 1`` held by a script
    started at load) not started. With drop the client gets no OFFER each time; with continue
    it gets a lease each time. Each failure must show in Kea's log as its own kind."""
    name = action or "continue-default"
    o = Outcome(f"on-failure-{name}")
    tag = f"of-{name}"
    path = f"{C_RT}/{tag}.sh"
    hook_log = f"{testnet.C_LOGS}/rt-{tag}-hook.log"
    rt.sh(f"rm -f {hook_log}")
    rt.script(f"{tag}.sh", "#!/bin/sh\nexit 0\n")
    params: dict = {"script": path, "hook-points": ["pkt4_receive"], "timeout": 0.5}
    if action:
        params["on-failure"] = action
    results = {}
    text, log, _ = rt.config4(tag, params, hook_debug_log=hook_log)
    with rt.kea4(tag, text, log):
        address, _err = answered(rt, "02:00:00:00:0f:00")
        results["control (script exits 0)"] = {"lease": address}
        if not address:
            o.problems.append("control: no lease while the script works")
        for i, (kind, change, message) in enumerate(FAILURE_KINDS, start=1):
            rt.script(f"{tag}.sh", "#!/bin/sh\nexit 0\n")
            if change == "rm":
                rt.sh(f"rm -f {path}")
            elif change == "chmod":
                rt.sh(f"chmod 0644 {path}")
            else:
                rt.script(f"{tag}.sh", change)
            # the hook's own messages go to hook_log only (config4's hook_debug_log)
            before = rt.count_in(hook_log, message)
            address, err = answered(rt, f"02:00:00:00:0f:{i:02x}")
            logged = rt.count_in(hook_log, message) - before
            _judge_failure(o, results, kind, action, message, logged, address, err)
        applied = rt.count_in(hook_log, "RUNSCRIPT_FAILURE_ACTION")
    # the async limit: the only slot is held by the same script started at load
    release = f"{C_RT}/{tag}-release"
    rt.sh(f"rm -f {release}")
    holder = rt.script(f"{tag}-hold.sh", "#!/bin/sh\n[ \"$1\" = load ] || exit 0\n"
                       f"i=0; while [ ! -e {release} ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done\n")
    params = {"script": holder, "wait": False, "max-async": 1, "timeout": 60,
              "hook-points": ["load", "pkt4_receive"]}
    if action:
        params["on-failure"] = action
    text, log, _ = rt.config4(f"{tag}-limit", params)
    kind, message = "async limit (max-async 1)", "RUNSCRIPT_ASYNC_LIMIT"
    with rt.kea4(f"{tag}-limit", text, log):
        try:
            address, err = answered(rt, "02:00:00:00:0f:10")
            logged = rt.skipped_runs(log)
            if action is None:
                _refusals_are_counted_not_logged_each(o, rt, log, logged)
        finally:
            rt.sh(f"touch {release}")
    _judge_failure(o, results, kind, action, message, logged, address, err)
    o.facts["results"] = results
    o.facts["RUNSCRIPT_FAILURE_ACTION lines"] = applied
    if action == "drop" and applied < len(FAILURE_KINDS):
        o.problems.append(f"{applied} RUNSCRIPT_FAILURE_ACTION lines for {len(FAILURE_KINDS)} failed runs")
    if action is None and applied:
        o.problems.append(f"{applied} RUNSCRIPT_FAILURE_ACTION lines with the default (continue)")
    return o


@timed
def earlier_drop(rt: Runtime) -> Outcome:
    """Two copies of the library (two file names: two dlopens): the first drops the blocked
    MAC at pkt4_receive (exit-codes), the second records every call at pkt4_receive. The
    blocked MAC's packets never reach the second script; the allowed MAC's do."""
    o = Outcome("earlier-drop")
    second = f"{rt.cell.hooks_dir}/kea-hook-runscript-second.so"
    rt.sh(f"cp {rt.cell.hooks_dir}/{LIBRARY} {second}")
    record = f"{C_RT_OUT}/earlier-drop.jsonl"
    rt.sh(f"rm -f {record}")
    block = rt.script("earlier-block.sh",
                      f"#!/bin/sh\n[ \"$KEA_QUERY4_HWADDR\" = \"{MAC_BLOCKED}\" ] && exit 3\nexit 0\n")
    text, log, _ = rt.config4("earlier", {"script": block, "hook-points": ["pkt4_receive"],
                                          "exit-codes": {"3": "drop"}})
    cfg = json.loads(text)
    cfg["Dhcp4"]["hooks-libraries"].append(
        {"library": second, "parameters": {"script": testnet.RECORDER, "hook-points": ["pkt4_receive"],
                                           "environment": {"SMOKE_RECORD": record}}})
    with rt.kea4("earlier", json.dumps(cfg, indent=2), log):
        loaded = rt.count_in(log, "RUNSCRIPT_LOADED")
        blocked, blocked_err = answered(rt, MAC_BLOCKED)
        allowed, _ = answered(rt, MAC_ALLOWED)
        time.sleep(0.3)
    recs = rt.tn.read_records(record)
    macs = [r["env"].get("KEA_QUERY4_HWADDR") for r in recs]
    o.facts.update({"libraries loaded": loaded, "blocked MAC": blocked or blocked_err[-120:],
                    "allowed MAC address": allowed,
                    "second script calls, blocked MAC": macs.count(MAC_BLOCKED),
                    "second script calls, allowed MAC": macs.count(MAC_ALLOWED)})
    if loaded < 2:
        o.problems.append(f"{loaded} RUNSCRIPT_LOADED lines: both copies must load")
    if blocked:
        o.problems.append(f"{MAC_BLOCKED} was not dropped by the first library (lease {blocked})")
    if not allowed:
        o.problems.append(f"{MAC_ALLOWED} got no lease")
    if macs.count(MAC_BLOCKED):
        o.problems.append(f"the second library ran its script {macs.count(MAC_BLOCKED)} times for "
                          f"packets the first one had dropped")
    if macs.count(MAC_ALLOWED) < 2:
        o.problems.append(f"the second library recorded {macs.count(MAC_ALLOWED)} calls for the allowed "
                          "MAC (DISCOVER and REQUEST expected)")
    return o


# --------------------------------------------------------------------------------------------
# 22. what scripts and handlers echo from a client, in Kea's log (issue 20)

#: Option 60 as a client sends it: '=', CR, a terminal escape, a backslash, DEL, a C1 control
#: (CSI), a byte that is no UTF-8, a newline, then a NUL (the value ends there: docs/variables.md).
LOG_OPTION60 = b"x=\r\x1b[2J\\y\x7f\xc2\x9b\xff\nnext\x00hidden"
#: The log lines an echo of KEA_QUERY4_OPTION60 must give: one per line the program wrote, each
#: byte that is no printable ASCII or well-formed UTF-8 (and the backslash) as \xHH.
LOG_EXPECTED = ["x=\\x0d\\x1b[2J\\x5cy\\x7f\\xc2\\x9b\\xff", "next"]


@timed
def log_bytes(rt: Runtime) -> Outcome:
    """A client's option 60 with control characters, a backslash, bytes that are no UTF-8, a
    newline and a NUL, echoed by an exec script (capture-output; sync and async) and by a
    persistent handler (its stderr): each logged line is the escaped text (LOG_EXPECTED), no
    line of the hook holds a control character or breaks UTF-8."""
    o = Outcome("log-bytes")
    echo = "#!/bin/sh\nprintf '%s\\n' \"$KEA_QUERY4_OPTION60\"\n"
    sync_path = rt.script("log-echo-sync.sh", echo)
    async_path = rt.script("log-echo-async.sh", echo)
    params = {"scripts": [
        {"script": sync_path, "wait": True, "capture-output": True, "hook-points": ["pkt4_receive"]},
        {"script": async_path, "wait": False, "capture-output": True, "hook-points": ["pkt4_receive"]},
        {"script": f"{testnet.C_TOOLS}/handler_recorder.py", "persistent": True, "wait": True,
         "hook-points": ["pkt4_receive"],
         "environment": {"SMOKE_RECORD": f"{C_RT_OUT}/log-bytes.jsonl", "HANDLER_ECHO": "KEA_QUERY4_OPTION60"}},
    ]}
    text, log, _ = rt.config4("logbytes", params)
    needles = (("exec sync", b"RUNSCRIPT_OUTPUT " + sync_path.encode()),
               ("exec async", b"RUNSCRIPT_OUTPUT " + async_path.encode()),
               ("handler", b"RUNSCRIPT_HANDLER_OUTPUT "))

    def logged(raw: bytes) -> Dict[str, List[str]]:
        ours = [line for line in raw.split(b"\n") if b"RUNSCRIPT_" in line]
        return {name: [line.split(b"): ", 1)[1].decode("utf-8", "replace") for line in ours
                       if needle in line and b"): " in line] for name, needle in needles}

    with rt.kea4("logbytes", text, log):
        ack = rt.dora("02:00:00:00:16:01", "--option60-hex", LOG_OPTION60.hex())
        # The asynchronous runs' and the handler's lines come from other threads: wait for
        # them (bounded), as many as expected or more.
        end = time.monotonic() + 20
        while True:
            raw = rt.read_bytes(log) or b""
            got = logged(raw)
            if all(len(v) >= 2 * len(LOG_EXPECTED) for v in got.values()) or time.monotonic() > end:
                break
            time.sleep(0.2)
    ours = [line for line in raw.split(b"\n") if b"RUNSCRIPT_" in line]
    bad = [line[:200] for line in ours if any(b < 0x20 for b in line) or not _utf8(line)]
    o.facts.update({"sent": repr(LOG_OPTION60), "address": ack.get("address"), "logged": got,
                    "hook lines with a control character or no UTF-8": [repr(b) for b in bad]})
    if not ack:
        o.problems.append("no DORA with option 60")
    for name, lines in got.items():
        # DISCOVER and REQUEST each give the two lines
        if lines != LOG_EXPECTED * 2:
            o.problems.append(f"{name}: logged {lines!r}, expected {LOG_EXPECTED * 2!r}")
    if bad:
        o.problems.append(f"{len(bad)} hook log lines with a control character or bytes that are no UTF-8")
    return o


def _utf8(b: bytes) -> bool:
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False
