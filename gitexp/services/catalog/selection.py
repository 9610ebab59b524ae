"""Which runs a listing works on: one experiment, every one, and a filter."""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing: the CLI imports this at start-up
if TYPE_CHECKING:
    from gitexp.services.session import Session


class RunSelection:
    """`-e EXP`, `--all` and `--filter EXPR` as one value; the default-experiment rule lives here."""

    __slots__ = ("experiment", "all", "filter")

    def __init__(self, experiment: str | None = None, all: bool = False, filter: str | None = None) -> None:
        self.experiment, self.all, self.filter = experiment, all, filter

    @property
    def named(self) -> bool:
        """Whether -e or --all was given (rather than the default experiment)."""
        return self.all or self.experiment is not None

    def experiment_in(self, s: Session) -> str | None:
        """The experiment to list: -e, None for --all, else the repository's default experiment."""
        if self.all:
            return None
        return self.experiment or s.default_experiment
