"""Cohorts as people have them, through the CLI (issue 19): train on three sites and validate on the fourth with no
hand-edited manifest, ``--labels`` for a list of patients, an ingested cohort's manifest.csv wherever a manifest is,
and ``--slices k`` refused when fewer slices exist."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from fakedata import write_slice_cohort

from gliograde.cli import main

PATIENTS = [(f"P-{i:02d}", 2 + i % 2) for i in range(8)]
#: The cheapest bundle: the radiomics kind with one candidate, nothing selected.
FAST_SELECTION = {"cv": {"selection": {"method": "none", "classifiers": ["logreg"], "select_k": [5]}}}
FAST_CV = ["--configs", "handcrafted", "--folds", "2", "--protocol", "honest", "--n-boot", "20"]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight patients at sites A, A, B, B, C, C, D, D (grades 2, 3 at each), ingested by ``gliograde ingest``."""
    tmp = tmp_path_factory.mktemp("sites")
    raw = write_slice_cohort(tmp / "raw", PATIENTS, size=40, channels=3)
    lab = pd.read_csv(raw / "labels.csv", dtype=str)
    lab["institution"] = list("AABBCCDD")
    lab.to_csv(raw / "labels.csv", index=False)
    assert main(["-q", "ingest", str(raw), "--out", str(tmp / "ingested"), "--size", "32"]) == 0
    return tmp / "ingested"


def test_train_on_three_sites_validate_on_the_fourth(cohort: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    bundle = tmp_path / "b"
    (tmp_path / "fast.yaml").write_text(yaml.safe_dump(FAST_SELECTION))
    assert main(["-q", "train", str(cohort), "--out", str(bundle), "--config", str(tmp_path / "fast.yaml"),
                 "--sites", "A,B,C"]) == 0
    assert yaml.safe_load((bundle / "config.yaml").read_text())["subset"] == {"labels": None, "sites": ["A", "B", "C"]}
    assert json.loads((bundle / "run.json").read_text())["input_fingerprint"]["n_files"] == 1 + 2 * 6  # 6 patients
    # the fourth site shares no patient with the training data: validated without --allow-overlap
    assert main(["-q", "validate", str(bundle), str(cohort), "--out", str(tmp_path / "v"), "--bootstrap", "0",
                 "--sites", "D"]) == 0
    metrics = json.loads((tmp_path / "v" / "metrics.json").read_text())
    assert metrics["n"] == 2 and metrics["training_overlap"]["n_shared"] == 0
    assert yaml.safe_load((tmp_path / "v" / "config.yaml").read_text())["validate"]["sites"] == ["D"]
    capsys.readouterr()
    assert main(["-q", "validate", str(bundle), str(cohort), "--out", str(tmp_path / "v2"), "--sites", "E"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--sites E: no patient of site(s) E" in err[0] and "A, B, C, D" in err[0]


def test_cv_on_a_list_of_patients_given_by_the_cohort_manifest(cohort: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    keep = tmp_path / "keep.csv"
    keep.write_text("patient_id\n" + "".join(f"{p}\n" for p, _ in PATIENTS[:6]))
    run = tmp_path / "cv"
    assert main(["-q", "cv", str(cohort / "manifest.csv"), "--out", str(run), *FAST_CV, "--labels", str(keep)]) == 0
    tested = pd.read_csv(run / "predictions.csv")["patient_id"].unique()
    assert sorted(tested) == [p for p, _ in PATIENTS[:6]]
    assert yaml.safe_load((run / "config.yaml").read_text())["subset"]["labels"] == str(keep)
    capsys.readouterr()
    assert main(["cv", str(cohort), "--out", str(tmp_path / "x"), "--config", str(run / "config.yaml"),
                 "--print-config"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["subset"]["labels"] == str(keep)  # replayed by --config
    keep.write_text("patient_id\nP-00\nNOBODY\n")
    assert main(["-q", "cv", str(cohort), "--out", str(tmp_path / "bad"), *FAST_CV, "--labels", str(keep)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{keep} (--labels): 1 patient(s) not in the cohort" in err[0]


def test_ingest_the_manifest_again_and_slices_refused(cohort: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-q", "ingest", str(cohort / "manifest.csv"), "--out", str(tmp_path / "three"), "--size", "32",
                 "--slices", "3"]) == 0
    again = pd.read_csv(tmp_path / "three" / "manifest.csv")
    assert len(again) == 3 * len(PATIENTS) and sorted(set(again["site"])) == list("ABCD")
    capsys.readouterr()
    assert main(["-q", "ingest", str(cohort / "manifest.csv"), "--out", str(tmp_path / "five"), "--slices", "5"]) == 2
    err = capsys.readouterr().err
    assert "3 slice(s) show the tumour, fewer than --slices 5; use --slices 3" in err
    assert not (tmp_path / "five").exists()
