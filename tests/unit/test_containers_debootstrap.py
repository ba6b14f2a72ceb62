"""The debootstrap of a base image shows its progress as it goes (images.bootstrap)."""

from __future__ import annotations

import pytest

from kea_runscript.engine import images

# Waits (bounded) for the flag file the progress callback creates on seeing the first line:
# "saw the flag" proves that line was shown while debootstrap was still running.
FAKE = """#!/bin/sh
echo "I: Retrieving InRelease"
i=0
while [ ! -e "$FLAG" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
[ -e "$FLAG" ] && echo "I: saw the flag" || echo "I: no flag"
echo "E: Couldn't download packages"
exit 1
"""


def test_debootstrap_lines_stream_prefixed_and_a_failure_keeps_the_tail(tmp_path, monkeypatch):
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    (bin_ / "debootstrap").write_text(FAKE)
    (bin_ / "debootstrap").chmod(0o755)
    flag = tmp_path / "flag"
    monkeypatch.setenv("PATH", f"{bin_}:/usr/bin:/bin")
    monkeypatch.setenv("FLAG", str(flag))
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.delenv("GITLAB_CI", raising=False)
    said = []

    def say(text):
        said.append(text)
        if "Retrieving" in text:
            flag.touch()

    with pytest.raises(RuntimeError) as e:
        images.bootstrap("trixie", "http://deb.debian.org/debian", "kea-runscript/debian", say)
    assert [s for s in said if s.startswith("debootstrap trixie: ")] == [
        "debootstrap trixie: I: Retrieving InRelease", "debootstrap trixie: I: saw the flag",
        "debootstrap trixie: E: Couldn't download packages"]
    assert "exit 1" in str(e.value) and "Couldn't download packages" in str(e.value)
