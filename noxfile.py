"""nox sessions. They only connect things: logic lives in kea_runscript (see `kea-runscript -h`).

Sessions reuse the current Python environment (venv_backend="none"): run ./bootstrap.sh or
`pip install -e '.[test]' nox` once; then they start fast and work offline.
Matrix sessions (build-X.Y, render-X.Y) are generated from matrix.yaml ($KEA_RUNSCRIPT_MATRIX
names another file); a broken one makes every nox command exit 2 with one `file:line:` line.
"""

import signal
import sys
from pathlib import Path

import nox

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kea_runscript import cli
from kea_runscript.model import matrix  # noqa: E402

nox.options.sessions = ["tests"]  # bare `nox` stays cheap
nox.options.error_on_missing_interpreters = True

KEA_RUNSCRIPT = (sys.executable, "-m", "kea_runscript.cli")

#: How nox stops a toolkit command when it is interrupted: a SIGINT to nox alone reaches the
#: command as nox's SIGTERM after INTERRUPT_S; the command then has TERMINATE_S to remove its
#: containers before nox's SIGKILL (nox's defaults, 0.3 s and 0.2 s, cut that short).
STOP = {"interrupt_timeout": 1.0, "terminate_timeout": 60.0}


def _sigterm_as_ctrl_c(_signum, _frame):
    # nox has no SIGTERM handler: a cancelled CI job that signals nox alone would kill it and
    # leave its command running, containers and all. As KeyboardInterrupt, nox stops it.
    raise KeyboardInterrupt


signal.signal(signal.SIGTERM, _sigterm_as_ctrl_c)


#: The test tiers run through `kea-runscript tier` (kea_runscript/verify/tiers.py): a failed test is
#: run once more on its own, and each tier prints its summary (`kea-runscript tiers`: all).
TIER = (*KEA_RUNSCRIPT, "tier")
#: Unit test workers: one more than the machine's 2 cores, as the unit tests wait (for
#: scripts, timeouts, drains) about as long as they compute: with 2, the cores were idle half
#: the time.
UNIT_WORKERS = "3"


@nox.session(venv_backend="none", tags=["test"])
def tests(session):
    """Unit tests: fast, no Docker."""
    session.run(*TIER, "tests", "--", "-m", "not integration", "-n", UNIT_WORKERS, "tests/unit",
                *session.posargs, **STOP)


@nox.session(venv_backend="none", tags=["test"], default=False)
def sanitize(session):
    """The launcher's and the handlers' unit tests again, their drivers built with
    AddressSanitizer and UndefinedBehaviorSanitizer (about 4 minutes)."""
    session.run(*TIER, "sanitize", "--", "-m", "not integration", "-n", UNIT_WORKERS, *SANITIZED_TESTS,
                *session.posargs, env=SANITIZED_ENV, **STOP)


@nox.session(venv_backend="none", default=False)
def tsan(session):
    """The launcher's and the handlers' multi-threaded unit tests with ThreadSanitizer, on the
    supervised path (about 5 minutes on 2 cores); not in the test command."""
    session.run(sys.executable, "-m", "pytest", "-m", "not integration", "-n", "2", *SANITIZED_TESTS,
                "-k", TSAN_SELECTION, *session.posargs, env=TSAN_ENV)


@nox.session(venv_backend="none", default=False)
def stress(session):
    """The launcher's stress loops at full size (10 000 asynchronous launches, 3 000 interrupted
    waits; a fifth in the test command); not in the test command."""
    session.run(*TIER, "stress", "--", "-m", "not integration", "-n", UNIT_WORKERS, *STRESS_TESTS,
                "-k", STRESS_SELECTION, *session.posargs, env={"KEA_RUNSCRIPT_STRESS": "full"}, **STOP)


STRESS_TESTS = ("tests/unit/test_launcher.py", "tests/unit/test_launcher_arm64.py")
STRESS_SELECTION = "many_async_runs or interrupted_waits"


@nox.session(venv_backend="none", default=False)
def fuzz(session):
    """libFuzzer on the handler records and replies for a bounded time (`-- --seconds N`, per
    target; default 60); needs clang. Not in the test command: it replays what was found."""
    session.run(*KEA_RUNSCRIPT, "fuzz", *session.posargs, **STOP)


#: ThreadSanitizer: the default build only. Where scripts are plain children (no-pidfd,
#: other-arch) TSan turns vfork into a fork, which hangs in a multi-threaded process under its
#: runtime; and tests that measure CPU or time are left out (TSan slows the code 5-15x).
TSAN_SELECTION = ("default and not no-pidfd and not other-arch and not oldest and not burn_a_core "
                  "and not full_speed and not time_spent_waiting")
TSAN_ENV = {"KEA_RUNSCRIPT_SANITIZE": "thread", "TSAN_OPTIONS": "halt_on_error=1 second_deadlock_stack=1"}


#: What `sanitize` runs, and how: the code without libc stays uninstrumented
#: (hook/supervisor.cc, kea_runscript/model/no_libc.py); the page-size shim is preloaded before ASan's
#: runtime, which it tolerates.
SANITIZED_TESTS = ("tests/unit/test_launcher.py", "tests/unit/test_handler.py")
SANITIZED_ENV = {"KEA_RUNSCRIPT_SANITIZE": "address,undefined",
                 "ASAN_OPTIONS": "verify_asan_link_order=0:detect_leaks=1",
                 "UBSAN_OPTIONS": "print_stacktrace=1"}


#: Integration test workers: each takes one cell's tests at a time (their time is mostly Kea's
#: and the scripts' waits, and an emulated cell's Kea); `-- -n N` overrides it.
INTEGRATION_WORKERS = "3"


@nox.session(venv_backend="none", tags=["test"], default=False)
def integration(session):
    """Integration tests: real Docker builds, smoke, run-time and release tests of the verified
    cells, three cells at a time (about 45 minutes; minutes more when images are cold)."""
    session.run(*TIER, "integration", "--", "-m", "integration and not arches", "-n", INTEGRATION_WORKERS,
                "--dist", "loadgroup", "tests/integration", *session.posargs, **STOP)


@nox.session(venv_backend="none", default=False)
def arches(session):
    """The integration tests of the cells of tier `arches` (Debian's other architectures, under
    qemu-user) beyond their build and load check, which `integration` runs: smoke, run-time,
    launcher failure modes and release tests (hours: see docs/testing.md)."""
    session.run(*TIER, "arches", "--", "-m", "integration and arches", "-n", INTEGRATION_WORKERS,
                "--dist", "loadgroup", "tests/integration", *session.posargs, **STOP)


@nox.session(venv_backend="none", tags=["release"], default=False)
def release(session):
    """Release in dist/release/<version>/ from the built cells, unsigned: the signing key is for
    the sign step alone (python3 -S -m kea_runscript.release.signing DIR). Version: git tag, or
    -- --version X.Y.Z; -- --test-key makes and signs a test release with a throwaway key.
    Needs the `release` extra (pypa/build): pip install -e '.[release]'."""
    session.run(*KEA_RUNSCRIPT, "release", *session.posargs, **STOP)


def _register(spec):
    def session(session):
        session.run(*KEA_RUNSCRIPT, *spec.args, *session.posargs, **STOP)

    session.__doc__ = spec.doc
    session.__name__ = spec.name.replace("-", "_").replace(".", "_")
    nox.session(name=spec.name, venv_backend="none", default=spec.default,
                tags=[spec.name.split("-")[0]])(session)


try:
    _matrix = matrix.load()
except matrix.MatrixError as _e:
    # nox would print a traceback of this import; the one line names what to fix.
    print(_e, file=sys.stderr)
    sys.exit(_e.exit_code)

for _spec in cli.session_plan(_matrix):
    _register(_spec)
