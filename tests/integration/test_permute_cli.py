"""``gliograde cv --permute-labels N`` as a user runs it on a tiny cohort with two slices per patient: every
shuffle gives a patient one grade on all its slices (so the same grade wherever its rows fall, training or test),
keeps the grade counts, is recorded, reaches permutation.json, the report and methods.md, and a rerun reuses
every unit. The shuffling and the hash: tests/unit/test_permute.py."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fakedata import write_slice_cohort

from gliograde.cli import main
from gliograde.data.dataset import load_cohort
from gliograde.experiment.permute import labels_sha256, permuted_labels


def test_cv_permute_labels_runs_both_protocols_on_shuffled_grades_and_resumes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw = write_slice_cohort(tmp_path / "raw", [(f"P-{i:02d}", 2 + i % 2) for i in range(12)], size=40)
    assert main(["-q", "ingest", str(raw), "--out", str(tmp_path / "cohort"), "--slices", "2"]) == 0
    args = ["-q", "cv", str(tmp_path / "cohort"), "--out", str(tmp_path / "run"), "--configs", "handcrafted",
            "--folds", "2", "--n-boot", "20", "--protocol", "both", "--permute-labels", "2"]
    assert main(args) == 0
    run, cohort = tmp_path / "run", load_cohort(tmp_path / "cohort")
    doc = json.loads((run / "permutation.json").read_text())
    assert doc["n"] == 2 and set(doc["protocols"]) == {"honest", "paper"}
    real = pd.read_csv(run / "predictions.csv", dtype={"patient_id": str}).set_index("patient_id")["label"]
    for proto, p in doc["protocols"].items():
        assert [s["index"] for s in p["shuffles"]] == [0, 1]
        for s in p["shuffles"]:
            lab = permuted_labels(cohort.patient_ids, cohort.labels, None, seed=0, index=s["index"])
            assert s["labels_sha256"] == labels_sha256(lab)
            preds = pd.read_csv(run / "permute" / proto / f"p{s['index']}" / "predictions.csv",
                                dtype={"patient_id": str})
            per_patient = preds.groupby("patient_id")["label"]
            assert (per_patient.nunique() == 1).all()  # one grade per patient, in every fold and row
            shuffled = per_patient.first()
            expected = pd.Series(np.asarray(cohort.classes)[lab], index=cohort.patient_ids).groupby(level=0).first()
            pd.testing.assert_series_equal(shuffled.sort_index(), expected.sort_index(), check_names=False)
            assert sorted(shuffled) == sorted(real.groupby(level=0).first())  # grade counts kept
        e = p["configs"]["handcrafted"]["auc"]
        assert e["null"]["n"] == 2 and 1 / 3 <= e["p"] <= 1
    assert doc["protocols"]["honest"]["shared_test_rows"]["shared"] == 0
    assert doc["protocols"]["paper"]["shared_test_rows"]["shared"] > 0  # slices of one patient on both sides
    html = (run / "report.html").read_text()
    assert "Label-permutation check (2 shuffles)" in html
    assert (run / "figures" / "permutation_handcrafted.png").is_file()
    assert "On 2 shuffles of the grades the pooled AUC was" in (run / "methods.md").read_text()
    units = sorted((run / "permute").rglob("fold*/predictions.csv"))
    assert len(units) == 2 * 2 * 2  # protocols x shuffles x folds
    before = [u.stat().st_mtime_ns for u in units]
    capsys.readouterr()
    assert main(args) == 0  # resume: every permuted unit reused
    assert [u.stat().st_mtime_ns for u in units] == before
    assert json.loads((run / "permutation.json").read_text())["protocols"] == doc["protocols"]
    assert "label permutation:\nhonest, handcrafted: real pooled AUC" in capsys.readouterr().out
    assert main(args[:-2]) == 0  # without the flag: the earlier check is not reported as this run's
    assert not (run / "permutation.json").exists()
    assert "Label-permutation check" not in (run / "report.html").read_text()
