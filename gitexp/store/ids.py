"""The store edge: gitexp's hex `str` ids and ref names as dulwich's typed bytes.

Outside the store, object ids are hex `str` and refs are `str` names. dulwich 1.x
types its ids and refs as `ObjectID` and `Ref` (NewTypes of `bytes`); these two
functions are the only place that turns one into the other. Back out is `.decode()`.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a run start's biggest import)
if TYPE_CHECKING:  # NewTypes: nothing to import at run time
    from dulwich.objects import ObjectID
    from dulwich.refs import Ref


def to_oid(sha: str) -> ObjectID:
    """A hex object id (SHA-1 or SHA-256) as dulwich takes it."""
    return sha.encode()  # type: ignore[return-value]  # a NewType of bytes: nothing to convert


def to_ref(name: str) -> Ref:
    """A ref name (`refs/…`, `HEAD`) as dulwich takes it."""
    return name.encode()  # type: ignore[return-value]
