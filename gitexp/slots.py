"""`Slots`: equality, repr, `as_dict` and `replace` for gitexp's mutable record classes.

`import dataclasses` loads `inspect` (with ast, dis and tokenize), and each class it
builds compiles generated code: on a `gitexp run` start that was a fifth of the
instructions. A record class here names its fields in `__slots__` (declaration
order) and writes its own `__init__`; this base derives the rest from the slots.
Immutable values are `typing.NamedTuple`s instead.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any, TypeVar

    S = TypeVar("S", bound="Slots")


class Slots:
    """Base of a record class whose fields are its `__slots__`."""

    __slots__: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """The fields by name, in declaration order (values shared, not copied)."""
        return {name: getattr(self, name) for name in self.__slots__}

    def replace(self: S, **changes: Any) -> S:
        """A copy with `changes` applied (as `dataclasses.replace`); TypeError for an unknown field."""
        unknown = set(changes).difference(self.__slots__)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field {sorted(unknown)[0]!r}")
        new = object.__new__(type(self))
        for name in self.__slots__:
            setattr(new, name, changes[name] if name in changes else getattr(self, name))
        return new

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)

    __hash__ = None  # type: ignore[assignment]  # mutable, so unhashable (as a dataclass with eq)

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({fields})"
