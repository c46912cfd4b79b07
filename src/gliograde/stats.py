"""Statistics on predictions: DeLong's test, percentile bootstrap, calibration.

* :func:`delong_test`: paired two-sided DeLong test of two correlated AUCs (DeLong et al. 1988,
  Biometrics 44:837), computed with the fast midrank algorithm of Sun & Xu (2014, IEEE Signal
  Processing Letters 21:1389). Matches pROC's ``roc.test(..., method="delong")``.
* :func:`delong_multiclass`: one DeLong test per grade (one-vs-rest) plus a single "macro" p.
* :func:`bootstrap_ci`: percentile bootstrap of any metric, resampling patients when given groups (a cluster
  bootstrap: a patient's rows, its slices or augmented copies, are drawn together); :func:`resampling_units` says
  what was resampled, for the CI's caption.
* :func:`expected_calibration_error`, :func:`reliability_curve`: top-label calibration.

>>> import numpy as np
>>> r = delong_test(np.array([0, 0, 1, 1]), np.array([.1, .4, .35, .8]), np.array([.1, .4, .35, .8]))
>>> r["auc_a"], r["p"]
(0.75, 1.0)
"""
from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.special import expit
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


def resampling_units(groups: npt.ArrayLike | None, n: int) -> dict[str, Any]:
    """What :func:`bootstrap_ci` resamples with these ``groups``, for a CI's caption: whole groups (a cluster
    bootstrap by patient) or single rows, how many, and how many rows each group brings along.

    Args:
        groups: (N,) group id per row (patient id), or None (rows resampled one by one).
        n: the number of rows N.

    Returns:
        ``{"unit": "patient" | "row", "n_units", "n_rows", "rows_per_unit": [min, max]}``.

    >>> resampling_units(["a", "a", "a", "b"], 4)
    {'unit': 'patient', 'n_units': 2, 'n_rows': 4, 'rows_per_unit': [1, 3]}
    """
    if groups is None:
        return {"unit": "row", "n_units": int(n), "n_rows": int(n), "rows_per_unit": [1, 1]}
    sizes = [r.size for r in _group_rows(groups, n)]
    return {"unit": "patient", "n_units": len(sizes), "n_rows": int(n), "rows_per_unit": [min(sizes), max(sizes)]}


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
        logger.info("bootstrap of %s: %d of %d resamples skipped (a grade was missing)",
                    getattr(metric, "__name__", "the metric"), skipped, n_boot)  # named: one line per metric
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


# --- Calibration: slope and intercept (logistic recalibration), curve with patient-bootstrap bands, Brier ---


def brier_score(y: npt.ArrayLike, proba: npt.ArrayLike, classes: Sequence[int]) -> float:
    """Brier score: mean over rows of sum_k (p_k - [y = k])^2, halved for two grades so that it is the usual
    binary Brier score of the higher grade (sklearn's ``brier_score_loss``); 0 is perfect, in [0, 2].

    >>> round(brier_score([2, 3], [[.9, .1], [.2, .8]], (2, 3)), 4)
    0.025
    """
    p = np.asarray(proba, dtype=np.float64)
    onehot = np.asarray(y).reshape(-1, 1) == np.asarray(classes).reshape(1, -1)
    per = ((p - onehot) ** 2).sum(axis=1)
    return float(per.mean() / (2 if len(classes) == 2 else 1))


#: Predicted probabilities are clipped to [EPS, 1 - EPS] before their log-odds are taken.
EPS = 1e-6
#: Where the calibration curve (and its bootstrap band) is evaluated.
CURVE_GRID = tuple(float(x) for x in np.round(np.linspace(0.02, 0.98, 49), 4))


def _logit(p: FloatArray) -> FloatArray:
    q = np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)
    return np.asarray(np.log(q / (1 - q)))


def _logistic(x: FloatArray | None, y: FloatArray, offset: FloatArray, iters: int = 50) -> tuple[FloatArray, bool]:
    """Maximum-likelihood (intercept[, slope]) of logit P(y=1) = a + b x + offset by Newton-Raphson, and whether
    it converged.

    Hand-written because the calibration intercept needs an offset term, which sklearn's LogisticRegression
    lacks (and statsmodels is not a dependency); two parameters converge in a few steps. Under separation
    (a perfectly ranked resample) the likelihood has no maximum: the steps never shrink, and it reports False.
    """
    X = np.ones((y.size, 1)) if x is None else np.column_stack([np.ones(y.size), x])
    beta = np.zeros(X.shape[1])
    for _ in range(iters):
        mu = expit(X @ beta + offset)
        w = mu * (1 - mu)
        hess = X.T @ (X * w[:, None]) + 1e-9 * np.eye(X.shape[1])
        step = np.linalg.solve(hess, X.T @ (y - mu))
        beta = beta + step
        if np.abs(step).max() < 1e-8:
            return beta, True
    return beta, False


def calibration_fit(y_binary: npt.ArrayLike, p: npt.ArrayLike) -> dict[str, float]:
    """Logistic recalibration of predicted probabilities ``p`` of an event ``y_binary`` (Van Calster et al.,
    BMC Med 2019): the slope b of logit P(y) = a + b logit(p) (1 = ideal; < 1: predictions too extreme), and
    the calibration intercept (calibration-in-the-large) a of logit P(y) = a + logit(p) with the slope fixed
    at 1 (0 = ideal; > 0: risks underestimated on average). ``a_slope`` is the intercept of the slope model.
    Perfectly separated outcomes (every event ranked above every non-event) have no finite slope: it is then
    +inf (``separated`` True).

    >>> r = calibration_fit([0, 0, 1, 1, 0, 1], [.2, .4, .6, .8, .5, .3])
    >>> round(r["slope"], 3), round(r["intercept"], 3)  # as sklearn's unpenalised LogisticRegression on logit(p)
    (1.467, 0.158)
    """
    y = np.asarray(y_binary, dtype=np.float64).reshape(-1)
    lp = _logit(np.asarray(p, dtype=np.float64).reshape(-1))
    (a, b), converged = _logistic(lp, y, np.zeros(y.size))
    (a0,), _ = _logistic(None, y, lp)  # one parameter with an offset: finite whenever y holds both outcomes
    if not converged:
        b = math.copysign(math.inf, b)
    return {"slope": float(b), "a_slope": float(a), "intercept": float(a0), "separated": not converged}


def _curve(fit: Mapping[str, float]) -> FloatArray:
    """The recalibrated probability at each point of :data:`CURVE_GRID`: expit(a + b logit(grid))."""
    if not math.isfinite(fit["slope"]):  # separated: a step at the data's threshold, no curve to draw
        return np.full(len(CURVE_GRID), np.nan)
    return np.asarray(expit(fit["a_slope"] + fit["slope"] * _logit(np.asarray(CURVE_GRID))))


def _bins(yb: FloatArray, p: FloatArray, n_bins: int) -> dict[str, list[float]]:
    """Observed event rate against mean predicted probability in quantile bins of the prediction."""
    order = np.argsort(p, kind="stable")
    parts = [part for part in np.array_split(order, min(n_bins, p.size)) if part.size]
    return {"predicted": [float(p[i].mean()) for i in parts], "observed": [float(yb[i].mean()) for i in parts],
            "count": [int(i.size) for i in parts]}


def calibration(y_true: npt.ArrayLike, proba: npt.ArrayLike, classes: Sequence[int], *,
                groups: npt.ArrayLike | None = None, n_boot: int = 2000, seed: int = 0, alpha: float = 0.05,
                n_bins: int = 5) -> dict[str, Any]:
    """Calibration slope and intercept with percentile-bootstrap CIs, the logistic calibration curve with its
    bootstrap band, binned observed rates and the Brier score.

    Two grades: the higher grade's probability; three or more: one-vs-rest per grade. The bootstrap draws whole
    patients when ``groups`` is given (:func:`bootstrap_ci`'s resampler), skipping resamples without both
    outcomes of a grade. ``n_boot`` 0: no CIs or band.

    Returns:
        ``{"brier", "n_boot", "alpha", "grid": CURVE_GRID, "per_grade": {grade: {"slope", "slope_ci",
        "intercept", "intercept_ci", "curve", "band": [lo, hi] per grid point, "bins", "n_boot_used",
        "separated"}}}`` (CIs and band None without a bootstrap; ``separated``: resamples whose slope is unbounded,
        so a slope bound falling among them is inf, null in JSON, shown as "unbounded").

    >>> c = calibration([2, 2, 3, 3, 2, 3], [[.8, .2], [.6, .4], [.4, .6], [.2, .8], [.5, .5], [.7, .3]], (2, 3),
    ...                 n_boot=0)
    >>> list(c["per_grade"]), round(c["per_grade"][3]["slope"], 3)
    ([3], 1.467)
    """
    y, p, cls = check_inputs(y_true, proba, classes)
    grades = [cls[1]] if len(cls) == 2 else list(cls)
    group_rows = None if groups is None else _group_rows(groups, y.size)
    rng = np.random.default_rng(seed)
    per: dict[int, dict[str, Any]] = {}
    for g in grades:
        k = cls.index(g)
        yb, pk = (y == g).astype(np.float64), p[:, k]
        fit = calibration_fit(yb, pk)
        entry: dict[str, Any] = {"slope": fit["slope"], "intercept": fit["intercept"],
                                 "curve": _curve(fit).tolist(), "bins": _bins(yb, pk, n_bins),
                                 "slope_ci": None, "intercept_ci": None, "band": None, "n_boot_used": 0,
                                 "separated": 0}
        boots: list[tuple[float, float, FloatArray]] = []
        for _ in range(n_boot):
            idx = _resample_rows(rng, y.size, group_rows)
            if yb[idx].min() == yb[idx].max():
                continue
            f = calibration_fit(yb[idx], pk[idx])
            boots.append((f["slope"], f["intercept"], _curve(f)))
        if n_boot and len(boots) >= n_boot / 2:
            q = [alpha / 2, 1 - alpha / 2]
            # order statistics, no interpolation: a bound among separated resamples is +-inf (unbounded), not NaN
            entry["slope_ci"] = np.quantile([b[0] for b in boots], q, method="inverted_cdf").tolist()
            entry["intercept_ci"] = np.quantile([b[1] for b in boots], q).tolist()
            curves = [b[2] for b in boots if np.isfinite(b[0])]  # a separated resample has no curve
            entry["band"] = np.quantile(np.stack(curves), q, axis=0).tolist() if len(curves) >= n_boot / 2 else None
            entry["n_boot_used"] = len(boots)
            entry["separated"] = int(sum(not np.isfinite(b[0]) for b in boots))
        per[g] = entry
    return {"brier": brier_score(y, p, cls), "n_boot": n_boot, "alpha": alpha, "grid": list(CURVE_GRID),
            "per_grade": per}
