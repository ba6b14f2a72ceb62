"""What this hook's lines in Kea's log count. Losses are reported as counts, at most a line a
second (hook/messages.mes): a script run not started (RUNSCRIPT_ASYNC_LIMIT, runs since the
previous such line) and records a handler's full queue dropped (RUNSCRIPT_HANDLER_QUEUE_FULL)."""

from __future__ import annotations

import re

#: messages of this hook that mean an event's script run or record was lost
LOST_MESSAGES = ("RUNSCRIPT_ASYNC_LIMIT", "RUNSCRIPT_HANDLER_QUEUE_FULL")

_SKIPPED = re.compile(r"\bRUNSCRIPT_ASYNC_LIMIT (\d+) script runs not started")
_DROPPED = re.compile(r"\bRUNSCRIPT_HANDLER_QUEUE_FULL\b.*\b(\d+) events dropped")


def skipped_runs(log: str) -> int:
    """Script runs not started at max-async, summed over the RUNSCRIPT_ASYNC_LIMIT lines."""
    return sum(int(m.group(1)) for m in _SKIPPED.finditer(log))


def dropped_records(log: str) -> int:
    """Records dropped by full handler queues, summed over the RUNSCRIPT_HANDLER_QUEUE_FULL lines."""
    return sum(int(m.group(1)) for m in _DROPPED.finditer(log))


def lost_events(log: str) -> int:
    """Events whose run or record was lost, either way."""
    return skipped_runs(log) + dropped_records(log)
