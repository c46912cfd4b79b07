"""The CNN kind's ``unlike_training`` check: a bundle trained on a tiny synthetic cohort stores its training slices'
embedding statistics (sealed), flags grossly different crops and cases but not its own training slices, and a
bundle written before the check existed still loads and predicts, saying the flag is unavailable."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from fakedata import write_slice_cohort
from PIL import Image

from gliograde.bundles import MODEL_JSON, get_kind, load_bundle
from gliograde.bundles.cnn import _write_embedding_stats
from gliograde.bundles.embedding import FAR_Z, MISSING_NOTE, STATS_FILE
from gliograde.config import AugmentCfg, IngestCfg, PreprocessCfg, RunConfig, TrainCfg
from gliograde.data.dataset import Cohort, load_cohort
from gliograde.data.ingest_run import run_ingest
from gliograde.errors import InputError
from gliograde.prediction import predict
from gliograde.prediction.cases import find_cases
from gliograde.runinfo import sha256_file

TRAIN = [(f"T-{i:02d}", 2 if i % 2 else 3) for i in range(12)]
SIZE = 48
CFG = RunConfig(preset="test", kind="cnn",
                train=TrainCfg(model="efficientnet_lite0", weights="none", image_size=SIZE, epochs=1, batch_size=8,
                               val_fraction=0.0, patience=0, device="cpu"),
                augment=AugmentCfg(mode="none"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Cohort, Path]:
    """(raw slice cohort, its ingested cohort, the CNN bundle trained on it)."""
    tmp = tmp_path_factory.mktemp("unlike")
    raw = write_slice_cohort(tmp / "raw", TRAIN, size=40, channels=3)
    run_ingest(raw, tmp / "cohort", IngestCfg(channels=("t1ce",), preprocess=PreprocessCfg(size=SIZE)),
               figures=False, progress=False)
    cohort = load_cohort(tmp / "cohort")
    get_kind("cnn").train(cohort, tmp / "bundle", CFG, progress=False)
    return raw, cohort, tmp / "bundle"


def test_statistics_are_sealed_and_described(trained: tuple[Path, Cohort, Path], tmp_path: Path) -> None:
    _, cohort, out = trained
    meta = json.loads((out / MODEL_JSON).read_text())
    entry = meta["unlike_training_check"]
    assert entry["file"] == STATS_FILE and entry["threshold_z"] == FAR_Z and entry["n_rows"] == len(cohort)
    assert 1 <= entry["n_components"] <= 10 and entry["train_max_abs_z"]["max"] < FAR_Z
    assert meta["files"][STATS_FILE] == sha256_file(out / STATS_FILE)
    assert "unlike-training check: max |z|" in (out / "MODEL_CARD.md").read_text()
    bundle = load_bundle(out)
    again = tmp_path / "again"
    again.mkdir()  # the loaded network, the bundle's own normalisation: the same statistics, the same bytes
    assert _write_embedding_stats(again, bundle.model, bundle.spec, bundle.input_size, cohort.images) == entry
    assert sha256_file(again / STATS_FILE) == meta["files"][STATS_FILE]
    copy = tmp_path / "changed"
    shutil.copytree(out, copy)
    with (copy / STATS_FILE).open("r+b") as fh:  # a changed statistics file is refused like any sealed file
        fh.seek(-8, 2)
        fh.write(b"\x01" * 8)
    with pytest.raises(InputError, match="embedding_stats.safetensors: sha256 differs"):
        load_bundle(copy)


def test_training_slices_pass_and_gross_crops_are_flagged(trained: tuple[Path, Cohort, Path]) -> None:
    _, cohort, out = trained
    bundle = load_bundle(out)
    areas = cohort.masks.sum((1, 2))
    own = bundle.predict_crops(cohort.images, cohort.masks, areas)
    assert list(own.columns) == ["unlike_training", "max_abs_z"]
    assert not own.columns["unlike_training"].any() and (own.columns["max_abs_z"] < FAR_Z).all()
    inside = np.broadcast_to(cohort.masks[:, None], cohort.images.shape)
    noise, const = cohort.images.copy(), cohort.images.copy()
    noise[inside] = np.random.default_rng(1).integers(0, 256, int(inside.sum()), dtype=np.uint8)
    const[inside] = 255
    for gross in (noise, const):
        scores = bundle.predict_crops(gross, cohort.masks, areas)
        assert scores.columns["unlike_training"].all(), scores.columns["max_abs_z"]
        np.testing.assert_array_equal(scores.columns["unlike_training"], scores.columns["max_abs_z"] > FAR_Z)


def test_predict_writes_the_flag_for_own_and_gross_cases(trained: tuple[Path, Cohort, Path], tmp_path: Path) -> None:
    """Through ``predict`` (prediction.json's evidence, as the viewer reads it): a training case is not flagged, the
    same case with uniform noise inside its tumour mask is."""
    raw, _, out = trained
    case = sorted(p for p in raw.iterdir() if p.is_dir())[0]
    gross = tmp_path / "gross" / case.name
    shutil.copytree(case, gross)
    for png in gross.glob("*.png"):
        if not png.stem.endswith("_mask"):
            img = np.asarray(Image.open(png)).copy()
            roi = np.asarray(Image.open(png.with_name(png.stem + "_mask.png"))) > 0
            img[roi] = np.random.default_rng(2).integers(0, 256, img[roi].shape, dtype=np.uint8)
            Image.fromarray(img).save(png)
    bundle = load_bundle(out)
    found, _ = find_cases([case, gross], None)
    preds = predict(bundle, found, tmp_path / "pred", keep_ids=True)
    docs = [json.loads((tmp_path / "pred" / p.case / "prediction.json").read_text()) for p in preds]
    own, far = (d["evidence"] for d in docs)
    assert own["unlike_training"] is False and own["max_abs_z"] < FAR_Z
    assert far["unlike_training"] is True and far["max_abs_z"] > FAR_Z
    plain = bundle.predict_case(found[0].source, explain=False)  # the measure needs no evidence map
    assert plain.feature_z_max == pytest.approx(own["max_abs_z"], abs=0.01)


def test_bundle_without_statistics_still_predicts(trained: tuple[Path, Cohort, Path], tmp_path: Path) -> None:
    """A bundle written before the check: no file, no model.json entry; loads, predicts the same probabilities,
    and its flag is None with a note saying why."""
    raw, cohort, out = trained
    old = tmp_path / "old"
    shutil.copytree(out, old)
    (old / STATS_FILE).unlink()
    meta = json.loads((old / MODEL_JSON).read_text())
    del meta["unlike_training_check"], meta["files"][STATS_FILE]
    (old / MODEL_JSON).write_text(json.dumps(meta))
    bundle, new = load_bundle(old), load_bundle(out)
    assert bundle.stats is None
    crops = bundle.predict_crops(cohort.images, cohort.masks, cohort.masks.sum((1, 2)))
    assert crops.columns == {}
    np.testing.assert_allclose(crops.proba, new.predict_crops(cohort.images, cohort.masks, [1.0] * len(cohort)).proba)
    found, _ = find_cases(sorted(p for p in raw.iterdir() if p.is_dir())[:1], None)
    pred = bundle.predict_case(found[0].source)
    evidence = bundle.evidence(pred)
    assert pred.feature_z_max is None and evidence is not None
    assert evidence["unlike_training"] is None and evidence["max_abs_z"] is None and MISSING_NOTE in evidence["note"]
    assert "unlike-training check: not available" in bundle.card_section()
