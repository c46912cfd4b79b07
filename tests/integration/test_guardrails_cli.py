"""Guard-rails of issue 19 as a user meets them on the command line: ``train`` refuses a frozen random backbone and
a leaky or mismatched ``--cv-run`` (exit 2, one line), warns at chance level; ``predict`` says what a 2-class model
cannot recognise and flags unlike-training cases beside the grade; ``validate`` exits 1 when patients were left
out. The library side: tests/unit/test_guardrails.py."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from fakedata import write_slice_cohort

from gliograde.bundles import MODEL_CARD, MODEL_JSON
from gliograde.cli import main

TRAIN = [(f"T-{i:02d}", 2 if i % 2 else 3) for i in range(12)]
VAL = [(f"V-{i:02d}", 2 if i % 2 else 3) for i in range(6)]
SMALL_GRID = {"cv": {"folds": 3, "n_boot": 20,
                     "selection": {"inner_folds": 3, "select_k": [3], "classifiers": ["logreg"]}}}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Raw training and validation cohorts (labels: WHO 2016) and a small-grid YAML."""
    tmp = tmp_path_factory.mktemp("guard-cli")
    train = write_slice_cohort(tmp / "train", TRAIN, size=40, channels=3)
    pd.read_csv(train / "labels.csv").assign(who_edition="2016").to_csv(train / "labels.csv", index=False)
    (tmp / "small.yaml").write_text(yaml.safe_dump(SMALL_GRID))
    return {"tmp": tmp, "train": train, "val": write_slice_cohort(tmp / "val", VAL, size=44, channels=3),
            "small": tmp / "small.yaml"}


def test_train_refuses_a_frozen_random_backbone_before_any_work(data: dict[str, Path], tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["-q", "train", str(data["train"]), "--out", str(tmp_path / "m"), "--preset", "quick",
            "--model", "alexnet", "--weights", "none"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "train.weights none with train.freeze_backbone true" in err[0]
    assert "--allow-random-frozen" in err[0] and not (tmp_path / "m").exists()  # refused before any work


def test_cv_run_refused_when_leaky_or_of_other_settings_and_cited_when_asked(
        data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cohort = tmp_path / "cohort"
    assert main(["-q", "ingest", str(data["train"]), "--out", str(cohort)]) == 0
    paper = tmp_path / "cv-paper"
    assert main(["-q", "cv", str(cohort), "--out", str(paper), "--protocol", "paper", "--config",
                 str(data["small"])]) == 0
    capsys.readouterr()
    assert "WHO grading: labels follow WHO 2016" in (paper / "report.html").read_text()  # issue 15 item 4
    base = ["-q", "train", str(cohort), "--config", str(data["small"])]
    assert main([*base, "--out", str(tmp_path / "m1"), "--cv-run", str(paper)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{paper}: a paper-protocol CV run (leaky" in err[0] and "--cite-leaky-cv" in err[0]
    assert main([*base, "--out", str(tmp_path / "m2"), "--cv-run", str(paper), "--features", "semantic"]) == 2
    err = capsys.readouterr().err
    assert "paper-protocol" in err  # the leak is named first: no other settings make a leaky run an estimate
    assert main([*base, "--out", str(tmp_path / "m3"), "--cv-run", str(paper), "--cite-leaky-cv",
                 "--features", "semantic"]) == 2
    err = capsys.readouterr().err
    assert "was cross-validated with selection.features = ['radiomics'], the model is trained with ['semantic']" in err
    assert main([*base, "--out", str(tmp_path / "m4"), "--cv-run", str(paper), "--cite-leaky-cv"]) == 0
    meta = json.loads((tmp_path / "m4" / MODEL_JSON).read_text())
    assert meta["cv_metrics"] is None and meta["cv_metrics_leaky"]["protocol"] == "paper"
    card = (tmp_path / "m4" / MODEL_CARD).read_text()
    assert "No cross-validated metrics were attached" in card and "**LEAKY, not an estimate" in card


def test_train_warns_at_chance_and_predict_states_what_the_model_cannot_say(
        data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cnn"
    assert main(["train", str(data["train"]), "--out", str(out), "--kind", "cnn", "--preset", "quick",
                 "--weights", "none", "--allow-random-frozen", "--epochs", "1", "--augment", "none",
                 "--image-size", "32", "--val-fraction", "0.25", "-q"]) == 0
    printed = capsys.readouterr().out
    inner = json.loads((out / MODEL_JSON).read_text())["inner_validation"]
    assert inner["at_chance"] is not None
    assert ("WARNING: inner validation at chance level" in printed) == inner["at_chance"]
    assert ("inner validation is at chance level" in (out / MODEL_CARD).read_text()) == inner["at_chance"]
    pred = tmp_path / "p"
    assert main(["-q", "predict", str(out), str(data["val"]), "--out", str(pred)]) == 0
    printed = capsys.readouterr().out
    assert "note: a model of grades 2, 3 only: cannot recognise grade 4 (glioblastoma)" in printed
    assert "note: WHO grading: labels follow WHO 2016" in printed
    summary = pd.read_csv(pred / "summary.csv").set_index("case")
    assert summary["unlike_training"].notna().all() and summary["grade_caveat"].str.contains("grade 4").all()
    for line in printed.splitlines():
        case = line.split(":", 1)[0]
        if case in summary.index:  # the flag beside the grade on the console exactly when the case is flagged
            assert ("UNLIKE TRAINING DATA" in line) == bool(summary.loc[case, "unlike_training"]), line


def test_validate_exits_1_and_says_how_many_when_patients_were_left_out(
        data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle = tmp_path / "b"
    assert main(["-q", "train", str(data["train"]), "--out", str(bundle), "--config", str(data["small"])]) == 0
    val = write_slice_cohort(tmp_path / "val", VAL, size=44, channels=3)
    for mask in (val / "V_03_2000").glob("*_mask.png"):
        mask.unlink()
    capsys.readouterr()
    assert main(["-q", "validate", str(bundle), str(val), "--out", str(tmp_path / "v"), "--skip-bad",
                 "--bootstrap", "0", "--min-per-grade", "2"]) == 1
    err = capsys.readouterr().err
    assert "1 of 6 patient(s) failed (could not be ingested, left out by --skip-bad" in err
    assert main(["-q", "validate", str(bundle), str(data["val"]), "--out", str(tmp_path / "v2"),
                 "--bootstrap", "0", "--min-per-grade", "2"]) == 0
