"""The toolkit's one printer: progress lines (``say``) from any thread, folded sections of long
steps' output (``section``: ``make``, debootstrap), and error lines (``error``) on stderr.

Sections fold in CI logs (``::group::`` on GitHub Actions, a collapsed ``section_start`` on
GitLab CI, nothing elsewhere) so that a failing job's log stays readable.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
import time
from typing import Callable, Iterator, Mapping, Optional

#: Every error line starts with it, whoever raised the error.
ERROR_PREFIX = "kea-runscript: "
ESC = "\x1b[0K"  # GitLab's marker lines erase themselves in its log viewer


class _Say:
    """Thread-safe printing, one line at a time, flushed (CI logs interleave otherwise)."""

    lock = threading.Lock()

    def __call__(self, text: str) -> None:
        with self.lock:
            print(text, flush=True)


say = _Say()


def error(message: object) -> None:
    """The message on stderr, each of its lines with the one prefix every error has."""
    lines = str(message).splitlines() or [""]
    with say.lock:
        for line in lines:
            print(ERROR_PREFIX + line, file=sys.stderr, flush=True)


def ci_style(env: Optional[Mapping[str, str]] = None) -> str:
    """``github``, ``gitlab`` or ``plain``, from the variables each CI sets in its jobs."""
    env = os.environ if env is None else env
    if env.get("GITHUB_ACTIONS") == "true":
        return "github"
    if env.get("GITLAB_CI") == "true":
        return "gitlab"
    return "plain"


@contextlib.contextmanager
def section(title: str, say: Callable[[str], None], *, prefix: str,
            env: Optional[Mapping[str, str]] = None,
            clock: Callable[[], float] = time.time) -> Iterator[Callable[[str], None]]:
    """Fold the lines given to the yielded callback under ``title``; each line is said as
    ``<prefix>: <line>`` (a line never starts with ``::``, so build output cannot be read as a
    GitHub workflow command, nor close the group). The fold is closed whatever happens."""
    style = ci_style(env)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", title)  # GitLab's section name alphabet
    if style == "github":
        say(f"::group::{title}")
    elif style == "gitlab":
        say(f"{ESC}section_start:{int(clock())}:{name}[collapsed=true]\r{ESC}{title}")
    try:
        yield lambda line: say(f"{prefix}: {line}")
    finally:
        if style == "github":
            say("::endgroup::")
        elif style == "gitlab":
            say(f"{ESC}section_end:{int(clock())}:{name}\r{ESC}")
