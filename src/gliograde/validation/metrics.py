"""Metrics of an external validation, from the per-patient prediction table (predictions.csv).

Built on :mod:`gliograde.metrics` (accuracy, one-vs-rest sensitivity/specificity, confusion) and
:mod:`gliograde.stats` (bootstrap over patients, ECE, reliability). An AUC (pooled, per grade or per
site) is reported only when every grade of the model has at least ``min_per_grade`` patients there;
otherwise it is ``None`` with the reason, never a number with a meaningless interval.

Brier score (:func:`gliograde.stats.brier_score`, re-exported here): the mean over patients of
sum_k (p_k - [y = k])^2, halved for two grades so that it is the usual binary Brier score of the higher grade
(sklearn's ``brier_score_loss``); 0 is perfect. Calibration slope and intercept with patient-bootstrap CIs and the
calibration curve: :func:`gliograde.stats.calibration` (``calibration`` in metrics.json).

>>> import pandas as pd
>>> from gliograde.config import ValidateCfg
>>> t = pd.DataFrame({"patient_id": list("abcd"), "site": "X", "label": [2, 2, 3, 3],
...                   "p_2": [.9, .6, .3, .2], "p_3": [.1, .4, .7, .8]})
>>> m = validation_metrics(t, (2, 3), ValidateCfg(n_boot=0, min_per_grade=2))
>>> m["auc"]["value"], m["accuracy"], round(m["brier"], 4)
(1.0, 1.0, 0.075)
"""
from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.metrics import balanced_accuracy_score

from gliograde.metrics import accuracy, compute_metrics, predict_grades
from gliograde.stats import (
    bootstrap_ci,
    brier_score,
    calibration,
    expected_calibration_error,
    reliability_curve,
    roc_auc_fast,
)

if TYPE_CHECKING:
    from gliograde.validation.run import ValidateCfg

logger = logging.getLogger(__name__)


def auc_kind(classes: tuple[int, ...]) -> str:
    """How the pooled AUC is formed, in words."""
    return f"binary, grade {classes[1]} vs {classes[0]}" if len(classes) == 2 else "macro one-vs-rest"


def _too_few(y: npt.NDArray[np.int64], classes: tuple[int, ...], min_per_grade: int) -> str | None:
    counts = {g: int((y == g).sum()) for g in classes}
    short = {g: c for g, c in counts.items() if c < min_per_grade}
    if not short:
        return None
    have = ", ".join(f"grade {g}: {c}" for g, c in counts.items())
    return (f"undefined: needs at least {min_per_grade} patients of every grade the model knows "
            f"({', '.join(map(str, classes))}), has {have}")


def auc_block(y: npt.NDArray[np.int64], proba: npt.NDArray[np.float64], classes: tuple[int, ...],
              cfg: ValidateCfg, groups: npt.ArrayLike | None = None) -> dict[str, Any]:
    """Pooled AUC with a percentile-bootstrap 95 % CI over patients, or None and the reason.

    Returns:
        ``{"value": float | None, "ci": [lo, hi] | None, "reason": str | None, "kind": str, "n_boot": int}``.
    """
    out: dict[str, Any] = {"value": None, "ci": None, "reason": _too_few(y, classes, cfg.min_per_grade),
                           "kind": auc_kind(classes), "n_boot": cfg.n_boot}
    if out["reason"]:
        return out
    out["value"] = roc_auc_fast(y, proba, classes)
    if cfg.n_boot > 0:
        try:
            _, lo, hi = bootstrap_ci(y, proba, classes, roc_auc_fast, n_boot=cfg.n_boot, seed=cfg.seed, groups=groups)
            out["ci"] = [lo, hi]
        except ValueError as err:
            out["reason"] = f"no CI: {err}"
    return out


def _accuracy_ci(y: npt.NDArray[np.int64], proba: npt.NDArray[np.float64], classes: tuple[int, ...],
                 cfg: ValidateCfg, groups: npt.ArrayLike) -> list[float] | None:
    if cfg.n_boot < 1 or _too_few(y, classes, cfg.min_per_grade):
        return None
    try:
        _, lo, hi = bootstrap_ci(y, proba, classes, accuracy, n_boot=cfg.n_boot, seed=cfg.seed, groups=groups)
    except ValueError:
        return None
    return [lo, hi]


def _per_grade(y: npt.NDArray[np.int64], classes: tuple[int, ...], base: dict[str, Any],
               cfg: ValidateCfg) -> dict[int, dict[str, Any]]:
    """One-vs-rest sensitivity, specificity and AUC (None below ``min_per_grade`` positives or negatives)."""
    out: dict[int, dict[str, Any]] = {}
    for g in classes:
        d = base["per_class"][g]
        pos, neg = int((y == g).sum()), int((y != g).sum())
        out[g] = {"n": pos, "sensitivity": d["sensitivity"], "specificity": d["specificity"],
                  "auc": None if min(pos, neg) < cfg.min_per_grade else d["auc"]}
    return out


def _per_site(t: pd.DataFrame, classes: tuple[int, ...], cfg: ValidateCfg) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for site, d in t.groupby(t["site"].replace("", "unknown"), sort=True):
        y, p = _arrays(d, classes)
        out[str(site)] = {"n": int(len(d)), "counts": {g: int((y == g).sum()) for g in classes},
                          "accuracy": float(np.mean(predict_grades(p, classes) == y)),
                          "auc": auc_block(y, p, classes, cfg, groups=d["patient_id"].to_numpy())}
    return out


def _balanced_accuracy(y: npt.NDArray[np.int64], pred: npt.NDArray[np.int64]) -> float:
    """Mean recall over the grades present in ``y`` (sklearn's; its warning about predicted grades
    absent from ``y`` is expected here: a 2-3-4 model on a grade 2-3 cohort)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return float(balanced_accuracy_score(y, pred))


def _arrays(t: pd.DataFrame, classes: tuple[int, ...]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    return t["label"].to_numpy(np.int64), t[[f"p_{g}" for g in classes]].to_numpy(np.float64)


def validation_metrics(table: pd.DataFrame, classes: tuple[int, ...], cfg: ValidateCfg) -> dict[str, Any]:
    """Every metric of metrics.json from the prediction table.

    Args:
        table: predictions.csv as a DataFrame: patient_id, site, label (grades in ``classes``), p_<grade>.
        classes: the model's grades, in probability-column order.
        cfg: bootstrap size and seed, AUC minimum per grade, ECE bins.

    Returns:
        ``{"n", "classes", "counts": {grade: n}, "accuracy", "accuracy_ci", "balanced_accuracy",
        "auc": auc_block, "per_grade": {grade: {"n", "sensitivity", "specificity", "auc"}}, "brier", "calibration"
        (:func:`gliograde.stats.calibration`),
        "ece", "reliability", "confusion" (rows true, columns predicted, ``classes`` order),
        "per_site": {site: {"n", "counts", "accuracy", "auc"}}, "unlike_training": {"n", "of", "share"} or
        None, "warnings"}``.
    """
    y, p = _arrays(table, classes)
    groups = table["patient_id"].to_numpy()
    base = compute_metrics(y, p, classes)
    pred = predict_grades(p, classes)
    return {
        "n": int(y.size), "classes": list(classes), "counts": {g: int((y == g).sum()) for g in classes},
        "accuracy": base["accuracy"], "accuracy_ci": _accuracy_ci(y, p, classes, cfg, groups),
        "balanced_accuracy": _balanced_accuracy(y, pred),
        "auc": auc_block(y, p, classes, cfg, groups=groups),
        "per_grade": _per_grade(y, classes, base, cfg),
        "brier": brier_score(y, p, classes),
        "calibration": calibration(y, p, classes, groups=groups, n_boot=cfg.n_boot, seed=cfg.seed),
        "ece": expected_calibration_error(y, p, classes, cfg.n_bins),
        "reliability": reliability_curve(y, p, classes, cfg.n_bins),
        "confusion": base["confusion"],
        "per_site": _per_site(table, classes, cfg),
        "unlike_training": _unlike_training(table),
        "warnings": base["warnings"],
    }


def _unlike_training(table: pd.DataFrame) -> dict[str, Any] | None:
    """How many patients the bundle flagged as unlike its training data (None for kinds or bundles without it)."""
    if "unlike_training" not in table:
        return None
    n = int(table["unlike_training"].astype(bool).sum())
    return {"n": n, "of": int(len(table)), "share": round(n / max(len(table), 1), 4)}


def training_estimates(meta: dict[str, Any]) -> dict[str, Any]:
    """The model's own performance estimates recorded in model.json, for comparison (empty when none).

    Returns:
        ``{"cv": {"protocol", "n_patients", "configs": {name: {"pooled_auc", "auc_mean"}}}`` when CV metrics
        were attached at training (``--cv-run``), and ``"inner_cv"``: the chosen candidate's inner-CV AUC
        (radiomics selection; optimistic, being the best of several candidates).
    """
    out: dict[str, Any] = {}
    cv = meta.get("cv_metrics") or {}
    if cv.get("configs"):
        out["cv"] = {"protocol": cv.get("protocol"), "n_patients": cv.get("n_patients"),
                     "configs": {name: {"pooled_auc": c.get("pooled_auc"), "auc_mean": (c.get("auc") or {}).get("mean")}
                                 for name, c in cv["configs"].items()}}
    sel = meta.get("selection") or {}
    chosen, inner = sel.get("chosen"), sel.get("inner_auc") or {}
    if chosen in inner:
        out["inner_cv"] = {"chosen": chosen, "auc": inner[chosen], "method": sel.get("method"),
                           "note": "inner CV on the training patients, best of several candidates: optimistic"}
    return out
