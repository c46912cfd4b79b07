"""Fit the ``prior`` model: one score + calibration per set of signs a case may have, on training patients only.

A case is scored on the signs it has (:func:`gliograde.signs.score.scored_signs`): with T1, T1c and FLAIR all of
them, without T1 the T1c-only enhancement instead of the subtraction, and so on. So that every such case has a
model fitted on the same training patients, :func:`fit_prior` fits one :class:`~gliograde.signs.score.SetModel`
for every set of signs reachable by leaving sequences out (:func:`reachable_sets`). The CV configuration fits the
sets its test patients need on each training fold; ``gliograde train --kind prior`` fits them all on every patient.

>>> sets = reachable_sets(("enhancement", "enhancement_t1c", "necrosis", "size", "margin"))
>>> sets[:3], ("enhancement_t1c", "necrosis", "size", "margin") in sets, len(sets)
([(), ('margin',), ('size', 'margin')], True, 7)
"""
from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from gliograde.config import PriorCfg
from gliograde.signs.cohort import REF_PREFIX
from gliograde.signs.measure import BY_NAME, SIGN_NAMES
from gliograde.signs.score import SetModel, fit_set, scored_signs

logger = logging.getLogger(__name__)


def reachable_sets(trained: Iterable[str]) -> list[tuple[str, ...]]:
    """Every set of signs a case can be scored on, given the signs the training patients all have: one per
    subset of the sequences (and of the BraTS labels) those signs need, with and without the size (a crop has no
    brain cross-section to measure it against), smallest first; ``()`` (no usable sign) among them."""
    trained = tuple(trained)
    atoms = sorted({n for s in trained for n in BY_NAME[s].needs})
    found: set[tuple[str, ...]] = {()}  # no usable sign (every one constant in training): the grade shares
    for r in range(len(atoms) + 1):
        for have in itertools.combinations(atoms, r):
            for size in (False, True):
                avail = {s for s in trained if set(BY_NAME[s].needs) <= set(have) and (size or s != "size")}
                found.add(scored_signs(avail, trained))
    return sorted(found, key=lambda t: (len(t), [SIGN_NAMES.index(s) for s in t]))


def complete_signs(table: pd.DataFrame) -> tuple[str, ...]:
    """The signs every patient of ``table`` has (no NaN) and that vary among them, in :data:`SIGN_NAMES` order.

    A sign with one value in every training patient (TCGA-LGG's necrotic share: 0 throughout) cannot be
    calibrated: a new case with another value would move the score by an amount no training patient ever showed.

    >>> complete_signs(pd.DataFrame({"necrosis": [0.0, 0.0], "enhancement": [0.1, 0.2], "size": [0.1, None]}))
    ('enhancement',)
    """
    return tuple(s for s in SIGN_NAMES if s in table.columns and bool(table[s].notna().all())
                 and table[s].nunique() > 1)


def scored_values(values: dict[str, float], reference: dict[str, float], excess: bool) -> dict[str, float]:
    """The values a case is scored on: its signs, or with ``excess`` each intensity sign minus its reference share.

    >>> scored_values({"enhancement": 0.3, "size": 0.1}, {"enhancement": 0.1}, True)
    {'enhancement': 0.2, 'size': 0.1}
    """
    if not excess:
        return dict(values)
    return {s: round(v - reference.get(s, 0.0), 12) for s, v in values.items()}


def scored_table(table: pd.DataFrame, excess: bool) -> pd.DataFrame:
    """A signs table (:func:`gliograde.signs.cohort.signs_row` columns) as scored (see :func:`scored_values`)."""
    if not excess:
        return table
    out = table.copy()
    for s in SIGN_NAMES:
        if s in out.columns and REF_PREFIX + s in out.columns:
            out[s] = out[s] - out[REF_PREFIX + s].fillna(0.0)
    return out


def fit_sets(table: pd.DataFrame, y: npt.NDArray[np.int64], sets: Iterable[tuple[str, ...]], n_classes: int,
             cfg: PriorCfg) -> dict[tuple[str, ...], SetModel]:
    """One :class:`SetModel` per set, each fitted on the patients of ``table`` that have all its signs.

    Args:
        table: (n patients, signs ...) training patients only; y: (n,) their class indices.
    """
    out = {}
    for signs in sets:
        rows = table[list(signs)].notna().all(axis=1).to_numpy()
        out[signs] = fit_set(signs, table.loc[rows, list(signs)].to_numpy(dtype=np.float64), y[rows],
                             n_classes=n_classes, combine=cfg.combine, shrinkage=cfg.shrinkage,
                             calibration_c=cfg.calibration_c)
    return out


def case_set(row: pd.Series, trained: Iterable[str]) -> tuple[str, ...]:
    """The set one patient (a row of a signs table) is scored on."""
    return scored_signs([s for s in SIGN_NAMES if s in row.index and pd.notna(row[s])], trained)


@dataclass(frozen=True)
class PriorFit:
    """The ``prior`` model trained on a whole cohort.

    Attributes:
        models: {set of signs: its fitted model}, every reachable set. trained: the signs every patient had.
        classes: WHO grades. table: the training patients' signs (label-free). n_patients, rows_per_grade: data.
    """

    models: dict[tuple[str, ...], SetModel]
    trained: tuple[str, ...]
    classes: tuple[int, ...]
    table: pd.DataFrame
    n_patients: int
    rows_per_grade: dict[str, int]


def fit_prior(table: pd.DataFrame, y: npt.NDArray[np.int64], classes: tuple[int, ...], cfg: PriorCfg) -> PriorFit:
    """Every reachable set's model on all patients of ``table`` (their class indices ``y``)."""
    table = scored_table(table, cfg.reference_excess)
    trained = complete_signs(table)
    sets = reachable_sets(trained)
    models = fit_sets(table, y, sets, len(classes), cfg)
    logger.info("fitted the prior model (%s) for %d sets of signs on %d patients", cfg.combine, len(models), len(y))
    per_grade = {str(g): int((y == i).sum()) for i, g in enumerate(classes)}
    return PriorFit(models, trained, classes, table, len(y), per_grade)
