"""Validation metrics on hand-made tables: undefined AUCs say why, the Brier score, known-grade split, the
dataset-shift line of the page. The whole `gliograde validate` run: tests/integration/test_validate_cli.py."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gliograde.report.validation import shift_line
from gliograde.validation.metrics import brier_score, validation_metrics
from gliograde.validation.run import ValidateCfg, split_known


def test_auc_undefined_with_one_grade_or_too_few() -> None:
    t = pd.DataFrame({"patient_id": ["a", "b"], "site": "", "label": [2, 3], "p_2": [.7, .4], "p_3": [.3, .6]})
    m = validation_metrics(t, (2, 3), ValidateCfg(n_boot=100))
    assert m["auc"]["value"] is None and m["auc"]["ci"] is None and "grade 2: 1, grade 3: 1" in m["auc"]["reason"]
    assert m["accuracy"] == 1.0 and m["accuracy_ci"] is None and m["per_site"]["unknown"]["n"] == 2
    one = validation_metrics(t.assign(label=[2, 2]), (2, 3), ValidateCfg(n_boot=0, min_per_grade=1))
    assert one["auc"]["value"] is None and "grade 3: 0" in one["auc"]["reason"]
    p = np.array([[.2, .5, .3], [.1, .1, .8]])
    assert brier_score([3, 4], p, (2, 3, 4)) == pytest.approx(((.04 + .25 + .09) + (.01 + .01 + .04)) / 2)
    assert split_known([2, 4, 3], (2, 3))[1] == {4: 1}


def test_the_shift_line_counts_patients_unlike_training() -> None:
    line = shift_line({"unlike_training": {"n": 3, "of": 12, "share": 0.25}})
    assert line is not None and line.startswith("3 of 12 patients (25 %)")
    assert shift_line({"unlike_training": {"n": 0, "of": 12, "share": 0.0}}) is None
    assert shift_line({"unlike_training": None}) is None
