"""Statistics on predictions: DeLong's test, percentile bootstrap, calibration.

* :func:`delong_test`: paired two-sided DeLong test of two correlated AUCs (DeLong et al. 1988,
  Biometrics 44:837), computed with the fast midrank algorithm of Sun & Xu (2014, IEEE Signal
  Processing Letters 21:1389). Matches pROC's ``roc.test(..., method="delong")``.
* :func:`delong_multiclass`: one DeLong test per grade (one-vs-rest) plus a single "macro" p.
* :func:`bootstrap_ci`: percentile bootstrap of any metric, resampling patients when given groups.
* :func:`expected_calibration_error`, :func:`reliability_curve`: top-label calibration.

>>> import numpy as np
>>> r = delong_test(np.array([0, 0, 1, 1]), np.array([.1, .4, .35, .8]), np.array([.1, .4, .35, .8]))
>>> r["auc_a"], r["p"]
(0.75, 1.0)
"""
from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.stats import norm, rankdata

from gliograde.metrics import check_inputs, predict_grades

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
Metric = Callable[[npt.NDArray[np.int64], FloatArray, tuple[int, ...]], float]


def _structural_components(y: npt.NDArray[np.bool_], scores: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Sun & Xu's midrank form of DeLong's placement values.

    Args:
        y: (N,) bool, True for positives (m of them), False for negatives (n).
        scores: (R, N) float, one row per rater/model.

    Returns:
        aucs (R,), v10 (R, m) positive placements, v01 (R, n) negative placements.
    """
    pos, neg = scores[:, y], scores[:, ~y]
    m, n = pos.shape[1], neg.shape[1]
    tx = rankdata(pos, axis=1)
    ty = rankdata(neg, axis=1)
    tz = rankdata(np.concatenate([pos, neg], axis=1), axis=1)
    v10 = (tz[:, :m] - tx) / n
    v01 = 1.0 - (tz[:, m:] - ty) / m
    aucs = v10.mean(axis=1)
    return aucs, v10, v01


def _binary_labels(y_true: npt.ArrayLike, n: int) -> npt.NDArray[np.bool_]:
    y = np.asarray(y_true).reshape(-1)
    if y.size != n:
        raise ValueError(f"y_true has {y.size} samples but the scores have {n}")
    values = set(np.unique(y).tolist())
    if not values <= {0, 1}:  # False == 0 and True == 1, so bool labels pass too
        raise ValueError(f"y_true must be binary (0/1 or bool), got values {sorted(values)}")
    yb = y.astype(bool)
    if yb.all() or not yb.any():
        raise ValueError(
            f"DeLong test needs positive and negative samples; got {int(yb.sum())} positive of {yb.size}"
        )
    return yb


def delong_variance(y_true_binary: npt.ArrayLike, score: npt.ArrayLike) -> tuple[float, float]:
    """AUC and its DeLong variance for one score (pROC's ``var(roc(...))``).

    Args:
        y_true_binary: (N,) 0/1 or bool; 1 = positive.
        score: (N,) float, higher means more likely positive.

    Returns:
        (auc, variance).
    """
    s = np.asarray(score, dtype=np.float64).reshape(1, -1)
    y = _binary_labels(y_true_binary, s.shape[1])
    aucs, v10, v01 = _structural_components(y, s)
    var = float(np.var(v10, ddof=1) / v10.shape[1] + np.var(v01, ddof=1) / v01.shape[1])
    return float(aucs[0]), var


def delong_test(y_true_binary: npt.ArrayLike, score_a: npt.ArrayLike, score_b: npt.ArrayLike) -> dict[str, float]:
    """Paired two-sided DeLong test of AUC(a) = AUC(b) on the same samples.

    Args:
        y_true_binary: (N,) 0/1 or bool; 1 = positive.
        score_a, score_b: (N,) float scores of the two models for the same samples, same order.

    Returns:
        ``{"auc_a", "auc_b", "diff" (= auc_a - auc_b), "se" (of diff), "z", "p", "n_pos", "n_neg"}``.
        Identical scores give z = 0, p = 1. A zero variance with a non-zero difference gives p = 0.

    Raises:
        ValueError: non-binary labels, a single class, or mismatched lengths.

    >>> r = delong_test([0, 0, 1, 1], [.1, .2, .3, .4], [.4, .3, .2, .1])
    >>> r["auc_a"], r["auc_b"]
    (1.0, 0.0)
    """
    a = np.asarray(score_a, dtype=np.float64).reshape(-1)
    b = np.asarray(score_b, dtype=np.float64).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"score_a has {a.size} samples but score_b has {b.size}; align them by patient first")
    y = _binary_labels(y_true_binary, a.size)
    aucs, v10, v01 = _structural_components(y, np.stack([a, b]))
    cov = np.cov(v10) / v10.shape[1] + np.cov(v01) / v01.shape[1]
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    diff = float(aucs[0] - aucs[1])
    if var <= 1e-300:
        z = 0.0 if abs(diff) < 1e-15 else math.copysign(math.inf, diff)
    else:
        z = diff / math.sqrt(var)
    p = float(2 * norm.sf(abs(z)))
    return {"auc_a": float(aucs[0]), "auc_b": float(aucs[1]), "diff": diff, "se": math.sqrt(max(var, 0.0)),
            "z": z, "p": p, "n_pos": int(y.sum()), "n_neg": int((~y).sum())}


def roc_auc_fast(y_true: npt.ArrayLike, proba: npt.ArrayLike, classes: Sequence[int]) -> float:
    """Same value as :func:`gliograde.metrics.roc_auc` (binary AUC of the higher grade for K = 2,
    macro one-vs-rest for K >= 3), from midranks; several times faster, for bootstrap loops.

    Raises:
        ValueError: a grade is absent from ``y_true``.

    >>> roc_auc_fast([2, 3, 3], [[.8, .2], [.3, .7], [.6, .4]], (2, 3))
    1.0
    """
    y = np.asarray(y_true).reshape(-1)
    p = np.asarray(proba, dtype=np.float64)
    cls = tuple(int(c) for c in classes)
    cols = [(cls[1], 1)] if len(cls) == 2 else [(c, k) for k, c in enumerate(cls)]
    ranks = rankdata(p[:, [k for _, k in cols]], axis=0)
    aucs = []
    for j, (c, _) in enumerate(cols):
        pos = y == c
        m = int(pos.sum())
        n = y.size - m
        if m == 0 or n == 0:
            raise ValueError(f"AUC of grade {c} vs rest is undefined: {m} positive and {n} negative samples")
        aucs.append((ranks[pos, j].sum() - m * (m + 1) / 2) / (m * n))
    return float(np.mean(aucs))


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values (same order as given), capped at 1.

    >>> holm([0.01, 0.04, 0.02])
    [0.03, 0.04, 0.04]
    """
    p = np.asarray(pvalues, dtype=np.float64)
    order = np.argsort(p)
    k = p.size
    adj = np.maximum.accumulate(p[order] * (k - np.arange(k)))
    out = np.empty(k)
    out[order] = np.minimum(adj, 1.0)
    return [float(v) for v in out]


def delong_multiclass(
    y_true: npt.ArrayLike, proba_a: npt.ArrayLike, proba_b: npt.ArrayLike, classes: Sequence[int]
) -> dict[str, Any]:
    """DeLong tests of two models per grade (one-vs-rest) and overall.

    The macro p is formed as follows.

    * K = 2: the two one-vs-rest tests are the same test, so ``macro`` is the binary DeLong test of the
      higher grade (``method: "binary"``).
    * K >= 3: ``macro.diff`` is the difference of the macro one-vs-rest AUCs. ``macro.p`` is the
      Holm-adjusted smallest per-grade p, i.e. min(1, K x min p): a test of the global null that no
      grade's one-vs-rest AUC differs (``method: "holm-min"``). The covariance between one-vs-rest AUCs
      of different grades has no standard DeLong estimate, hence this conservative choice.

    Args:
        y_true: (N,) grade values.
        proba_a, proba_b: (N, K) probabilities of the two models for the same samples, ``classes`` order.
        classes: the K grades.

    Returns:
        ``{"per_class": {grade: delong_test dict + "p_holm"}, "macro": {"auc_a", "auc_b", "diff", "p", "method"}}``
    """
    y, pa, cls = check_inputs(y_true, proba_a, classes)
    _, pb, _ = check_inputs(y, proba_b, cls)
    per = {c: delong_test(y == c, pa[:, k], pb[:, k]) for k, c in enumerate(cls)}
    for c, p_adj in zip(cls, holm([per[c]["p"] for c in cls]), strict=True):
        per[c]["p_holm"] = p_adj
    if len(cls) == 2:
        top = per[cls[1]]
        macro = {"auc_a": top["auc_a"], "auc_b": top["auc_b"], "diff": top["diff"], "z": top["z"], "p": top["p"],
                 "method": "binary"}
    else:
        auc_a = float(np.mean([per[c]["auc_a"] for c in cls]))
        auc_b = float(np.mean([per[c]["auc_b"] for c in cls]))
        macro = {"auc_a": auc_a, "auc_b": auc_b, "diff": auc_a - auc_b,
                 "p": min(per[c]["p_holm"] for c in cls), "method": "holm-min"}
    return {"per_class": per, "macro": macro}


def _resample_rows(
    rng: np.random.Generator, n: int, group_rows: list[npt.NDArray[np.intp]] | None
) -> npt.NDArray[np.intp]:
    if group_rows is None:
        return rng.integers(0, n, n)
    pick = rng.integers(0, len(group_rows), len(group_rows))
    return np.concatenate([group_rows[g] for g in pick])


def _group_rows(groups: npt.ArrayLike, n: int) -> list[npt.NDArray[np.intp]]:
    """Row indices of each distinct group (sorted group order), for resampling whole patients."""
    g = np.asarray(groups).reshape(-1)
    if g.size != n:
        raise ValueError(f"groups has {g.size} entries but y_true has {n}")
    _, inverse = np.unique(g, return_inverse=True)
    return [np.flatnonzero(inverse == i) for i in range(int(inverse.max()) + 1)]


def bootstrap_ci(
    y_true: npt.ArrayLike,
    proba: npt.ArrayLike,
    classes: Sequence[int],
    metric: Metric,
    n_boot: int = 2000,
    alpha: float = 0.05,
    seed: int = 0,
    groups: npt.ArrayLike | None = None,
) -> tuple[float, float, float]:
    """Percentile bootstrap confidence interval of ``metric(y_true, proba, classes)``.

    Resamples rows, or whole groups (patients) when ``groups`` is given, so that the several rows of
    one patient (augmented copies, slices) stay together. Resamples that miss a grade are skipped
    (AUC is undefined there), and their number is logged.

    Args:
        y_true: (N,) grade values.
        proba: (N, K) probabilities in ``classes`` order.
        classes: the K grades.
        metric: ``f(y (N,) int64, proba (N, K) float64, classes tuple) -> float``, e.g.
            :func:`gliograde.metrics.roc_auc` or :func:`gliograde.metrics.accuracy`.
        n_boot: number of resamples.
        alpha: 1 - confidence level (0.05 gives a 95% interval).
        seed: seed of the resampling generator; same seed, same interval.
        groups: (N,) group id per row (patient id), or None to resample rows.

    Returns:
        (point estimate on all data, lower bound, upper bound).

    Raises:
        ValueError: bad arguments, or fewer than half the resamples usable.

    >>> from gliograde.metrics import accuracy
    >>> bootstrap_ci([2, 3, 2, 3], [[.9, .1], [.2, .8], [.6, .4], [.7, .3]], (2, 3), accuracy, n_boot=50)[0]
    0.75
    """
    y, p, cls = check_inputs(y_true, proba, classes)
    if n_boot < 1 or not 0.0 < alpha < 1.0:
        raise ValueError(f"need n_boot >= 1 and 0 < alpha < 1, got n_boot={n_boot}, alpha={alpha}")
    group_rows = None if groups is None else _group_rows(groups, y.size)
    point = float(metric(y, p, cls))
    rng = np.random.default_rng(seed)
    values: list[float] = []
    for _ in range(n_boot):
        idx = _resample_rows(rng, y.size, group_rows)
        yb = y[idx]
        if np.unique(yb).size < len(cls):
            continue
        values.append(float(metric(yb, p[idx], cls)))
    skipped = n_boot - len(values)
    if skipped:
        logger.info("bootstrap: %d of %d resamples skipped (a grade was missing)", skipped, n_boot)
    if len(values) < n_boot / 2:
        raise ValueError(f"only {len(values)} of {n_boot} bootstrap resamples held every grade; too few samples")
    lo, hi = np.quantile(np.asarray(values), [alpha / 2, 1 - alpha / 2])
    return point, float(lo), float(hi)


def _top_label(y_true: npt.ArrayLike, proba: npt.ArrayLike, classes: Sequence[int], n_bins: int
               ) -> tuple[FloatArray, FloatArray, npt.NDArray[np.intp]]:
    y, p, cls = check_inputs(y_true, proba, classes)
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    conf = p.max(axis=1)
    correct = (predict_grades(p, cls) == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # bins are (lo, hi]; confidence 0 falls in the first bin
    bins = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, n_bins - 1)
    return conf, correct, bins


def reliability_curve(
    y_true: npt.ArrayLike, proba: npt.ArrayLike, classes: Sequence[int], n_bins: int = 10
) -> dict[str, list[float]]:
    """Top-label reliability diagram data over ``n_bins`` equal-width confidence bins (lo, hi].

    Args:
        y_true: (N,) grade values.
        proba: (N, K) probabilities in ``classes`` order.
        classes: the K grades.
        n_bins: number of bins on [0, 1].

    Returns:
        ``{"edges": n_bins + 1 floats, "confidence": mean top probability per bin,
        "accuracy": fraction correct per bin, "count": samples per bin}``; empty bins hold NaN.
    """
    conf, correct, bins = _top_label(y_true, proba, classes, n_bins)
    count = np.bincount(bins, minlength=n_bins).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(bins, weights=conf, minlength=n_bins) / count
        acc = np.bincount(bins, weights=correct, minlength=n_bins) / count
    return {"edges": np.linspace(0.0, 1.0, n_bins + 1).tolist(), "confidence": mean_conf.tolist(),
            "accuracy": acc.tolist(), "count": count.astype(int).tolist()}


def expected_calibration_error(
    y_true: npt.ArrayLike, proba: npt.ArrayLike, classes: Sequence[int], n_bins: int = 10
) -> float:
    """Top-label expected calibration error (Guo et al. 2017): sum_b (n_b / N) |acc_b - conf_b|.

    Args:
        y_true: (N,) grade values.
        proba: (N, K) probabilities in ``classes`` order.
        classes: the K grades.
        n_bins: equal-width confidence bins (lo, hi] on [0, 1].

    Returns:
        ECE in [0, 1]; 0 means the top probability matches the accuracy in every bin.

    >>> expected_calibration_error([2, 2, 2, 3], [[.75, .25]] * 4, (2, 3))
    0.0
    """
    conf, correct, bins = _top_label(y_true, proba, classes, n_bins)
    total = 0.0
    for b in np.unique(bins):
        sel = bins == b
        total += sel.sum() * abs(correct[sel].mean() - conf[sel].mean())
    return float(total / conf.size)
