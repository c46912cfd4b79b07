"""Calibration (gliograde.stats.calibration): slope and intercept as an unpenalised logistic fit finds them, CIs by
patient bootstrap, one-vs-rest for three grades; ``--recalibrate platt`` fitted on training patients only."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize_scalar
from scipy.special import expit, logit

from gliograde.config import CVCfg, RunConfig
from gliograde.data.dataset import Cohort
from gliograde.experiment import recalibrate as recal_module
from gliograde.experiment.context import Experiment
from gliograde.experiment.handcrafted import HandcraftedConfiguration
from gliograde.splits import Fold
from gliograde.stats import calibration, calibration_fit
from gliograde.validation.metrics import validation_metrics
from gliograde.validation.run import ValidateCfg


def _events(n: int, squash: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """True risks r, outcomes y ~ Bernoulli(r), predictions expit(logit(r) / squash) (squash < 1: too extreme)."""
    rng = np.random.default_rng(seed)
    r = expit(rng.normal(0, 1.5, n))
    return (rng.random(n) < r).astype(int), expit(logit(r) / squash)


def test_fit_equals_unpenalised_logistic_regression_and_offset_model() -> None:
    from sklearn.linear_model import LogisticRegression

    y, p = _events(300, 1.0, seed=3)
    fit = calibration_fit(y, p)
    lr = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(logit(p)[:, None], y)
    assert fit["slope"] == pytest.approx(lr.coef_[0, 0], rel=1e-5)
    assert fit["a_slope"] == pytest.approx(lr.intercept_[0], abs=1e-5)
    lp = logit(p)
    nll = minimize_scalar(lambda a: -np.sum(y * (a + lp) - np.logaddexp(0, a + lp)))
    assert fit["intercept"] == pytest.approx(nll.x, abs=1e-5)


def test_calibrated_predictions_give_slope_1_and_extreme_ones_less() -> None:
    y, p = _events(600, 1.0)
    c = calibration(np.where(y, 3, 2), np.column_stack([1 - p, p]), (2, 3), n_boot=200, seed=0)
    e = c["per_grade"][3]
    assert abs(e["slope"] - 1) < 0.2 and abs(e["intercept"]) < 0.2  # sampling noise only
    assert e["slope_ci"][0] < e["slope"] < e["slope_ci"][1]
    assert e["intercept_ci"][0] < e["intercept"] < e["intercept_ci"][1]
    y, p = _events(600, 0.5)  # predictions twice as extreme on the log-odds scale: slope about 0.5
    e = calibration(np.where(y, 3, 2), np.column_stack([1 - p, p]), (2, 3), n_boot=200)["per_grade"][3]
    assert 0.35 < e["slope"] < 0.65 and e["slope_ci"][1] < 1
    band = np.asarray(e["band"])
    assert band.shape == (2, len(e["curve"])) and (band[0] <= np.asarray(e["curve"]) + 1e-9).all()


def test_three_grades_are_one_vs_rest_and_the_bootstrap_draws_patients() -> None:
    rng = np.random.default_rng(1)
    n = 60
    y = np.repeat(np.array([2, 3, 4])[np.arange(n) % 3], 2)  # two rows per patient
    p = np.repeat(rng.dirichlet([2, 2, 2], n), 2, axis=0)
    groups = np.repeat(np.arange(n), 2)
    a = calibration(y, p, (2, 3, 4), groups=groups, n_boot=100, seed=0)
    assert list(a["per_grade"]) == [2, 3, 4]
    b = calibration(y, p, (2, 3, 4), n_boot=100, seed=0)  # rows: a pair's two rows drawn apart
    assert a["per_grade"][3]["slope"] == b["per_grade"][3]["slope"]
    width = [np.diff(d["per_grade"][3]["slope_ci"])[0] for d in (a, b)]
    assert width[0] > width[1]  # resampling rows treats duplicated rows as independent: too narrow


def test_validate_reports_slope_and_intercept_with_cis() -> None:
    y, p = _events(80, 1.0, seed=5)
    t = pd.DataFrame({"patient_id": [f"P{i}" for i in range(80)], "site": "X", "label": np.where(y, 3, 2),
                      "p_2": 1 - p, "p_3": p})
    m = validation_metrics(t, (2, 3), ValidateCfg(n_boot=100))
    e = m["calibration"]["per_grade"][3]
    assert len(e["slope_ci"]) == 2 and len(e["intercept_ci"]) == 2 and m["calibration"]["brier"] == m["brier"]


class _Store:
    """The feature store's one method the handcrafted configuration calls: a matrix with a unique row per row."""

    def __init__(self, X: np.ndarray) -> None:
        self.X = X

    def family(self, name: str, *, bin_width: float) -> np.ndarray:
        return self.X


def test_recalibration_sees_no_test_patient(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    n = 40
    rng = np.random.default_rng(0)
    y = np.arange(n) % 2
    X = rng.normal(size=(n, 5)) + y[:, None]
    cohort = Cohort(root=tmp_path, manifest=pd.DataFrame(), images=np.zeros((n, 1, 4, 4), np.uint8),
                    masks=np.zeros((n, 4, 4), bool), labels=y, classes=(2, 3),
                    patient_ids=np.array([f"P{i:02d}" for i in range(n)]), sites=np.full(n, ""))
    test = tuple(f"P{i:02d}" for i in range(0, n, 4))
    fold = Fold(0, train=tuple(p for p in cohort.patient_ids if p not in test), test=test)
    seen: list[np.ndarray] = []
    real_fit = recal_module.CalibratedClassifierCV.fit

    def spy(self: Any, Xf: np.ndarray, yf: np.ndarray, **kw: Any) -> Any:
        seen.append(np.asarray(Xf))
        return real_fit(self, Xf, yf, **kw)

    monkeypatch.setattr(recal_module.CalibratedClassifierCV, "fit", spy)
    tables = {}
    for mode in ("none", "platt"):
        cfg = RunConfig(cv=CVCfg(configs=("handcrafted",), recalibrate=mode))  # type: ignore[arg-type]
        exp = Experiment(cohort, tmp_path, cfg, _Store(X), progress=False)  # type: ignore[arg-type]
        tables[mode] = HandcraftedConfiguration("handcrafted").run_unit(exp, fold, tmp_path)
    assert len(seen) == 1  # fitted once, for platt only
    test_rows = X[[int(p[1:]) for p in test]]
    assert not (seen[0][:, None, :] == test_rows[None]).all(axis=2).any()  # no test patient's row reached it
    assert len(seen[0]) == n - len(test)
    a, b = (tables[m][["p_2", "p_3"]].to_numpy() for m in ("none", "platt"))
    assert np.allclose(b.sum(axis=1), 1) and not np.allclose(a, b)
    assert list(tables["platt"]["patient_id"]) == sorted(test)


def test_perfect_separation_gives_an_unbounded_slope_not_a_number_or_an_error() -> None:
    from gliograde.report.checklist import cal_ci
    from gliograde.report.format import to_jsonable

    y = np.array([2, 2, 2, 3, 3, 3] * 3)
    p3 = np.array([.1, .2, .3, .7, .8, .9] * 3)  # every grade 3 ranked above every grade 2
    c = calibration(y, np.column_stack([1 - p3, p3]), (2, 3), n_boot=50, seed=0)
    e = c["per_grade"][3]
    assert e["slope"] == np.inf and e["separated"] == e["n_boot_used"] and e["band"] is None
    assert np.isfinite(e["intercept"]) and np.isfinite(e["intercept_ci"]).all()
    assert cal_ci(to_jsonable(e)["slope"], to_jsonable(e)["slope_ci"]) == "inf (perfectly separated)"
