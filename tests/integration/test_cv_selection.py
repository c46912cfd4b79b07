"""Honest model selection inside the experiment run: under every protocol, every configuration that selects a
model (:data:`gliograde.experiment.CONFIGS` with ``selects``) fits its candidates and its refit on the unit's
training patients only, repeats included. The selection functions themselves: tests/unit/test_selection.py."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from fakedata import write_slice_cohort

from gliograde.baselines.fusion import FusionClassifier
from gliograde.config import AugmentCfg, CVCfg, IngestCfg, PreprocessCfg, RunConfig, SelectionCfg
from gliograde.data.dataset import load_cohort
from gliograde.data.ingest import ingest
from gliograde.experiment import CONFIGS, Experiment, FeatureStore, run_protocol
from gliograde.experiment.selected import SelectedConfiguration
from gliograde.presets import get_preset

SELECTING = sorted(name for name, config in CONFIGS.items() if config.selects)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    root = tmp_path_factory.mktemp("sel")
    write_slice_cohort(root / "raw", [(f"P-{i:02d}", 2 + i % 2) for i in range(16)], size=32)
    cfg = IngestCfg(channels=("flair", "t1ce"), slices=2,
                    preprocess=PreprocessCfg(size=32, intensity="robust", region="brain_outside_roi"))
    ingest(root / "raw", root / "cohort", cfg, progress=False)
    c = load_cohort(root / "cohort")
    first_half = np.array([int(p[-2:]) < 8 for p in c.patient_ids])
    return dataclasses.replace(c, sites=np.where(first_half, "A", "B"))


def _exp(cohort, out, cv):
    cfg = RunConfig(train=get_preset("quick").train, augment=AugmentCfg(mode="none"), cv=cv)
    return Experiment(cohort, out, cfg, FeatureStore(cohort, out / "work"), progress=False)


@pytest.mark.parametrize("protocol", ["honest", "site"])
def test_no_selection_or_fusion_step_sees_a_test_patient(cohort, tmp_path, monkeypatch, protocol):
    """Every selecting configuration of the registry (today radiomics and fusion) in one run."""
    assert {"radiomics", "fusion"} <= set(SELECTING)
    rng = np.random.default_rng(0)
    rad = np.c_[np.arange(len(cohort), dtype=float), rng.normal(size=(len(cohort), 6))]  # col 0 = row id
    monkeypatch.setattr(FeatureStore, "roi", lambda self, families, **kw: rad)
    monkeypatch.setattr(FeatureStore, "cnn", lambda self, train: rng.normal(size=(len(cohort), 12)))
    fits: list[set[str]] = []
    real_fit = FusionClassifier.fit

    def spy(self, X, y, groups=None):  # groups: each row's patient, for the model's own inner CVs
        fits.append(set(cohort.patient_ids[X[:, 0].astype(int)]))
        return real_fit(self, X, y, groups)

    monkeypatch.setattr(FusionClassifier, "fit", spy)
    sel = SelectionCfg(inner_folds=3, classifiers=("logreg",), select_k=(0, 2), cnn_components=3)
    cv = CVCfg(folds=2, protocol=protocol, configs=tuple(SELECTING), n_boot=20, selection=sel)
    preds = run_protocol(_exp(cohort, tmp_path / "run", cv))
    folds = json.loads((tmp_path / "run" / "folds.json").read_text())["folds"]
    per_unit = 2 * 3 + 1  # 2 candidates x 3 inner folds, then the refit on all training patients
    assert len(fits) == per_unit * len(SELECTING) * len(folds)
    for i, pats in enumerate(fits):  # units run config-major, fold-minor
        fold = folds[(i // per_unit) % len(folds)]
        assert pats and not pats & set(fold["test"])
        assert pats <= set(fold["train"])
        assert (len(pats) == len(fold["train"])) == (i % per_unit == per_unit - 1)  # only the refit sees all
    doc = json.loads((tmp_path / "run" / "selection.json").read_text())
    assert set(doc["configs"]) == set(SELECTING) and doc["method"] == "inner_cv"
    for name in SELECTING:
        assert [f["fold"] for f in doc["configs"][name]["folds"]] == list(range(len(folds)))
    assert set(preds["chosen"]) <= {"logreg/k=all", "logreg/k=2"}
    assert preds.groupby("config")["patient_id"].nunique().tolist() == [16] * len(SELECTING)  # 2 slices, 1 row


def test_repeated_cv_selection_never_sees_the_units_test_patients(cohort, tmp_path, monkeypatch):
    """Under --repeats every unit's inner fits and refit see only that repeat's training patients."""
    rad = np.c_[np.arange(len(cohort), dtype=float), np.random.default_rng(1).normal(size=(len(cohort), 4))]
    monkeypatch.setattr(FeatureStore, "roi", lambda self, families, **kw: rad)
    current: dict[str, object] = {}
    seen: list[tuple[int, int, set[str]]] = []
    real_unit, real_fit = SelectedConfiguration.run_unit, FusionClassifier.fit

    def unit_spy(self, exp, fold, unit):
        current["fold"] = fold
        return real_unit(self, exp, fold, unit)

    def fit_spy(self, X, y, groups=None):
        f = current["fold"]
        pats = set(cohort.patient_ids[X[:, 0].astype(int)])
        assert pats and pats <= set(f.train) and not pats & set(f.test)
        seen.append((f.repeat, f.index, pats))
        return real_fit(self, X, y, groups)

    monkeypatch.setattr(SelectedConfiguration, "run_unit", unit_spy)
    monkeypatch.setattr(FusionClassifier, "fit", fit_spy)
    sel = SelectionCfg(inner_folds=3, classifiers=("logreg",), select_k=(0, 2))
    cv = CVCfg(folds=2, protocol="honest", configs=("radiomics",), n_boot=20, selection=sel, repeats=2)
    run_protocol(_exp(cohort, tmp_path / "run", cv))
    assert {(r, k) for r, k, _ in seen} == {(0, 0), (0, 1), (1, 0), (1, 1)}
    assert len(seen) == 4 * (2 * 3 + 1)
