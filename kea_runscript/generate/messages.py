"""Generate the hook's message catalogue sources (messages.h / messages.cc) and the operators'
page of log messages (docs/messages.md) from messages.mes.

Kea's own message compiler is rarely packaged, so the generated files are committed and a
unit test checks they match the .mes file: `kea-runscript messages` writes them,
`kea-runscript messages --check` only compares. The format of a .mes file: `$NAMESPACE name`,
then `% ID text` lines, each followed by free explanation lines (what it means, what to do).
A message's severity is the hook's code's: the LOG_* calls that log it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .. import ROOT
from ..model import hook_sources

HOOK_DIR = ROOT / "hook"
MES_FILE = HOOK_DIR / "messages.mes"
PAGE = ROOT / "docs" / "messages.md"
#: isc::log::DBGLVL_TRACE_BASIC, the debug level the hook logs its debug messages at
DEBUG_LEVELS = {"DBGLVL_TRACE_BASIC": 40}
_LOG_CALL = re.compile(r"LOG_(FATAL|ERROR|WARN|INFO|DEBUG)\(\s*\w+\s*,\s*(?:isc::log::(\w+)\s*,\s*)?(RUNSCRIPT_\w+)\)")


@dataclass(frozen=True)
class Message:
    ident: str
    text: str
    line: int
    explanation: str = ""


def parse(path: Path = MES_FILE) -> tuple[str, list[Message]]:
    namespace = ""
    messages: list[Message] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        if raw.startswith("$NAMESPACE"):
            namespace = raw.split(None, 1)[1].strip()
        elif raw.startswith("%"):
            match = re.match(r"%\s+([A-Z][A-Z0-9_]*)\s+(.*)$", raw)
            if not match:
                raise ValueError(f"{path}:{number}: malformed message line: {raw!r}")
            ident, text = match.groups()
            if ident in seen:
                raise ValueError(f"{path}:{number}: {ident} already defined at line {seen[ident]}")
            seen[ident] = number
            messages.append(Message(ident, text, number))
        elif messages and raw.strip() and not raw.startswith("#"):
            last = messages[-1]
            explanation = f"{last.explanation} {raw.strip()}".strip()
            messages[-1] = Message(last.ident, last.text, last.line, explanation)
    if not namespace:
        raise ValueError(f"{path}: no $NAMESPACE line")
    return namespace, messages


def severities(sources=None) -> dict[str, list[str]]:
    """{message id: the severities the hook logs it at, e.g. ["WARN", "DEBUG 40"]}."""
    found: dict[str, list[str]] = {}
    for path in sources or hook_sources.paths(hook_sources.SOURCES):
        for severity, level, ident in _LOG_CALL.findall(Path(path).read_text()):
            if level:
                severity = f"{severity} {DEBUG_LEVELS[level]}"
            if severity not in found.setdefault(ident, []):
                found[ident].append(severity)
    order = ("FATAL", "ERROR", "WARN", "INFO", "DEBUG")
    return {ident: sorted(levels, key=lambda s: order.index(s.split()[0])) for ident, levels in found.items()}


#: The page's hand-written start: the logger, and Kea's own messages about the library.
INTRO = Path(__file__).with_name("messages_intro.md")


def page(path: Path = MES_FILE) -> str:
    """docs/messages.md: each message, its severity, what it means and what to do."""
    _, messages = parse(path)
    levels = severities()
    lines = ["# Log messages", "",
             "<!-- Generated from hook/messages.mes and the hook's LOG_* calls by `kea-runscript messages`: "
             "edit those, not this page. -->", "",
             INTRO.read_text().rstrip(), "", "## The hook's messages", "",
             "| Message | Severity |", "|---|---|"]
    lines += [f"| [{m.ident}](#{m.ident.lower()}) | {' or '.join(levels.get(m.ident, ['not logged']))} |"
              for m in messages]
    for m in messages:
        lines += ["", f"## {m.ident}", "",
                  f"Severity: {' or '.join(levels.get(m.ident, ['not logged']))}. Text: `{m.text}`", "",
                  m.explanation]
    return "\n".join(lines) + "\n"


def _c_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def generate(path: Path = MES_FILE) -> dict[str, str]:
    """Return {file name: content} for messages.h and messages.cc."""
    namespace, messages = parse(path)
    header = [
        "// Generated from messages.mes by kea_runscript/generate/messages.py. Do not edit.",
        "",
        "#ifndef RUNSCRIPT_MESSAGES_H",
        "#define RUNSCRIPT_MESSAGES_H",
        "",
        "#include <log/message_types.h>",
        "",
        f"namespace {namespace} {{",
        "",
    ]
    header += [f"extern const isc::log::MessageID {m.ident};" for m in messages]
    header += ["", f"}}  // namespace {namespace}", "", "#endif", ""]
    source = [
        "// Generated from messages.mes by kea_runscript/generate/messages.py. Do not edit.",
        "",
        "#include <cstddef>",
        "#include <log/message_types.h>",
        "#include <log/message_initializer.h>",
        "",
        f"namespace {namespace} {{",
        "",
    ]
    source += [f'extern const isc::log::MessageID {m.ident} = "{m.ident}";' for m in messages]
    source += ["", f"}}  // namespace {namespace}", "", "namespace {", "", "const char* values[] = {"]
    source += [f'    "{m.ident}", {_c_string(m.text)},' for m in messages]
    source += ["    NULL", "};", "", "const isc::log::MessageInitializer initializer(values);", "",
               "}  // namespace", ""]
    return {"messages.h": "\n".join(header), "messages.cc": "\n".join(source)}


def _targets(directory: Path | None) -> dict[Path, str]:
    """Where each generated file goes: the sources in ``directory`` (default: HOOK_DIR), the
    page at PAGE."""
    directory = directory or HOOK_DIR
    targets = {directory / name: content for name, content in generate().items()}
    targets[PAGE] = page()
    return targets


def differences(directory: Path | None = None) -> list[str]:
    """The generated files that are missing or differ (the sources in ``directory``, default
    hook/, and docs/messages.md)."""
    return [str(target) for target, content in _targets(directory).items()
            if not target.exists() or target.read_text() != content]


def write(directory: Path | None = None) -> list[Path]:
    written = []
    for target, content in _targets(directory).items():
        target.write_text(content)
        written.append(target)
    return written
