"""The handler mode's wire format, the one Python copy of it: a public module of the toolkit
(``pip install kea-runscript``; docs/handlers.md, "Testing a handler") for whoever tests a
handler, and what the toolkit's own tests of every kind use. Its names are those of
``__all__``; they keep their meaning for the life of the hook's protocol.

A record (hook -> handler stdin), one per event:

    <hook point>\\0NAME=value\\0NAME=value\\0 ... \\0\\0

NUL-terminated fields: the hook point, then the event's ``NAME=value`` strings in the order an
exec-mode script would get them in its environment, then an empty field ending the record. No
field is otherwise empty and none holds a NUL, so a reader splits the stream on NUL and takes an
empty field as the end of a record; every other byte (newline, ``=``, non-UTF-8) is data.

A reply (handler stdout -> hook), one line per record, in order: ``exit <code>\\n`` with a plain
decimal code 0-255 (no sign, no leading zero: the spelling of ``exit-codes`` keys). A line that
starts with ``exit`` but is not that is a malformed reply: it still answers its record (the hook
logs RUNSCRIPT_HANDLER_PROTOCOL and the event fails). Any other line is outside the protocol:
output, logged (RUNSCRIPT_HANDLER_OUTPUT), answering nothing.
"""

from __future__ import annotations

import re
from typing import Iterable, List, NamedTuple, Optional, Union

__all__ = ["Record", "ProtocolError", "encode_record", "RecordDecoder", "decode_records",
           "encode_reply", "parse_reply", "line_kind", "try_reply", "REPLY", "MALFORMED", "OUTPUT"]

Bytes = Union[bytes, bytearray, memoryview]

# One reply line, without its newline. The code is spelt like an `exit-codes` key.
_REPLY = re.compile(rb"exit (0|[1-9][0-9]{0,2})")


class Record(NamedTuple):
    point: bytes
    vars: List[bytes]  # b"NAME=value", in record order


class ProtocolError(ValueError):
    """Bytes that are not a record, or a line that is not a reply."""


def _field(value: Bytes, what: str) -> bytes:
    b = bytes(value)
    if not b:
        raise ProtocolError(f"{what} is empty (an empty field ends a record)")
    if b"\0" in b:
        raise ProtocolError(f"{what} contains a NUL byte: {b[:60]!r}")
    return b


def encode_record(point: Union[str, Bytes], vars: Iterable[Bytes]) -> bytes:
    """The record of one event: ``point`` (e.g. ``"lease4_select"``) and its ``NAME=value``
    strings. Refuses what the framing cannot carry: an empty field, a NUL, a variable without
    ``=`` or with an empty name."""
    if isinstance(point, str):
        point = point.encode()
    out = [_field(point, "the hook point")]
    for i, v in enumerate(vars):
        v = _field(v, f"variable {i}")
        name, eq, _ = v.partition(b"=")
        if not eq or not name:
            raise ProtocolError(f"variable {i} is not NAME=value: {v[:60]!r}")
        out.append(v)
    return b"\0".join(out) + b"\0\0"


class RecordDecoder:
    """Splits a byte stream into records, however it was cut into chunks.

    ``feed(chunk)`` returns the records that chunk completed; ``pending`` is the number of bytes
    of a record not yet complete (0 at a record boundary)."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._fields: List[bytes] = []

    def feed(self, chunk: Bytes) -> List[Record]:
        self._buf += chunk
        done: List[Record] = []
        start = 0
        while True:
            end = self._buf.find(b"\0", start)
            if end < 0:
                break
            field = bytes(self._buf[start:end])
            start = end + 1
            if field:
                self._fields.append(field)
            elif self._fields:
                done.append(Record(self._fields[0], self._fields[1:]))
                self._fields = []
            else:
                raise ProtocolError("an empty record (two NULs where a hook point was expected)")
        del self._buf[:start]
        return done

    @property
    def pending(self) -> int:
        return len(self._buf) + sum(len(f) + 1 for f in self._fields)


def decode_records(data: Bytes) -> List[Record]:
    """All records of ``data``, which must end at a record boundary."""
    dec = RecordDecoder()
    records = dec.feed(data)
    if dec.pending:
        raise ProtocolError(f"{dec.pending} bytes after the last complete record")
    return records


def encode_reply(code: int) -> bytes:
    if not 0 <= code <= 255:
        raise ProtocolError(f"exit code {code} is not 0-255")
    return b"exit %d\n" % code


def parse_reply(line: Union[str, Bytes]) -> int:
    """The exit code of one reply line (with or without its newline); ProtocolError, saying
    what is wrong, for a line outside the protocol."""
    if isinstance(line, str):
        line = line.encode("utf-8", "surrogateescape")
    b = bytes(line)
    if b.endswith(b"\n"):
        b = b[:-1]
    if b"\n" in b:
        raise ProtocolError(f"more than one line: {b[:60]!r}")
    m = _REPLY.fullmatch(b)
    if not m or int(m.group(1)) > 255:
        raise ProtocolError(f"not a reply 'exit <0-255>': {b[:60]!r}")
    return int(m.group(1))


REPLY, MALFORMED, OUTPUT = "reply", "malformed reply", "output"


def line_kind(line: Union[str, Bytes]) -> str:
    """How the hook takes one stdout line: REPLY, MALFORMED (starts with ``exit``: answers its
    record, as a failure) or OUTPUT (logged, answers nothing)."""
    if try_reply(line) is not None:
        return REPLY
    b = line.encode("utf-8", "surrogateescape") if isinstance(line, str) else bytes(line)
    return MALFORMED if b.startswith(b"exit") else OUTPUT


def try_reply(line: Union[str, Bytes]) -> Optional[int]:
    """parse_reply, or None for a line outside the protocol."""
    try:
        return parse_reply(line)
    except ProtocolError:
        return None
