"""An integration test cannot hang: past its bound (tests/conftest.py TEST_BOUND_S) it fails,
naming itself and saying what its containers were doing."""

import os
import subprocess
import sys
import textwrap

from kea_runscript import ROOT

HANGING = textwrap.dedent("""\
    import time
    import pytest

    @pytest.mark.integration
    def test_hangs():
        time.sleep(600)
    """)


def test_a_hanging_integration_test_fails_at_its_bound_with_a_report(tmp_path):
    (tmp_path / "test_hang.py").write_text(HANGING)
    env = {**os.environ, "KEA_RUNSCRIPT_TEST_BOUND_S": "2", "PYTHONPATH": str(ROOT),
           "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}  # no engine: the report says so
    r = subprocess.run([sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider",
                        "-m", "integration", "-q", "--rootdir", str(tmp_path), str(tmp_path / "test_hang.py")],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env)
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert "test_hang.py::test_hangs passed its 2 s bound" in out, out
    assert "no snapshot of the containers" in out, out
