"""Regular expressions compiled on first use.

A run start imports the YAML reader and writer but uses few of their patterns;
compiling the rest at import cost it milliseconds (re's compiler is pure Python).
"""

from __future__ import annotations

import re

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import AnyStr


def lazy(pattern: AnyStr, flags: int = 0) -> re.Pattern[AnyStr]:
    """A pattern that compiles itself when one of its methods is first used (`pattern`, `flags` at once)."""
    return _Lazy(pattern, flags)  # type: ignore[return-value]  # it answers as the compiled Pattern does


class _Lazy:
    def __init__(self, pattern: str | bytes, flags: int) -> None:
        self.pattern, self.flags = pattern, flags

    def __getattr__(self, name: str) -> object:
        value = getattr(re.compile(self.pattern, self.flags), name)
        setattr(self, name, value)  # later uses find the compiled pattern's method directly
        return value
