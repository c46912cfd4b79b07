"""From signs to a score and calibrated probabilities: the fixed rule, the optional monotone model, calibration.

* **Fixed rule** (default): the score is the mean of the signs used whose association with a higher grade the
  literature establishes (``Sign.weight`` 1: enhancement, necrosis, the BraTS enhancing share), each a
  proportion in [0, 1] measured in units of the patient's own reference tissue. The other signs (FLAIR
  hyperintensity, size, margin, oedema) are measured and shown with weight 0. Nothing is fitted on grades, so
  the score of a case never depends on who else is in the training data.
* **Monotone** (``PriorCfg(combine="monotone")``): the signs standardised on the training patients
  (label-free), weights constrained >= 0 (the literature's direction) with an L2 shrinkage towards zero,
  fitted on the training patients' grades (grade above the lowest vs not).
* **Calibration**: the score's mid-rank among the training patients' scores (label-free), standardised, goes
  through a logistic regression fitted on the training patients only (the slope is held >= 0 for two grades, so
  calibration never reverses the signs' direction). Probabilities therefore depend on the training fold; the
  fixed rule's ranking does not.

A :class:`SetModel` is one such fit for one set of signs; a case missing a sequence is scored with the model of
the signs it has. Inference is plain numpy on the JSON-stored parameters (no pickle, no scikit-learn).

>>> import numpy as np
>>> V = np.array([[0.1, 0.2], [0.3, 0.4], [0.5, 0.2], [0.7, 0.8]]); y = np.array([0, 0, 1, 1])
>>> m = fit_set(("enhancement", "necrosis"), V, y, n_classes=2, combine="fixed")
>>> m.score(V).round(2).tolist()
[0.15, 0.35, 0.35, 0.75]
>>> p = m.proba(V); bool(np.all(np.diff(p[:, 1][[0, 1, 3]]) > 0)), np.allclose(p.sum(1), 1)
(True, True)
>>> fit_set(("enhancement", "size"), V, y, n_classes=2).score(V).tolist()  # size has weight 0
[0.1, 0.3, 0.5, 0.7]
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize

from gliograde.signs.measure import BY_NAME, SIGN_NAMES

Array = npt.NDArray[np.float64]


def scored_signs(available: Iterable[str], trained: Iterable[str]) -> tuple[str, ...]:
    """The signs a case is scored on: those it has and the model was trained with, in :data:`SIGN_NAMES` order;
    ``enhancement_t1c`` only when the subtraction ``enhancement`` (which needs T1) is not among them.

    >>> scored_signs({"enhancement", "enhancement_t1c", "size"}, SIGN_NAMES)
    ('enhancement', 'size')
    >>> scored_signs({"enhancement_t1c", "size", "seg_oedema"}, ("enhancement", "enhancement_t1c", "size"))
    ('enhancement_t1c', 'size')
    """
    have = set(available) & set(trained)
    if "enhancement" in have:
        have.discard("enhancement_t1c")
    return tuple(s for s in SIGN_NAMES if s in have)


@dataclass(frozen=True)
class SetModel:
    """Score and calibration for one set of signs (every array a plain list, so it round-trips through JSON).

    Attributes:
        signs: the signs, in column order. weights, centre, scale: score = sum(w * (v - centre) / scale)
            (fixed rule: w = 1/n, centre 0, scale 1: the mean).
        score_mean, score_sd: the training patients' score (the calibration's input is the standardised score).
        coef, intercept: logistic calibration, (K-1 or K) slopes and intercepts (one of each for two grades).
        n_train: training patients; train_p5, train_p95: each sign's 5th / 95th percentile on them (label-free).
        train_scores: the training patients' scores, sorted (label-free): the calibration reads a score's
            mid-rank among them (see :func:`calibration_input`).
    """

    signs: tuple[str, ...]
    weights: tuple[float, ...]
    centre: tuple[float, ...]
    scale: tuple[float, ...]
    score_mean: float
    score_sd: float
    coef: tuple[float, ...]
    intercept: tuple[float, ...]
    n_train: int
    train_p5: tuple[float, ...]
    train_p95: tuple[float, ...]
    train_scores: tuple[float, ...] = ()

    def terms(self, V: Array) -> Array:
        """(n, S) each sign's part of the score: w * (v - centre) / scale; V (n, S) in :attr:`signs` order."""
        V = np.atleast_2d(np.asarray(V, dtype=np.float64))
        return np.asarray(np.asarray(self.weights) * (V - np.asarray(self.centre)) / np.asarray(self.scale),
                          dtype=np.float64)

    def score(self, V: Array) -> Array:
        """(n,) score of (n, S) sign values."""
        return np.asarray(self.terms(V).sum(axis=1), dtype=np.float64)

    def proba_of_score(self, s: Array) -> Array:
        """(n, K) calibrated probabilities of (n,) scores."""
        z = (calibration_input(s, self.train_scores) - self.score_mean) / self.score_sd
        coef, b = np.asarray(self.coef), np.asarray(self.intercept)
        if len(coef) == 1:
            p1 = 1.0 / (1.0 + np.exp(-(coef[0] * z + b[0])))
            return np.stack([1.0 - p1, p1], axis=1)
        logits = z[:, None] * coef[None, :] + b[None, :]
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float64)

    def proba(self, V: Array) -> Array:
        """(n, K) calibrated probabilities of (n, S) sign values."""
        return self.proba_of_score(self.score(V))

    def to_json(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SetModel:
        tup = {k: tuple(v) for k, v in d.items() if isinstance(v, list)}
        return cls(**{**d, **tup, "signs": tuple(str(s) for s in d["signs"])})


def calibration_input(score: npt.ArrayLike, train_scores: tuple[float, ...] | Array) -> Array:
    """What the calibration reads: each score's mid-rank among the training patients' scores, in [0, 1].

    The fixed rule's score is a proportion that is exactly 0 for many patients and large for a few; a logistic
    calibration on the raw score lets those few set the slope (nearly flat probabilities for everyone else,
    whose fold-to-fold offsets then dominate a pooled AUC). The mid-rank keeps every tie and the order, and
    maps the same score to about the same value in every training fold.

    >>> calibration_input([0.0, 0.2, 1.0], (0.0, 0.0, 0.1, 0.3)).tolist()
    [0.25, 0.75, 1.0]
    """
    s = np.asarray(score, dtype=np.float64)
    ref = np.sort(np.asarray(train_scores, dtype=np.float64))
    below = np.searchsorted(ref, s, side="left")
    upto = np.searchsorted(ref, s, side="right")
    return np.asarray((below + upto) / (2.0 * max(len(ref), 1)), dtype=np.float64)


def monotone_weights(U: Array, y: npt.NDArray[np.int64], shrinkage: float) -> Array:
    """Non-negative logistic weights of standardised signs U (n, S) for binary y, L2 penalty ``shrinkage``.

    Hand-written (scipy L-BFGS-B with bounds): scikit-learn's LogisticRegression has no sign constraint.
    Minimises sum(log(1 + exp(-t * (b + U w)))) + shrinkage * |w|^2 over w >= 0 and a free intercept b.
    """
    t = np.where(np.asarray(y) > 0, 1.0, -1.0)
    n, k = U.shape

    def loss(theta: Array) -> tuple[float, Array]:
        b, w = theta[0], theta[1:]
        m = t * (b + U @ w)
        nll = float(np.logaddexp(0.0, -m).sum() + shrinkage * w @ w)
        g = -t / (1.0 + np.exp(m))  # d nll / d (b + U w)
        return nll, np.concatenate([[g.sum()], U.T @ g + 2 * shrinkage * w])

    res = minimize(loss, np.zeros(k + 1), jac=True, method="L-BFGS-B", bounds=[(None, None)] + [(0.0, None)] * k)
    return np.asarray(res.x[1:], dtype=np.float64)


def _calibrate(score: Array, y: npt.NDArray[np.int64], n_classes: int, c: float) -> tuple[list[float], list[float]]:
    """Logistic calibration of the standardised score on the training patients (slope >= 0 for two grades)."""
    from sklearn.linear_model import LogisticRegression  # heavy: imported on first fit only

    present = np.unique(y)
    if len(present) < 2 or float(np.std(score)) == 0.0:  # one grade, or a constant score: the training shares
        share = np.bincount(y, minlength=n_classes) / len(y)
        logp = np.log(np.clip(share, 1e-6, None))
        if n_classes == 2:
            return [0.0], [float(logp[1] - logp[0])]
        return [0.0] * n_classes, logp.tolist()
    lr = LogisticRegression(C=c, max_iter=1000).fit(score[:, None], y)
    if n_classes == 2:
        slope, b = float(lr.coef_[0, 0]), float(lr.intercept_[0])
        if slope < 0:  # calibration must not reverse the literature's direction: intercept only
            slope, b = 0.0, float(np.log(y.mean() / (1 - y.mean())))
        return [slope], [b]
    coef, inter = np.zeros(n_classes), np.full(n_classes, -30.0)
    coef[lr.classes_], inter[lr.classes_] = lr.coef_[:, 0], lr.intercept_
    if len(lr.classes_) == 2:  # a fold missing a grade: sklearn gives one row for two classes
        coef[lr.classes_] = [-lr.coef_[0, 0] / 2, lr.coef_[0, 0] / 2]
        inter[lr.classes_] = [-lr.intercept_[0] / 2, lr.intercept_[0] / 2]
    return coef.tolist(), inter.tolist()


def fit_set(signs: tuple[str, ...], V: Array, y: npt.NDArray[np.int64], *, n_classes: int,
            combine: str = "fixed", shrinkage: float = 10.0, calibration_c: float = 1.0) -> SetModel:
    """Fit one :class:`SetModel` on training patients only.

    Args:
        signs: the S signs; V: (n, S) their values for the n training patients (no NaN).
        y: (n,) class indices; n_classes: K.
        combine: ``fixed`` (mean; y is used by the calibration only) or ``monotone``.
        shrinkage, calibration_c: see :class:`~gliograde.config.PriorCfg`.
    """
    V = np.asarray(V, dtype=np.float64).reshape(len(y), len(signs))
    y = np.asarray(y, dtype=np.int64)
    k = len(signs)
    if combine == "monotone":
        centre = V.mean(axis=0)
        scale = np.where(V.std(axis=0) > 0, V.std(axis=0), 1.0)
        w = monotone_weights((V - centre) / scale, y, shrinkage)
    else:  # the fixed rule: the mean of the signs of weight 1 (those with an established direction)
        prior = np.array([BY_NAME[s].weight for s in signs])
        centre, scale, w = np.zeros(k), np.ones(k), prior / max(float(prior.sum()), 1.0)
    raw = np.sort((w * (V - centre) / scale).sum(axis=1))
    s = calibration_input((w * (V - centre) / scale).sum(axis=1), raw)
    mean, sd = float(s.mean()), float(s.std())
    sd = sd if sd > 0 else 1.0
    coef, inter = _calibrate((s - mean) / sd, y, n_classes, calibration_c)
    p5, p95 = np.percentile(V, [5, 95], axis=0)
    return SetModel(signs, tuple(map(float, w)), tuple(map(float, centre)), tuple(map(float, scale)), mean, sd,
                    tuple(coef), tuple(inter), len(y), tuple(map(float, p5)), tuple(map(float, p95)),
                    tuple(map(float, raw)))
