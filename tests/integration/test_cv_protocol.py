"""The experiment run whole on a tiny cohort: the honest protocol never augments a test patient, an interrupted
run resumes to the uninterrupted result, a configuration added to the registry runs through ``run_cv``, and each
feature family is computed once per run."""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fakedata import write_slice_cohort

import gliograde.experiment.features as features_mod
from gliograde.config import AugmentCfg, CVCfg, IngestCfg, PreprocessCfg, RunConfig, SelectionCfg
from gliograde.data.dataset import load_cohort
from gliograde.data.ingest import ingest
from gliograde.experiment import CONFIGS, CVConfiguration, CVResult, Experiment, FeatureStore, run_cv, run_protocol
from gliograde.experiment.context import align_proba, fold_rows, prediction_table
from gliograde.presets import get_preset
from gliograde.splits import Fold

N_PATIENTS = 20
SELECTION = SelectionCfg(inner_folds=2, classifiers=("logreg",), select_k=(0, 3), cnn_components=2)


@pytest.fixture(scope="module")
def tiny_cohort(tmp_path_factory):
    root = tmp_path_factory.mktemp("cv")
    patients = [(f"P-{i:02d}", 2 + i % 2) for i in range(N_PATIENTS)]
    write_slice_cohort(root / "raw", patients, size=32)
    ingest(root / "raw", root / "cohort", IngestCfg(preprocess=PreprocessCfg(size=32)), progress=False)
    return load_cohort(root / "cohort")


def _exp(cohort, out, **cv):
    train = replace(get_preset("quick").train, image_size=32, epochs=2, batch_size=16, patience=0)
    cfg = RunConfig(train=train, augment=AugmentCfg(subset=2),
                    cv=CVCfg(folds=2, configs=("full", "handcrafted"), n_boot=50, **cv))
    return Experiment(cohort, out, cfg, FeatureStore(cohort, out / "work"), progress=False)


def test_honest_protocol_never_augments_a_test_patient(tiny_cohort, tmp_path, monkeypatch):
    import gliograde.training.cnn as augment  # the CNN trainer's own reference to expand_training

    seen: list[np.ndarray] = []
    real = augment.expand_training

    def spy(images, masks, labels, train_idx, cfg, **kw):
        seen.append(np.asarray(train_idx))
        return real(images, masks, labels, train_idx, cfg, **kw)

    monkeypatch.setattr(augment, "expand_training", spy)
    exp = _exp(tiny_cohort, tmp_path / "run")
    preds = run_protocol(exp)
    folds = json.loads((tmp_path / "run" / "folds.json").read_text())["folds"]
    assert len(seen) == 2
    for f, idx in zip(folds, seen, strict=False):
        assert not set(tiny_cohort.patient_ids[idx]) & set(f["test"])
    assert set(preds["config"]) == {"full", "handcrafted"}
    assert preds.groupby("config")["patient_id"].nunique().tolist() == [20, 20]
    assert {"p_2", "p_3", "label", "pred", "fold", "protocol"} <= set(preds.columns)
    np.testing.assert_allclose(preds[["p_2", "p_3"]].sum(axis=1), 1.0, atol=1e-6)


def test_resume_equals_uninterrupted(tiny_cohort, tmp_path, monkeypatch):
    import gliograde.experiment.core as core

    full = run_protocol(_exp(tiny_cohort, tmp_path / "a"))
    real, calls = core.compute_unit, []

    def flaky(item, exp):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(item, exp)

    monkeypatch.setattr(core, "compute_unit", flaky)
    with pytest.raises(KeyboardInterrupt):
        run_protocol(_exp(tiny_cohort, tmp_path / "b"))
    monkeypatch.setattr(core, "compute_unit", real)
    assert len(list((tmp_path / "b" / "work").rglob("predictions.csv"))) == 1
    resumed = run_protocol(_exp(tiny_cohort, tmp_path / "b"))
    pd.testing.assert_frame_equal(full, resumed)


def _cfg(**cv) -> RunConfig:
    """tests/unit/test_experiment_configs.py's settings: one epoch, a small selection grid."""
    train = replace(get_preset("quick").train, image_size=32, epochs=1, batch_size=16, patience=0)
    return RunConfig(train=train, augment=AugmentCfg(subset=1),
                     cv=CVCfg(**{"folds": 2, "n_boot": 20, "selection": SELECTION, **cv}))


def test_each_feature_family_is_computed_once_per_run_for_every_protocol(tiny_cohort, tmp_path, monkeypatch):
    """handcrafted and radiomics share PyRadiomics features; ``both`` shares them between its protocols."""
    calls: list[str] = []
    real = features_mod.family_matrix

    def spy(family, *args, **kw):
        calls.append(family)
        return real(family, *args, **kw)

    monkeypatch.setattr(features_mod, "family_matrix", spy)
    cfg = _cfg(protocol="both", configs=("handcrafted", "radiomics"))
    run_cv(tiny_cohort, tmp_path / "run", replace(cfg, augment=AugmentCfg(mode="none")), progress=False)
    assert calls == ["radiomics"]  # the old code extracted them 4 times (2 configurations x 2 protocols)
    assert (tmp_path / "run" / "compare" / "paper" / "predictions.csv").is_file()
    run_cv(tiny_cohort, tmp_path / "run", replace(cfg, augment=AugmentCfg(mode="none")), progress=False)
    assert calls == ["radiomics"]  # a rerun reads the cache


@dataclass(frozen=True)
class PriorConfiguration(CVConfiguration):
    """A toy configuration: every test patient gets the training fold's grade frequencies."""

    name: str = "prior"
    uses: frozenset[str] = field(default=frozenset())

    def run_unit(self, exp: Experiment, fold: Fold, unit: Path) -> pd.DataFrame:
        c = exp.cohort
        train_rows, test_rows = fold_rows(exp, fold)
        freq = np.bincount(c.labels[train_rows], minlength=len(c.classes)) / len(train_rows)
        proba = align_proba(np.tile(freq, (len(test_rows), 1)), np.arange(len(c.classes)), len(c.classes))
        return prediction_table(exp, self.name, fold, test_rows, proba)


def test_a_configuration_added_through_the_registry_runs_through_run_cv(tiny_cohort, tmp_path, monkeypatch):
    monkeypatch.setitem(CONFIGS, "prior", PriorConfiguration())
    result = run_cv(tiny_cohort, tmp_path / "run", _cfg(configs=("prior", "handcrafted")), progress=False)
    assert isinstance(result, CVResult) and result.report.is_file()
    assert set(result.metrics["configs"]) == {"prior", "handcrafted"} and "prior" in result.table
    preds = pd.read_csv(tmp_path / "run" / "predictions.csv")
    assert preds.groupby("config")["patient_id"].nunique().to_dict() == {"handcrafted": N_PATIENTS,
                                                                         "prior": N_PATIENTS}
    assert (tmp_path / "run" / "work" / "prior" / "fold1" / "predictions.csv").is_file()
