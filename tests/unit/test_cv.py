from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from fakedata import write_slice_cohort

from gliograde.config import AugmentCfg, CVCfg, IngestCfg, PreprocessCfg, RunConfig
from gliograde.data.dataset import load_cohort
from gliograde.data.ingest import ingest
from gliograde.errors import InputError
from gliograde.experiment import Experiment, FeatureStore, run_protocol
from gliograde.presets import get_preset
from gliograde.splits import make_folds, paper_folds, save_folds


def _ids(n):
    pids = np.repeat([f"p{i:02d}" for i in range(n)], 3)  # 3 slices per patient
    y = np.repeat(np.arange(n) % 3, 3)
    return pids, y


def test_folds_group_patients_and_test_each_once(seed):
    pids, y = _ids(30)
    folds = make_folds(pids, y, n_splits=5, seed=seed)
    tested = [p for f in folds for p in f.test]
    assert sorted(tested) == sorted(set(pids)) and len(tested) == 30
    for f in folds:
        assert not set(f.train) & set(f.test)
        assert len(f.train) + len(f.test) == 30
        grades = [int(p[1:]) % 3 for p in f.test]
        assert sorted(np.bincount(grades, minlength=3)) == [2, 2, 2]  # stratified
    assert make_folds(pids, y, 5, seed) == folds
    assert make_folds(pids, y, 5, seed + 1) != folds


def test_site_folds_leave_one_site_out():
    pids, y = _ids(12)
    sites = np.where(np.char.startswith(pids.astype(str), "p0"), "A", "B")
    folds = make_folds(pids, y, sites=sites)
    assert [f.site for f in folds] == ["A", "B"]
    with pytest.raises(InputError, match="at least 2 sites"):
        make_folds(pids, y, sites=np.full(len(pids), "A"))


def test_too_many_folds_is_a_clear_error():
    pids, y = _ids(6)
    with pytest.raises(InputError, match="smallest grade"):
        make_folds(pids, y, n_splits=5)


def test_paper_folds_scatter_copies_of_one_image():
    t, n = 9, 20
    folds = paper_folds(n * t, np.repeat(np.arange(n) % 2, t), n_splits=5, seed=0)
    fold_of = np.empty(n * t, int)
    for f in folds:
        fold_of[list(f.test_rows)] = f.index
    spread = [len(set(fold_of[i * t:(i + 1) * t])) for i in range(n)]
    assert max(spread) > 1  # copies of one image are on both sides of a split: the study's leak


def test_save_folds_refuses_other_folds(tmp_path):
    pids, y = _ids(12)
    f = make_folds(pids, y, 2, 0)
    save_folds(tmp_path / "folds.json", f, n_splits=2, seed=0, protocol="honest")
    save_folds(tmp_path / "folds.json", f, n_splits=2, seed=0, protocol="honest")  # same: fine
    with pytest.raises(InputError, match="other folds"):
        save_folds(tmp_path / "folds.json", make_folds(pids, y, 2, 1), n_splits=2, seed=1, protocol="honest")


@pytest.fixture(scope="module")
def tiny_cohort(tmp_path_factory):
    root = tmp_path_factory.mktemp("cv")
    patients = [(f"P-{i:02d}", 2 + i % 2) for i in range(20)]
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
    import json

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
    real, calls = core.run_unit, []

    def flaky(exp, config, fold):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(exp, config, fold)

    monkeypatch.setattr(core, "run_unit", flaky)
    with pytest.raises(KeyboardInterrupt):
        run_protocol(_exp(tiny_cohort, tmp_path / "b"))
    monkeypatch.setattr(core, "run_unit", real)
    assert len(list((tmp_path / "b" / "work").rglob("predictions.csv"))) == 1
    resumed = run_protocol(_exp(tiny_cohort, tmp_path / "b"))
    pd.testing.assert_frame_equal(full, resumed)
