"""Scenario 28: lease times as wide as Kea's. The hook reads ``Lease::cltt_`` (a ``time_t``) and
the 32-bit lifetimes out of Kea's own objects: a hook built with another width of time_t than
Kea's reads them at the wrong offsets (kea_runscript/builder/time_abi.py refuses such a build),
and a formatting through a 32-bit signed type turns the infinite lifetime or a time past
2038-01-19 negative. Leases written to Kea's lease file, then released by their clients, reach
the script at lease4_release with Kea's values: a last transmission just before 2038, one past
it (on a Kea with 64-bit time_t; a 32-bit Kea cannot hold it, and what it does is recorded), and
the infinite lifetime 4294967295."""

from __future__ import annotations

import time
from typing import List, Optional, Tuple

from kea_runscript.verify import testnet
from .runtime import C_RT_OUT, LEASE_DIR, Outcome, Runtime, timed

#: The last second a signed 32-bit time_t holds: 2038-01-19 03:14:07 UTC.
TIME32_MAX = 2**31 - 1
VALID = 4000
INFINITE = 0xFFFFFFFF
#: (name, address, MAC, valid lifetime, client last transmission) of each lease written.
#: Its expiry in the file is cltt + valid lifetime.
LEASES: List[Tuple[str, str, str, int, Optional[int]]] = [
    ("before 2038", "192.0.2.150", "02:00:00:00:38:01", VALID, TIME32_MAX - VALID),
    ("past 2038", "192.0.2.151", "02:00:00:00:38:02", VALID, TIME32_MAX + 86400),
    ("infinite lifetime", "192.0.2.152", "02:00:00:00:38:03", INFINITE, None),  # cltt: now
]
#: Kea's memfile header of schema 2.0 (Kea 1.x-3.x read it, upgrading newer schemas' columns).
CSV_HEADER = "address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state,user_context"


def kea_time_bits(rt: Runtime) -> int:
    """The width of time_t of the cell's Kea: 64 on a 64-bit architecture; on a 32-bit one 64
    when libkea-dhcpsrv calls glibc's 64-bit-time entry points (builder/time_abi.py)."""
    lib = f"/usr/lib/{rt.cell.multiarch}/libkea-dhcpsrv.so.*"
    r = rt.sh(f"f=$(ls {lib} | head -n1); od -An -tx1 -j4 -N1 \"$f\"; grep -c __time64 \"$f\" || true")
    elf_class, count = r.output.split()[:2]
    return 64 if elf_class == "02" or int(count) > 0 else 32


@timed
def lease_times(rt: Runtime) -> Outcome:
    o = Outcome("lease-times")
    record = f"{C_RT_OUT}/lease-times.jsonl"
    rt.sh(f"rm -f {record}")
    bits = kea_time_bits(rt)
    o.facts["Kea's time_t"] = f"{bits}-bit"
    now = int(time.time())
    rows, want = [CSV_HEADER], {}
    for name, addr, mac, valid, cltt in LEASES:
        cltt = now if cltt is None else cltt
        rows.append(f"{addr},{mac},,{valid},{cltt + valid},1,0,0,,0,")
        want[addr] = (name, str(cltt), str(valid))
    params = {"script": testnet.RECORDER, "hook-points": ["lease4_release"],
              "environment": {"SMOKE_RECORD": record}}
    text, log, lease_file = rt.config4("times", params, persist=True)
    rt.tn.c.write_file(lease_file, "\n".join(rows) + "\n", mode=0o640)
    user, group = rt.tn.owner(rt.tn.units.get(4))
    rt.sh(f"chown {user}:{group} {lease_file}")
    with rt.kea4("times", text, log):
        for _, addr, mac, _, _ in LEASES:
            rt.tn.client("v4", "release", "--mac", mac, "--addr", addr, check=False)
        time.sleep(0.5)
    seen = {r["env"].get("KEA_LEASE4_ADDRESS"): r["env"] for r in rt.tn.read_records(record)
            if r["argv"][1:2] == ["lease4_release"]}
    for addr, (name, cltt, valid) in want.items():
        env = seen.get(addr)
        got = None if env is None else (env.get("KEA_LEASE4_CLIENT_LAST_TRANSMISSION"),
                                        env.get("KEA_LEASE4_VALID_LIFETIME"),
                                        env.get("KEA_LEASE4_IS_EXPIRED"))
        o.facts[name] = {"written": {"cltt": cltt, "valid lifetime": valid},
                         "script saw (cltt, valid lifetime, expired)": got}
        if name == "past 2038" and bits == 32:
            continue  # Kea itself cannot hold it: recorded, not judged
        if got is None:
            o.problems.append(f"{name}: no lease4_release for {addr}: Kea's log says "
                              f"{rt.read(log)[-600:]!r}")
        elif got[:2] != (cltt, valid) or got[2] != "0":
            o.problems.append(f"{name}: the script saw cltt, lifetime, expired = {got}, Kea's lease file "
                              f"held {(cltt, valid)} (not expired)")
    return o
