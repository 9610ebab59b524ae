"""Which runs a listing works on: one experiment, every one, and a filter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI imports this module at start-up: no dulwich here
    from gitexp.services.session import Session


@dataclass(frozen=True)
class RunSelection:
    """`-e EXP`, `--all` and `--filter EXPR` as one value; the default-experiment rule lives here."""

    experiment: str | None = None
    all: bool = False
    filter: str | None = None

    @property
    def named(self) -> bool:
        """Whether -e or --all was given (rather than the default experiment)."""
        return self.all or self.experiment is not None

    def experiment_in(self, s: Session) -> str | None:
        """The experiment to list: -e, None for --all, else the repository's default experiment."""
        if self.all:
            return None
        return self.experiment or s.default_experiment
