"""Exceptions whose messages name the file, the problem and the fix.

The CLI turns any :class:`GliogradeError` into a one-line message (one per problem) and its ``exit_code``: 2 for
wrong input, 1 for :class:`TasksFailed` (the input was fine; some of the run's tasks failed).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar


class GliogradeError(Exception):
    """Base class for every error gliograde raises on purpose (user-facing)."""

    #: The CLI's exit status for this error.
    exit_code: ClassVar[int] = 2


class InputError(GliogradeError, ValueError):
    """Bad input data: the message says which file, what is wrong and how to fix it."""


class MaskMismatchError(InputError):
    """A mask does not fit its image (shape, emptiness, values)."""


class WeightsNotFoundError(GliogradeError, FileNotFoundError):
    """Pretrained weights were asked for but are not on disk; the message says where to put them."""


class CohortError(InputError):
    """Several problems found while checking a whole cohort; one line per problem.

    Attributes:
        problems: one message per bad file or patient.
    """

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} found; nothing was written (use --skip-bad to ingest the rest):"
        super().__init__("\n".join([head, *self.problems]))


class TasksFailed(GliogradeError):
    """Some independent tasks of a run (CV units, cases) still failed after their retries; the others finished.

    Attributes:
        failures: one line per failed task, ``<task>: <Error>: <message>``.
        total: how many tasks the run had.
    """

    exit_code: ClassVar[int] = 1

    def __init__(self, what: str, total: int, failures: Sequence[str], fix: str) -> None:
        self.failures, self.total = list(failures), total
        n = len(self.failures)
        head = f"{n} of {total} {what} failed after their retries; the others finished ({fix}):"
        super().__init__("\n".join([head, *self.failures]))
