"""Guard-rails against wrong conclusions (issue 19) and the WHO edition of the labels (issue 15 item 4), through the
library: a cited CV run must estimate the model trained, a bundle states the grades it can output, the inner
validation's chance level is flagged, a frozen random backbone is refused, the overlay carries its colour bar,
caveats and research-use line. CLI side: tests/integration/test_guardrails_cli.py."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fakedata import write_slice_cohort
from PIL import Image

from gliograde.bundles import MODEL_CARD, MODEL_JSON, get_kind, load_bundle
from gliograde.bundles.cv_run import checked_cv_metrics, cohort_sha256
from gliograde.bundles.meta import LEAKY_KEY, accuracy_at_chance, auc_at_chance, card_metrics, cv_entries
from gliograde.config import CVCfg, IngestCfg, PreprocessCfg, RunConfig, SelectionCfg, TrainCfg
from gliograde.data.dataset import Cohort, load_cohort
from gliograde.data.ingest_run import run_ingest
from gliograde.data.who_edition import UNSTATED
from gliograde.errors import InputError
from gliograde.explain import annotate, jet
from gliograde.prediction import predict
from gliograde.runinfo import write_run_info

TRAIN = [(f"T-{i:02d}", 2 if i % 2 else 3) for i in range(12)]
RADIOMICS = RunConfig(preset="recommended", kind="radiomics",
                      cv=CVCfg(selection=SelectionCfg(inner_folds=3, classifiers=("logreg",), select_k=(3,))))


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A raw cohort whose labels say ``who_edition`` 2016, ingested (t1ce, 48 px), and its radiomics bundle."""
    tmp = tmp_path_factory.mktemp("guard")
    raw = write_slice_cohort(tmp / "raw", TRAIN, size=40, channels=3)
    labels = pd.read_csv(raw / "labels.csv")
    labels.assign(who_edition="WHO 2016").to_csv(raw / "labels.csv", index=False)
    run_ingest(raw, tmp / "cohort", IngestCfg(channels=("t1ce",), preprocess=PreprocessCfg(size=48)),
               figures=False, progress=False)
    cohort = load_cohort(tmp / "cohort")
    get_kind("radiomics").train(cohort, tmp / "bundle", RADIOMICS, progress=False)
    return {"tmp": tmp, "raw": raw, "cohort": cohort, "bundle": tmp / "bundle"}


def _cv_run(root: Path, cohort: Cohort, cfg: RunConfig, *, protocol: str = "honest",
            sha: str | None = None, classes: list[int] | None = None) -> Path:
    """A `gliograde cv` run folder as far as ``--cv-run`` reads it: config.yaml + run.json (write_run_info, with
    the cohort's input fingerprint) and metrics.json (one radiomics configuration)."""
    fp = {"sha256": sha or cohort_sha256(cohort), "n_files": 1}
    write_run_info(root, command="cv", config={"cohort": str(cohort.root), **cfg.sections(),
                                               "classes": list(cohort.classes)}, seed=0, fingerprint=fp)
    stats = {"accuracy": {"mean": 0.6, "sd": 0.1}, "auc": {"mean": 0.65, "sd": 0.1}, "pooled_auc": 0.64}
    (root / "metrics.json").write_text(json.dumps({
        "protocol": protocol, "classes": classes or list(cohort.classes), "n_patients": 12, "n_folds": 3,
        "configs": {"radiomics": stats}}))
    return root


def test_a_cv_run_must_be_of_the_same_cohort_grades_and_settings(data: dict[str, object], tmp_path: Path) -> None:
    cohort = data["cohort"]
    assert isinstance(cohort, Cohort)
    good = checked_cv_metrics(_cv_run(tmp_path / "ok", cohort, RADIOMICS), cohort, RADIOMICS)
    assert good["configuration"] == "radiomics" and "leaky" not in good
    with pytest.raises(InputError, match=r"ok2: CV run of another cohort .*run `gliograde cv` on this cohort"):
        checked_cv_metrics(_cv_run(tmp_path / "ok2", cohort, RADIOMICS, sha="ab" * 32), cohort, RADIOMICS)
    with pytest.raises(InputError, match=r"CV run of grades \[2, 3, 4\], the model is trained on \[2, 3\]"):
        checked_cv_metrics(_cv_run(tmp_path / "g", cohort, RADIOMICS, classes=[2, 3, 4]), cohort, RADIOMICS)
    other = dataclasses.replace(RADIOMICS, cv=CVCfg(selection=SelectionCfg(inner_folds=3, classifiers=("logreg",),
                                                                          select_k=(5,))))
    with pytest.raises(InputError, match=r"'radiomics' was cross-validated with selection.select_k = \[5\], the "
                                         r"model is trained with \[3\]; train with the CV run's settings"):
        checked_cv_metrics(_cv_run(tmp_path / "s", cohort, other), cohort, RADIOMICS)
    cnn = RunConfig(preset="quick", kind="cnn", train=TrainCfg(model="efficientnet_lite0"))
    with pytest.raises(InputError, match=r"none of them 'full', the one that trains this cnn model"):
        checked_cv_metrics(_cv_run(tmp_path / "k", cohort, RADIOMICS), cohort, cnn)


def test_a_paper_protocol_run_is_refused_or_cited_as_leaky(data: dict[str, object], tmp_path: Path) -> None:
    cohort = data["cohort"]
    assert isinstance(cohort, Cohort)
    run = _cv_run(tmp_path / "paper", cohort, RADIOMICS, protocol="paper")
    with pytest.raises(InputError, match=r"paper: a paper-protocol CV run \(leaky.*--cite-leaky-cv"):
        checked_cv_metrics(run, cohort, RADIOMICS)
    cited = checked_cv_metrics(run, cohort, RADIOMICS, cite_leaky=True)
    assert cited["leaky"] is True
    meta = cv_entries(cited)
    assert meta["cv_metrics"] is None and meta[LEAKY_KEY]["protocol"] == "paper"
    card = "\n".join(card_metrics(meta))
    assert card.startswith("No cross-validated metrics") and "**LEAKY, not an estimate" in card and "0.650" in card


def test_api_train_refuses_a_mismatched_cv_run_before_training(data: dict[str, object], tmp_path: Path) -> None:
    import gliograde

    cohort = data["cohort"]
    assert isinstance(cohort, Cohort)
    run = _cv_run(tmp_path / "cv", cohort, RADIOMICS, sha="cd" * 32)
    with pytest.raises(InputError, match="CV run of another cohort"):
        gliograde.train(cohort, tmp_path / "m", RADIOMICS, cv_run=run, progress=False)
    assert not (tmp_path / "m" / MODEL_JSON).exists()
    matching = _cv_run(tmp_path / "cv2", cohort, RADIOMICS)
    gliograde.train(cohort, tmp_path / "m2", RADIOMICS, cv_run=matching, progress=False)
    meta = json.loads((tmp_path / "m2" / MODEL_JSON).read_text())
    assert meta["cv_metrics"]["configuration"] == "radiomics" and meta["cv_metrics"]["protocol"] == "honest"


def test_a_bundle_states_its_grades_and_the_who_edition_of_its_labels(data: dict[str, object]) -> None:
    cohort = data["cohort"]
    assert isinstance(cohort, Cohort)
    assert set(cohort.manifest["who_edition"].astype(str)) == {"2016"}  # read from labels.csv by ingest
    meta = json.loads((Path(str(data["bundle"])) / MODEL_JSON).read_text())
    assert meta["labels"]["grades"] == [2, 3] and meta["labels"]["cannot_recognise"] == [4]
    assert meta["labels"]["who_edition"] == "2016"
    card = (Path(str(data["bundle"])) / MODEL_CARD).read_text()
    assert "grades it can output: 2, 3; **grades 2, 3 only: cannot recognise grade 4 (glioblastoma)" in card
    assert "WHO grading of the training labels: labels follow WHO 2016 (revised 4th edition" in card


def test_without_a_who_edition_column_the_edition_is_stated_unknown(tmp_path: Path) -> None:
    raw = write_slice_cohort(tmp_path / "raw", TRAIN[:4], size=40, channels=3)
    run_ingest(raw, tmp_path / "c", IngestCfg(channels=("t1ce",), preprocess=PreprocessCfg(size=48)),
               figures=False, progress=False)
    from gliograde.bundles.meta import labels_meta

    lab = labels_meta(load_cohort(tmp_path / "c"))
    assert lab["who_edition"] is None and lab["who_grading"] == UNSTATED and "before WHO CNS5 (2021)" in UNSTATED
    bad = pd.read_csv(raw / "labels.csv").assign(who_edition="WHO 2099")
    bad.to_csv(raw / "labels.csv", index=False)
    with pytest.raises(InputError, match=r"labels.csv row 2: who_edition 'WHO 2099' is not a WHO edition; use one of"):
        run_ingest(raw, tmp_path / "c2", IngestCfg(channels=("t1ce",), preprocess=PreprocessCfg(size=48)),
                   figures=False, progress=False)


def test_predict_states_the_caveat_unlike_training_and_the_grading(data: dict[str, object], tmp_path: Path) -> None:
    bundle = load_bundle(Path(str(data["bundle"])))
    raw = Path(str(data["raw"]))
    out = tmp_path / "p"
    preds = predict(bundle, [raw / "T_01_2000", raw / "T_02_2000"], out=out, keep_ids=True)
    assert all(p.unlike_training is not None for p in preds)
    doc = json.loads((out / "T_01_2000" / "prediction.json").read_text())
    assert doc["grades_possible"] == [2, 3] and doc["cannot_recognise"] == [4]
    assert "cannot recognise grade 4" in doc["grade_caveat"] and "WHO 2016" in doc["who_grading"]
    assert doc["unlike_training"] == (doc["max_abs_z"] > 4.0)
    summary = pd.read_csv(out / "summary.csv")
    assert {"unlike_training", "max_abs_z", "grade_caveat"} <= set(summary.columns)
    assert summary["grade_caveat"].str.contains("cannot recognise grade 4").all()
    png = np.asarray(Image.open(doc["overlay"]))
    panel = bundle.panel(preds[0], "t")
    assert panel is not None  # the kind's picture, framed: caveat line above, research-use line below (no heat map)
    assert png.shape[0] == panel.shape[0] + 14 * (1 + bool(doc["unlike_training"])) + 14


def test_the_overlay_frame_has_a_colour_bar_of_the_map_and_the_research_line() -> None:
    panel = np.zeros((20, 200, 3), np.uint8)
    framed = annotate(panel, [("grade 3", (255, 255, 255)), ("caveat", (255, 200, 80))], footer="Research use only",
                      colourbar="relative evidence")
    assert framed.shape == (14 * 2 + 20 + 42 + 14, 200, 3)
    y = 28 + 20 + 2 + 3  # a row inside the colour bar
    assert tuple(framed[y, 108]) == tuple(jet(np.float32(0.0))) and tuple(framed[y, 191]) == tuple(jet(np.float32(1.0)))
    assert (framed[-12:, :, 0] > 200).any()  # the research-use line is drawn (yellow text)
    plain = annotate(panel, [], footer="Research use only")
    assert plain.shape == (20 + 14, 200, 3)


def test_chance_level_is_defined_and_recorded_in_the_card() -> None:
    assert accuracy_at_chance(0.5, [0, 1] * 5)["at_chance"]  # the quick preset's "val acc 0.500" on 2 balanced
    assert accuracy_at_chance(0.7, [0, 0, 0, 1])["at_chance"]  # below the majority share 0.75
    assert not accuracy_at_chance(0.8, [0, 1] * 5)["at_chance"]
    assert accuracy_at_chance(None, [])["at_chance"] is None
    wide = auc_at_chance(0.62, [10, 10])
    assert wide["at_chance"] and wide["ci"][0] < 0.5 < wide["ci"][1]
    assert not auc_at_chance(0.9, [35, 35])["at_chance"] and auc_at_chance(0.2, [35, 35])["at_chance"]
    card = "\n".join(card_metrics({"inner_validation": accuracy_at_chance(0.5, [0, 1] * 5)}))
    assert "**Warning: the inner validation is at chance level** (inner-validation accuracy 0.500 on 10 rows" in card


def test_a_cnn_bundle_records_a_chance_level_inner_validation(data: dict[str, object], tmp_path: Path) -> None:
    import torch

    from gliograde.bundles.cnn import CnnBundle
    from gliograde.models import create_model
    from gliograde.training.engine import FitResult

    cohort = data["cohort"]
    assert isinstance(cohort, Cohort)
    torch.manual_seed(0)
    net = create_model("efficientnet_lite0", 2, weights="none").eval()
    cfg = RunConfig(kind="cnn", train=TrainCfg(model="efficientnet_lite0", weights="none", image_size=48, epochs=1,
                                               val_fraction=0.25))
    fit = FitResult(history=[{"epoch": 1, "val_loss": 0.69, "val_acc": 0.5}], best_epoch=1, stopped_epoch=1, model=net)
    CnnBundle.write(tmp_path / "b", cohort, fit, cfg)
    inner = json.loads((tmp_path / "b" / MODEL_JSON).read_text())["inner_validation"]
    assert inner["at_chance"] and inner["value"] == 0.5 and inner["chance"] >= 0.5
    assert "inner validation is at chance level" in (tmp_path / "b" / MODEL_CARD).read_text()


def test_a_frozen_random_backbone_is_refused_unless_allowed() -> None:
    from gliograde.settings import resolve

    quick = resolve("train", preset="quick", overrides={"kind": "cnn", "train": {"model": "alexnet",
                                                                                 "weights": "none"}})
    assert quick.train.freeze_backbone
    with pytest.raises(InputError, match=r"train.weights none with train.freeze_backbone true \(preset quick.*"
                                         r"--allow-random-frozen"):
        get_kind("cnn").check_settings(quick)
    get_kind("cnn").check_settings(quick, allow_random_frozen=True)
    get_kind("cnn").check_settings(resolve("train", preset="quick", overrides={"kind": "cnn"}))  # imagenet: fine
