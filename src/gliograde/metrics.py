"""Classification metrics for graded predictions: pure functions over arrays, built on scikit-learn.

Every function takes the true grades ``y_true`` (N,) (grade *values*, e.g. 2, 3, 4) and the
predicted probabilities ``proba`` (N, K), whose columns follow ``classes`` (e.g. ``(2, 3, 4)``).
The predicted grade is ``classes[argmax(proba)]`` (ties go to the lower grade). Everything works
for K = 2 and K = 3.

AUC conventions:

* K = 2: the usual binary AUC, with the higher grade as the positive class and ``proba[:, 1]`` as
  its score (the one-vs-rest AUC of either grade is the same number).
* K >= 3: the macro average of the one-vs-rest AUCs (sklearn ``multi_class="ovr", average="macro"``).
* A grade absent from ``y_true`` makes AUC undefined: :func:`roc_auc` raises ``ValueError``.
  :func:`compute_metrics` catches that, stores NaN and adds a line to ``warnings``, so one small
  CV fold does not sink a whole report; the fold summaries then average over the folds where
  AUC exists and say how many that was (``n``).

>>> import numpy as np
>>> m = compute_metrics(np.array([2, 2, 3, 3]), np.array([[.9, .1], [.4, .6], [.3, .7], [.2, .8]]), (2, 3))
>>> m["accuracy"], m["auc"]
(0.75, 1.0)
"""
from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.metrics import confusion_matrix, roc_auc_score, roc_curve

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]


def check_inputs(
    y_true: npt.ArrayLike, proba: npt.ArrayLike, classes: Sequence[int]
) -> tuple[npt.NDArray[np.int64], FloatArray, tuple[int, ...]]:
    """Validate and convert ``(y_true, proba, classes)``.

    Args:
        y_true: (N,) grade values, each one of ``classes``.
        proba: (N, K) probabilities, columns in ``classes`` order, finite.
        classes: K >= 2 distinct grades, in column order.

    Returns:
        ``y_true`` as int64 (N,), ``proba`` as float64 (N, K), ``classes`` as a tuple of int.

    Raises:
        ValueError: shapes disagree, N = 0, K < 2, non-finite scores or a label not in ``classes``.
    """
    cls = tuple(int(c) for c in classes)
    y = np.asarray(y_true).astype(np.int64).reshape(-1)
    p = np.asarray(proba, dtype=np.float64)
    if len(cls) < 2 or len(set(cls)) != len(cls):
        raise ValueError(f"classes must hold at least 2 distinct grades, got {cls}")
    if p.ndim != 2 or p.shape != (y.size, len(cls)):
        raise ValueError(f"proba has shape {p.shape}; expected (N, K) = ({y.size}, {len(cls)}) for classes {cls}")
    if y.size == 0:
        raise ValueError("no samples: y_true is empty")
    if not np.isfinite(p).all():
        raise ValueError("proba holds NaN or infinite values; check the model outputs")
    unknown = sorted(set(np.unique(y).tolist()) - set(cls))
    if unknown:
        raise ValueError(f"labels {unknown} are not among classes {cls}; fix the label column or the class list")
    return y, p, cls


def predict_grades(proba: npt.ArrayLike, classes: Sequence[int]) -> npt.NDArray[np.int64]:
    """Grade with the highest probability, (N,) int64 (ties go to the earlier column)."""
    grades: npt.NDArray[np.int64] = np.asarray(classes, dtype=np.int64)[np.argmax(np.asarray(proba), axis=1)]
    return grades


def _binary_auc(y_bin: npt.NDArray[np.bool_], score: FloatArray, what: str) -> float:
    n_pos = int(y_bin.sum())
    if n_pos == 0 or n_pos == y_bin.size:
        present = "positive" if n_pos else "negative"
        raise ValueError(
            f"AUC for {what} is undefined: only {present} samples present ({y_bin.size} samples, {n_pos} positive); "
            "every grade must occur in the evaluated set (use fewer folds or pool the out-of-fold predictions)"
        )
    return float(roc_auc_score(y_bin, score))


def roc_auc(y_true: npt.ArrayLike, proba: npt.ArrayLike, classes: Sequence[int]) -> float:
    """AUC: binary AUC of the higher grade for K = 2, macro one-vs-rest AUC for K >= 3.

    Args:
        y_true: (N,) grade values.
        proba: (N, K) probabilities in ``classes`` order.
        classes: the K grades.

    Returns:
        AUC in [0, 1].

    Raises:
        ValueError: a grade of ``classes`` is absent from ``y_true`` (AUC undefined).

    >>> roc_auc([2, 3, 3], [[.8, .2], [.3, .7], [.6, .4]], (2, 3))
    1.0
    """
    y, p, cls = check_inputs(y_true, proba, classes)
    if len(cls) == 2:
        return _binary_auc(y == cls[1], p[:, 1], f"grade {cls[1]} vs {cls[0]}")
    return float(np.mean([_binary_auc(y == c, p[:, k], f"grade {c} vs rest") for k, c in enumerate(cls)]))


def accuracy(y_true: npt.ArrayLike, proba: npt.ArrayLike, classes: Sequence[int]) -> float:
    """Fraction of samples whose argmax grade equals the true grade, in [0, 1]."""
    y, p, cls = check_inputs(y_true, proba, classes)
    return float(np.mean(predict_grades(p, cls) == y))


def _per_class(y: npt.NDArray[np.int64], p: FloatArray, cls: tuple[int, ...],
               cm: npt.NDArray[np.int64], warnings: list[str]) -> dict[int, dict[str, float]]:
    n = int(cm.sum())
    out: dict[int, dict[str, float]] = {}
    for k, c in enumerate(cls):
        tp = int(cm[k, k])
        fn = int(cm[k, :].sum()) - tp
        fp = int(cm[:, k].sum()) - tp
        tn = n - tp - fn - fp
        try:
            auc = _binary_auc(y == c, p[:, k], f"grade {c} vs rest")
        except ValueError as err:
            auc = math.nan
            warnings.append(str(err))
        out[c] = {
            "accuracy": (tp + tn) / n,
            "sensitivity": tp / (tp + fn) if tp + fn else math.nan,
            "specificity": tn / (tn + fp) if tn + fp else math.nan,
            "auc": auc,
        }
    return out


def compute_metrics(y_true: npt.ArrayLike, proba: npt.ArrayLike, classes: Sequence[int]) -> dict[str, Any]:
    """All per-set metrics of one prediction table (one fold, or the pooled out-of-fold set).

    Args:
        y_true: (N,) grade values, each in ``classes``.
        proba: (N, K) float probabilities, columns in ``classes`` order (rows need not sum to 1).
        classes: the K >= 2 grades, e.g. ``(2, 3)`` or ``(2, 3, 4)``.

    Returns:
        ``{"n": N, "accuracy": float, "auc": float (NaN when undefined),
        "per_class": {grade: {"accuracy", "sensitivity", "specificity", "auc"}}`` (one-vs-rest; the
        per-class accuracy is (TP + TN) / N), ``"confusion": K x K list`` (rows = true grade,
        columns = predicted grade, both in ``classes`` order), ``"warnings": [str]``}.
        Undefined ratios (no positive or no negative sample) are NaN and named in ``warnings``.

    >>> m = compute_metrics([2, 3, 3], [[.8, .2], [.3, .7], [.6, .4]], (2, 3))
    >>> m["confusion"], m["per_class"][3]["sensitivity"]
    ([[1, 0], [1, 1]], 0.5)
    """
    y, p, cls = check_inputs(y_true, proba, classes)
    pred = predict_grades(p, cls)
    cm = confusion_matrix(y, pred, labels=list(cls))
    warnings: list[str] = []
    try:
        auc = roc_auc(y, p, cls)
    except ValueError as err:
        auc = math.nan
        warnings.append(str(err))
    per_class = _per_class(y, p, cls, cm, warnings)
    for c, d in per_class.items():
        for key in ("sensitivity", "specificity"):
            if math.isnan(d[key]):
                kind = "positive" if key == "sensitivity" else "negative"
                warnings.append(f"{key} of grade {c} is undefined (no {kind} sample)")
    if warnings:
        logger.debug("compute_metrics: %s", "; ".join(dict.fromkeys(warnings)))
    return {
        "n": int(y.size),
        "accuracy": float(np.mean(pred == y)),
        "auc": auc,
        "per_class": per_class,
        "confusion": cm.astype(int).tolist(),
        "warnings": list(dict.fromkeys(warnings)),
    }


def roc_curves(
    y_true: npt.ArrayLike, proba: npt.ArrayLike, classes: Sequence[int]
) -> dict[int, tuple[FloatArray, FloatArray, float]]:
    """One-vs-rest ROC curve of every grade, via :func:`sklearn.metrics.roc_curve`.

    Args:
        y_true: (N,) grade values.
        proba: (N, K) probabilities in ``classes`` order.
        classes: the K grades.

    Returns:
        ``{grade: (fpr, tpr, auc)}`` with fpr, tpr float64 arrays of equal length starting at (0, 0).
        Grades that are absent (or make up every sample) are left out, with a log warning.

    >>> c = roc_curves([2, 3, 3], [[.8, .2], [.3, .7], [.6, .4]], (2, 3))
    >>> sorted(c), c[3][2]
    ([2, 3], 1.0)
    """
    y, p, cls = check_inputs(y_true, proba, classes)
    out: dict[int, tuple[FloatArray, FloatArray, float]] = {}
    for k, c in enumerate(cls):
        y_bin = y == c
        if y_bin.all() or not y_bin.any():
            logger.warning("ROC of grade %d skipped: it is %s", c, "every sample" if y_bin.all() else "absent")
            continue
        fpr, tpr, _ = roc_curve(y_bin, p[:, k])
        out[c] = (fpr.astype(np.float64), tpr.astype(np.float64), float(roc_auc_score(y_bin, p[:, k])))
    return out


def _mean_sd(values: Sequence[float]) -> dict[str, float]:
    v = np.asarray([x for x in values if not math.isnan(x)], dtype=np.float64)
    mean = float(v.mean()) if v.size else math.nan
    sd = float(v.std(ddof=1)) if v.size > 1 else math.nan
    return {"mean": mean, "sd": sd, "n": int(v.size)}


def summarise_folds(per_fold: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Mean and sample SD (ddof = 1) over folds of every float metric of :func:`compute_metrics`.

    NaN values (e.g. AUC of a fold missing a grade) are left out; ``n`` says how many folds counted.
    SD is NaN with fewer than two folds.

    Args:
        per_fold: one :func:`compute_metrics` dict per fold.

    Returns:
        ``{"n_folds": F, "accuracy": {"mean", "sd", "n"}, "auc": {...},
        "per_class": {grade: {"accuracy": {...}, "sensitivity": {...}, "specificity": {...}, "auc": {...}}}}``

    >>> s = summarise_folds([{"accuracy": .5, "auc": .6}, {"accuracy": .7, "auc": float("nan")}])
    >>> round(s["accuracy"]["mean"], 3), round(s["accuracy"]["sd"], 4), s["auc"]["n"]
    (0.6, 0.1414, 1)
    """
    if not per_fold:
        raise ValueError("summarise_folds needs at least one fold's metrics")
    out: dict[str, Any] = {"n_folds": len(per_fold)}
    # float-valued entries are metrics; ints (n, fold index) are bookkeeping
    scalar_keys = [k for k, v in per_fold[0].items() if isinstance(v, float)]
    for key in scalar_keys:
        out[key] = _mean_sd([float(f[key]) for f in per_fold])
    if "per_class" in per_fold[0]:
        out["per_class"] = {
            c: {m: _mean_sd([float(f["per_class"][c][m]) for f in per_fold]) for m in d}
            for c, d in per_fold[0]["per_class"].items()
        }
    return out


def describe(values: Sequence[float]) -> dict[str, Any]:
    """Spread of one metric over repeats of a cross-validation: every value, mean, sample SD, min, max.

    NaN values (metric undefined in that repeat) are kept in ``values`` but left out of the summary;
    ``n`` says how many counted. SD (ddof = 1) is NaN with fewer than two values.

    Args:
        values: (R,) one value per repeat, in repeat order.

    Returns:
        ``{"values": [float] * R, "mean", "sd", "min", "max": float, "n": int}``.

    >>> d = describe([0.6, 0.7, float("nan")])
    >>> round(d["mean"], 3), round(d["sd"], 4), d["min"], d["max"], d["n"]
    (0.65, 0.0707, 0.6, 0.7, 2)
    """
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    kept = v[~np.isnan(v)]
    out: dict[str, Any] = {"values": v.tolist(), **_mean_sd(kept.tolist())}
    out["min"], out["max"] = (float(kept.min()), float(kept.max())) if kept.size else (math.nan, math.nan)
    return out
