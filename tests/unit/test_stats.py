"""DeLong, bootstrap and calibration: against pROC reference values and brute-force definitions.

DeLong reference: the aSAH data set shipped with the pROC R package (Robin et al. 2011, BMC Bioinformatics
12:77; data from Turck et al. 2010, Intensive Care Med 36:107): 113 patients with aneurysmal subarachnoid
haemorrhage, outcome Poor (41) vs Good (72), markers wfns, s100b, ndka. pROC's own test suite
(tests/testthat/test-roc.test.R and test-var.R) gives, for ``roc.test(r.wfns, r.s100b)`` (paired DeLong):
Z = 2.20898359144091, p = 0.0271757822291882; for wfns vs ndka Z = 2.79777591868904; AUCs wfns
0.823678861788618, s100b 0.731368563685637, ndka 0.611957994579946; DeLong variances wfns
0.00146991470882363, ndka 0.0031908105493913, s100b 0.00266868245717244.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.stats import norm

from gliograde.metrics import accuracy, roc_auc
from gliograde.stats import (
    bootstrap_ci,
    delong_multiclass,
    delong_test,
    delong_variance,
    expected_calibration_error,
    holm,
    reliability_curve,
    roc_auc_fast,
)

# aSAH, one entry per patient in the same order in every list; "1" = Poor outcome (the positive class).
ASAH_POOR = np.array([int(c) for c in (
    "000011010010110010111010000000001001101100000000011000100010"
    "10011101101111000110100000010000000000001111110001000"
)])
ASAH_WFNS = np.array([
    1, 1, 1, 1, 3, 2, 5, 4, 1, 2, 5, 2, 5, 5, 1, 2, 5, 2, 2, 5, 2, 1, 1, 1, 1, 2, 1, 2,
    1, 1, 3, 4, 2, 1, 4, 5, 4, 1, 4, 2, 5, 5, 1, 1, 2, 4, 1, 1, 2, 5, 5, 2, 1, 2, 5, 1,
    2, 2, 2, 1, 5, 1, 1, 2, 5, 2, 1, 4, 5, 2, 4, 4, 1, 4, 1, 2, 1, 4, 2, 1, 2, 3, 2, 4,
    2, 1, 4, 5, 1, 1, 5, 4, 2, 2, 1, 1, 1, 3, 1, 2, 5, 2, 2, 5, 5, 5, 2, 4, 4, 5, 1, 1,
    1,
], dtype=float)
ASAH_S100B = np.array([
    0.13, 0.14, 0.1, 0.04, 0.13, 0.1, 0.47, 0.16, 0.18, 0.1, 0.12, 0.1, 0.44, 0.71, 0.04, 0.08,
    0.49, 0.04, 0.07, 0.33, 0.09, 0.09, 0.07, 0.11, 0.07, 0.17, 0.07, 0.11, 0.13, 0.19, 0.05, 0.16,
    0.41, 0.14, 0.34, 0.35, 0.48, 0.09, 0.96, 0.25, 0.5, 0.46, 0.16, 0.07, 0.43, 0.45, 0.11, 0.08,
    0.09, 0.86, 0.52, 0.08, 0.06, 0.13, 2.07, 0.1, 0.14, 0.15, 0.07, 0.06, 0.77, 0.05, 0.09, 0.3,
    0.03, 0.09, 0.04, 0.23, 0.7, 0.09, 0.27, 0.71, 0.08, 0.26, 0.08, 0.16, 0.09, 0.13, 0.1, 0.08,
    0.11, 0.33, 0.11, 0.28, 0.07, 0.1, 0.32, 0.22, 0.07, 0.05, 0.24, 0.38, 0.1, 0.15, 0.08, 0.14,
    0.1, 0.07, 0.04, 0.19, 0.56, 0.14, 0.58, 0.32, 0.82, 0.74, 0.15, 0.47, 0.17, 0.44, 0.15, 0.5,
    0.48,
])
ASAH_NDKA = np.array([
    3.01, 8.54, 8.09, 10.42, 17.4, 12.75, 6.0, 13.2, 15.54, 6.01, 15.96, 17.86,
    5.18, 8.9, 13.41, 20.75, 11.6, 16.11, 32.37, 54.82, 32.41, 49.94, 40.34, 9.47,
    6.29, 12.53, 6.54, 6.3, 80.3, 12.8, 9.8, 9.81, 9.85, 18.21, 5.03, 14.04,
    21.93, 8.02, 7.42, 8.38, 6.59, 9.63, 13.12, 7.96, 14.34, 41.43, 7.63, 7.06,
    12.59, 13.56, 3.87, 9.44, 7.66, 12.98, 419.19, 27.19, 22.27, 9.95, 21.22, 11.73,
    10.4, 58.83, 6.39, 11.09, 12.22, 13.67, 17.21, 22.63, 12.9, 9.7, 21.57, 8.23,
    72.57, 15.54, 10.51, 10.6, 14.57, 5.19, 9.63, 4.61, 21.48, 17.3, 12.71, 9.44,
    11.07, 19.46, 10.83, 5.37, 11.97, 7.75, 9.83, 10.55, 28.49, 8.53, 12.57, 12.9,
    46.83, 11.68, 12.67, 9.01, 9.57, 34.06, 11.72, 14.26, 47.61, 11.67, 24.58, 10.33,
    13.87, 15.89, 22.43, 6.79, 13.45,
])


def _delong_brute_force(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """DeLong et al. (1988) by definition: O(m n) placement values psi(x, y) with explicit loops."""
    def psi(x: float, z: float) -> float:
        return 1.0 if x > z else 0.5 if x == z else 0.0

    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    v10 = np.array([[np.mean([psi(s[i], s[j]) for j in neg]) for i in pos] for s in (a, b)])
    v01 = np.array([[np.mean([psi(s[i], s[j]) for i in pos]) for j in neg] for s in (a, b)])
    cov = np.cov(v10) / len(pos) + np.cov(v01) / len(neg)
    diff = v10[0].mean() - v10[1].mean()
    z = diff / math.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    return float(v10[0].mean()), float(v10[1].mean()), z


def test_asah_data_shape() -> None:
    assert ASAH_POOR.size == ASAH_WFNS.size == ASAH_S100B.size == ASAH_NDKA.size == 113
    assert ASAH_POOR.sum() == 41


def test_delong_matches_proc_reference() -> None:
    r = delong_test(ASAH_POOR, ASAH_WFNS, ASAH_S100B)
    assert r["auc_a"] == pytest.approx(0.823678861788618, rel=1e-12)
    assert r["auc_b"] == pytest.approx(0.731368563685637, rel=1e-12)
    assert r["z"] == pytest.approx(2.20898359144091, rel=1e-10)
    assert r["p"] == pytest.approx(0.0271757822291882, rel=1e-10)
    assert (r["n_pos"], r["n_neg"]) == (41, 72)
    assert delong_test(ASAH_POOR, ASAH_WFNS, ASAH_NDKA)["z"] == pytest.approx(2.79777591868904, rel=1e-10)
    swapped = delong_test(ASAH_POOR, ASAH_S100B, ASAH_WFNS)
    assert swapped["z"] == pytest.approx(-r["z"]) and swapped["p"] == pytest.approx(r["p"])


@pytest.mark.parametrize("scores,auc,var", [
    (ASAH_WFNS, 0.823678861788618, 0.00146991470882363),
    (ASAH_NDKA, 0.611957994579946, 0.0031908105493913),
    (ASAH_S100B, 0.731368563685637, 0.00266868245717244),
])
def test_delong_variance_matches_proc(scores: np.ndarray, auc: float, var: float) -> None:
    got_auc, got_var = delong_variance(ASAH_POOR, scores)
    assert got_auc == pytest.approx(auc, rel=1e-12)
    assert got_var == pytest.approx(var, rel=1e-10)


def test_delong_matches_brute_force_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 40)
    a = np.round(y + rng.normal(0, 1, 40), 1)  # rounding makes ties, which the midranks must handle
    b = np.round(0.5 * a + rng.normal(0, 1, 40), 1)
    auc_a, auc_b, z = _delong_brute_force(y, a, b)
    r = delong_test(y, a, b)
    assert (r["auc_a"], r["auc_b"]) == (pytest.approx(auc_a), pytest.approx(auc_b))
    assert r["z"] == pytest.approx(z, rel=1e-10)
    assert r["p"] == pytest.approx(2 * norm.sf(abs(z)), rel=1e-10)


def test_delong_identical_scores_p_is_one() -> None:
    r = delong_test(ASAH_POOR, ASAH_S100B, ASAH_S100B.copy())
    assert (r["z"], r["p"], r["diff"]) == (0.0, 1.0, 0.0)


def test_delong_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="positive and negative"):
        delong_test(np.ones(5), np.arange(5.0), np.arange(5.0))
    with pytest.raises(ValueError, match="binary"):
        delong_test(np.array([2, 3, 4]), np.arange(3.0), np.arange(3.0))
    with pytest.raises(ValueError, match="align"):
        delong_test(np.array([0, 1, 1]), np.arange(3.0), np.arange(4.0))


def _probas(seed: int, k: int, n: int = 60) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y_idx = np.arange(n) % k
    logits_a = rng.normal(0, 1, (n, k)) + 2.0 * np.eye(k)[y_idx]
    logits_b = rng.normal(0, 1, (n, k)) + 0.7 * np.eye(k)[y_idx]
    soft = [np.exp(x) / np.exp(x).sum(axis=1, keepdims=True) for x in (logits_a, logits_b)]
    return y_idx + 2, soft[0], soft[1]


def test_delong_multiclass_binary_is_the_binary_test(seed: int) -> None:
    y, pa, pb = _probas(seed, 2)
    r = delong_multiclass(y, pa, pb, (2, 3))
    ref = delong_test(y == 3, pa[:, 1], pb[:, 1])
    assert r["macro"]["method"] == "binary"
    assert r["macro"]["p"] == pytest.approx(ref["p"])
    assert r["macro"]["auc_a"] == pytest.approx(roc_auc(y, pa, (2, 3)))


def test_delong_multiclass_three_class_holm(seed: int) -> None:
    y, pa, pb = _probas(seed, 3)
    r = delong_multiclass(y, pa, pb, (2, 3, 4))
    per_p = [delong_test(y == g, pa[:, k], pb[:, k])["p"] for k, g in enumerate((2, 3, 4))]
    assert [r["per_class"][g]["p"] for g in (2, 3, 4)] == pytest.approx(per_p)
    assert r["macro"]["method"] == "holm-min"
    assert r["macro"]["p"] == pytest.approx(min(1.0, 3 * min(per_p)))
    assert r["macro"]["auc_a"] == pytest.approx(roc_auc(y, pa, (2, 3, 4)))
    assert r["macro"]["diff"] == pytest.approx(roc_auc(y, pa, (2, 3, 4)) - roc_auc(y, pb, (2, 3, 4)))
    same = delong_multiclass(y, pa, pa, (2, 3, 4))
    assert same["macro"]["p"] == 1.0


def test_holm_hand_computed() -> None:
    # sorted .01 .02 .04 -> x3 x2 x1 = .03 .04 .04 (running max), back in the given order
    assert holm([0.01, 0.04, 0.02]) == pytest.approx([0.03, 0.04, 0.04])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


@pytest.mark.parametrize("k", [2, 3])
def test_roc_auc_fast_equals_sklearn_based(seed: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(2, 2 + k, 50)
    p = np.round(rng.dirichlet(np.ones(k), 50), 1)  # ties on purpose
    classes = tuple(range(2, 2 + k))
    assert roc_auc_fast(y, p, classes) == pytest.approx(roc_auc(y, p, classes), rel=1e-12)
    with pytest.raises(ValueError, match="undefined"):
        roc_auc_fast(np.full(5, 2), p[:5], classes)


def test_bootstrap_is_deterministic_and_contains_point(seed: int) -> None:
    y, pa, _ = _probas(seed, 3, n=60)
    first = bootstrap_ci(y, pa, (2, 3, 4), roc_auc_fast, n_boot=200, seed=7)
    again = bootstrap_ci(y, pa, (2, 3, 4), roc_auc_fast, n_boot=200, seed=7)
    other = bootstrap_ci(y, pa, (2, 3, 4), roc_auc_fast, n_boot=200, seed=8)
    assert first == again
    assert first != other
    point, lo, hi = first
    assert point == pytest.approx(roc_auc(y, pa, (2, 3, 4)))
    assert lo < point < hi
    assert 0.0 <= lo and hi <= 1.0
    # the sklearn-based metric gives the same interval (same resamples, same AUCs)
    assert bootstrap_ci(y, pa, (2, 3, 4), roc_auc, n_boot=100, seed=7) == pytest.approx(
        bootstrap_ci(y, pa, (2, 3, 4), roc_auc_fast, n_boot=100, seed=7))


def test_bootstrap_resamples_whole_groups() -> None:
    # every patient has two rows; the first probability column encodes the patient, so the metric can
    # check that both rows of each drawn patient came along together
    n = 20
    pid = np.repeat(np.arange(n), 2)
    y = np.where(pid % 2 == 0, 2, 3)
    enc = 0.3 + 0.01 * pid
    p = np.stack([enc, 1 - enc], axis=1)

    def rows_paired(yb: np.ndarray, pb: np.ndarray, classes: tuple[int, ...]) -> float:
        _, counts = np.unique(pb[:, 0], return_counts=True)
        return float(np.all(counts % 2 == 0))

    assert bootstrap_ci(y, p, (2, 3), rows_paired, n_boot=100, groups=pid) == (1.0, 1.0, 1.0)
    _, lo, _ = bootstrap_ci(y, p, (2, 3), rows_paired, n_boot=100)  # rows resampled one by one
    assert lo == 0.0


def test_bootstrap_skips_resamples_missing_a_grade() -> None:
    y = np.array([2] * 12 + [3])  # one grade-3 patient: about 37% of resamples miss it
    p = np.tile([0.6, 0.4], (13, 1))

    def needs_both(yb: np.ndarray, pb: np.ndarray, classes: tuple[int, ...]) -> float:
        assert set(yb.tolist()) == {2, 3}
        return accuracy(yb, pb, classes)

    point, lo, hi = bootstrap_ci(y, p, (2, 3), needs_both, n_boot=200)
    assert point == pytest.approx(12 / 13) and lo <= point <= hi
    with pytest.raises(ValueError, match="too few"):  # 3 patients, 3 grades: only 6 of 27 draws hold all
        bootstrap_ci(np.array([2, 3, 4]), np.eye(3), (2, 3, 4), accuracy, n_boot=200)


def test_ece_zero_when_perfectly_calibrated() -> None:
    # confidence .75 everywhere, 3 of 4 correct -> accuracy .75 = confidence
    assert expected_calibration_error([2, 2, 2, 3], [[.75, .25]] * 4, (2, 3)) == pytest.approx(0.0)
    # two bins, each calibrated: conf .6 with 3/5 correct, conf .9 with 9/10 correct
    y = [2, 2, 2, 3, 3] + [3] * 9 + [2]
    p = [[.6, .4]] * 5 + [[.1, .9]] * 10
    assert expected_calibration_error(y, p, (2, 3)) == pytest.approx(0.0, abs=1e-12)


def test_ece_hand_computed() -> None:
    y = [2, 3, 3, 2]
    p = [[.95, .05], [.85, .15], [.28, .72], [.34, .66]]
    # conf .95 correct, .85 wrong, .72 correct, .66 wrong; 10 bins: one sample per bin
    # ECE = (|1-.95| + |0-.85| + |1-.72| + |0-.66|) / 4 = (.05 + .85 + .28 + .66) / 4 = .46
    assert expected_calibration_error(y, p, (2, 3)) == pytest.approx(0.46)
    # 2 bins: all in (.5, 1]: accuracy .5, mean confidence 3.18 / 4 = .795 -> ECE .295
    assert expected_calibration_error(y, p, (2, 3), n_bins=2) == pytest.approx(0.295)
    curve = reliability_curve(y, p, (2, 3), n_bins=2)
    assert curve["count"] == [0, 4]
    assert curve["accuracy"][1] == pytest.approx(0.5) and math.isnan(curve["accuracy"][0])
    assert curve["confidence"][1] == pytest.approx(0.795)
    assert curve["edges"] == [0.0, 0.5, 1.0]


def test_reliability_counts_sum_to_n(seed: int) -> None:
    y, pa, _ = _probas(seed, 3, n=60)
    curve = reliability_curve(y, pa, (2, 3, 4), n_bins=10)
    assert sum(curve["count"]) == 60
    filled = [c for c, n in zip(curve["confidence"], curve["count"], strict=True) if n]
    assert all(0 < c <= 1 for c in filled)
    counts = np.array(curve["count"])
    ece = sum(n * abs(a - c) for a, c, n in itertools.compress(
        zip(curve["accuracy"], curve["confidence"], counts, strict=True), counts > 0)) / 60
    assert expected_calibration_error(y, pa, (2, 3, 4)) == pytest.approx(ece)
