"""Exceptions whose messages name the file, the problem and the fix.

The CLI turns any :class:`GliogradeError` into a one-line message and exit code 2.
"""
from __future__ import annotations

from collections.abc import Sequence


class GliogradeError(Exception):
    """Base class for every error gliograde raises on purpose (user-facing)."""


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
