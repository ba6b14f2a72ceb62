"""Fuzzing the hook's code that reads or frames hostile bytes (tests/fuzz/*.cc), with
libFuzzer: clang's -fsanitize=fuzzer, under AddressSanitizer and UndefinedBehaviorSanitizer.

* :func:`fuzz` builds each target with clang and runs it for a bounded time from its seeds
  (tests/fuzz/seeds/<target>/) plus what it found before (build/fuzz/corpus/<target>/). An
  input that makes a target fail is saved in build/fuzz/found/; copy it into
  tests/fuzz/regressions/<target>/ and fix the code: the unit tests replay every seed and
  regression (tests/unit/test_fuzz_replay.py) with a plain g++ build (:func:`build_replay`).
* Targets: ``fuzz_reply`` (a handler's reply line), ``fuzz_record`` (hostile values into a
  handler record, read back), ``fuzz_log_text`` (a script's output bytes into log text, read
  back), ``fuzz_parameters`` (any JSON as the hook's parameters; links Kea's libkea-cc, from
  Debian's ``kea-dev``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from .. import ROOT
from ..errors import ExitCode, ToolkitError
from ..builder.launcher_driver import compile_cached
from ..model import hook_sources

FUZZ_DIR = ROOT / "tests" / "fuzz"
OUT_DIR = ROOT / "build" / "fuzz"
#: target -> the hook's sources it links (its own .cc is tests/fuzz/<target>.cc)
TARGETS: Dict[str, List[Path]] = {
    "fuzz_reply": hook_sources.paths(hook_sources.PROTOCOL),
    "fuzz_record": hook_sources.paths(hook_sources.PROTOCOL),
    "fuzz_log_text": hook_sources.paths(hook_sources.LOG_TEXT),
    "fuzz_parameters": hook_sources.paths(hook_sources.PARAMETERS),
}
#: Kea's JSON elements (cc/data.h), as the hook gets its parameters: Debian's kea-dev.
KEA_CC = ("-I", "/usr/include/kea", "-lkea-cc", "-lkea-exceptions")
#: target -> compiler arguments for the libraries it needs besides the hook's sources
LIBRARIES: Dict[str, tuple] = {"fuzz_parameters": KEA_CC}
HEADERS = hook_sources.paths(hook_sources.headers())
#: Debian's clang with its libFuzzer runtime (packages clang-14 and libclang-rt-14-dev on
#: bookworm); the first found is used.
CLANGS = ("clang++", "clang++-19", "clang++-16", "clang++-14")
CLANG_PACKAGES = "clang libclang-rt-14-dev (bookworm; libclang-rt-19-dev on trixie)"


class FuzzError(ToolkitError, RuntimeError):
    """A fuzzer could not be built or run (not: it found something)."""


@dataclass
class FuzzResult:
    target: str
    seconds: float
    runs: int
    corpus: int
    found: List[Path]

    @property
    def ok(self) -> bool:
        return not self.found


def seeds(target: str) -> List[Path]:
    """The committed inputs of ``target``: its seeds and its regressions."""
    files = []
    for kind in ("seeds", "regressions"):
        d = FUZZ_DIR / kind / target
        if d.is_dir():
            files += sorted(p for p in d.iterdir() if p.is_file() and not p.name.startswith("."))
    return files


def build_replay(target: str, out_dir: Path = OUT_DIR / "replay", hook_sources: Optional[List[Path]] = None) -> Path:
    """``target`` with tests/fuzz/replay_main.cc instead of libFuzzer: runs each file it is
    given. ``hook_sources``: other files in place of the hook's (a test's broken copy)."""
    sources = [FUZZ_DIR / f"{target}.cc", FUZZ_DIR / "replay_main.cc", *(hook_sources or TARGETS[target])]
    return compile_cached(target, sources, HEADERS, out_dir, libraries=LIBRARIES.get(target, ()))


def clang() -> str:
    for name in CLANGS:
        path = shutil.which(name)
        if path:
            return path
    raise FuzzError(f"no clang++ found (tried {', '.join(CLANGS)}): apt-get install {CLANG_PACKAGES}")


def build_fuzzer(target: str, out_dir: Path = OUT_DIR / "bin") -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    binary = out_dir / target
    cmd = [clang(), "-std=c++17", "-g", "-O1", "-fsanitize=fuzzer,address,undefined",
           "-fno-sanitize-recover=all", "-I", str(ROOT / "hook"),
           str(FUZZ_DIR / f"{target}.cc"), *map(str, TARGETS[target]), *LIBRARIES.get(target, ()),
           "-o", str(binary)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise FuzzError(f"building {target} failed: {' '.join(cmd)}\n{r.stderr[-3000:]}")
    return binary


def run_target(target: str, seconds: int, out_dir: Path = OUT_DIR) -> FuzzResult:
    """Fuzz ``target`` for ``seconds`` (libFuzzer's -max_total_time) from its corpus."""
    binary = build_fuzzer(target, out_dir / "bin")
    corpus = out_dir / "corpus" / target
    corpus.mkdir(parents=True, exist_ok=True)
    for f in seeds(target):
        shutil.copyfile(f, corpus / f"{f.parent.parent.name}-{f.name}")
    found_dir = out_dir / "found"
    found_dir.mkdir(parents=True, exist_ok=True)
    before = set(found_dir.glob(f"{target}-*"))
    started = time.monotonic()
    # -timeout: one input may take at most 10 s; -rss_limit_mb: memory is bounded too.
    r = subprocess.run([str(binary), str(corpus), f"-max_total_time={seconds}", "-timeout=10",
                        "-rss_limit_mb=2048", f"-artifact_prefix={found_dir}/{target}-",
                        "-print_final_stats=1"],
                       capture_output=True, text=True, timeout=seconds + 120)
    took = time.monotonic() - started
    runs = re.search(r"stat::number_of_executed_units:\s*(\d+)", r.stderr)
    found = sorted(set(found_dir.glob(f"{target}-*")) - before)
    if r.returncode != 0 and not found:
        raise FuzzError(f"{target} ended with status {r.returncode} and left no input:\n{r.stderr[-3000:]}")
    return FuzzResult(target, took, int(runs.group(1)) if runs else 0,
                      sum(1 for p in corpus.iterdir() if p.is_file()), found)


def table(results: Sequence[FuzzResult]) -> str:
    lines = [f"{'target':<14} {'seconds':>8} {'inputs run':>12} {'corpus':>7}  result"]
    for r in results:
        verdict = "clean" if r.ok else "FOUND " + ", ".join(str(p) for p in r.found)
        lines.append(f"{r.target:<14} {r.seconds:>8.0f} {r.runs:>12} {r.corpus:>7}  {verdict}")
    return "\n".join(lines)


def fuzz(seconds: int, targets: Optional[Sequence[str]] = None) -> ExitCode:
    """Each target in turn for ``seconds``; the table; FAILED when an input made a target fail."""
    if not FUZZ_DIR.is_dir():  # an installed wheel: the targets and seeds are in the checkout
        raise ToolkitError(f"fuzz needs the fuzz targets of a checkout or sdist ({FUZZ_DIR} is missing)")
    results = []
    for t in targets or list(TARGETS):
        if t not in TARGETS:
            raise FuzzError(f"unknown fuzz target {t!r} (known: {', '.join(TARGETS)})")
        results.append(run_target(t, seconds))
        print(table(results[-1:]).splitlines()[-1], flush=True)
    print(table(results))
    if not all(r.ok for r in results):
        print("copy each input found into tests/fuzz/regressions/<target>/ and fix the code")
        return ExitCode.FAILED
    return ExitCode.OK


def cli_main(args) -> ExitCode:
    """``kea-runscript fuzz``."""
    return fuzz(args.seconds, args.target)
