"""The exceptions spintrace raises on purpose.

Every error a user can cause (a bad file, a bad database URL, an unmigrated database) is a
:class:`SpintraceError`; the CLI prints its message as one line and exits non-zero. Anything else
is a bug and keeps its traceback.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DatabaseError",
    "InputError",
    "NotMigratedError",
    "ReportError",
    "SpintraceError",
]


class SpintraceError(Exception):
    """Base class: a problem the user can fix, with a message that says how."""


class ConfigError(SpintraceError):
    """A setting has a value spintrace cannot use."""


class DatabaseError(SpintraceError):
    """The database URL is wrong, the server is unreachable, or the driver is missing."""

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url


class NotMigratedError(DatabaseError):
    """The database exists but its schema is missing or older than this version of spintrace."""


class InputError(SpintraceError):
    """One input record (or a whole input file) cannot be used.

    ``path`` and ``line`` say where; ``line`` is 1-based and ``None`` for whole-file problems.
    """

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        self.reason = message
        self.path = path
        self.line = line
        where = path or "input"
        if line is not None:
            where = f"{where}:{line}"
        super().__init__(f"{where}: {message}")


class ReportError(SpintraceError):
    """A report cannot be made as asked: no such owner, or an output folder that is in use."""
