"""perfdhcp's final report, read in one place for the run-time scenarios and the benchmark.

The report has one section per exchange (``***Statistics for: DISCOVER-OFFER***``, then
REQUEST-ACK; SOLICIT-ADVERTISE and REQUEST-REPLY for -6), each a list of ``name: value [unit]``
lines: counts (``sent packets``, ``received packets``, ``drops``) and measures (``avg delay``
in ms, ``drops ratio`` in %).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, Optional, Union

_SECTION = re.compile(r"\*+Statistics for: ([A-Z-]+)\*+")
_VALUE = re.compile(r"([a-z][a-z ]*[a-z]):\s+(\d+(?:\.\d+)?)(?:\s*(?:ms|%))?\s*$")


@dataclass
class Perf:
    """perfdhcp's final report, per exchange (DISCOVER-OFFER, REQUEST-ACK; -6: SOLICIT-ADVERTISE,
    REQUEST-REPLY), in the order perfdhcp printed them."""

    text: str
    #: exchange -> {"sent packets": 799, "avg delay": 0.408, ...}: counts as int, measures as float
    stats: Dict[str, Dict[str, Union[int, float]]] = field(default_factory=dict)

    def get(self, exchange: str, what: str) -> Union[int, float]:
        return self.stats.get(exchange, {}).get(what, 0)

    @property
    def acks(self) -> int:
        return self.get("REQUEST-ACK", "received packets")

    @property
    def requests(self) -> int:
        return self.get("REQUEST-ACK", "sent packets")

    @property
    def offers(self) -> int:
        return self.get("DISCOVER-OFFER", "received packets")

    def totals(self) -> dict:
        """Both families' whole exchanges: ``sent`` (first exchange started), ``completed``
        (second exchange answered) and ``delay_ms`` (the sum of both average delays, None when
        perfdhcp printed none). ValueError when the report lacks the two exchanges' counts."""
        first, second = (list(self.stats.values()) + [{}, {}])[:2]
        if any(k not in s for s in (first, second) for k in ("sent packets", "received packets")):
            raise ValueError(f"unexpected perfdhcp output: {self.text[-800:]!r}")
        delays = [s.get("avg delay") for s in (first, second)]
        delay: Optional[float] = sum(delays) if all(d is not None for d in delays) else None
        return {"sent": int(first["sent packets"]), "completed": int(second["received packets"]),
                "delay_ms": delay}


def parse_perfdhcp(text: str) -> Perf:
    perf = Perf(text)
    section = None
    for line in text.splitlines():
        m = _SECTION.match(line.strip())
        if m:
            section = m.group(1)
            perf.stats[section] = {}
            continue
        m = _VALUE.match(line.strip())
        if section and m:
            value = m.group(2)
            perf.stats[section][m.group(1)] = float(value) if "." in value else int(value)
    return perf
