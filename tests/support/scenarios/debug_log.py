"""Scenario 17: examples/debug.sh keeps its log private."""

from __future__ import annotations

import shlex
from typing import Optional

from kea_runscript.verify import testnet
from .runtime import C_RT, C_RT_OUT, Outcome, Runtime, timed


# --------------------------------------------------------------------------------------------
# 17. examples/debug.sh keeps its log private


DEBUG_SH = f"{testnet.C_EXAMPLES}/debug.sh"
#: debug.sh's log when DEBUG_LOG is not set (examples/debug.sh)
DEBUG_LOG_DEFAULT = "/var/log/kea/kea-hook-runscript-debug.log"
#: Another local user (nobody), who plants files in /tmp before Kea's script writes there.
PLANTER_UID = 65534


def _stat(rt: Runtime, path: str) -> Optional[dict]:
    """lstat of ``path`` in the container: {type, mode, uid, size}, None when missing."""
    r = rt.sh(f"stat -c '%F|%a|%u|%s' {shlex.quote(path)}", check=False)
    if not r.ok:
        return None
    kind, mode, uid, size = r.output.strip().splitlines()[-1].split("|")
    return {"type": kind, "mode": mode, "uid": int(uid), "size": int(size)}


@timed
def debug_log_private(rt: Runtime) -> Outcome:
    """examples/debug.sh as Kea runs it: its log is a 0600 file of Kea's user in Kea's log
    directory. Planted by another user at the path DEBUG_LOG names, a symbolic link (to a file
    that does not exist, and to one that does) is not followed and a file of theirs is not
    written to; Kea still answers."""
    o = Outcome("debug-log-private")
    # What a planted link points to: must stay untouched. Kea's user could write there (its
    # output directory, a file of its own), so only the script's care keeps it so.
    victim = f"{C_RT_OUT}/debug-victim"
    user, group = rt.tn.owner(rt.tn.units.get(4))
    rt.sh(f"rm -rf {DEBUG_LOG_DEFAULT} {victim} {victim}-existing /tmp/debug-planted-*; "
          f"echo original > {victim}-existing; chmod 644 {victim}-existing; "
          f"chown {user}:{group} {victim}-existing")
    other = f"setpriv --reuid {PLANTER_UID} --regid {PLANTER_UID} --clear-groups"
    planted = {
        "dangling link": "/tmp/debug-planted-link",
        "link to a file": "/tmp/debug-planted-link2",
        "file of another user": "/tmp/debug-planted-file",
    }
    rt.sh(f"{other} ln -s {victim} {planted['dangling link']} && "
          f"{other} ln -s {victim}-existing {planted['link to a file']} && "
          f"{other} sh -c 'umask 0; : > {planted['file of another user']}'")
    # the kernel's own protection of sticky directories would hide what the script does
    o.facts["fs.protected_symlinks, fs.protected_regular"] = rt.sh(
        "cat /proc/sys/fs/protected_symlinks /proc/sys/fs/protected_regular", check=False).output.split()
    tmp_before = set(rt.sh("ls -A /tmp", check=False).output.split())
    scripts = [{"script": DEBUG_SH, "hook-points": ["pkt4_receive"]}]
    scripts += [{"script": DEBUG_SH, "hook-points": ["pkt4_receive"], "environment": {"DEBUG_LOG": p}}
                for p in planted.values()]
    text, log, _ = rt.config4("debuglog", {"scripts": scripts}, debug=True)
    with rt.kea4("debuglog", text, log) as pid:
        kea_uid = int(rt.sh(f"stat -c %u /proc/{pid}").output.strip().splitlines()[-1])
        ack = rt.dora("02:00:00:00:db:01")
    own = _stat(rt, DEBUG_LOG_DEFAULT)
    text_log = rt.read(DEBUG_LOG_DEFAULT)
    o.facts.update({"Kea's uid": kea_uid, "default log": DEBUG_LOG_DEFAULT, "its stat": own,
                    "DORA": ack.get("address"),
                    "pkt4_receive entries": text_log.count(" pkt4_receive (pid ")})
    if not ack.get("address"):
        o.problems.append("no lease with debug.sh configured")
    if own is None:
        o.problems.append(f"debug.sh did not create {DEBUG_LOG_DEFAULT}")
    else:
        if own["type"] != "regular file" or own["mode"] != "600" or own["uid"] != kea_uid:
            o.problems.append(f"{DEBUG_LOG_DEFAULT} is {own}, wanted a regular file, mode 600, owner {kea_uid}")
        if "KEA_QUERY4_HWADDR=02:00:00:00:db:01" not in text_log:
            o.problems.append(f"{DEBUG_LOG_DEFAULT} lacks the client's KEA_QUERY4_HWADDR")
    new_in_tmp = sorted(set(rt.sh("ls -A /tmp", check=False).output.split()) - tmp_before)
    o.facts["new files in /tmp"] = new_in_tmp
    if new_in_tmp:
        o.problems.append(f"debug.sh wrote to /tmp: {new_in_tmp}")
    # Packaged Kea runs as its own user (_kea): the same script, run as another user
    own_dir = f"{C_RT}/debug-user-dir"
    rt.sh(f"rm -rf {own_dir}; mkdir -m 700 {own_dir}; chown {PLANTER_UID}:{PLANTER_UID} {own_dir}")
    r = rt.sh(f"{other} env -i DEBUG_LOG={own_dir}/debug.log KEA_TEST=1 {DEBUG_SH} pkt4_receive", check=False)
    as_user = _stat(rt, f"{own_dir}/debug.log")
    o.facts[f"run as uid {PLANTER_UID}: exit, stat"] = [r.exit_code, as_user]
    if not r.ok or not as_user or as_user["mode"] != "600" or as_user["uid"] != PLANTER_UID:
        o.problems.append(f"debug.sh run as uid {PLANTER_UID}: exit {r.exit_code}, its log {as_user} "
                          f"(wanted mode 600, owner {PLANTER_UID}) {r.output.strip()[-200:]}")
    after = {name: _stat(rt, path) for name, path in planted.items()}
    o.facts["planted, after the calls"] = after
    targets = {"dangling link target": _stat(rt, victim),
               "linked file": rt.read(f"{victim}-existing").strip()}
    o.facts["link targets, after the calls"] = targets
    if targets["dangling link target"] is not None:
        o.problems.append(f"debug.sh followed the planted dangling link: {victim} was created "
                          f"{targets['dangling link target']}")
    if targets["linked file"] != "original":
        o.problems.append(f"debug.sh followed the planted link to {victim}-existing: it now holds "
                          f"{targets['linked file'][:200]!r}")
    if after["file of another user"] and after["file of another user"]["size"] != 0:
        o.problems.append(f"debug.sh wrote into a file another user planted: {after['file of another user']}")
    return o
