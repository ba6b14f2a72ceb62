"""Scenario 27: checking a configuration file. `kea-dhcp4 -t FILE` (every Kea: Kea only opens
the library) and `kea-dhcp4 -T FILE` (Kea >= 2.3.6: Kea loads it) check the hook's parameters
as the service will, run no script (not even `load` / `unload` ones) and start no handler;
what they check depends on the user who runs them, so the documented command runs them as
the service's user."""

from __future__ import annotations

import re
import uuid
from typing import List, Tuple

from kea_runscript.model.facts import facts_for
from kea_runscript.verify import testnet
from .runtime import C_RT_OUT, Outcome, Runtime, timed


def check_flags(kea: str) -> List[str]:
    """The configuration tests this Kea has."""
    loading = facts_for(kea).config_check_loading_hooks_flag
    return ["-t"] + ([loading] if loading else [])


def run_check(rt: Runtime, flag: str, conf: str, log: str, as_root: str = "") -> tuple:
    """kea-dhcp4 <flag> CONF as the service's user (or root): (exit status, its output and log)."""
    return run_checks(rt, [(flag, conf, log)], as_root)[0]


#: Configuration tests run_checks runs at once: each is a short, mostly single-threaded Kea
#: start; more than the machine's two cores only adds waiting.
CHECKS_AT_ONCE = 4


def run_checks(rt: Runtime, checks: List[Tuple[str, str, str]], as_root: str = "") -> List[tuple]:
    """run_check for each (flag, conf, log), CHECKS_AT_ONCE at a time in one shell of the
    container (a shell per check cost more than the checks): [(exit status, output and log)].
    Checks run side by side must not share a log file."""
    logs = [log for _, _, log in checks]
    if len(set(logs)) != len(logs):
        raise ValueError(f"run_checks: checks share a log file: {logs}")
    prefix = rt.tn.kea_prefix(4, as_root=as_root)
    jobs = []
    for k, (flag, conf, log) in enumerate(checks):
        out = f"{testnet.C_OUT}/check-{k}.out"
        # `timeout` only guards against a server that would start: it is our own child.
        jobs.append(f"( rm -f {log}; timeout -s KILL 30 {prefix} kea-dhcp4 {flag} {conf} >{out} 2>&1 "
                    f"</dev/null; echo $? >{out}.rc; cat {log} >>{out} 2>/dev/null ) &")
    waves = ["\n".join(jobs[i:i + CHECKS_AT_ONCE]) + "\nwait" for i in range(0, len(jobs), CHECKS_AT_ONCE)]
    rt.sh("\n".join(waves), check=False)
    mark = f"@@check-{uuid.uuid4().hex}@@"
    r = rt.sh("\n".join(f"printf '\\n{mark} %s\\n' \"$(cat {testnet.C_OUT}/check-{k}.out.rc)\"\n"
                         f"cat {testnet.C_OUT}/check-{k}.out" for k in range(len(checks))), check=False)
    results = []
    for part in r.output.split(f"\n{mark} ")[1:]:
        status, _, text = part.partition("\n")
        results.append((int(status) if status.strip().isdigit() else -1, text))
    if len(results) != len(checks):
        raise testnet.SmokeError(f"run_checks: {len(results)} results for {len(checks)} checks: {r.output[-600:]!r}")
    return results


def _run_check(rt: Runtime, flag: str, text: str, tag: str, log: str, as_root: str = "") -> tuple:
    """run_check on ``text``, written to the tag's configuration file."""
    conf = f"{testnet.C_CONF}/rt-{tag}-dhcp4.json"
    rt.tn.c.write_file(conf, text)
    return run_check(rt, flag, conf, log, as_root)


@timed
def config_tests(rt: Runtime) -> Outcome:
    o = Outcome("config-tests")
    marker = f"{C_RT_OUT}/config-test-ran"
    mark = rt.script("config-test-mark.sh", f"#!/bin/sh\necho \"${{1:-handler}}\" >> {marker}\n")
    private = rt.script("config-test-private.sh", "#!/bin/sh\nexit 0\n", mode=0o700)  # root's only
    params = {"scripts": [
        {"script": mark, "wait": True, "on-failure": "drop",
         "hook-points": ["load", "unload", "pkt4_receive", "lease4_release"]},
        {"script": mark, "persistent": True, "wait": False, "hook-points": ["pkt4_receive"]}]}
    text, log, _ = rt.config4("cfgtest", params, interfaces=[])
    private_text, _, _ = rt.config4("cfgtest-private", {"script": private}, interfaces=[])
    for flag in check_flags(rt.cell.kea):
        rt.sh(f"rm -f {marker}")
        rc, out = _run_check(rt, flag, text, "cfgtest", log)
        ran = rt.read(marker).split()
        o.facts[f"kea-dhcp4 {flag}"] = {"exit": rc, "scripts run": ran,
                                        "lines": [ln.strip()[-300:] for ln in out.splitlines() if "RUNSCRIPT_" in ln]}
        if rc != 0:
            o.problems.append(f"kea-dhcp4 {flag} refused a good configuration: exit {rc}: {out[-600:]!r}")
        if "RUNSCRIPT_CONFIG_TEST" not in out:
            o.problems.append(f"kea-dhcp4 {flag}: no RUNSCRIPT_CONFIG_TEST line: the hook was not checked")
        if "RUNSCRIPT_STATUS_WARNING" not in out or "'lease4_release'" not in out:
            o.problems.append(f"kea-dhcp4 {flag}: the drop at lease4_release was not warned about")
        if ran:
            o.problems.append(f"kea-dhcp4 {flag} ran scripts (load/unload or a handler): {ran}")
        for who, as_root in (("_kea", ""), ("root", "the check as root, to show it differs")):
            rc, out = _run_check(rt, flag, private_text, "cfgtest-private", log, as_root=as_root)
            o.facts[f"kea-dhcp4 {flag} as {who}, a root-only script"] = f"exit {rc}"
            if who == "_kea" and (rc == 0 or "is not executable by the user Kea runs as" not in out):
                o.problems.append(f"kea-dhcp4 {flag} as {who} accepted a script {who} cannot run: {out[-400:]!r}")
            if who == "root" and rc != 0:
                o.problems.append(f"kea-dhcp4 {flag} as root refused a script root can run: {out[-400:]!r}")
    # serving, the same configuration runs its load and unload scripts and starts its handler
    rt.sh(f"rm -f {marker}")
    with rt.kea4("cfgtest-serve", text, log):
        pass
    ran = rt.read(marker).split()
    o.facts["serving: scripts run"] = ran
    if "load" not in ran or "unload" not in ran or "handler" not in ran:
        o.problems.append(f"serving, the load/unload scripts and the handler did not all run: {ran}")
    return o
