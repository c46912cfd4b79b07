"""``gliograde cv --configs prior,...`` as a user runs it, on a small synthetic slice cohort from two sites: repeated CV
and the site protocol run, and the fixed rule's score is the same patient by patient in every repeat and protocol."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from fakedata import write_slice_cohort

from gliograde.cli import main
from gliograde.experiment.prior import score_auc


def test_cv_runs_the_prior_configurations_with_repeats_and_by_site(tmp_path: Path) -> None:
    raw = write_slice_cohort(tmp_path / "raw", [(f"P-{i:02d}", 2 + i % 2) for i in range(12)], size=40)
    labels = pd.read_csv(raw / "labels.csv")
    labels["institution"] = ["AA" if i < 6 else "BB" for i in range(len(labels))]
    labels.to_csv(raw / "labels.csv", index=False)
    common = ["--configs", "prior,prior-monotone", "--folds", "2"]
    assert main(["-q", "cv", str(raw), "--out", str(tmp_path / "rep"), "--repeats", "2", *common]) == 0
    assert main(["-q", "cv", str(raw), "--out", str(tmp_path / "site"), "--protocol", "site", *common]) == 0
    rep = pd.read_csv(tmp_path / "rep" / "predictions.csv", dtype={"patient_id": str})
    assert set(rep["config"]) == {"prior", "prior-monotone"} and set(rep["repeat"]) == {0, 1}
    fixed = rep[rep["config"] == "prior"]
    assert (fixed.groupby("patient_id")["score"].nunique() == 1).all() and len(fixed) == 24
    site = pd.read_csv(tmp_path / "site" / "predictions.csv", dtype={"patient_id": str})
    by_site = site[site["config"] == "prior"].set_index("patient_id")["score"].sort_index()
    by_repeat = fixed.drop_duplicates("patient_id").set_index("patient_id")["score"].sort_index()
    pd.testing.assert_series_equal(by_site, by_repeat)  # the same score under another split
    metrics = json.loads((tmp_path / "rep" / "metrics.json").read_text())
    assert metrics["configs"]["prior"]["pooled_auc"] is not None
    res = score_auc(tmp_path / "rep", n_boot=50)
    assert res["same_in_every_repeat"] is True and res["n_patients"] == 12 and set(res["per_site"]) <= {"AA", "BB"}
    assert (tmp_path / "rep" / "work" / "prior_signs.csv").is_file()
