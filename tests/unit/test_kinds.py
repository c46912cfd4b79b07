"""Model kinds behind one interface: every registered kind trains, writes, loads, predicts and explains the same
way, prediction and validation run the kind's own inference, and a new kind is one class plus one registry line
(shown with a toy kind that grades by mean ROI intensity)."""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from fakedata import TINY_CONFIGS, TINY_SIZE, write_slice_cohort

from gliograde.bundles import (
    KINDS,
    MODEL_CARD,
    MODEL_JSON,
    CasePrediction,
    CropScores,
    ModelKind,
    TrainReport,
    get_kind,
    load_bundle,
)
from gliograde.bundles.meta import shared_meta, write_meta
from gliograde.config import IngestCfg, PreprocessCfg, RunConfig, from_dict
from gliograde.data.cohort import read_ingest_cfg
from gliograde.data.dataset import Cohort, load_cohort
from gliograde.data.ingest_run import run_ingest
from gliograde.errors import InputError
from gliograde.export import export_onnx
from gliograde.prediction import predict
from gliograde.prediction.cases import find_cases
from gliograde.runinfo import sha256_file
from gliograde.validation.run import ValidateCfg, grade_cohort, prepare_cohort, run_validation

TRAIN = [(f"T-{i:02d}", 2 if i % 2 else 3) for i in range(12)]
VAL = [(f"V-{i:02d}", 2 if i % 2 else 3) for i in range(6)]
SIZE = TINY_SIZE
TINY = TINY_CONFIGS


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Cohort]:
    """(raw slice cohort, its ingested cohort): one channel (t1ce), 48 px crops, grades 2 and 3."""
    tmp = tmp_path_factory.mktemp("kinds")
    raw = write_slice_cohort(tmp / "raw", TRAIN, size=40, channels=3)
    run_ingest(raw, tmp / "cohort", IngestCfg(channels=("t1ce",), preprocess=PreprocessCfg(size=SIZE)),
               figures=False, progress=False)
    return raw, load_cohort(tmp / "cohort")


@pytest.fixture(scope="module", params=sorted(KINDS))
def trained(request: pytest.FixtureRequest, cohort: tuple[Path, Cohort],
            tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, TrainReport]:
    """(kind, bundle folder, report) for every registered kind, trained through the registry."""
    name = request.param
    assert name in TINY, f"kind {name!r} is registered but has no tiny RunConfig in TINY; add one"
    out = tmp_path_factory.mktemp(name) / "bundle"
    report = get_kind(name).train(cohort[1], out, TINY[name], progress=False)
    return name, out, report


def test_every_kind_writes_and_loads_through_the_registry(trained: tuple[str, Path, TrainReport]) -> None:
    name, out, report = trained
    assert report.bundle == out and report.lines and str(out) in report.lines[-1]
    meta = json.loads((out / MODEL_JSON).read_text())
    assert meta["kind"] == name and meta["preprocessing"]["channels"] == ["t1ce"]
    bundle = load_bundle(out)
    assert type(bundle) is KINDS[name] and bundle.kind == name and bundle.classes == (2, 3)
    assert bundle.meta == meta and len(bundle.fingerprint) == 64 and bundle.path == out
    card = (out / MODEL_CARD).read_text()
    assert bundle.card_section() in card and "not a medical device" in card
    assert bundle.describe()["kind"] == name and bundle.describe()["classes"] == [2, 3]
    assert get_kind(name).uses <= {"train", "augment", "selection"}
    summary = get_kind(name).settings_summary(TINY[name])
    assert {"cnn": TINY[name].train.model, "prior": "fixed rule"}.get(name, "over logreg x k 3") in summary


def test_case_and_crop_inference_agree(trained: tuple[str, Path, TrainReport], cohort: tuple[Path, Cohort],
                                       tmp_path: Path) -> None:
    """predict_case on the raw files == validation's inference on the ingested cohort, on the input the kind reads
    (the crops, or each patient's case found again from the manifest): one inference for predict and validate."""
    name, out, _ = trained
    raw, coh = cohort
    bundle = load_bundle(out)
    assert bundle.warm_up() > 0
    cases, _ = find_cases(sorted(p for p in raw.iterdir() if p.is_dir())[:3], None)
    val = prepare_cohort(coh.root, bundle, work=tmp_path, progress=False, cases=bundle.reads == "case")
    keep = val.table["patient_id"].isin([f"T-{i:02d}" for i in range(3)]).to_numpy()
    scores = grade_cohort(bundle, val, keep)
    assert scores.proba.shape == (3, 2) and np.allclose(scores.proba.sum(1), 1.0)
    by_id = dict(zip(val.table["patient_id"][keep], scores.proba, strict=True))
    for k, ci in enumerate(cases):
        assert ci.source is not None
        pred = bundle.predict_case(ci.source)
        np.testing.assert_allclose([pred.probabilities[g] for g in bundle.classes], by_id[f"T-{k:02d}"], atol=1e-5)
        assert set(pred.timings_ms) == {"read", "preprocess", "inference", "total"}
        evidence = bundle.evidence(pred)
        assert evidence is not None and evidence["target_grade"] == pred.grade
        panel = bundle.panel(pred, f"grade {pred.grade}")
        assert panel is not None and panel.dtype == np.uint8 and panel.shape[1:] == (512, 3)
        plain = bundle.predict_case(ci.source, explain=False)
        np.testing.assert_allclose(list(plain.probabilities.values()), list(pred.probabilities.values()), atol=1e-6)
        assert bundle.evidence(plain) is None


def test_export_is_refused_for_kinds_without_a_network(trained: tuple[str, Path, TrainReport],
                                                        tmp_path: Path) -> None:
    name, out, _ = trained
    bundle = load_bundle(out)
    if name == "cnn":
        assert bundle.onnx_graph().in_chans == 1
    else:
        with pytest.raises(InputError, match="has no network to export"):
            bundle.onnx_graph()
        with pytest.raises(InputError, match="has no network to export"):  # what `gliograde export` calls
            export_onnx(bundle, tmp_path / "m.onnx")
        assert not (tmp_path / "m.onnx").exists()


def test_bundle_without_kind_is_a_cnn_and_unknown_kinds_are_named(trained: tuple[str, Path, TrainReport],
                                                                   tmp_path: Path) -> None:
    name, out, _ = trained
    copy = tmp_path / "b"
    shutil.copytree(out, copy)
    meta = json.loads((copy / MODEL_JSON).read_text())
    if name == "cnn":  # bundles written before model.json had a kind
        (copy / MODEL_JSON).write_text(json.dumps({k: v for k, v in meta.items() if k != "kind"}))
        assert load_bundle(copy).kind == "cnn"
    (copy / MODEL_JSON).write_text(json.dumps({**meta, "kind": "quantum"}))
    with pytest.raises(InputError, match="unknown bundle kind 'quantum'; expected one of cnn, prior, radiomics"):
        load_bundle(copy)
    with pytest.raises(InputError, match="unknown model kind 'quantum'; choose one of cnn, prior, radiomics"):
        get_kind("quantum")


# ---- a third kind: one class, one registry line ---------------------------------------------------------------
@dataclass(frozen=True)
class MeanIntensity(ModelKind[float]):
    """Toy kind: P(higher grade) rises with the mean grey level in the ROI, around a threshold set in training."""

    name: ClassVar[str] = "mean-intensity"
    uses: ClassVar[frozenset[str]] = frozenset()

    path: Path
    classes: tuple[int, ...]
    ingest: IngestCfg
    fingerprint: str
    meta: dict[str, Any]
    threshold: float

    @classmethod
    def train_header(cls, cohort: Cohort, out: Path, cfg: RunConfig) -> str:
        return f"training mean-intensity on {len(cohort)} slices -> {out}"

    @classmethod
    def train(cls, cohort: Cohort, out: Path, cfg: RunConfig, *, cv_metrics: dict[str, Any] | None = None,
              progress: bool = True) -> TrainReport:
        means = np.array([img[-1][m].mean() for img, m in zip(cohort.images, cohort.masks, strict=True)])
        threshold = float(np.mean([means[cohort.labels == k].mean() for k in range(len(cohort.classes))]))
        cls.write(out, cohort, threshold, cfg, cv_metrics=cv_metrics)
        return TrainReport(bundle=Path(out), lines=[f"threshold {threshold:.1f}"])

    @classmethod
    def write(cls, out: Path, cohort: Cohort, fit: float, cfg: RunConfig, *,
              cv_metrics: dict[str, Any] | None = None) -> Path:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "threshold.json").write_text(json.dumps({"threshold": fit}))
        meta = {"kind": cls.name, "classes": [int(c) for c in cohort.classes],
                "model_sha256": sha256_file(out / "threshold.json"),
                **shared_meta(out, cohort, read_ingest_cfg(cohort.root), cv_metrics)}
        write_meta(out, meta, "# Model card: mean intensity\n\nResearch only: not a medical device.\n\n"
                   + "\n".join(card_lines(fit)))
        return out

    @classmethod
    def load(cls, path: Path, meta: dict[str, Any], device: str = "cpu") -> MeanIntensity:
        return cls(path=path, classes=tuple(meta["classes"]), ingest=from_dict(IngestCfg, meta["preprocessing"]),
                   fingerprint=sha256_file(path / "threshold.json"), meta=meta,
                   threshold=float(json.loads((path / "threshold.json").read_text())["threshold"]))

    def model_input(self, crop: npt.NDArray[np.uint8], mask: npt.NDArray[np.bool_], area_px: float,
                    where: str) -> float:
        return float((crop if crop.ndim == 2 else crop[..., -1])[mask].mean())

    def infer(self, x: float, mask: npt.NDArray[np.bool_],
              explain: bool) -> tuple[npt.NDArray[np.float64], dict[str, Any]]:
        high = 1.0 / (1.0 + np.exp(-(x - self.threshold) / 10.0))
        return np.array([1.0 - high, high]), {}

    def predict_crops(self, images: npt.NDArray[np.uint8], masks: npt.NDArray[np.bool_],
                      roi_area_px: npt.ArrayLike, *, batch_size: int = 16) -> CropScores:
        probs = [self.infer(self.model_input(img[-1], m, 0.0, ""), m, False)[0]
                 for img, m in zip(images, masks, strict=True)]
        return CropScores(np.array(probs).reshape(-1, len(self.classes)))

    def evidence(self, pred: CasePrediction) -> dict[str, Any] | None:
        return {"method": "mean ROI intensity", "threshold": self.threshold, "target_grade": pred.grade}

    def panel(self, pred: CasePrediction, title: str) -> npt.NDArray[np.uint8] | None:
        return None

    def card_section(self) -> str:
        return "\n".join(card_lines(self.threshold))

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "classes": list(self.classes), "threshold": self.threshold}


def card_lines(threshold: float) -> list[str]:
    return ["## Model", f"- mean ROI grey level, threshold {threshold:.2f}", ""]


def test_a_new_kind_is_one_class_and_one_registry_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                       cohort: tuple[Path, Cohort]) -> None:
    monkeypatch.setitem(KINDS, MeanIntensity.name, MeanIntensity)  # the one registry line
    raw, coh = cohort
    report = get_kind("mean-intensity").train(coh, tmp_path / "b", RunConfig(kind="mean-intensity"))
    assert report.lines[0].startswith("threshold")
    bundle = load_bundle(tmp_path / "b")
    assert isinstance(bundle, MeanIntensity) and bundle.card_section() in (tmp_path / "b" / MODEL_CARD).read_text()

    folders = sorted(p for p in raw.iterdir() if p.is_dir())[:4]
    res = predict(str(tmp_path / "b"), [str(f) for f in folders], out=str(tmp_path / "pred"),  # as in the README
                  keep_ids=True)
    assert [r.status for r in res] == ["ok"] * 4
    doc = json.loads((tmp_path / "pred" / res[0].case / "prediction.json").read_text())
    assert doc["model"]["kind"] == "mean-intensity" and doc["evidence"]["method"] == "mean ROI intensity"
    assert doc["overlay"] is None and doc["bundle_fingerprint"] == bundle.fingerprint
    assert pd.read_csv(tmp_path / "pred" / "summary.csv")["status"].tolist() == ["ok"] * 4

    val = write_slice_cohort(tmp_path / "val", VAL, size=44, channels=3)
    out = run_validation(tmp_path / "b", val, tmp_path / "val_out", ValidateCfg(n_boot=0, min_per_grade=1),
                         progress=False)
    assert out.metrics["model"]["kind"] == "mean-intensity" and out.metrics["n"] == len(VAL)
    table = out.table.set_index("patient_id")
    again = predict(bundle, sorted(p for p in val.iterdir() if p.is_dir()), keep_ids=True)
    for r in again:  # validation graded each patient exactly as predict does
        pid = r.case.removesuffix("_2000").replace("_", "-")
        assert table.loc[pid, "p_3"] == pytest.approx(r.probabilities[3], abs=1e-9)
    assert list(out.table.columns) == ["patient_id", "site", "label", "p_2", "p_3", "pred"]
