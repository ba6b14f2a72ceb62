"""Scenarios 6, 13 and 14: configurations: bad ones refused at load, the defaults of top-level
parameters, the trust check of scripts."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import List, Optional

from kea_runscript.verify import testnet
from .bounds import REFUSAL_BOUND_EMULATED_S, REFUSAL_BOUND_S
from .config_test import check_flags, run_check, run_checks
from .runtime import C_RT, C_RT_OUT, Outcome, Runtime, answered, timed


# --------------------------------------------------------------------------------------------
# 6. bad configurations


@dataclass(frozen=True)
class BadConfig:
    name: str
    parameters: dict
    message: str  # a fragment RUNSCRIPT_LOAD_ERROR's text must contain


def bad_configs_list(good: str, not_exec: str) -> List[BadConfig]:
    return [
        BadConfig("unknown parameter", {"script": good, "wiat": True},
                  "unknown parameter 'wiat' (did you mean 'wait'?)"),
        BadConfig("script missing", {"wait": True},
                  "required parameter 'script' is missing"),
        BadConfig("script relative", {"script": "hooks/script.sh"},
                  "parameter 'script' must be an absolute path, got 'hooks/script.sh'"),
        BadConfig("script does not exist", {"script": f"{C_RT}/no-such-script.sh"},
                  f"parameter 'script': script '{C_RT}/no-such-script.sh' does not exist"),
        BadConfig("script not executable", {"script": not_exec},
                  f"parameter 'script': script '{not_exec}' is not executable"),
        BadConfig("wait not bool", {"script": good, "wait": "yes"},
                  "parameter 'wait' must be a boolean"),
        BadConfig("timeout negative", {"script": good, "timeout": -1},
                  "parameter 'timeout' must be between 0"),
        BadConfig("unknown hook point", {"script": good, "hook-points": ["pkt4_recieve"]},
                  "parameter 'hook-points[0]': unknown hook point 'pkt4_recieve' (did you mean 'pkt4_receive'?)"),
        BadConfig("exit-codes with wait false", {"script": good, "wait": False, "exit-codes": {"3": "drop"}},
                  "parameter 'exit-codes' needs 'wait': true"),
        BadConfig("bad options4 entry", {"script": good, "options4": ["12x"]},
                  "parameter 'options4[0]' must be one of option codes"),
        BadConfig("options4 code out of range", {"script": good, "options4": [255]},
                  "parameter 'options4[0]' must be one of option codes"),
        BadConfig("options4 code twice", {"script": good, "options4": [12, 60, 12]},
                  "parameter 'options4[2]': option 12 is listed twice (also options4[0])"),
        BadConfig("options4 sub-option twice", {"script": good, "options4": ["82.1", "82.1"]},
                  "parameter 'options4[1]': option 82.1 is listed twice (also options4[0])"),
        BadConfig("capture-output with a handler", {"script": good, "persistent": True, "capture-output": True},
                  "parameter 'capture-output' does not apply to a persistent handler ('persistent')"),
        BadConfig("capture-output inherited by a handler",
                  {"capture-output": True, "scripts": [{"script": good}, {"script": good, "persistent": True}]},
                  "parameter 'capture-output' does not apply to a persistent handler "
                  "('scripts[1].persistent'): its standard error is always logged"),
        BadConfig("scripts entry with unknown key", {"scripts": [{"script": good, "hook-point": ["pkt4_receive"]}]},
                  "unknown parameter 'scripts[0].hook-point' (did you mean 'hook-points'?)"),
    ] + (isc_dialect_bad_configs(good) + hardening_bad_configs(good) + park_bad_configs(good) +
         replay_bad_configs(good) + status_bad_configs(good))


def status_bad_configs(good: str) -> List[BadConfig]:
    """A status Kea ignores at a hook point, or that cannot work there (hook/kea_facts.yaml's
    callout_status; these hold on every verified Kea), named with the point, also when the
    top level's value reaches a script's default hook points."""
    return [
        BadConfig("drop at lease4_select (Kea ignores it)",
                  {"script": good, "hook-points": ["lease4_select"], "exit-codes": {"3": "drop"}},
                  "parameter 'exit-codes.3' is \"drop\" at hook point 'lease4_select', which cannot work on "
                  "Kea"),
        BadConfig("top-level on-failure drop reaching the default hook points",
                  {"on-failure": "drop", "scripts": [{"script": good, "hook-points": ["pkt4_receive"]},
                                                     {"script": good}]},
                  "parameter 'on-failure' is \"drop\" at hook point 'lease4_select' (in scripts[1]), which "
                  "cannot work"),
        BadConfig("skip at pkt4_send (an empty packet)",
                  {"script": good, "hook-points": ["pkt4_send"], "on-failure": "skip"},
                  "parameter 'on-failure' is \"skip\" at hook point 'pkt4_send', which cannot work on Kea"),
        BadConfig("skip at leases4_committed (Kea ignores it)",
                  {"scripts": [{"script": good, "hook-points": ["leases4_committed"], "exit-codes": {"2": "skip"}}]},
                  "parameter 'scripts[0].exit-codes.2' is \"skip\" at hook point 'leases4_committed'"),
        BadConfig("skip at lease4_recover",
                  {"script": good, "hook-points": ["lease4_recover"], "on-failure": "skip"},
                  "parameter 'on-failure' is \"skip\" at hook point 'lease4_recover', which cannot work"),
    ]


def park_bad_configs(good: str) -> List[BadConfig]:
    """`park: true` where it cannot work: beside `wait: true`, without a timeout, at a hook point
    where Kea parks no query."""
    committed = {"hook-points": ["leases4_committed"]}
    return [
        BadConfig("park not bool", {"script": good, "park": "yes", **committed},
                  "parameter 'park' must be a boolean"),
        BadConfig("park and wait", {"script": good, "park": True, "wait": True, **committed},
                  "parameters 'park' and 'wait' are both true"),
        BadConfig("park without a timeout", {"script": good, "park": True, "timeout": 0, **committed},
                  "parameter 'park' needs a 'timeout' above 0 (script)"),
        BadConfig("park at a hook point where Kea parks nothing", {"script": good, "park": True,
                                                                  "hook-points": ["pkt4_receive"]},
                  "cannot park a query at hook point 'pkt4_receive' (Kea parks no query there); "
                  "it parks at: "),
        BadConfig("park at the default hook points", {"scripts": [{"script": good, "park": True}]},
                  "parameter 'scripts[0].park' (scripts[0]): Kea "),
    ]


def replay_bad_configs(good: str) -> List[BadConfig]:
    """`replay` / `replay-rate` where they cannot work: not a boolean, a replay event listed in
    `hook-points`, in ISC's dialect, a rate of 0 or above the bound."""
    return [
        BadConfig("replay not bool", {"script": good, "replay": 1},
                  "parameter 'replay' must be a boolean"),
        BadConfig("replay event in hook-points", {"script": good, "hook-points": ["lease4_select", "lease4_replay"]},
                  "parameter 'hook-points[1]': 'lease4_replay' is the hook's own event per lease at start, "
                  "asked for with 'replay': true"),
        BadConfig("replay in ISC's dialect", {"scripts": [{"name": good, "replay": True}]},
                  "parameter 'scripts[0].replay' (scripts[0]): ISC's run_script has no replay event"),
        BadConfig("replay to a synchronous handler without a timeout",
                  {"script": good, "replay": True, "persistent": True, "wait": True, "timeout": 0},
                  "parameter 'replay' (script): a synchronous handler that replays leases needs a 'timeout'"),
        BadConfig("replay-rate 0", {"script": good, "replay": True, "replay-rate": 0},
                  "parameter 'replay-rate' must be between 1 and 100000"),
        BadConfig("replay-rate in a scripts entry", {"scripts": [{"script": good, "replay-rate": 5}]},
                  "unknown parameter 'scripts[0].replay-rate'"),
    ]


def isc_dialect_bad_configs(good: str) -> List[BadConfig]:
    """ISC's run_script's parameters (`name`, `sync`) mixed with ours for one script, or
    hook points the other dialect lacks."""
    return [
        BadConfig("script and name", {"script": good, "name": good},
                  "parameters 'script' and 'name' both give the script"),
        BadConfig("script and name in an entry", {"scripts": [{"name": good, "script": good}]},
                  "parameters 'scripts[0].script' and 'scripts[0].name' both give the script"),
        BadConfig("sync beside script", {"script": good, "sync": False},
                  "parameter 'sync' is ISC's run_script's and goes with 'name'; beside 'script' use 'wait'"),
        BadConfig("sync and wait", {"name": good, "sync": False, "wait": True},
                  "parameters 'sync' (ISC's run_script's) and 'wait' (kea-hook-runscript's) both set"),
        BadConfig("sync not bool", {"name": good, "sync": "no"},
                  "parameter 'sync' must be a boolean"),
        BadConfig("name relative", {"name": "script_name.sh"},
                  "parameter 'name' must be an absolute path, got 'script_name.sh'"),
        BadConfig("ISC's dialect at a hook point ISC lacks", {"name": good, "hook-points": ["pkt4_receive"]},
                  "ISC's run_script calls no script at 'pkt4_receive'"),
        BadConfig("addr6_register in our dialect", {"script": good, "hook-points": ["addr6_register"]},
                  "hook point 'addr6_register' exists only in ISC's dialect"),
    ]


def _load_error(text: str) -> Optional[str]:
    """The first RUNSCRIPT_LOAD_ERROR of Kea's output, from the message id on (the id and the
    whole text, whatever the length of the text), or None."""
    lines = [ln.strip() for ln in text.splitlines() if "RUNSCRIPT_LOAD_ERROR" in ln]
    return lines[0][lines[0].index("RUNSCRIPT_LOAD_ERROR"):] if lines else None


@timed
def bad_configs(rt: Runtime, max_seconds: Optional[float] = None) -> Outcome:
    """Each bad parameter set: kea-dhcp4 exits non-zero within max_seconds (default: the
    refusal bound of a native or an emulated cell), with RUNSCRIPT_LOAD_ERROR and the
    parameter named. A good set with the same base starts."""
    if max_seconds is None:
        max_seconds = REFUSAL_BOUND_EMULATED_S if rt.emulated else REFUSAL_BOUND_S
    o = Outcome("bad-configs")
    # A configuration test must show the same refusals: `-t` (every Kea; the hook reads the
    # file), `-T` (Kea >= 2.3.6, the hooks loaded).
    flags = check_flags(rt.cell.kea)
    good = rt.script("good.sh", "#!/bin/sh\nexit 0\n")
    not_exec = rt.script("not-executable.sh", "#!/bin/sh\nexit 0\n", mode=0o644)
    _trust_fixtures(rt)
    results = {}
    checked = []
    for i, bad in enumerate(bad_configs_list(good, not_exec)):
        tag = f"bad{i}"
        text, log, _ = rt.config4(tag, bad.parameters, interfaces=[])
        conf = f"{testnet.C_CONF}/rt-{tag}-dhcp4.json"
        out = f"{testnet.C_OUT}/rt-{tag}-kea-dhcp4.out"
        rt.tn.c.write_file(conf, text)
        # one shell per refusal, timed inside it; `timeout` only guards against a server that
        # would start: it is our own child.
        r = rt.sh(f"rm -f {log}; t0=$(date +%s%N); timeout -s KILL {max_seconds + 5} {rt.tn.kea_prefix(4)} "
                  f"kea-dhcp4 -c {conf} >{out} 2>&1 </dev/null; rc=$?; t1=$(date +%s%N); "
                  f"echo \"rc=$rc ns=$((t1 - t0))\"; cat {out} {log} 2>/dev/null", check=False)
        m = re.match(r"rc=(\d+) ns=(\d+)\n", r.output)
        rc, secs = (int(m.group(1)), round(int(m.group(2)) / 1e9, 2)) if m else (-1, 0.0)
        text_out = r.output[m.end():] if m else r.output
        message = _load_error(text_out)
        results[bad.name] = {"exit": rc, "seconds": secs, "message": message}
        if not m:
            o.problems.append(f"{bad.name}: the run of kea-dhcp4 reported no exit status: {r.output[-400:]!r}")
        if rc == 0 or rc == 137:
            o.problems.append(f"{bad.name}: kea-dhcp4 exit status {rc} ({'killed: it kept running' if rc == 137 else 'success'})")
        if secs > max_seconds:
            o.problems.append(f"{bad.name}: kea-dhcp4 took {secs}s to refuse the configuration")
        if not message:
            o.problems.append(f"{bad.name}: no RUNSCRIPT_LOAD_ERROR in Kea's output: {text_out.strip()[-400:]!r}")
        elif not any(bad.message in ln for ln in text_out.splitlines() if "RUNSCRIPT_LOAD_ERROR" in ln):
            o.problems.append(f"{bad.name}: RUNSCRIPT_LOAD_ERROR lacks {bad.message!r}: {message!r}")
        checked.append((bad, conf, log))
    # the configuration tests of every refusal, side by side (a flag at a time: a refusal's
    # checks share its log file)
    for flag in flags:
        done = run_checks(rt, [(flag, conf, log) for _, conf, log in checked])
        for (bad, _, _), (rc, text) in zip(checked, done):
            message = _load_error(text)
            results[bad.name][f"kea-dhcp4 {flag}"] = {"exit": rc, "message": message}
            if rc == 0:
                o.problems.append(f"{bad.name}: kea-dhcp4 {flag} accepted the configuration")
            if not message or bad.message not in message:
                o.problems.append(f"{bad.name}: kea-dhcp4 {flag} did not name {bad.message!r}: {message!r}")
    o.facts["refusals"] = results
    # the control: the same base configuration with good parameters starts (and passes -T); its
    # `drop` at lease4_release works but keeps released leases: warned at load, once
    text, log, _ = rt.config4("good", {"script": good, "hook-points": ["pkt4_receive", "lease4_release"],
                                       "on-failure": "drop"}, interfaces=[])
    conf = f"{testnet.C_CONF}/rt-good-check-dhcp4.json"
    rt.tn.c.write_file(conf, text)
    for flag in flags:
        rc, output = run_check(rt, flag, conf, log)
        message = _load_error(output)
        o.facts[f"control (good parameters), kea-dhcp4 {flag}"] = f"exit {rc}"
        if rc != 0:
            o.problems.append(f"kea-dhcp4 {flag} refused the good parameters: exit {rc}, {message!r}")
    try:
        with rt.kea4("good", text, log):
            warnings = [ln for ln in rt.read(log).splitlines() if "RUNSCRIPT_STATUS_WARNING" in ln]
        o.facts["control (good parameters)"] = "started"
        o.facts["control: RUNSCRIPT_STATUS_WARNING"] = warnings
        expected = "parameter 'on-failure' is \"drop\" at hook point 'lease4_release' for script"
        if len(warnings) != 1 or expected not in warnings[0]:
            o.problems.append(f"the control's drop at lease4_release: expected one RUNSCRIPT_STATUS_WARNING "
                              f"with {expected!r}, got {warnings!r}")
    except testnet.SmokeError as e:
        o.problems.append(f"the control configuration (good parameters) did not start: {e}")
    return o


# --------------------------------------------------------------------------------------------
# 13-14. parameters and trust (issue 10, items 6-8)


@timed
def parameter_defaults(rt: Runtime) -> Outcome:
    """Top-level settings are the defaults of the `scripts` entries also when a top-level
    `script` is given; a `timeout` under 0.5 ms is 1 ms, not "none"; a hook point list that
    mixes v4 and v6 (lease6_select, which Kea registers in kea-dhcp4 too) loads in kea-dhcp4
    and the script is called only at the v4 one."""
    o = Outcome("parameter-defaults")
    record = f"{C_RT_OUT}/defaults.jsonl"
    rt.sh(f"rm -f {record}")
    good = rt.script("defaults-top.sh", "#!/bin/sh\nexit 0\n")
    slow = rt.script("defaults-slow.sh", "#!/bin/sh\nsleep 2\n")
    params = {"script": good, "hook-points": ["pkt4_receive", "lease6_select"], "timeout": 3,
              "environment": {"SMOKE_RECORD": record},
              "scripts": [{"script": testnet.RECORDER}, {"script": slow, "timeout": 0.0004}]}
    text, log, _ = rt.config4("defaults", params)
    with rt.kea4("defaults", text, log):
        address, err = answered(rt, "02:00:00:00:de:01")
        time.sleep(0.3)
        summary = rt.sh(f"grep -h RUNSCRIPT_LOADED {log}", check=False).output.strip()
        timeouts = rt.count_in(log, "RUNSCRIPT_TIMEOUT")
    recs = rt.tn.read_records(record)
    points = sorted({r["argv"][1] for r in recs if len(r["argv"]) > 1})
    o.facts.update({"lease": address or err[-120:], "RUNSCRIPT_LOADED": summary[-700:],
                    "recorder calls (top-level environment)": len(recs),
                    "recorder hook points": points, "RUNSCRIPT_TIMEOUT lines": timeouts})
    if not address:
        o.problems.append("no lease")
    if len(recs) < 2 or points != ["pkt4_receive"]:
        o.problems.append(f"scripts[0] did not take the top-level hook-points and environment: "
                          f"{len(recs)} calls recorded at {points}")
    if f"{testnet.RECORDER} (wait, timeout 3000 ms" not in summary:
        o.problems.append(f"scripts[0] did not take the top-level timeout (3 s): {summary[-400:]!r}")
    if f"{slow} (wait, timeout 1 ms" not in summary:
        o.problems.append(f"'timeout': 0.0004 is not 1 ms: {summary[-400:]!r}")
    if timeouts < 2:
        o.problems.append(f"{timeouts} RUNSCRIPT_TIMEOUT lines: the 0.4 ms timeout did not kill "
                          "`sleep 2` at DISCOVER and REQUEST")
    return o


#: Scripts bad_configs refuses for their owner or modes (made by _trust_fixtures) ...
TRUST_GROUP_WRITABLE = f"{C_RT}/trust-group-writable.sh"
TRUST_OTHERS_WRITABLE = f"{C_RT}/trust-others-writable.sh"
TRUST_OTHER_OWNER = f"{C_RT}/trust-other-owner.sh"
TRUST_IN_GROUP_DIR = f"{C_RT}/trust-group-dir/ok.sh"
TRUST_IN_OTHER_DIR = f"{C_RT}/trust-other-dir/ok.sh"
TRUST_IN_TMP = "/tmp/rt-trust.sh"
TRUST_LINK_TO_TMP = f"{C_RT}/trust-link.sh"
#: ... and the owner (no passwd entry) they are given.
OTHER_UID = 4242


def _trust_fixtures(rt: Runtime) -> None:
    ok = "#!/bin/sh\nexit 0\n"
    for path, mode in ((TRUST_GROUP_WRITABLE, 0o775), (TRUST_OTHERS_WRITABLE, 0o757),
                       (TRUST_OTHER_OWNER, 0o755), (TRUST_IN_GROUP_DIR, 0o755),
                       (TRUST_IN_OTHER_DIR, 0o755), (TRUST_IN_TMP, 0o755)):
        rt.tn.c.write_file(path, ok, mode=mode)
    rt.sh(f"chown {OTHER_UID} {TRUST_OTHER_OWNER}; chmod 2775 {C_RT}/trust-group-dir; "
          f"chown {OTHER_UID} {C_RT}/trust-other-dir; ln -sf {TRUST_IN_TMP} {TRUST_LINK_TO_TMP}")


def hardening_bad_configs(good: str) -> List[BadConfig]:
    """The refusals of issue 10's items 6-8 (part of :func:`bad_configs_list`)."""
    return [
        BadConfig("exit-codes key with a space", {"script": good, "exit-codes": {" 8": "drop"}},
                  "parameter 'exit-codes': key ' 8' is not an exit code"),
        BadConfig("exit-codes key with a sign", {"script": good, "exit-codes": {"+8": "drop"}},
                  "parameter 'exit-codes': key '+8' is not an exit code"),
        BadConfig("exit-codes key with a leading zero", {"script": good, "exit-codes": {"08": "drop"}},
                  "parameter 'exit-codes': key '08' is not an exit code"),
        BadConfig("exit-codes key over 255", {"script": good, "exit-codes": {"256": "drop"}},
                  "parameter 'exit-codes': key '256' is not an exit code"),
        BadConfig("hook-points empty", {"script": good, "hook-points": []},
                  "parameter 'hook-points' is an empty list"),
        BadConfig("scripts entry with hook-points empty",
                  {"scripts": [{"script": good, "hook-points": []}]},
                  "parameter 'scripts[0].hook-points' is an empty list"),
        BadConfig("only a DHCPv6 hook point in kea-dhcp4", {"script": good, "hook-points": ["lease6_select"]},
                  "none of the configured hook points is a DHCPv4 one, and this is kea-dhcp4 (lease6_select"),
        BadConfig("environment name reserved", {"script": good, "environment": {"KEA_X": "1"}},
                  "parameter 'environment.KEA_X': variable names must be non-empty, without '=' and not start "
                  "with KEA_"),
        BadConfig("workers without persistent", {"script": good, "workers": 2},
                  "parameter 'workers' needs 'persistent': true"),
        BadConfig("queue without persistent", {"script": good, "wait": False, "queue": 8},
                  "parameter 'queue' needs 'persistent': true"),
        BadConfig("queue with wait", {"scripts": [{"script": good, "persistent": True, "queue": 8}]},
                  "parameter 'scripts[0].queue' needs 'wait': false"),
        BadConfig("max-async 0", {"script": good, "max-async": 0},
                  "parameter 'max-async' must be between 1 and 100000"),
        BadConfig("max-async too big", {"script": good, "max-async": 100001},
                  "parameter 'max-async' must be between 1 and 100000"),
        BadConfig("a directory as the script", {"script": C_RT, "check-permissions": False},
                  f"parameter 'script': '{C_RT}' is not a regular file"),
        BadConfig("scripts empty", {"scripts": []},
                  "parameter 'scripts' is an empty list"),
        BadConfig("environment value with a NUL", {"script": good, "environment": {"A": "x\0y"}},
                  "parameter 'environment.A' holds a NUL byte"),
        BadConfig("script path with a NUL", {"scripts": [{"script": good + "\0.sh"}]},
                  "parameter 'scripts[0].script' holds a NUL byte"),
        # Kea keeps a NUL and a newline that JSON escapes put in a key: the refusal must show
        # them, not end at the NUL or start a new log line.
        BadConfig("a key with a NUL and a newline", {"script": good, "x\0y\nz": 1},
                  "unknown parameter 'x\\x00y\\x0az'"),
        BadConfig("on-failure unknown", {"script": good, "on-failure": "block"},
                  "parameter 'on-failure': unknown action 'block'"),
        BadConfig("on-failure not a string", {"scripts": [{"script": good, "on-failure": True}]},
                  "parameter 'scripts[0].on-failure' must be \"continue\", \"skip\" or \"drop\""),
        BadConfig("max-output-lines 0", {"script": good, "max-output-lines": 0},
                  "parameter 'max-output-lines' must be between 1 and 100000"),
        BadConfig("max-output-lines too big", {"script": good, "max-output-lines": 100001},
                  "parameter 'max-output-lines' must be between 1 and 100000"),
        BadConfig("max-output-lines not an integer", {"script": good, "max-output-lines": "100"},
                  "parameter 'max-output-lines' must be an integer"),
        BadConfig("drain-timeout negative", {"script": good, "drain-timeout": -1},
                  "parameter 'drain-timeout' must be between 0 and 60 seconds"),
        BadConfig("drain-timeout too big", {"script": good, "drain-timeout": 61},
                  "parameter 'drain-timeout' must be between 0 and 60 seconds"),
        BadConfig("drain-timeout not a number", {"script": good, "drain-timeout": "2"},
                  "parameter 'drain-timeout' must be a number of seconds"),
        BadConfig("check-permissions not a boolean", {"script": good, "check-permissions": "no"},
                  "parameter 'check-permissions' must be a boolean"),
    ] + trust_bad_configs()


def trust_bad_configs() -> List[BadConfig]:
    """Scripts the trust check refuses (made by _trust_fixtures): each refusal says what to run."""
    fix = "set 'check-permissions': false"
    return [
        BadConfig("script writable by its group", {"script": TRUST_GROUP_WRITABLE},
                  f"parameter 'script': script '{TRUST_GROUP_WRITABLE}' is writable by its group (mode 0775): "
                  f"run chmod g-w '{TRUST_GROUP_WRITABLE}'"),
        BadConfig("script writable by others", {"scripts": [{"script": TRUST_OTHERS_WRITABLE}]},
                  f"parameter 'scripts[0].script': script '{TRUST_OTHERS_WRITABLE}' is writable by others (mode 0757)"),
        BadConfig("script owned by another user", {"script": TRUST_OTHER_OWNER},
                  f"script '{TRUST_OTHER_OWNER}' is owned by uid {OTHER_UID}, neither root nor the user Kea runs as: "
                  f"run chown root '{TRUST_OTHER_OWNER}'"),
        BadConfig("script in a group-writable directory", {"script": TRUST_IN_GROUP_DIR},
                  f"script '{TRUST_IN_GROUP_DIR}' lies under '{C_RT}/trust-group-dir', which is writable by its group "
                  f"(mode 2775): run chmod g-w '{C_RT}/trust-group-dir'"),
        BadConfig("script in a directory of another user", {"script": TRUST_IN_OTHER_DIR},
                  f"script '{TRUST_IN_OTHER_DIR}' lies under '{C_RT}/trust-other-dir', which is owned by uid {OTHER_UID}"),
        BadConfig("script in /tmp (sticky, world-writable)", {"script": TRUST_IN_TMP},
                  f"script '{TRUST_IN_TMP}' lies under '/tmp', which is writable by others (mode 1777): move the "
                  "script out of '/tmp'"),
        BadConfig("symlink to a script in /tmp", {"script": TRUST_LINK_TO_TMP},
                  f"script '{TRUST_LINK_TO_TMP}' lies under '/tmp', which is writable by others"),
        BadConfig("untrusted script names the way out", {"script": TRUST_IN_TMP}, fix),
    ]


@timed
def trust_checks(rt: Runtime) -> Outcome:
    """What bad_configs cannot show as root. (1) `check-permissions: false` loads scripts the
    check refuses (in /tmp, group-writable). (2) kea-dhcp4 running as an unprivileged user
    (Debian's _kea): a script it cannot execute (0700, root's) and one under a directory it
    cannot search are refused, naming the path, the user with its uid and the permission."""
    o = Outcome("trust-checks")
    _trust_fixtures(rt)
    text, log, _ = rt.config4("trust-off", {"check-permissions": False, "scripts": [
        {"script": TRUST_IN_TMP, "hook-points": ["pkt4_receive"]},
        {"script": TRUST_GROUP_WRITABLE, "hook-points": ["pkt4_receive"]}]}, interfaces=[])
    try:
        with rt.kea4("trust-off", text, log):
            o.facts["check-permissions false"] = "started"
    except testnet.SmokeError as e:
        o.facts["check-permissions false"] = str(e)[-300:]
        o.problems.append(f"check-permissions false: Kea did not start: {str(e)[-300:]}")
    user = rt.sh("id -u _kea", check=False)
    if not user.ok:
        o.problems.append("no _kea user in the runtime image: the unprivileged case was not run")
        return o
    uid = int(user.output.strip().splitlines()[-1])
    private = f"{C_RT}/trust-private"
    root_only = f"{C_RT}/trust-root-only.sh"
    rt.tn.c.write_file(f"{private}/ok.sh", "#!/bin/sh\nexit 0\n", mode=0o755)
    rt.tn.c.write_file(root_only, "#!/bin/sh\nexit 0\n", mode=0o700)
    rt.sh(f"chmod 0700 {private}")
    # Kea as _kea: its log, pid and lease directories must be its own for it to get as far
    # as loading hooks.
    kea_dirs = f"{C_RT}/kea-user"
    rt.sh(f"rm -rf {kea_dirs}; mkdir -p {kea_dirs}; chown _kea {kea_dirs} {testnet.C_LOGS}")
    cases = (("not executable by Kea's user", root_only,
              f"script '{root_only}' is not executable by the user Kea runs as, _kea (uid {uid}): "
              "no execute (x) permission on the file"),
             ("directory Kea's user cannot search", f"{private}/ok.sh",
              f"script '{private}/ok.sh' is not executable by the user Kea runs as, _kea (uid {uid}): "
              f"no search (x) permission on directory '{private}'"))
    results = {}
    for i, (name, path, want) in enumerate(cases):
        tag = f"trust-user{i}"
        text, log, _ = rt.config4(tag, {"script": path}, interfaces=[])
        conf = f"{kea_dirs}/{tag}.json"
        rt.tn.c.write_file(conf, text, mode=0o644)
        rt.sh(f"rm -f {log}")
        r = rt.sh(f"cd {kea_dirs} && KEA_PIDFILE_DIR={kea_dirs} KEA_LOCKFILE_DIR={kea_dirs} "
                  f"timeout -s KILL 20 ip netns exec srv setpriv --reuid=_kea --regid=_kea --clear-groups "
                  f"kea-dhcp4 -c {conf} 2>&1 </dev/null; echo \"rc=$?\"", check=False)
        out = r.output + rt.read(log)
        lines = [ln.strip() for ln in out.splitlines() if "RUNSCRIPT_LOAD_ERROR" in ln]
        results[name] = {"exit": r.output.strip().splitlines()[-1], "message": lines[0][-400:] if lines else out[-400:]}
        if not lines:
            o.problems.append(f"{name}: no RUNSCRIPT_LOAD_ERROR from kea-dhcp4 as _kea: {out[-600:]!r}")
        elif want not in lines[0]:
            o.problems.append(f"{name}: RUNSCRIPT_LOAD_ERROR lacks {want!r}: {lines[0][-400:]!r}")
    rt.tn.give(*rt.tn.owner(rt.tn.units.get(4)), testnet.C_LOGS)  # back to Kea's user (root without a unit)
    o.facts["as _kea"] = results
    return o
