"""Generate the hook's message catalogue sources (messages.h / messages.cc) from messages.mes.

Kea's own message compiler is rarely packaged, so the generated files are committed and a
unit test checks they match the .mes file: `kea-runscript messages` writes them,
`kea-runscript messages --check` only compares. The format of a .mes file: `$NAMESPACE name`,
then `% ID text` lines, each followed by free explanation lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .. import ROOT

HOOK_DIR = ROOT / "hook"
MES_FILE = HOOK_DIR / "messages.mes"


@dataclass(frozen=True)
class Message:
    ident: str
    text: str
    line: int


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
    if not namespace:
        raise ValueError(f"{path}: no $NAMESPACE line")
    return namespace, messages


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


def differences(directory: Path | None = None) -> list[str]:
    """The generated files that are missing or differ in ``directory`` (default: hook/)."""
    directory = directory or HOOK_DIR
    return [str(directory / name) for name, content in generate().items()
            if not (directory / name).exists() or (directory / name).read_text() != content]


def write(directory: Path | None = None) -> list[Path]:
    directory = directory or HOOK_DIR
    written = []
    for name, content in generate().items():
        target = directory / name
        target.write_text(content)
        written.append(target)
    return written
