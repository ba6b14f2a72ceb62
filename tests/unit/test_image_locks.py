"""An image is made once on the machine, whatever the number of processes asking for it.

A fresh-clone CI run with no image built failed `test_pipeline_with_stub_hook`: two test
workers (processes) both found `kea-runscript/debian:bookworm` missing and both bootstrapped
it; the second import moved the tag to a new id, so the builder image's recipe hash (which
holds the base id) changed and the second build of the same cell was not "cached"."""

from __future__ import annotations

import multiprocessing
import time

from kea_runscript import images


def _hold(key: str, log: str, name: str, hold_s: float) -> None:
    with images._lock(key):
        with open(log, "a") as f:
            f.write(f"{name}-in\n")
        time.sleep(hold_s)
        with open(log, "a") as f:
            f.write(f"{name}-out\n")


def test_an_image_lock_holds_across_processes(tmp_path):
    log = tmp_path / "log"
    log.touch()
    ctx = multiprocessing.get_context("spawn")
    first = ctx.Process(target=_hold, args=("kea-runscript/debian:test-lock", str(log), "a", 1.0))
    first.start()
    deadline = time.monotonic() + 30
    while "a-in" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.02)
    second = ctx.Process(target=_hold, args=("kea-runscript/debian:test-lock", str(log), "b", 0))
    second.start()
    first.join(30)
    second.join(30)
    assert log.read_text().split() == ["a-in", "a-out", "b-in", "b-out"]


def test_other_images_do_not_wait(tmp_path):
    log = tmp_path / "log"
    log.touch()
    ctx = multiprocessing.get_context("spawn")
    first = ctx.Process(target=_hold, args=("kea-runscript/debian:lock-one", str(log), "a", 2.0))
    first.start()
    deadline = time.monotonic() + 30
    while "a-in" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.02)
    second = ctx.Process(target=_hold, args=("kea-runscript/debian:lock-two", str(log), "b", 0))
    second.start()
    second.join(30)
    first.join(30)
    assert log.read_text().split() == ["a-in", "b-in", "b-out", "a-out"]
