"""Record classes without dataclasses or typing: `Slots` (mutable) and `Value` (immutable).

`import dataclasses` loads `inspect` (with ast, dis and tokenize), and each class it
builds compiles generated code: on a `gitexp run` start that was a fifth of the
instructions. `import typing` costs a run start as much again (its import and each
`typing.NamedTuple` class it builds: ~12% of it).
- A mutable record class names its fields in `__slots__` (declaration order) and
  writes its own `__init__`; `Slots` derives the rest from the slots.
- An immutable value is a `Value`: `typing.NamedTuple`'s class syntax (annotated
  fields, defaults, methods, properties), made by `collections.namedtuple`, which is
  what `typing.NamedTuple` makes too. Type checkers see `typing.NamedTuple` itself.
"""

from __future__ import annotations

from collections import namedtuple

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any, TypeVar
    from typing import NamedTuple as Value

    S = TypeVar("S", bound="Slots")
else:
    class _ValueClass(type):
        """Builds a `Value` subclass as typing.NamedTuple does: a namedtuple with the body's methods."""

        def __new__(mcls, name: str, bases: tuple, body: dict) -> type:
            if not bases:
                return super().__new__(mcls, name, bases, body)  # `Value` itself
            if "__classcell__" in body:  # its cell would never be filled: super() would fail when called
                raise TypeError(f"{name}: a Value's methods cannot use super() or __class__")
            fields = tuple(body.get("__annotations__", {}))
            defaults = [body[f] for f in fields if f in body]
            if any(f not in body for f in fields[len(fields) - len(defaults):]):
                raise TypeError(f"{name}: a field without a default follows one with a default")
            cls = namedtuple(name, fields, defaults=defaults, module=body["__module__"])
            for key, value in body.items():
                if key not in fields and key not in ("__module__", "__annotations__"):
                    setattr(cls, key, value)
            return cls

    class Value(metaclass=_ValueClass):
        """Base of an immutable value class written as a typing.NamedTuple."""


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
