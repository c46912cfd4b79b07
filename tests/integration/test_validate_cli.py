"""`gliograde validate`: external validation of a bundle on a labelled cohort it never saw.

A tiny radiomics bundle (the recommended preset's kind) and a random-start CNN bundle are validated on
separate synthetic cohorts; metrics are recomputed by hand from predictions.csv with scikit-learn."""
from __future__ import annotations

import dataclasses
import json
import logging
import re
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import yaml
from fakedata import cnn_bundle, recommended_cohort, volume, write_dicom_series, write_slice_cohort
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    brier_score_loss,
    confusion_matrix,
    roc_auc_score,
)

from gliograde.bundles import load_bundle
from gliograde.cli import main
from gliograde.data.ingest_run import run_ingest
from gliograde.prediction.run import predict
from gliograde.validation.run import (
    NoKnownGradeError,
    ValidateCfg,
    run_validation,
)

TRAIN = [(f"T-{i:02d}", 2 if i % 2 else 3) for i in range(10)]
VAL = [(f"V-{i:02d}", (2, 3, 3, 2, 4)[i % 5]) for i in range(14)]  # 6 x grade 2, 6 x grade 3, 2 x grade 4
FAST = {"inner_folds": 2, "classifiers": ["logreg"], "select_k": [3, 5]}  # the selection grid (cv: selection:)
PHI = (b"Doe", b"Jane", b"PHI-12345", b"19700101")


@pytest.fixture(scope="module")
def rad_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`gliograde train` with the recommended ingest at 48 px and no selection grid (fast)."""
    tmp = tmp_path_factory.mktemp("rad")
    assert main(recommended_cohort(tmp, TRAIN, raw_size=40, crop_size=48, selection=FAST)[2]) == 0
    return tmp / "b"


@pytest.fixture(scope="module")
def val_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another 'hospital': other image size (so other pixels), two sites, grade 4 patients the model never saw."""
    root = write_slice_cohort(tmp_path_factory.mktemp("val") / "raw", VAL, size=44, channels=3)
    labels = pd.read_csv(root / "labels.csv")
    labels["institution"] = ["A" if i < 7 else "B" for i in range(len(labels))]
    labels.to_csv(root / "labels.csv", index=False)
    return root


@pytest.fixture(scope="module")
def rad_run(rad_bundle: Path, val_raw: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run") / "val"
    assert main(["-q", "validate", str(rad_bundle), str(val_raw), "--out", str(out), "--bootstrap", "200",
                 "--min-per-grade", "3"]) == 0
    return out


def test_metrics_equal_those_computed_by_hand(rad_run: Path) -> None:
    df = pd.read_csv(rad_run / "predictions.csv", dtype={"patient_id": str})
    m = json.loads((rad_run / "metrics.json").read_text())
    assert list(df.columns[:5]) == ["patient_id", "site", "label", "p_2", "p_3"]
    assert {"pred", "unlike_training", "max_abs_z"} <= set(df.columns)
    assert sorted(df["patient_id"]) == sorted(p for p, g in VAL if g != 4)  # labels-file ids, grade 4 left out
    y, p3 = df["label"].to_numpy(), df["p_3"].to_numpy()
    pred = np.where(df[["p_2", "p_3"]].to_numpy().argmax(1) == 1, 3, 2)
    assert (df["pred"].to_numpy() == pred).all()
    assert m["n"] == 12 and m["counts"] == {"2": 6, "3": 6}
    assert m["auc"]["value"] == pytest.approx(roc_auc_score(y == 3, p3))
    assert m["auc"]["ci"][0] <= m["auc"]["value"] <= m["auc"]["ci"][1]
    assert m["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred))
    assert m["brier"] == pytest.approx(brier_score_loss(y == 3, p3))
    assert m["confusion"] == confusion_matrix(y, pred, labels=[2, 3]).tolist()
    tp = int(((pred == 3) & (y == 3)).sum())
    assert m["per_grade"]["3"]["sensitivity"] == pytest.approx(tp / 6)
    assert m["per_grade"]["2"]["specificity"] == pytest.approx(tp / 6)  # one-vs-rest: grade 2's negatives are 3s
    site_a = df[df["site"] == "A"]
    assert m["per_site"]["A"]["n"] == len(site_a)
    assert m["per_site"]["A"]["auc"]["value"] == pytest.approx(roc_auc_score(site_a["label"] == 3, site_a["p_3"]))
    assert m["excluded"] == {"4": 2}
    assert "inner_cv" in m["training_estimates"]  # the model's own estimate, for comparison


def test_outputs_and_provenance(rad_run: Path) -> None:
    names = {p.name for p in rad_run.rglob("*") if p.is_file()}
    assert names >= {"predictions.csv", "metrics.json", "report.html", "run.json", "config.yaml", "roc.png",
                     "reliability.png", "confusion.png"}
    html = (rad_run / "report.html").read_text()
    assert "data:image/png;base64," in html and "http" not in html.replace("http-equiv", "")
    info = json.loads((rad_run / "run.json").read_text())
    assert info["command"] == "validate" and info["seed"] == 0
    assert len(info["input_fingerprint"]["sha256"]) == 64 and info["input_fingerprint"]["n_files"] > 14
    assert "labels.csv" in info["input_fingerprint"]["files"]
    cfg = yaml.safe_load((rad_run / "config.yaml").read_text())
    assert cfg["validate"]["n_boot"] == 200 and cfg["ingest"]["channels"] == ["flair", "t1ce"]


def test_predictions_equal_gliograde_predict(rad_bundle: Path, val_raw: Path, rad_run: Path) -> None:
    """Validation preprocesses and grades exactly as `gliograde predict` does on the raw case."""
    df = pd.read_csv(rad_run / "predictions.csv", dtype={"patient_id": str}).set_index("patient_id")
    bundle = load_bundle(rad_bundle)
    folders = sorted(p for p in val_raw.iterdir() if p.is_dir())[:3]
    for res, folder in zip(predict(bundle, folders, keep_ids=True), folders, strict=True):
        pid = folder.name.removesuffix("_2000").replace("_", "-")
        assert res.status == "ok", res.message
        np.testing.assert_allclose([df.loc[pid, "p_2"], df.loc[pid, "p_3"]],
                                   [res.probabilities[2], res.probabilities[3]], atol=1e-9)
        assert df.loc[pid, "max_abs_z"] == pytest.approx(res.feature_z_max, abs=1e-3)


def test_unknown_grades_left_out_with_one_warning(rad_bundle: Path, val_raw: Path, tmp_path: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="gliograde.validation.run"):
        res = run_validation(rad_bundle, val_raw, tmp_path / "o", ValidateCfg(n_boot=0, min_per_grade=7),
                             progress=False)
    lines = [r.getMessage() for r in caplog.records if r.name == "gliograde.validation.run"]
    assert lines == ["left out 2 patient(s) of grade 4: the model grades 2, 3 only"]
    assert res.excluded == {4: 2} and 4 not in set(res.table["label"])
    assert res.metrics["auc"]["value"] is None and "at least 7" in res.metrics["auc"]["reason"]  # 6 per grade
    assert not (tmp_path / "o" / "figures" / "roc.png").exists()


def test_nothing_left_exits_2_naming_the_file(rad_bundle: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    raw = write_slice_cohort(tmp_path / "g4", [("G-1", 4), ("G-2", 4)], size=40)
    assert main(["validate", str(rad_bundle), str(raw), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(raw / "labels.csv") in err[0] and "grade 4" in err[0] and "model trained" in err[0]
    with pytest.raises(NoKnownGradeError):
        run_validation(rad_bundle, raw, tmp_path / "o2", progress=False)


def test_labels_file_and_ingested_cohort(rad_bundle: Path, val_raw: Path, rad_run: Path, tmp_path: Path) -> None:
    """--labels replaces the grades; an ingested cohort must match the model's settings."""
    bundle = load_bundle(rad_bundle)
    run_ingest(val_raw, tmp_path / "ingested", bundle.ingest, figures=False, progress=False)
    flipped = pd.read_csv(val_raw / "labels.csv")
    flipped["who_grade"] = flipped["who_grade"].map({2: 3, 3: 2, 4: 4})
    flipped.to_csv(tmp_path / "flipped.csv", index=False)
    res = run_validation(rad_bundle, tmp_path / "ingested", tmp_path / "o", ValidateCfg(n_boot=0, min_per_grade=3),
                         labels=tmp_path / "flipped.csv", progress=False)
    before = json.loads((rad_run / "metrics.json").read_text())["auc"]["value"]
    assert res.metrics["auc"]["value"] == pytest.approx(1 - before)  # same scores, grades swapped
    other = dataclasses.replace(bundle.ingest, preprocess=dataclasses.replace(bundle.ingest.preprocess, size=32))
    run_ingest(val_raw, tmp_path / "other", other, figures=False, progress=False)
    assert main(["validate", str(rad_bundle), str(tmp_path / "other"), "--out", str(tmp_path / "o3")]) == 2


def test_cnn_bundle_on_dicom_cohort_leaks_no_phi(tmp_path: Path) -> None:
    bundle = cnn_bundle(tmp_path / "cnn", TRAIN[:4], raw_size=40, size=48)  # random start, one channel (t1ce)
    root = tmp_path / "dicom"
    rows = []
    for i, grade in enumerate((2, 3, 2, 3)):
        folder = root / f"Doe_Jane_19700101_{i}"  # exported folder named after DICOM tags
        vol, seg = volume((24, 24, 8), centre=3, seed=i)
        write_dicom_series(folder / "dicom", vol)
        nib.save(nib.Nifti1Image((seg > 0).astype(np.uint8), np.eye(4)), folder / "mask.nii.gz")
        rows.append(f"PHI-12345-{i},{grade},{folder.name}\n")
    (root / "labels.csv").write_text("patient_id,who_grade,folder\n" + "".join(rows))
    out = tmp_path / "out"
    assert main(["-q", "validate", str(bundle), str(root), "--out", str(out), "--bootstrap", "0"]) == 0
    for p in (p for p in out.rglob("*") if p.is_file()):
        data = re.sub(rb"base64,[A-Za-z0-9+/=]+", b"", p.read_bytes())  # random base64 can spell "Doe"
        assert not any(s in data.replace(str(root).encode(), b"") for s in PHI), p
    df = pd.read_csv(out / "predictions.csv")
    assert df["patient_id"].str.match(r"^case-[0-9a-f]{10}$").all() and "max_abs_z" not in df.columns
    got = predict(load_bundle(bundle), [root / f"Doe_Jane_19700101_{i}" for i in range(4)], cam=False)
    np.testing.assert_allclose(df["p_3"].to_numpy(), [r.probabilities[3] for r in got], atol=1e-5)
    assert main(["-q", "validate", str(bundle), str(root), "--out", str(tmp_path / "k"), "--bootstrap", "0",
                 "--keep-ids"]) == 0
    assert pd.read_csv(tmp_path / "k" / "predictions.csv")["patient_id"].str.startswith("PHI-12345-").all()


def test_skip_bad_leaves_out_a_broken_patient_and_lists_it(rad_bundle: Path, val_raw: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    raw = tmp_path / "raw"
    shutil.copytree(val_raw, raw)
    broken = sorted(p for p in raw.iterdir() if p.is_dir())[0]
    for mask in broken.glob("*_mask*"):
        mask.unlink()
    assert main(["-q", "validate", str(rad_bundle), str(raw), "--out", str(tmp_path / "a"), "--bootstrap", "0"]) == 2
    assert "--skip-bad" in capsys.readouterr().err
    assert main(["-q", "validate", str(rad_bundle), str(raw), "--out", str(tmp_path / "b"), "--bootstrap", "0",
                 "--min-per-grade", "3", "--skip-bad"]) == 1  # written, but a patient was left out (issue 19)
    m = json.loads((tmp_path / "b" / "metrics.json").read_text())
    from gliograde.prediction.cases import case_alias

    # named by keyed alias (whether it is DICOM is unknown: it could not be read), its problem without file names
    alias = {case_alias(p, False): p for p, _ in VAL}
    assert len(m["skipped"]) == 1 and m["skipped"][0] in alias and m["skipped_problems"]  # one per slice
    assert all(p.startswith(f"{m['skipped'][0]}/file-") and broken.name not in p for p in m["skipped_problems"])
    assert alias[m["skipped"][0]] not in json.dumps(m)
    df = pd.read_csv(tmp_path / "b" / "predictions.csv", dtype={"patient_id": str})
    assert alias[m["skipped"][0]] not in set(df["patient_id"]) and len(df) == m["n"]


def test_a_raw_cohort_of_training_patients_is_refused_before_it_is_ingested(
        rad_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The check reads the raw cohort's labels first: no ingest runs when the answer is already a refusal."""
    import gliograde.validation.cohort as validation_cohort

    def no_ingest(*args: object, **kwargs: object) -> None:
        raise AssertionError("the cohort was ingested before the overlap check refused it")

    monkeypatch.setattr(validation_cohort, "open_cohort", no_ingest)
    capsys.readouterr()
    assert main(["validate", str(rad_bundle), str(rad_bundle.parent / "raw"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{len(TRAIN)} of {len(TRAIN)} patients were in the training data" in err[0], err


def test_metrics_name_the_model_by_its_folder_not_its_path(rad_bundle: Path, rad_run: Path) -> None:
    """A path can name a patient or a clinician: metrics.json names the model by its folder (--keep-ids: path)."""
    text = (rad_run / "metrics.json").read_text()
    assert json.loads(text)["model"]["path"] == rad_bundle.name and str(rad_bundle.parent) not in text


def test_unlike_training_is_counted_from_the_predictions(rad_run: Path) -> None:
    df = pd.read_csv(rad_run / "predictions.csv", dtype={"patient_id": str})
    m = json.loads((rad_run / "metrics.json").read_text())
    assert m["unlike_training"] == {"n": int(df["unlike_training"].sum()), "of": len(df),
                                    "share": round(int(df["unlike_training"].sum()) / len(df), 4)}


def test_the_models_own_training_patients_are_refused_unless_allowed(rad_bundle: Path, rad_run: Path, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """Its own training cohort (raw or ingested) is refused in one line, exit 2, before anything is written; an
    unrelated cohort passes the check; --allow-overlap goes on and every output says so."""
    own = rad_bundle.parent
    for data in (own / "raw", own / "cohort"):
        capsys.readouterr()
        assert main(["validate", str(rad_bundle), str(data), "--out", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"{len(TRAIN)} of {len(TRAIN)} patients were in the training data" in err[0]
        assert "--allow-overlap" in err[0] and not any(p in err[0] for p, _ in TRAIN)  # no patient id in the line
        assert not (tmp_path / "o" / "predictions.csv").exists()
    other = json.loads((rad_run / "metrics.json").read_text())["training_overlap"]
    assert other == {"checked": True, "n_shared": 0, "n_cohort": sum(g != 4 for _, g in VAL),
                     "allowed": False, "reason": None}
    assert main(["validate", str(rad_bundle), str(own / "raw"), "--out", str(tmp_path / "a"), "--allow-overlap",
                 "--bootstrap", "0"]) == 0
    assert capsys.readouterr().out.startswith("WARNING: ")
    m = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert m["training_overlap"]["n_shared"] == len(TRAIN) and "NOT an external" in m["warnings"][0]
    assert pd.read_csv(tmp_path / "a" / "predictions.csv")["in_training_data"].all()
