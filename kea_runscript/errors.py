"""The toolkit's exit statuses and its one error type. Commands raise :class:`ToolkitError` (or
a subclass) with a message that names the culprit; the command line prints it and maps it to
its exit status, once."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    OK = 0
    FAILED = 1  # a cell or a check failed, nothing buildable here, the output pipe closed
    USAGE = 2  # bad matrix, arguments or version
    DOCKER = 3  # the Docker engine is unreachable


class ToolkitError(Exception):
    """A failure that ends a command: its message is the error line(s) the user reads."""

    exit_code = ExitCode.FAILED


class UsageError(ToolkitError):
    """What was asked cannot be: a bad argument, matrix or version."""

    exit_code = ExitCode.USAGE
