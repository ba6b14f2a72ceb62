"""Progress of long steps (``make``, debootstrap): their lines as they come, prefixed by the cell
id, folded in CI logs so that a failing job's log stays readable.

:func:`section` opens a fold (``::group::`` on GitHub Actions, a collapsed ``section_start`` on
GitLab CI, nothing elsewhere) and gives a callback for each line of output.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from typing import Callable, Iterator, Mapping, Optional

ESC = "\x1b[0K"  # GitLab's marker lines erase themselves in its log viewer


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
