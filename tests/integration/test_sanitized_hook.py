"""The hook built with AddressSanitizer + UndefinedBehaviorSanitizer, loaded into the real
Kea of one native cell and driven by the smoke test's clients (issue 20: what the drivers'
sanitized unit tests cannot reach: the callouts, the variable builders, Kea's objects).

Two smoke modes cover both ``wait`` values, multi-threading on and off, the options, and the
persistent handler beside the exec script; any ASan or UBSan report fails the test (Kea stops
at the first one), and Kea is checked to run with ASan's runtime loaded.
"""

from __future__ import annotations

import pytest

from kea_runscript.builder import hook
from kea_runscript.model import matrix
from kea_runscript.verify import smoke

from .cells import HOST_ARCH

CELL = next((c for c in reversed(matrix.load().verified) if c.arch == HOST_ARCH), None)
MODES = [m for m in smoke.MODES if m.name in ("async+mt", "wait+st")]

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("sanitized-hook")]


@pytest.mark.skipif(CELL is None, reason="no verified cell of this machine's architecture")
def test_the_sanitized_hook_runs_clean_in_real_kea():
    sanitized = hook.build_sanitized(CELL)
    result = smoke.smoke_cell(CELL, modes=MODES, examples=False, sanitized=sanitized)
    print("\n" + smoke.table(result))
    assert result.ok, "\n" + smoke.table(result) + "\n" + smoke.details(result) + \
        f"\nKea logs: {result.out_dir}"
    # v4 and v6, exec script and handler; then ISC's oracle run: v4 and v6, ours and ISC's
    assert len(result.runs) == 2 * 2 * len(MODES) + 2 * 2
