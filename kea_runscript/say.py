"""One line of progress at a time, from any thread (``say``): the one printer of the build,
smoke, run-time and benchmark steps."""

from __future__ import annotations

import threading


class _Say:
    """Thread-safe printing, one line at a time, flushed (CI logs interleave otherwise)."""

    lock = threading.Lock()

    def __call__(self, text: str) -> None:
        with self.lock:
            print(text, flush=True)


say = _Say()
