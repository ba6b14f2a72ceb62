"""The one Jinja environment of the toolkit: every template (hook C++, Dockerfiles, smoke
configurations, CI pipelines, release notes) is rendered strictly (an undefined name is an
error, not an empty string) and keeps its trailing newline."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import jinja2


def environment(directory: Path, *, globals: Optional[dict] = None, **overrides) -> jinja2.Environment:
    """An environment loading templates from ``directory``; ``overrides`` are Environment options
    (block trimming, other delimiters), ``globals`` names the templates may call."""
    options = dict(loader=jinja2.FileSystemLoader(str(directory)), undefined=jinja2.StrictUndefined,
                   keep_trailing_newline=True)
    options.update(overrides)
    env = jinja2.Environment(**options)
    env.globals.update(globals or {})
    return env
