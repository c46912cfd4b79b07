"""Metrics against hand-computed toy tables (counts worked out in the comments)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from gliograde.metrics import (
    accuracy,
    compute_metrics,
    predict_grades,
    roc_auc,
    roc_curves,
    summarise_folds,
)

# 3-class toy: 9 patients, grades (2, 3, 4); columns p_2, p_3, p_4.
Y3 = np.array([2, 2, 2, 3, 3, 3, 4, 4, 4])
P3 = np.array([
    [.70, .20, .10],  # true 2 -> pred 2
    [.50, .30, .20],  # true 2 -> pred 2
    [.20, .60, .20],  # true 2 -> pred 3  (error)
    [.10, .80, .10],  # true 3 -> pred 3
    [.30, .40, .30],  # true 3 -> pred 3
    [.20, .30, .50],  # true 3 -> pred 4  (error)
    [.10, .10, .80],  # true 4 -> pred 4
    [.20, .20, .60],  # true 4 -> pred 4
    [.40, .35, .25],  # true 4 -> pred 2  (error)
])
CLASSES3 = (2, 3, 4)
# One-vs-rest AUC by pair counting (3 positives x 6 negatives = 18 pairs, ties count 1/2):
#  grade 2: pos p_2 = .7 .5 .2, neg p_2 = .1 .3 .2 .1 .2 .4
#           .7 beats 6, .5 beats 6, .2 beats .1 .1 and ties .2 .2 -> 2 + 1 = 3; 15/18
#  grade 3: pos p_3 = .8 .4 .3, neg p_3 = .2 .3 .6 .1 .2 .35
#           .8 -> 6, .4 -> 5 (loses to .6), .3 -> 3 + tie .3 (0.5) = 3.5; 14.5/18
#  grade 4: pos p_4 = .8 .6 .25, neg p_4 = .1 .2 .2 .1 .3 .5
#           .8 -> 6, .6 -> 6, .25 -> 4; 16/18
AUC3 = {2: 15 / 18, 3: 14.5 / 18, 4: 16 / 18}

# 2-class toy: 8 patients, grades (2, 3); p_3 is the score of the higher grade.
Y2 = np.array([2, 2, 2, 2, 3, 3, 3, 3])
P2_HIGH = np.array([.10, .40, .35, .80, .90, .60, .30, .70])
P2 = np.stack([1 - P2_HIGH, P2_HIGH], axis=1)
# predictions: 2 2 2 3 | 3 3 2 3 -> 6/8 correct; confusion [[3, 1], [1, 3]]
# AUC: .9 beats 4 negatives, .6 beats .1 .4 .35 (3), .3 beats .1 (1), .7 beats 3 -> 11/16


def test_three_class_hand_computed() -> None:
    m = compute_metrics(Y3, P3, CLASSES3)
    assert m["n"] == 9
    assert m["accuracy"] == pytest.approx(6 / 9)
    assert m["confusion"] == [[2, 1, 0], [0, 2, 1], [1, 0, 2]]
    for g in CLASSES3:
        # each grade: TP 2, FN 1, FP 1, TN 5
        pc = m["per_class"][g]
        assert pc["sensitivity"] == pytest.approx(2 / 3)
        assert pc["specificity"] == pytest.approx(5 / 6)
        assert pc["accuracy"] == pytest.approx(7 / 9)
        assert pc["auc"] == pytest.approx(AUC3[g])
    assert m["auc"] == pytest.approx(45.5 / 54)
    assert m["warnings"] == []


def test_two_class_hand_computed() -> None:
    m = compute_metrics(Y2, P2, (2, 3))
    assert m["accuracy"] == pytest.approx(0.75)
    assert m["confusion"] == [[3, 1], [1, 3]]
    assert m["auc"] == pytest.approx(11 / 16)
    # both one-vs-rest AUCs of a binary problem are the binary AUC
    assert m["per_class"][2]["auc"] == pytest.approx(11 / 16)
    assert m["per_class"][3]["auc"] == pytest.approx(11 / 16)
    assert m["per_class"][3]["sensitivity"] == pytest.approx(0.75)
    assert m["per_class"][3]["specificity"] == pytest.approx(0.75)
    assert m["per_class"][2]["sensitivity"] == pytest.approx(0.75)


def test_auc_matches_sklearn_on_random_data(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(2, 5, 60)
    p = rng.dirichlet([1, 1, 1], 60)
    expected = roc_auc_score(y, p, multi_class="ovr", average="macro", labels=[2, 3, 4])
    assert roc_auc(y, p, CLASSES3) == pytest.approx(expected)


def test_single_class_auc_raises_clearly() -> None:
    with pytest.raises(ValueError, match="undefined.*only positive"):
        roc_auc(np.array([3, 3, 3]), P2[4:7], (2, 3))
    with pytest.raises(ValueError, match="grade 4 vs rest is undefined"):
        roc_auc(Y3[:6], P3[:6], CLASSES3)


def test_compute_metrics_records_nan_and_warning_for_missing_grade() -> None:
    m = compute_metrics(Y3[:6], P3[:6], CLASSES3)  # no grade-4 patient in this "fold"
    assert math.isnan(m["auc"])
    assert math.isnan(m["per_class"][4]["auc"])
    assert math.isnan(m["per_class"][4]["sensitivity"])
    assert m["per_class"][2]["auc"] == pytest.approx(roc_auc_score(Y3[:6] == 2, P3[:6, 0]))
    assert any("grade 4" in w for w in m["warnings"])


def test_bad_inputs_raise() -> None:
    with pytest.raises(ValueError, match="shape"):
        compute_metrics(Y2, P3[:8], (2, 3))
    with pytest.raises(ValueError, match="not among classes"):
        compute_metrics(np.array([2, 5]), P2[:2], (2, 3))
    with pytest.raises(ValueError, match="NaN"):
        compute_metrics(Y2[:2], np.array([[np.nan, 1.0], [0.5, 0.5]]), (2, 3))


def test_predict_grades_and_accuracy() -> None:
    assert predict_grades(P3, CLASSES3).tolist() == [2, 2, 3, 3, 3, 4, 4, 4, 2]
    assert predict_grades(np.array([[.5, .5]]), (2, 3)).tolist() == [2]  # ties go to the lower grade
    assert accuracy(Y3, P3, CLASSES3) == pytest.approx(6 / 9)


def test_roc_curves_one_vs_rest() -> None:
    curves = roc_curves(Y3, P3, CLASSES3)
    assert sorted(curves) == [2, 3, 4]
    for g, (fpr, tpr, auc) in curves.items():
        assert auc == pytest.approx(AUC3[g])
        assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
        assert np.trapezoid(tpr, fpr) == pytest.approx(AUC3[g])
    assert sorted(roc_curves(Y3[:6], P3[:6], CLASSES3)) == [2, 3]  # absent grade left out


def test_summarise_folds_mean_and_sample_sd() -> None:
    folds = [compute_metrics(Y3, P3, CLASSES3), compute_metrics(Y3[:6], P3[:6], CLASSES3)]
    folds.append({**folds[0], "accuracy": 0.5})
    s = summarise_folds(folds)
    accs = [6 / 9, 4 / 6, 0.5]  # second "fold": preds 2 2 3 3 3 4 vs 2 2 2 3 3 3
    assert s["n_folds"] == 3
    assert s["accuracy"]["mean"] == pytest.approx(np.mean(accs))
    assert s["accuracy"]["sd"] == pytest.approx(np.std(accs, ddof=1))
    assert s["auc"]["n"] == 2  # NaN AUC of the grade-4-less fold is left out
    assert s["auc"]["mean"] == pytest.approx(45.5 / 54)
    assert s["auc"]["sd"] == pytest.approx(0.0)
    assert s["per_class"][2]["sensitivity"]["mean"] == pytest.approx(2 / 3)
    assert "n" not in s and "confusion" not in s


def test_summarise_folds_simple_values() -> None:
    s = summarise_folds([{"accuracy": 0.5}, {"accuracy": 0.7}, {"accuracy": 0.9}])
    # deviations .2, 0, .2 -> sum of squares .08 / (3 - 1) = .04 -> SD .2
    assert s["accuracy"]["mean"] == pytest.approx(0.7)
    assert s["accuracy"]["sd"] == pytest.approx(0.2)
    one = summarise_folds([{"accuracy": 0.5}])
    assert math.isnan(one["accuracy"]["sd"])
    with pytest.raises(ValueError):
        summarise_folds([])
