"""An image is made once on the machine, whatever the number of processes asking for it.

A fresh-clone CI run with no image built failed `test_pipeline_with_stub_hook`: two test
workers (processes) both found `kea-runscript/debian:bookworm` missing and both bootstrapped
it; the second import moved the tag to a new id, so the builder image's recipe hash (which
holds the base id) changed and the second build of the same cell was not "cached"."""

from __future__ import annotations

import multiprocessing
import time

from kea_runscript.engine import images


def _hold(key: str, log: str, name: str, hold_s: float) -> None:
    with images._lock(key):
        with open(log, "a") as f:
            f.write(f"{name}-in\n")
        time.sleep(hold_s)
        with open(log, "a") as f:
            f.write(f"{name}-out\n")


def _order(tmp_path, first_key: str, second_key: str) -> list:
    """The log of two processes: the first holds `first_key` for 1 s; the second asks for
    `second_key` once the first is in."""
    log = tmp_path / "log"
    log.touch()
    ctx = multiprocessing.get_context("spawn")
    first = ctx.Process(target=_hold, args=(first_key, str(log), "a", 1.0))
    first.start()
    deadline = time.monotonic() + 30
    while "a-in" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.02)
    second = ctx.Process(target=_hold, args=(second_key, str(log), "b", 0))
    second.start()
    for p in (first, second):
        p.join(30)
    return log.read_text().split()


def test_an_image_lock_holds_across_processes(tmp_path):
    key = "kea-runscript/debian:test-lock"
    assert _order(tmp_path, key, key) == ["a-in", "a-out", "b-in", "b-out"]


def test_other_images_do_not_wait(tmp_path):
    assert _order(tmp_path, "kea-runscript/debian:lock-one", "kea-runscript/debian:lock-two") == \
        ["a-in", "b-in", "b-out", "a-out"]
