"""Typed errors raised by every layer; the CLI turns them into one line plus a hint."""

from __future__ import annotations


class GitexpError(Exception):
    """Base class of every error gitexp raises on purpose.

    Args:
        message: what went wrong, one line.
        hint: what to do about it, ideally an exact command.
    """

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} (hint: {self.hint})"


class InvalidUsage(GitexpError):
    """A command was called with options or arguments that do not go together (exit 2)."""

    exit_code = 2


class NotARepository(GitexpError):
    """The current folder is not inside a Git repository."""


class DubiousOwnership(NotARepository):
    """The repository belongs to another user and `safe.directory` does not allow it (as in git)."""


class InvalidName(GitexpError):
    """An experiment name, key or run name breaks the naming rules."""


class InvalidValue(GitexpError):
    """A metric, param or tag value has the wrong type or content."""


class RunNotFound(GitexpError):
    """No run matches the given reference."""


class AmbiguousRun(GitexpError):
    """A prefix or name matches more than one run."""


class CommandNotFound(GitexpError):
    """`gitexp run`'s command does not exist (exit 127, as a shell)."""

    exit_code = 127


class NotExecutable(GitexpError):
    """`gitexp run`'s command is not executable (exit 126, as a shell)."""

    exit_code = 126


class ReadOnlyRepository(GitexpError):
    """A write to the repository (or its `.git/gitexp/` folder) was refused by the file system."""


class ConcurrentUpdate(GitexpError):
    """A ref changed under us, or another writer holds its lock."""


class ParamConflict(GitexpError):
    """A param was logged again with a different value."""


class NoActiveRun(GitexpError):
    """An operation needs an active run and there is none."""


class RemoteRejected(GitexpError):
    """A remote refused a push or fetch."""


class ConfigError(GitexpError):
    """A settings file or git config value is malformed."""


class CorruptRecord(GitexpError):
    """A run record cannot be parsed (for example, a malformed pushed run)."""


class NewerFormat(CorruptRecord):
    """A run record written by a newer gitexp (its `format` is above the one we read)."""


class WriteFailed(GitexpError):
    """Local data could not be written (full disk, quota, I/O error); `reason` is the OS's word."""

    reason: str = ""


class FilterSyntaxError(GitexpError):
    """A search filter expression cannot be parsed; `position` is a 0-based offset."""

    exit_code = 2

    def __init__(self, message: str, expression: str, position: int) -> None:
        pointer = expression + "\n" + " " * position + "^"
        super().__init__(f"{message} at position {position}", hint=None)
        self.expression = expression
        self.position = position
        self.pointer = pointer
