"""``--recalibrate platt``: recalibrate a configuration's probabilities inside the training fold only.

The fitted model's probabilities are mapped by a logistic (Platt) fit per grade, one-vs-rest and renormalised,
learnt on inner cross-validated predictions of the fold's training patients (sklearn's ``CalibratedClassifierCV``
with ``ensemble=False``: the model is refitted on each inner training part, predicts its inner validation
patients, the sigmoid is fitted on those predictions, and the final model is the one fitted on all training
patients). The inner folds group rows by patient (:func:`gliograde.splits.inner_splits`); the outer test fold is
never passed in, so it can neither shape the model nor its calibration.

The CNN configurations (:mod:`gliograde.experiment.cnn`) cannot be refitted per inner fold at a sensible cost, so
:func:`platt_mapped` fits the same sigmoid (sklearn's, through ``CalibratedClassifierCV`` on a frozen pass-through
of given probabilities) on the CNN's predictions of its early-stopping validation patients, an inner split of
the training patients, and applies it to the test-fold probabilities.

>>> # model = recalibrated(model, X[train_rows], y[train_rows], pids[train_rows], cfg.cv, seed)
>>> p_cal = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6]]); y_cal = np.array([0, 0, 1, 1])
>>> q = platt_mapped(np.array([[0.6, 0.4]]), p_cal, y_cal, cal_patients=["a", "b", "c", "d"], test_patients=["t"])
>>> q.shape, bool(np.allclose(q.sum(axis=1), 1.0))
((1, 2), True)
"""
from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.special import logit
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.utils.validation import has_fit_parameter

from gliograde.config import CVCfg
from gliograde.errors import InputError
from gliograde.splits import group_keys, inner_splits


def recalibrated(model: Any, X: npt.NDArray[np.float64], y: npt.NDArray[np.int64], patient_ids: npt.ArrayLike,
                 cv: CVCfg, seed: int, groups: npt.ArrayLike | None = None) -> Any:
    """``model`` as fitted (``cv.recalibrate`` ``none``), or a Platt-recalibrated copy fitted on these training
    rows only (``platt``): an estimator with ``predict_proba`` and ``classes_``. ``groups``: the person of each
    row (:attr:`gliograde.data.dataset.Cohort.groups`), kept on one side of every inner split."""
    if cv.recalibrate == "none":
        return model
    splits = inner_splits(patient_ids, y, "inner_cv", cv.selection.inner_folds, seed, groups=groups)
    cal = CalibratedClassifierCV(clone(model), method="sigmoid", cv=splits, ensemble=False)
    # groups reach the model's fit on every inner part (sliced by sklearn), so its own inner CVs split by group too
    params = {"groups": group_keys(patient_ids, groups)} if has_fit_parameter(model, "groups") else {}
    return cal.fit(X, y, **params)


class _GivenProbabilities(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """A "model" whose input is already its class probabilities (N, K): lets ``CalibratedClassifierCV`` fit its
    sigmoid on a CNN's predictions, so CNN and sklearn configurations share one Platt implementation.

    ``decision_function`` is the log-odds of each class's probability (one-vs-rest; the positive class's for two
    grades, as sklearn expects of a binary decision function): the sigmoid is then a logistic recalibration of
    the log-odds, ``expit(a * logit(p) + b)``, the form the report's calibration slope measures.
    """

    def __init__(self, n_classes: int = 2) -> None:
        self.n_classes = n_classes

    def fit(self, X: npt.ArrayLike, y: npt.ArrayLike) -> _GivenProbabilities:
        self.classes_ = np.arange(self.n_classes)
        return self

    def predict_proba(self, X: npt.ArrayLike) -> npt.NDArray[np.float64]:
        return np.asarray(X, dtype=np.float64)

    def predict(self, X: npt.ArrayLike) -> npt.NDArray[np.int64]:
        return np.asarray(np.argmax(np.asarray(X), axis=1), dtype=np.int64)

    def decision_function(self, X: npt.ArrayLike) -> npt.NDArray[np.float64]:
        p = np.clip(np.asarray(X, dtype=np.float64), 1e-12, 1 - 1e-12)  # a saturated softmax gives exact 0 / 1
        scores: npt.NDArray[np.float64] = logit(p)
        return scores[:, 1] if self.n_classes == 2 else scores


def platt_mapped(proba: npt.NDArray[np.float64], cal_proba: npt.NDArray[np.float64], cal_labels: npt.ArrayLike, *,
                 cal_patients: npt.ArrayLike, test_patients: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """``proba`` (N, K), recalibrated by a Platt fit on ``cal_proba`` (M, K) and their grades ``cal_labels``
    (class indices 0..K-1): per grade a logistic fit on the log-odds of its probability, one-vs-rest, then
    renormalised so rows sum to 1: sklearn's ``CalibratedClassifierCV(method="sigmoid")`` itself, the sklearn
    configurations' recalibration, on a frozen pass-through of the given probabilities.

    Platt rather than temperature scaling: ``--recalibrate platt`` then means one thing for every configuration,
    and it fits per grade the slope and intercept the report's calibration check measures (a temperature fixes
    the intercept at 0 and shares one slope between grades).

    ``cal_patients`` / ``test_patients``: the patient of each calibration / predicted row; the fit refuses a
    test patient among its calibration rows (the test fold must never shape its own calibration).

    Raises:
        InputError: a grade has no calibration row (no sigmoid can be fitted for it).
    """
    if np.intersect1d(np.asarray(cal_patients), np.asarray(test_patients)).size:
        raise AssertionError("a test patient is among the calibration patients")  # callers pass training patients
    y = np.asarray(cal_labels, dtype=np.int64)
    k = proba.shape[1]
    if missing := sorted(set(range(k)) - set(y.tolist())):
        raise InputError(f"cv --recalibrate platt: the {len(y)} calibration rows have no row of grade index "
                         f"{missing}; use a larger --val-fraction, fewer --folds, or --recalibrate none")
    frozen = FrozenEstimator(_GivenProbabilities(k).fit(cal_proba, y))
    every = np.arange(len(y))  # one "split" holding every row: the frozen pass-through predicts them as given
    cal = CalibratedClassifierCV(frozen, method="sigmoid", cv=[(every, every)], ensemble=False)
    cal.fit(np.asarray(cal_proba, dtype=np.float64), y)
    out: npt.NDArray[np.float64] = cal.predict_proba(np.asarray(proba, dtype=np.float64))
    return out
