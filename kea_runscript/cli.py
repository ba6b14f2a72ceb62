"""kea-runscript: the command line that nox sessions and people call.

    kea-runscript list   [--only GLOB] [--series X.Y] [--verified] [-v]
    kea-runscript render [--only GLOB] [--series X.Y] [--all] [--kea X.Y[.Z]]
    kea-runscript build  [--only GLOB] [--series X.Y] [--all] [--jobs N] [--keep-container]
                         [--allow-declared]
    kea-runscript image  KIND [--only GLOB] [--series X.Y]      (KIND: builder, runtime, install-test)
    kea-runscript release [make] [--version V] [--allow-dirty] [--no-python] [--test-key] [--apt-base P]
    kea-runscript release sign [--version V] [--test-key]     (the key: $KEA_RUNSCRIPT_SIGNING_KEY)
    kea-runscript release publish [--version V] [--repo OWNER/NAME] [--dry-run]
    kea-runscript pipelines [--check]
    kea-runscript smoke  [--only GLOB] [--series X.Y] [--mode NAME] [--no-examples] [--no-build]
                         [--keep-container]
    kea-runscript bench  [--cell ID] [--quick] [--v4-only] [--isc-config] [--park] [--replay] [--launcher-only] [--no-build]
    kea-runscript docs [--check]          (docs/variables.md, docs/parameters.md, hook/parameter_table.h,
                                           README.md builds list and parameter tables)
    kea-runscript golden [--update]       (tests/golden/ from the templates)
    kea-runscript messages [--check]      (hook/messages.{h,cc}, docs/messages.md from hook/messages.mes)

Selection: without --only/--series/--all, render/build/smoke take the verified cells;
--series takes every cell of a Kea series, --all every cell. --only (repeatable,
comma-separated) takes exact ids whatever their status, and globs among the verified cells
(among all cells of the series with --series, or all cells with --all). build and smoke do
what can be done here: a declared cell that --series, --all or a glob selected is reported
"skipped" with what it needs (build --allow-declared tries it, and its failure then counts);
a declared cell named by its exact id is a request, so build fails fast saying why (smoke
never tests declared cells). When nothing selected is buildable here they exit 1 with one
line on stderr naming what is missing and how to get it. list shows every cell with its
status (--verified narrows, -v adds source, arch and note; --all is accepted).

Exit status:
  0  ok (declared cells skipped included; docs/golden/messages: up to date or written)
  1  some cell failed, nothing buildable here, a check found drift, or the output pipe
     closed early (| head)
  2  bad matrix or usage
  3  Docker engine unreachable
Errors go to stderr, each line starting with "kea-runscript: ".
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from . import WORK, output
from .model import facts
from .model import matrix as matrix_mod
from .errors import ExitCode, ToolkitError, UsageError
from .output import ERROR_PREFIX, error


# --------------------------------------------------------------------------------------------
# nox sessions, generated from the matrix (noxfile.py only loops over this)


@dataclass(frozen=True)
class SessionSpec:
    name: str
    args: tuple  # arguments to `kea-runscript`
    doc: str
    default: bool = False


def session_plan(m: matrix_mod.Matrix) -> list:
    """The matrix-derived nox sessions: ``build``, ``smoke``, ``bench``, then ``build-X.Y``,
    ``smoke-X.Y`` per series and ``render-X.Y`` per series the facts know.

    ``build-X.Y``/``smoke-X.Y`` do the series' verified cells and report its declared ones as
    skipped (exit 0 when everything buildable passed); a series with declared cells only exits 1
    with one line naming what they need. Each session's doc says which case it is."""
    verified = ", ".join(c.id for c in m.verified)
    plan = [SessionSpec("build", ("build",), f"Build the verified cells ({verified})."),
            SessionSpec("smoke", ("smoke",), f"Build (cached) and smoke-test the verified cells ({verified})."),
            SessionSpec("bench", ("bench",), "Benchmarks: launcher cost, perfdhcp capacity per hook configuration (tables).")]
    for s in m.series:
        cells = m.in_series(s)
        here = ", ".join(c.id for c in cells if c.verified)
        declared = ", ".join(c.id for c in cells if not c.verified)
        if not here:
            only = f"Kea {s} has declared cells only ({declared}): exits 1 naming what they need"
            plan.append(SessionSpec(f"build-{s}", ("build", "--series", s),
                                    f"{only} (-- --allow-declared tries them on a runner with that network)."))
            plan.append(SessionSpec(f"smoke-{s}", ("smoke", "--series", s),
                                    f"{only} (smoke tests verified cells only; build-{s} -- --allow-declared "
                                    f"builds them on a runner with that network)."))
            continue
        if declared:
            here += f"; declared {declared} reported as skipped with what they need"
        build_doc = f"Build Kea {s}: {here}{' (-- --allow-declared tries them)' if declared else ''}."
        smoke_doc = (f"Build (cached) and smoke-test Kea {s} with real Kea and clients: {here}"
                     f"{' (smoke tests verified cells only)' if declared else ''}.")
        plan.append(SessionSpec(f"build-{s}", ("build", "--series", s), build_doc))
        plan.append(SessionSpec(f"smoke-{s}", ("smoke", "--series", s), smoke_doc))
    # Every Kea series the facts know renders, cells or not.
    for s in facts.supported_series():
        args = ("render", "--kea", s) + (("--series", s) if s in m.series else ())
        plan.append(SessionSpec(f"render-{s}", args,
                                f"Render the hook's C++ for Kea {s} into build/render/ "
                                f"(and build/<id>/src for its cells)."))
    return plan


# --------------------------------------------------------------------------------------------


DESCRIPTION, _, EPILOG = __doc__.partition("\n\nSelection:")
EPILOG = "Selection:" + EPILOG

class _Parser(argparse.ArgumentParser):
    """Usage errors too carry the one prefix (argparse's own is "<prog>: error:"); subparsers
    are made of the same class."""

    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(ExitCode.USAGE, f"{ERROR_PREFIX}{message}\n")


def _parser() -> argparse.ArgumentParser:
    # Raw: the synopsis, the rules and the exit codes are laid out by hand.
    raw = argparse.RawDescriptionHelpFormatter
    p = _Parser(prog="kea-runscript", description=DESCRIPTION, epilog=EPILOG, formatter_class=raw)
    p.add_argument("--matrix", type=Path, default=matrix_mod.MATRIX_PATH, help="matrix file")
    sub = p.add_subparsers(dest="command", required=True)
    _cell_commands(sub, {"epilog": EPILOG, "formatter_class": raw})
    _release_and_tool_commands(sub)
    _generated_commands(sub)
    return p


def _selection(sp, all_flag=True):
    sp.add_argument("--only", action="append", default=[], metavar="GLOB",
                    help="cell id or glob, e.g. 'kea2.6*' (repeatable, comma-separated)")
    sp.add_argument("--series", metavar="X.Y", help="every cell of this Kea series")
    if all_flag:
        sp.add_argument("--all", action="store_true", help="every cell, declared ones too")


def _cell_commands(sub, rules: dict) -> None:
    """list, render, build, smoke: the commands that select cells."""
    from .verify.smoke import MODES, ORACLE_MODE
    sp = sub.add_parser("list", **rules, help="print every cell id with its status")
    _selection(sp, all_flag=False)
    sp.add_argument("--verified", action="store_true", help="verified cells only")
    sp.add_argument("-v", "--verbose", action="store_true", help="also source, arch and note")
    # list always shows every cell (globs too); --all stays accepted for those who type it.
    sp.add_argument("--all", action="store_true", default=True, help="every cell (the default)")

    sp = sub.add_parser("render", **rules, help="render the hook's C++ into build/<id>/src, or for any "
                                       "Kea version into build/render/<X.Y.Z>/")
    _selection(sp)
    sp.add_argument("--kea", action="append", default=[], metavar="X.Y[.Z]",
                    help="render for this Kea version, with or without a matrix cell (repeatable)")

    sp = sub.add_parser("build", **rules, help="build the hook for cells into dist/<id>/")
    _selection(sp)
    sp.add_argument("--jobs", "-j", type=int, default=1, help="cells built in parallel")
    sp.add_argument("--keep-container", action="store_true",
                    help="keep containers for debugging (also KEA_RUNSCRIPT_KEEP=1)")
    sp.add_argument("--allow-declared", action="store_true",
                    help="try declared cells anyway (needs ISC's repositories / downloads)")

    sp = sub.add_parser("smoke", **rules, help="build (cached) then run the real Kea + clients smoke tests")
    _selection(sp)
    sp.add_argument("--mode", action="append", default=[], choices=[m.name for m in MODES] + [ORACLE_MODE],
                    help="only this mode (repeatable); default: all of them")
    sp.add_argument("--no-examples", action="store_true", help="skip the examples/ scenarios")
    sp.add_argument("--no-build", action="store_true", help="use dist/<id>/ as it is")
    sp.add_argument("--keep-container", action="store_true",
                    help="keep containers for debugging (also KEA_RUNSCRIPT_KEEP=1)")


def _release_and_tool_commands(sub) -> None:
    """bench, image, release, pipelines, clean."""
    sp = sub.add_parser("bench", help="benchmarks: launcher per-call cost, DHCP capacity tables (no assertions)")
    sp.add_argument("--cell", default="kea2.2.0-debian12-amd64", help="verified cell to measure")
    sp.add_argument("--quick", action="store_true", help="fewer rows, one short pass, the 200k-lease rows (~10 minutes)")
    sp.add_argument("--v4-only", action="store_true", help="skip the DHCPv6 rows")
    sp.add_argument("--isc-config", action="store_true",
                    help="only ISC's run_script configuration under ISC's hook and this one, MT on (~10 minutes)")
    sp.add_argument("--park", action="store_true",
                    help="only the parked-query rows: park: true vs wait: true vs wait: false, "
                         "exec and handler, MT off and on (~40 minutes)")
    sp.add_argument("--handler", action="store_true",
                    help="only the handler rows: the C handler at the default points, wait: true "
                         "and false, MT off and on, beside no hook (~8 minutes with --quick)")
    sp.add_argument("--replay", action="store_true",
                    help="only the lease replay: time to replay 100k, 200k and 1M leases, exec and "
                         "handler (~30 minutes)")
    sp.add_argument("--charts", metavar="DIR", help="where the charts (PNG) go (default build/<id>/bench/)")
    sp.add_argument("--charts-from", metavar="FILE", help="draw the charts of a run again from its "
                                                           "results.json, measuring nothing")
    sp.add_argument("--launcher-only", action="store_true", help="only the launcher microbenchmark")
    sp.add_argument("--no-build", action="store_true", help="use dist/<id>/ as it is")
    sp.add_argument("--keep-container", action="store_true", help="keep the container for debugging")

    sp = sub.add_parser("image", help="build (or reuse) a named image for cells")
    sp.add_argument("kind", help="template templates/docker/<kind>.Dockerfile.j2 (builder, runtime, install-test)")
    _selection(sp)
    sp.add_argument("--allow-declared", action="store_true")

    sp = sub.add_parser("release", help="make dist/release/<version>/ from the built cells (unsigned), sign "
                                        "it, or publish it")
    sp.add_argument("action", nargs="?", choices=("make", "sign", "publish"), default="make")
    sp.add_argument("--version", help="release version (default: the git tag on HEAD, v stripped)")
    sp.add_argument("--dist", type=Path, help="where the built cells are (default: dist/)")
    sp.add_argument("--out", type=Path, help="release directory (default: <dist>/release/<version>)")
    sp.add_argument("--allow-dirty", action="store_true", help="accept a modified work tree / dirty builds")
    sp.add_argument("--no-python", action="store_true", help="skip the toolkit's sdist and wheel")
    sp.add_argument("--test-key", action="store_true",
                    help="make: a TEST release, made then signed with a throwaway key (install.sh pins it and "
                         "says it is a test release); sign: sign with the key the release ships")
    sp.add_argument("--apt-base", type=Path,
                    help="the previous release's apt repository (its -apt.tar.gz or apt/ directory): the new "
                         "repository keeps its packages")
    sp.add_argument("--repo", help="GitHub owner/name (default: $GITHUB_REPOSITORY); token: $GITHUB_TOKEN")
    sp.add_argument("--tag", help="GitHub release tag (default: v<version>)")
    sp.add_argument("--dry-run", action="store_true", help="publish: list what would be uploaded")

    sp = sub.add_parser("pipelines", help="write the CI pipelines generated from the matrix")
    sp.add_argument("--check", action="store_true", help="only check the committed files are up to date")

    sp = sub.add_parser("clean", help="remove the containers interrupted or killed runs left (labelled "
                                      "kea-runscript=1; those of running commands stay)")
    sp.add_argument("--images", action="store_true",
                    help="also remove the builder, runtime and install-test images (not the base OS images)")


def _generated_commands(sub) -> None:
    """docs, golden, fuzz, tier(s), messages: no matrix needed."""
    # The generated files that tests compare with their sources; no matrix needed.
    sp = sub.add_parser("docs", help="rewrite the variable tables of docs/variables.md from hook/variables.yaml, "
                                     "the parameter tables and hook/parameter_table.h from hook/parameters.yaml "
                                     "and the README's list of verified builds from matrix.yaml")
    sp.add_argument("--check", action="store_true", help="only check the page is up to date (exit 1 if not)")
    sp = sub.add_parser("golden", help="compare tests/golden/ with what the templates render (exit 1 on drift)")
    sp.add_argument("--update", action="store_true", help="rewrite tests/golden/ (review the diff)")
    sp = sub.add_parser("fuzz", help="fuzz the hook's record and reply code with libFuzzer (clang) for a "
                                     "bounded time; print a table (exit 1 when an input made a target fail)")
    sp.add_argument("--seconds", type=int, default=60, help="per target (default 60)")
    sp.add_argument("--target", action="append", help="only this target (repeatable)")
    sp = sub.add_parser("tier", help="run a test tier as CI does: pytest, each failed test once more alone, "
                                     "a summary (exit 0 when every test passed, at first or again)")
    sp.add_argument("name", help="the tier's name (tests, sanitize, integration): build/tiers/<name>.json")
    sp.add_argument("pytest_args", nargs=argparse.REMAINDER, help="pytest's arguments (after --)")
    sub.add_parser("tiers", help="the table of the tiers run so far: tests, re-runs, time, slowest tests")
    sp = sub.add_parser("messages", help="write hook/messages.h and .cc and docs/messages.md from hook/messages.mes")
    sp.add_argument("--check", action="store_true", help="only check they are up to date (exit 1 if not)")


def _generated(args) -> ExitCode:
    """docs, golden, messages: write the generated files, or (check) fail naming what drifted."""
    if args.command == "docs":
        from .generate import coverage, docs, parameters, statuses
        if args.check:
            if statuses.section() != statuses.status_section():
                raise ToolkitError(f"{statuses.PAGE} differs from hook/kea_facts.yaml: run `kea-runscript docs`")
            stale = parameters.differences()
            if stale:
                raise ToolkitError(f"{', '.join(stale)} differ from hook/parameters.yaml: run `kea-runscript docs`")
            if docs.section() != docs.variables_section():
                raise ToolkitError(f"{docs.VARIABLES} differs from hook/variables.yaml: run `kea-runscript docs`")
            if coverage.section() != coverage.coverage_section():
                raise ToolkitError(f"{coverage.README} differs from matrix.yaml: run `kea-runscript docs`")
            return ExitCode.OK
        print(f"{docs.VARIABLES} {'written' if docs.write() else 'unchanged'}")
        print(f"{coverage.README} {'written' if coverage.write() else 'unchanged'}")
        print(f"{statuses.PAGE} {'written' if statuses.write() else 'unchanged'}")
        for path in parameters.write():
            print(f"{path} written")
        return ExitCode.OK
    if args.command == "golden":
        from .generate import golden
        if args.update:
            for path in golden.update():
                print(f"{path} written")
            return ExitCode.OK
        problems = golden.differences()
        if problems:
            raise ToolkitError("\n".join(problems + ["run `kea-runscript golden --update` and review the diff"]))
        return ExitCode.OK
    from .generate import messages
    if args.check:
        stale = messages.differences()
        if stale:
            raise ToolkitError(f"{', '.join(stale)} differ from hook/messages.mes: run `kea-runscript messages`")
        return ExitCode.OK
    for path in messages.write():
        print(f"{path} written")
    return ExitCode.OK


def _patterns(values: Sequence[str]) -> list:
    return [p.strip() for v in values for p in v.split(",") if p.strip()]


def _exact(pats: Sequence[str]) -> list:
    return [p for p in pats if not any(ch in p for ch in "*?[")]


def select(m: matrix_mod.Matrix, args) -> tuple:
    pats = _patterns(args.only)
    if args.series and args.series not in m.series:
        raise UsageError(f"no cells for Kea series {args.series!r}; "
                         f"series in {m.path.name}: {', '.join(m.series)}")
    # Globs pick among verified cells unless --all/--series widen the set; an exact id always
    # selects its cell (a declared one then fails fast, saying why).
    wide = getattr(args, "all", False) or bool(args.series)
    verified_only = getattr(args, "verified", False) or not wide
    exact = _exact(pats)
    globs = [p for p in pats if p not in exact]
    if not pats:
        cells = m.select(series=args.series, verified_only=verified_only)
    else:
        chosen = {c.id for c in m.select(exact, series=args.series)} if exact else set()
        if globs:
            chosen |= {c.id for c in m.select(globs, series=args.series, verified_only=verified_only)}
        cells = tuple(c for c in m.cells if c.id in chosen)
    if not cells:
        raise UsageError(f"no cell matches --only {' '.join(pats)!r}"
                         f"{' in series ' + args.series if args.series else ''}; "
                         f"see `kea-runscript list`")
    return cells


class Terminated(KeyboardInterrupt):
    """SIGTERM (a cancelled CI job) unwinds like Ctrl-C: every ``with Container`` removes its container."""


def _on_signal(signum, _frame):
    from .engine import containers
    containers.interrupt()  # containers of worker threads go now; the main thread unwinds
    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def main(argv: Optional[Sequence[str]] = None) -> int:
    if threading.current_thread() is not threading.main_thread():  # only it may set handlers
        return _guarded(argv)
    old = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        return _guarded(argv)
    except KeyboardInterrupt as e:
        sig = signal.SIGTERM if isinstance(e, Terminated) else signal.SIGINT
        error(f"interrupted ({sig.name}); its containers are removed")
        return 128 + sig
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _guarded(argv: Optional[Sequence[str]] = None) -> int:
    """The one place where errors become exit statuses."""
    try:
        return int(_main(argv))
    except ToolkitError as e:
        error(e)
        return int(e.exit_code)
    except BrokenPipeError:
        # The reader left (`kea-runscript list | head -3`): stop quietly. stdout goes to
        # /dev/null so that the interpreter's final flush does not raise again.
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return int(ExitCode.FAILED)


def _main(argv: Optional[Sequence[str]] = None) -> ExitCode:
    args = _parser().parse_args(argv)
    if args.command in ("docs", "golden", "messages"):
        return _generated(args)
    if args.command in ("tier", "tiers"):
        from .verify import tiers
        if args.command == "tiers":
            print(tiers.report(tiers.load()))
            return ExitCode.OK
        pytest_args = args.pytest_args[1:] if args.pytest_args[:1] == ["--"] else args.pytest_args
        return ExitCode.OK if tiers.run_tier(args.name, pytest_args) == 0 else ExitCode.FAILED
    if args.command == "fuzz":
        from .verify import fuzz
        return fuzz.cli_main(args)
    m = matrix_mod.load(args.matrix)
    if args.command == "release":
        from . import release
        return release.cli_main(args, m)
    if args.command == "pipelines":
        from .generate import pipelines
        return pipelines.cli_main(args, m)
    if args.command == "bench":
        from .bench import dhcp
        return dhcp.cli_main(args, m)
    if args.command == "clean":
        from .engine import containers, images
        kinds = sorted(t.name.split(".")[0] for t in images.TEMPLATES.glob("*.Dockerfile.j2")) if args.images else ()
        containers.clean(kinds=kinds)
        return ExitCode.OK
    cells = select(m, args)
    if args.command == "list":
        for c in cells:
            if args.verbose:
                print(f"{c.id:<32} {c.status:<9} {c.source:<9} {c.arch:<6} {c.note}".rstrip())
            else:
                print(f"{c.id:<32} {c.status}")
        return ExitCode.OK
    if args.command == "render":
        return _render(args, cells)
    if args.command == "smoke":
        from .verify import smoke
        return smoke.cli_main(args, cells, m)
    if args.command == "image":
        return _image(args, cells)
    return _build(args, cells, m)


def _render(args, cells) -> ExitCode:
    from .builder import hook
    from .generate import render
    for version in args.kea:
        resolved = facts.resolve_version(version)
        dest = render.render_tree(str(resolved), WORK / "build" / "render" / str(resolved))
        print(f"{'kea' + str(resolved):<32} rendered         {dest}")
    if args.kea and not (args.only or args.series or getattr(args, "all", False)):
        return ExitCode.OK
    for c in cells:
        t = time.monotonic()
        try:
            src = hook.render_cell(c, hook.Paths())
        except hook.CellFailed as e:
            raise ToolkitError(f"{c.id}: render failed: {e}") from e
        print(f"{c.id:<32} rendered {time.monotonic() - t:5.1f}s  {src}")
    return ExitCode.OK


def _image(args, cells) -> ExitCode:
    """Each cell's image, or an error line for it; the other cells go on."""
    from .builder import hook
    from .engine import containers, images
    failed = 0
    for c in cells:
        if not c.verified and not args.allow_declared:
            error(f"{c.id}: declared, not verified: {c.why_not_buildable_here()}")
            failed += 1
            continue
        try:
            img = images.ensure_image(args.kind, c, hook.Paths().logs(c), output.say)
        except containers.ImageBuildError as e:
            error(f"{c.id}: {e}")
            failed += 1
            continue
        print(f"{c.id:<32} {'built' if img.built else 'reused':<7} {img.tag}")
    return ExitCode.FAILED if failed else ExitCode.OK


def _build(args, cells, m: matrix_mod.Matrix) -> ExitCode:
    from .builder import hook  # imported late: `list` and session generation need no Docker
    named = _exact(_patterns(args.only))
    if not args.allow_declared and all(not c.verified and c.id not in named for c in cells):
        raise ToolkitError(hook.nothing_to_build(cells, args.series))
    results = hook.build_cells(
        cells, jobs=max(1, args.jobs), keep=True if args.keep_container else None,
        allow_declared=args.allow_declared, verified_ids=[c.id for c in m.verified],
        named_ids=named)
    return ExitCode.FAILED if any(r.failed for r in results) else ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
