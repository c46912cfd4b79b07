"""The recommended preset end to end: `gliograde train` fits the radiomics model its CV evaluates, writes a
safe bundle, and `gliograde predict` grades new cases with it (same preprocessing, same features), semantic
feature families included."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fakedata import recommended_cohort

from gliograde.baselines.feature_sets import feature_matrix
from gliograde.bundles import MODEL_CARD, MODEL_JSON, load_bundle
from gliograde.bundles.radiomics import MODEL_FILE, RadiomicsBundle
from gliograde.cli import main
from gliograde.data.dataset import load_cohort
from gliograde.errors import InputError
from gliograde.prediction.run import find_cases, predict
from gliograde.selection import grid

PATIENTS = [(f"P-{i:02d}", 2 if i % 2 else 3) for i in range(12)]
SMALL = {"inner_folds": 3, "select_k": [3, 5]}  # the selection grid (cv: selection:)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(raw cohort, ingested cohort, bundle): the recommended ingest at 64 px, then `gliograde train COHORT --out B`."""
    tmp = tmp_path_factory.mktemp("rad")
    raw, cohort, train = recommended_cohort(tmp, PATIENTS, raw_size=48, crop_size=64, selection=SMALL)
    assert main(train) == 0
    return raw, cohort, tmp / "b"


def test_default_train_writes_a_radiomics_bundle(trained: tuple[Path, Path, Path]) -> None:
    _, _, b = trained
    meta = json.loads((b / MODEL_JSON).read_text())
    assert meta["kind"] == "radiomics"
    assert meta["preprocessing"]["channels"] == ["flair", "t1ce"]
    assert meta["preprocessing"]["preprocess"]["intensity"] == "robust"
    assert meta["preprocessing"]["preprocess"]["region"] == "brain_outside_roi"
    assert meta["selection"]["method"] == "inner_cv" and meta["selection"]["n_inner_splits"] == 3
    labels = [c.label for c in grid(("logreg", "rbf_svm"), (3, 5))]
    assert meta["selection"]["chosen"] in labels and sorted(meta["selection"]["inner_auc"]) == sorted(labels)
    assert meta["n_features"] == len(meta["feature_names"]) > 0
    assert meta["training"]["n_patients"] == 12
    assert len(meta["data_fingerprint"]["train_input_sha256"]) == 64
    assert (b / MODEL_FILE).is_file() and not list(b.glob("*.safetensors"))
    assert "radiomics" in (b / MODEL_CARD).read_text() and "not a medical device" in (b / MODEL_CARD).read_text()


def test_predict_repeats_training_preprocessing_and_features(trained: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """A training patient predicted from its raw files gives exactly the pipeline's output on its cached features."""
    from gliograde.baselines.features import extract_features

    raw, cohort_dir, b = trained
    bundle = load_bundle(b)
    assert isinstance(bundle, RadiomicsBundle)
    cohort = load_cohort(cohort_dir)
    X, names = extract_features(cohort.images, cohort.masks, bin_width=bundle.bin_width)
    assert tuple(names) == bundle.feature_names
    folder = min(p for p in raw.iterdir() if p.is_dir())
    row = int(np.flatnonzero(cohort.patient_ids == "P-00")[0])
    res = predict(bundle, [folder], out=tmp_path / "pred", keep_ids=True)[0]
    assert res.status == "ok", res.message
    want = bundle.pipeline.predict_proba(X[row: row + 1])[0]
    np.testing.assert_allclose([res.probabilities[g] for g in bundle.classes], want, atol=1e-9)
    assert res.slice_index == int(cohort.manifest["slice_index"].iloc[row])


def test_predict_cli_json_and_overlay(trained: tuple[Path, Path, Path], tmp_path: Path) -> None:
    raw, _, b = trained
    png = min(sorted(p for p in raw.iterdir() if p.is_dir())[1].glob("*_1.png"))
    assert main(["-q", "predict", str(b), str(png), "--out", str(tmp_path / "p"), "--keep-ids"]) == 0
    doc = json.loads(next((tmp_path / "p").glob("*/prediction.json")).read_text())
    assert {"grade", "probabilities", "slice_index", "overlay", "evidence"} <= set(doc)
    assert doc["model"]["kind"] == "radiomics" and doc["grade"] in (2, 3)
    assert sum(doc["probabilities"].values()) == pytest.approx(1.0)
    ev = doc["evidence"]
    assert ev["method"].startswith("feature occlusion") and 1 <= len(ev["top_features"]) <= 5
    assert set(ev["top_features"][0]) == {"feature", "value", "z", "contribution", "sequence"}
    assert ev["top_features"][0]["sequence"] in ("flair", "t1ce")
    assert ev["max_abs_z"] >= max(abs(f["z"]) for f in ev["top_features"]) - 0.01
    assert isinstance(ev["unlike_training"], bool)
    assert Path(doc["overlay"]).is_file()


def test_bundle_loading_is_safe(trained: tuple[Path, Path, Path], tmp_path: Path) -> None:
    import shutil

    import skops.io as sio

    from gliograde.baselines.fusion import FusionClassifier
    from gliograde.runinfo import sha256_file

    _, _, b = trained
    bad = tmp_path / "bad"
    shutil.copytree(b, bad)
    (bad / MODEL_FILE).write_bytes((bad / MODEL_FILE).read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(InputError, match="sha256"):
        load_bundle(bad)
    # a model file holding a type outside the trusted list is refused even with a matching sha256
    X, y = np.random.default_rng(0).normal(size=(20, 4)), np.repeat([0, 1], 10)
    sio.dump(FusionClassifier("logreg", n_radiomics=4).fit(X, y), bad / MODEL_FILE)
    meta = json.loads((bad / MODEL_JSON).read_text())
    meta["model_sha256"] = sha256_file(bad / MODEL_FILE)
    (bad / MODEL_JSON).write_text(json.dumps(meta))
    with pytest.raises(InputError, match="trusted list.*FusionClassifier"):
        load_bundle(bad)


def test_missing_sequence_is_caught_before_reading(trained: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """A grey (1-channel) slice cannot give the FLAIR + T1c the recommended model needs."""
    from PIL import Image

    _, _, b = trained
    Image.fromarray(np.full((32, 32), 50, np.uint8)).save(tmp_path / "x.png")
    Image.fromarray(np.pad(np.full((10, 10), 255, np.uint8), 11)).save(tmp_path / "x_mask.png")
    cases, _ = find_cases([tmp_path / "x.png"])
    res = predict(load_bundle(b), cases)[0]
    assert res.status == "error" and "flair+t1ce" in res.message


def test_bundle_with_semantic_features_predicts_the_same_columns(tmp_path: Path) -> None:
    raw, _, args = recommended_cohort(tmp_path, [(f"P-{i:02d}", 2 if i % 2 else 3) for i in range(10)], raw_size=48,
                                      crop_size=48, selection={"inner_folds": 2, "select_k": [3],
                                                               "classifiers": ["logreg"]})
    assert main([*args, "--features", "radiomics,texture"]) == 2 and not (tmp_path / "b" / MODEL_JSON).exists()
    assert main([*args, "--features", "radiomics,semantic"]) == 0
    meta = json.loads((tmp_path / "b" / MODEL_JSON).read_text())
    assert meta["feature_families"] == ["radiomics", "semantic"] and "roi_sem_solidity" in meta["feature_names"]
    bundle = load_bundle(tmp_path / "b")
    cohort = load_cohort(tmp_path / "cohort")
    X, _ = feature_matrix(cohort.images, cohort.masks, cohort.manifest["roi_area_px"].to_numpy(),
                          meta["feature_families"], bin_width=meta["bin_width"])
    folder = min(p for p in raw.iterdir() if p.is_dir())
    res = predict(bundle, [folder], out=tmp_path / "pred", keep_ids=True)[0]
    assert res.status == "ok", res.message
    row = int(np.flatnonzero(cohort.patient_ids == "P-00")[0])  # the first folder is patient P-00's
    want = bundle.pipeline.predict_proba(X[row: row + 1])[0]  # type: ignore[union-attr]
    np.testing.assert_allclose([res.probabilities[g] for g in bundle.classes], want, atol=1e-9)
