"""What a benchmark run measures: a trial at one offered rate, the search for a row's capacity
over trials, and a row's result (its passes and its latency trial)."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import List, Optional

from .rows import Row

LOSS_LIMIT = 0.01  # a trial passes with at most 1 % of the exchanges lost


@dataclass
class Trial:
    row: str
    rate: int
    seconds: float
    sent: int = 0  # exchanges started (DISCOVER / SOLICIT)
    completed: int = 0  # ACK / REPLY received
    skipped: int = 0  # this hook's RUNSCRIPT_ASYNC_LIMIT (script runs not started)
    delay_ms: Optional[float] = None  # avg DISCOVER-OFFER + avg REQUEST-ACK (or SARR)
    client_limited: bool = False  # perfdhcp did not send at the offered rate
    errors: int = 0  # ERROR lines in Kea's log (shown, not judged)
    error: str = ""
    rss_kb: Optional[int] = None  # Kea's VmRSS once it logged STARTED (its database loaded)
    start_s: Optional[float] = None  # from starting Kea to its STARTED (polled every 0.2 s)

    @property
    def lost(self) -> float:
        return 1.0 if self.sent <= 0 else (self.sent - self.completed + self.skipped) / self.sent

    @property
    def passed(self) -> bool:
        return not self.error and not self.client_limited and self.lost <= LOSS_LIMIT


class Search:
    """Geometric binary search for the highest passing rate between lo (assumed to pass)
    and hi (assumed to fail)."""

    def __init__(self, lo: float, hi: float):
        self.lo0, self.hi0 = lo, hi
        self.lo, self.hi = lo, hi
        self.best: Optional[int] = None  # highest rate that passed
        self.trials: List[Trial] = []

    def next_rate(self) -> int:
        return max(1, int(round(math.sqrt(self.lo * self.hi))))

    def record(self, t: Trial) -> None:
        self.trials.append(t)
        if t.passed:
            self.lo = max(self.lo, t.rate)
            self.best = max(self.best or 0, t.rate)
        else:
            self.hi = min(self.hi, t.rate)

    @property
    def at_edge(self) -> bool:
        """No trial failed (or none passed): the capacity is only a bound."""
        return self.best is None or self.hi >= self.hi0

    def show(self) -> str:
        if self.best is None:
            return f"<{int(self.lo0)}"
        return f"≥{self.best}" if self.hi >= self.hi0 else str(self.best)


@dataclass
class RowResult:
    row: Row
    passes: List[Search] = field(default_factory=list)
    latency: Optional[Trial] = None

    def capacity(self, i: int) -> Optional[int]:
        return self.passes[i].best if i < len(self.passes) else None

    def _trials(self) -> List[Trial]:
        return [t for p in self.passes for t in p.trials] + ([self.latency] if self.latency else [])

    @property
    def rss_mib(self) -> Optional[float]:
        """Median of Kea's VmRSS at STARTED over the row's trials."""
        v = [t.rss_kb for t in self._trials() if t.rss_kb]
        return statistics.median(v) / 1024 if v else None

    @property
    def start_s(self) -> Optional[float]:
        v = [t.start_s for t in self._trials() if t.start_s is not None]
        return statistics.median(v) if v else None
