"""A generated block of a hand-written page: the text between two marker lines, rewritten from
its source by `kea-runscript docs` and compared by unit tests."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable


class Block:
    def __init__(self, page: Path, begin: str, end: str):
        # page: the default; callers pass the page they mean (tests point them elsewhere)
        self.page, self.begin, self.end = page, begin, end
        self._pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)

    def section(self, page: Path | None = None) -> str | None:
        """The block as the page has it (None without markers)."""
        match = self._pattern.search((page or self.page).read_text())
        return match.group(0) if match else None

    def write(self, render: Callable[[], str], page: Path | None = None) -> bool:
        """Rewrite the block with render(); returns True when the file changed."""
        page = page or self.page
        text = page.read_text()
        if not self._pattern.search(text):
            raise ValueError(f"{page}: markers {self.begin!r} ... {self.end!r} not found")
        new = self._pattern.sub(lambda _: render(), text)
        if new != text:
            page.write_text(new)
            return True
        return False
