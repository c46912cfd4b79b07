"""The CV summary (:func:`gliograde.report.cv.summarise_run`) on synthetic run folders written into tmp_path
(2 and 3 grades), plus a golden toy table. The whole page with its figures: tests/integration/test_report_pages.py."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from fakedata import make_run

from gliograde.errors import InputError
from gliograde.report.artefacts import RunNotFoundError
from gliograde.report.cv import summarise_run
from gliograde.report.format import results_table, to_jsonable


def test_golden_values_on_toy_table(tmp_path: Path) -> None:
    """Fixed 2-grade, 2-fold, 8-patient table; the numbers below are worked out by hand."""
    p3 = {"full": [.1, .4, .7, .8, .35, .9, .6, .2], "no-aug": [.3, .6, .5, .55, .4, .7, .45, .45]}
    labels = [2, 2, 3, 3, 2, 3, 3, 2]
    rows = [{"patient_id": f"P{i}", "fold": i // 4, "config": cfg, "p_2": 1 - s, "p_3": s, "label": y}
            for cfg, scores in p3.items() for i, (s, y) in enumerate(zip(scores, labels, strict=True))]
    (tmp_path / "predictions.csv").write_text(pd.DataFrame(rows).to_csv(index=False))
    m = summarise_run(tmp_path, n_boot=200)
    full, noaug = m["configs"]["full"], m["configs"]["no-aug"]
    # full: fold 0 preds 2 2 3 3 (4/4), fold 1 preds 2 3 3 2 (4/4); pooled AUC 16/16
    assert full["accuracy"] == {"mean": 1.0, "sd": 0.0, "n": 2}
    assert full["pooled_auc"] == 1.0
    # no-aug: p_3 > .5 -> 3 (0.5 ties -> grade 2). fold 0: .3 .6 .5 .55 -> 2 3 2 3 vs 2 2 3 3 -> 2/4
    # fold 1: .4 .7 .45 .45 -> 2 3 2 2 vs 2 3 3 2 -> 3/4. mean .625, SD sqrt(((-.125)^2 * 2) / 1) = .1768
    assert noaug["accuracy"]["mean"] == pytest.approx(0.625)
    assert noaug["accuracy"]["sd"] == pytest.approx(0.125 * math.sqrt(2))
    # pooled no-aug AUC: positives .7 .5 .55 .45 vs negatives .3 .6 .4 .45:
    # .7 -> 4, .5 -> 3, .55 -> 3, .45 -> 2 + tie .5 = 2.5; 12.5 / 16
    assert noaug["pooled_auc"] == pytest.approx(12.5 / 16)
    assert noaug["pooled_accuracy"] == pytest.approx(5 / 8)
    assert noaug["confusion"] == [[3, 1], [2, 2]]
    assert noaug["pooled_per_class"][3]["sensitivity"] == pytest.approx(0.5)
    assert noaug["pooled_per_class"][3]["specificity"] == pytest.approx(0.75)
    # fold AUCs: fold 0 pos .5 .55 vs neg .3 .6 -> (1 + 1) / 4 = .5; fold 1 pos .7 .45 vs neg .4 .45 -> (2 + 1.5) / 4
    assert noaug["auc"]["mean"] == pytest.approx((0.5 + 0.875) / 2)
    # DeLong by hand. full separates perfectly: all its placements are 1, so it adds no variance.
    # no-aug positive placements V10 = .75 .75 1 .625 (sample var .0742188 / 3), negative placements
    # V01 = 1 .25 1 .875 (sample var .3867188 / 3); var(diff) = (.0247396 + .1289063) / 4 = .0384115,
    # z = -.21875 / sqrt(.0384115) = -1.11613, two-sided p = .264363
    assert noaug["delong_vs_full"]["p"] == pytest.approx(0.264363, abs=1e-6)
    assert noaug["delong_vs_full"]["diff"] == pytest.approx(12.5 / 16 - 1.0)


def test_fold_missing_a_grade_gives_nan_and_warning(tmp_path: Path) -> None:
    run = make_run(tmp_path, n_patients=12, n_folds=4, history=False)  # each fold: 3 patients
    df = pd.read_csv(run / "predictions.csv")
    df.loc[(df["fold"] == 0) & (df["label"] == 4), "fold"] = 1  # fold 0 loses its grade-4 patient
    df.to_csv(run / "predictions.csv", index=False)
    m = summarise_run(run, n_boot=50)
    full = m["configs"]["full"]
    assert math.isnan(full["per_fold"][0]["auc"])
    assert full["auc"]["n"] == 3
    assert any(w.startswith("fold 0:") for w in full["warnings"])
    text = json.dumps(to_jsonable(m), allow_nan=False)  # NaN is written as null: strict JSON
    assert json.loads(text)["configs"]["full"]["per_fold"][0]["auc"] is None


def test_results_table_lists_configs(tmp_path: Path) -> None:
    m = summarise_run(make_run(tmp_path, classes=(2, 3), n_patients=20, history=False), n_boot=50)
    table = results_table(m)
    lines = table.splitlines()
    assert lines[1].startswith("config") and "pooled AUC [95% CI]" in lines[1]
    assert [ln.split()[0] for ln in lines[3:]] == ["full", "no-pretrain", "no-aug", "handcrafted"]
    assert "reference" in lines[3]


def test_bad_artefacts_raise_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(RunNotFoundError, match="gliograde cv"):
        summarise_run(tmp_path / "nothing")
    run = make_run(tmp_path / "r", classes=(2, 3), n_patients=10, history=False)
    df = pd.read_csv(run / "predictions.csv")
    df.loc[0, "p_2"] = 0.9
    df.loc[0, "p_3"] = 0.9
    df.to_csv(run / "predictions.csv", index=False)
    with pytest.raises(InputError, match="sum to 1"):
        summarise_run(run)
    df.drop(columns=["label"]).to_csv(run / "predictions.csv", index=False)
    with pytest.raises(InputError, match="missing columns"):
        summarise_run(run)
    df = pd.read_csv(make_run(tmp_path / "s", classes=(2, 3), n_patients=10, history=False) / "predictions.csv")
    df.loc[(df["patient_id"] == "P000") & (df["config"] == "full"), "label"] = 3  # P000 is grade 2 elsewhere
    df.to_csv(tmp_path / "s" / "predictions.csv", index=False)
    with pytest.raises(InputError, match="two different labels"):
        summarise_run(tmp_path / "s")
