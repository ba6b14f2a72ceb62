"""The drivers' harness (driver_run.run) never hangs: a driver that overruns its timeout is
killed, and so is whatever still holds its output pipes (a script's process group it forked),
so that the test fails with a report instead of waiting for ever (once, under qemu-user, a
fork stuck before its exec held them and the whole unit tier waited)."""

import threading

from . import driver_run


def test_a_driver_whose_orphans_hold_its_pipes_fails_within_bounds(tmp_path):
    driver = tmp_path / "driver.sh"
    # an orphan in a session of its own, as a script's process group is, and a plain child
    driver.write_text("#!/bin/sh\nsetsid sleep 300 &\nsleep 300\n")
    driver.chmod(0o755)
    outcome = {}

    def call():
        try:
            driver_run.run([str(driver)], timeout=1, capture_output=True, text=True)
            outcome["error"] = "no error"
        except AssertionError as e:
            outcome["error"] = str(e)

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(60)
    assert not thread.is_alive(), "driver_run.run still waits for the pipes the orphans hold"
    assert "did not end within 1 s" in outcome["error"]
    assert outcome["error"].count("held the driver's output pipes") == 2, outcome["error"]
