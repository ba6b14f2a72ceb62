"""The wall-time allowances of the launcher's and handlers' driver tests, in one place.

A driver test checks a deadline the code promises (a timeout, a drain) as that deadline plus
one allowance for where the code runs, never widened test by test. The scripts these bounds
watch run 300 s, or a stop spins forever, when the defect is there: far past any allowance.
How close to the deadline the end comes is the benchmarks' to measure, not the tests'.
"""

from __future__ import annotations

#: How late past its deadline the launcher's kill may come natively (ms): a loaded 2-core
#: machine (three test workers) delays a thread's wake-up by a few hundred ms at most.
KILL_ALLOWANCE_MS = 500

#: The one scaling for emulation: under qemu-user (the plain path of an arm64 driver) a flood's
#: kill took up to 1747 ms for a 1 s timeout; in the arm64 VM (qemu-system, no KVM, every
#: instruction emulated) a 300 ms timeout once ended its run at 850 ms.
EMULATION_FACTOR = {"native": 1, "qemu-user": 2, "vm": 3}

#: A handler pool's deadlines (timeout, drain) natively: handlers are Python programs and
#: shell scripts whose start and reads a loaded machine delays by seconds; it tells a bounded
#: wait from the defects reproduced (a stop that spun forever, a kill that never came).
HANDLER_ALLOWANCE_MS = 3000


def kill_allowance_ms(where: str) -> int:
    """KILL_ALLOWANCE_MS for code running `where`: "native", "qemu-user" or "vm"."""
    return KILL_ALLOWANCE_MS * EMULATION_FACTOR[where]
