"""The lease databases of the benchmark's "Kea the size users run" rows: a memfile CSV of N
leases that Kea loads at start.

The columns are the ones the cell's Kea writes in its own header (read from a file it created),
so the file matches that version's format; a column this module does not know is an error, not
a guess. The leases are valid for a day from generation, in the subnet the benchmark serves
(id 1) but in a pool of their own (:func:`loaded_pool`), so that perfdhcp's new clients get new
addresses from the other pool as on an empty server, and with client identifiers perfdhcp never
sends (DUID-EN / MAC 06:...). Addresses only in the documentation ranges the tests may use.

Runs inside the cell's container too: ``python3 bench_leases.py FAMILY COUNT HEADER_FILE OUT``.
"""

from __future__ import annotations

import ipaddress
import sys
import time
from typing import Dict, Iterator, List

#: the loaded leases' pools: v6 a /80 of the benchmark's 2001:db8:1::/64 apart from perfdhcp's
#: pool; v4 the start of the benchmark's 198.18.0.0/15 (131072 addresses in all)
V6_LOADED = ipaddress.IPv6Network("2001:db8:1:0:1::/80")
V4_FIRST = ipaddress.IPv4Address("198.18.0.10")
V4_LAST = ipaddress.IPv4Address("198.19.255.250")
#: addresses of the v4 subnet left for perfdhcp's clients at least (a 4 s trial at 7000/s)
V4_TRIAL_ADDRESSES = 28000
LIFETIME = 86400


def v4_capacity() -> int:
    """The most v4 leases that can be loaded with V4_TRIAL_ADDRESSES left for the trials."""
    return int(V4_LAST) - int(V4_FIRST) + 1 - V4_TRIAL_ADDRESSES


def loaded_pool(family: int, count: int) -> str:
    """The pool of the loaded leases (Kea's "pool" syntax)."""
    if family == 6:
        return str(V6_LOADED)
    if count > v4_capacity():
        raise ValueError(f"{count} v4 leases do not fit in 198.18.0.0/15 with {V4_TRIAL_ADDRESSES} "
                         f"addresses left for the trials (at most {v4_capacity()})")
    return f"{V4_FIRST} - {V4_FIRST + count - 1}"


def trial_pool(family: int, count: int) -> str:
    """The pool perfdhcp's clients get addresses from, next to the loaded one."""
    if family == 6:
        return "2001:db8:1::1:0 - 2001:db8:1::ffff:ffff"
    loaded_pool(4, count)  # checks that it fits
    return f"{V4_FIRST + count} - {V4_LAST}"


def _hex(value: int, nbytes: int) -> str:
    return ":".join(f"{b:02x}" for b in value.to_bytes(nbytes, "big"))


def lease_fields(family: int, i: int, expire: int) -> Dict[str, str]:
    """Lease i's value for every column some Kea version writes (Kea 2.2 to 3.0)."""
    common = {"valid_lifetime": str(LIFETIME), "expire": str(expire), "subnet_id": "1",
              "fqdn_fwd": "0", "fqdn_rev": "0", "hostname": "", "state": "0", "user_context": "",
              "pool_id": "0"}
    if family == 4:
        return {**common, "address": str(V4_FIRST + i), "hwaddr": "06:" + _hex(i, 5), "client_id": ""}
    return {**common, "address": str(V6_LOADED.network_address + i + 1),
            # DUID-EN (type 2), enterprise 0xabcd, the index as identifier
            "duid": "00:02:00:00:ab:cd:" + _hex(i, 4), "pref_lifetime": str(LIFETIME * 3 // 4),
            "lease_type": "0", "iaid": str(i), "prefix_len": "128", "hwaddr": "", "hwtype": "1",
            "hwaddr_source": "0"}


def csv_lines(family: int, count: int, header: str, now: int) -> Iterator[str]:
    """The file's lines: Kea's header as given, then COUNT leases in its column order."""
    columns: List[str] = header.strip().split(",")
    unknown = [c for c in columns if c not in lease_fields(family, 0, 0)]
    if unknown:
        raise ValueError(f"Kea's lease{family} file header has columns this benchmark does not "
                         f"know: {', '.join(unknown)} (header: {header.strip()})")
    if family == 4:
        loaded_pool(4, count)
    yield ",".join(columns) + "\n"
    expire = now + LIFETIME
    for i in range(count):
        f = lease_fields(family, i, expire)
        yield ",".join(f[c] for c in columns) + "\n"


def main(argv: List[str]) -> int:
    family, count, header_file, out = int(argv[1]), int(argv[2]), argv[3], argv[4]
    with open(header_file) as f:
        header = f.readline()
    with open(out, "w") as f:
        f.writelines(csv_lines(family, count, header, int(time.time())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
