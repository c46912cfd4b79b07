"""Honest model selection inside one training fold: nested CV (or one fixed inner split) by patient.

The outer test patients never reach this module: a CV unit passes only its training rows, and every
candidate is scored on inner validation patients drawn from those rows. The chosen candidate is
then refitted on all the training rows. What was chosen, and every candidate's inner score, is
returned so the run can record it (``selection.json``). A candidate whose ``fit`` takes ``groups`` (the
baselines') gets the unit of each row (the patient, or the person: :func:`gliograde.splits.group_keys`), so its
own inner CVs (an SVM's Platt scaling) split by patient too.

>>> import numpy as np
>>> from gliograde.baselines import HandcraftedBaseline
>>> rng = np.random.default_rng(0); y = np.repeat([0, 1], 20); X = rng.normal(size=(40, 6)); X[:, 0] += 2 * y
>>> pids = np.array([f"p{i}" for i in range(40)])
>>> cands = [Candidate("logreg", None), Candidate("logreg", 2)]
>>> res = select_candidate(lambda c: HandcraftedBaseline(c.classifier, select_k=c.select_k), X, y, pids, cands,
...                        method="inner_cv", inner_folds=4, seed=0)
>>> res.chosen in cands, sorted(res.scores) == sorted(c.label for c in cands)
(True, True)
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.utils.validation import has_fit_parameter

from gliograde.errors import InputError
from gliograde.splits import group_keys, inner_splits

logger = logging.getLogger(__name__)


class ProbaEstimator(Protocol):
    def fit(self, X: Any, y: Any) -> Any: ...
    def predict_proba(self, X: Any) -> npt.NDArray[np.float64]: ...


@dataclass(frozen=True)
class Candidate:
    """One point of the selection grid: a classifier kind and how many features it keeps (None = all)."""

    classifier: str
    select_k: int | None = None

    @property
    def label(self) -> str:
        return f"{self.classifier}/k={'all' if self.select_k is None else self.select_k}"


@dataclass(frozen=True)
class SelectionResult:
    """What one training fold chose and why: every candidate's inner patient-level AUC."""

    chosen: Candidate
    scores: dict[str, float]
    method: str
    n_inner: int

    def as_dict(self) -> dict[str, Any]:
        return {"chosen": self.chosen.label, "classifier": self.chosen.classifier, "select_k": self.chosen.select_k,
                "method": self.method, "n_inner_splits": self.n_inner, "inner_auc": self.scores}


def grid(classifiers: Sequence[str], select_k: Sequence[int]) -> list[Candidate]:
    """Every (classifier, k) pair; k = 0 means all features.

    >>> [c.label for c in grid(["logreg"], [0, 10])]
    ['logreg/k=all', 'logreg/k=10']
    """
    if not classifiers or not select_k:
        raise InputError("selection grid is empty; give at least one classifier and one select_k (0 = all)")
    return [Candidate(c, None if k == 0 else int(k)) for c in classifiers for k in select_k]


def patient_auc(patient_ids: npt.ArrayLike, labels: npt.ArrayLike, proba: npt.ArrayLike) -> float:
    """AUC of patient-level predictions (rows of a patient averaged); macro one-vs-rest for > 2 classes.

    >>> patient_auc(["a", "a", "b"], [0, 0, 1], [[0.9, 0.1], [0.7, 0.3], [0.2, 0.8]])
    1.0
    """
    p = np.asarray(proba, dtype=np.float64)
    df = pd.DataFrame(p).assign(pid=np.asarray(patient_ids).astype(str), y=np.asarray(labels))
    g = df.groupby("pid").mean()
    y = g.pop("y").to_numpy().astype(int)
    if len(np.unique(y)) < 2:
        return float("nan")
    scores = g.to_numpy()
    if scores.shape[1] == 2:
        return float(roc_auc_score(y, scores[:, 1]))
    scores = scores / scores.sum(axis=1, keepdims=True)
    return float(roc_auc_score(y, scores, multi_class="ovr", labels=np.arange(scores.shape[1])))


def _oof_score(make: Callable[[Candidate], ProbaEstimator], cand: Candidate, X: Any, y: npt.NDArray[np.int64],
               pids: npt.NDArray[np.str_], keys: npt.NDArray[np.str_],
               splits: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]]) -> float:
    n_classes = int(y.max()) + 1
    proba = np.full((len(y), n_classes), np.nan)
    for tr, va in splits:
        model = make(cand)
        params = {"groups": keys[tr]} if has_fit_parameter(model, "groups") else {}  # its own inner CVs, by unit
        model = model.fit(X[tr], y[tr], **params)
        cols = np.asarray(getattr(model, "classes_", np.arange(n_classes)), dtype=int)
        out = np.zeros((len(va), n_classes))
        out[:, cols] = model.predict_proba(X[va])
        proba[va] = out
    seen = ~np.isnan(proba[:, 0])
    return patient_auc(pids[seen], y[seen], proba[seen])


def select_candidate(make: Callable[[Candidate], ProbaEstimator], X: Any, y: npt.ArrayLike,
                     patient_ids: npt.ArrayLike, candidates: Sequence[Candidate], *, method: str = "inner_cv",
                     inner_folds: int = 5, seed: int = 0, groups: npt.ArrayLike | None = None) -> SelectionResult:
    """Score every candidate on inner validation patients of the given (training) rows; pick the best.

    Args:
        make: builds a fresh unfitted estimator for a candidate; an estimator whose ``fit`` takes ``groups``
            (the baselines') gets the unit of each row (:func:`gliograde.splits.group_keys`) for its own inner CVs.
        X: (n, F) features (or anything indexable by row arrays) of the training rows only.
        y: (n,) class indices; patient_ids: (n,) patient of each row.
        candidates: the grid; the first one wins ties (and is taken as is when ``method="none"``).
        method: ``inner_cv``, ``inner_split`` or ``none``.
        groups: (n,) the person of each row (None: each patient alone); inner splits keep a group on one side.

    Returns:
        :class:`SelectionResult` (inner AUC of each candidate, NaN when undefined).
    """
    if not candidates:
        raise InputError("no candidate to select from")
    if method == "none" or len(candidates) == 1:
        return SelectionResult(candidates[0], {}, "none" if method == "none" else method, 0)
    y_arr, pids = np.asarray(y, dtype=np.int64), np.asarray(patient_ids).astype(str)
    splits = inner_splits(pids, y_arr, method, inner_folds, seed, groups=groups)
    keys = group_keys(pids, groups)
    scores = {c.label: _oof_score(make, c, X, y_arr, pids, keys, splits) for c in candidates}
    ranked = [c for c in candidates if not np.isnan(scores[c.label])]
    best = max(ranked, key=lambda c: scores[c.label]) if ranked else candidates[0]
    # DEBUG (-v): a CV run selects once per fold; the run logs one summary of the choices (experiment/core.py)
    logger.debug("model selection (%s, %d inner splits): chose %s, inner AUC %.3f, best of %d candidates", method,
                 len(splits), best.label, scores[best.label], len(candidates))
    return SelectionResult(best, scores, method, len(splits))
