"""Honest model selection, fusion and the recommended preset: no selection step sees a test patient.
Selection inside the experiment run: tests/integration/test_cv_selection.py."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from gliograde.baselines.fusion import FusionClassifier
from gliograde.config import CVCfg, IngestCfg
from gliograde.errors import InputError
from gliograde.presets import get_preset
from gliograde.selection import (
    Candidate,
    grid,
    patient_auc,
    select_candidate,
)
from gliograde.splits import inner_splits


def _pids(n, per=2):
    return np.repeat([f"p{i:02d}" for i in range(n)], per), np.repeat(np.arange(n) % 2, per)


@pytest.mark.parametrize("method", ["inner_cv", "inner_split"])
def test_inner_splits_keep_patients_whole_and_cover_rows(method, seed):
    pids, y = _pids(20)
    splits = inner_splits(pids, y, method, inner_folds=4, seed=seed)
    assert len(splits) == (4 if method == "inner_cv" else 1)
    for tr, va in splits:
        assert not set(pids[tr]) & set(pids[va])
        assert sorted(np.r_[tr, va]) == list(range(len(pids)))
        assert set(y[va]) == {0, 1}
    if method == "inner_cv":
        assert sorted(np.concatenate([va for _, va in splits])) == list(range(len(pids)))


def test_inner_cv_caps_folds_by_smallest_grade_and_refuses_one_patient():
    pids, y = _pids(6)  # 3 patients per grade
    assert len(inner_splits(pids, y, "inner_cv", inner_folds=5)) == 3
    with pytest.raises(InputError, match=">= 2 patients"):
        inner_splits(pids[:6], np.array([0, 0, 0, 0, 1, 1]), "inner_cv")
    with pytest.raises(InputError, match="selection method"):
        inner_splits(pids, y, "bogus")


def test_patient_auc_averages_rows_per_patient():
    # row-level this ranking is imperfect; per patient (mean) it is perfect
    proba = [[0.4, 0.6], [1.0, 0.0], [0.3, 0.7], [0.6, 0.4]]
    assert patient_auc(["a", "a", "b", "b"], [0, 0, 1, 1], proba) == 1.0
    assert np.isnan(patient_auc(["a", "b"], [1, 1], [[0.5, 0.5], [0.2, 0.8]]))
    three = np.eye(3)[[0, 1, 2]] * 0.8 + 0.1 / 1.0
    assert patient_auc(["a", "b", "c"], [0, 1, 2], three) == 1.0


def test_grid_and_candidate_labels():
    assert [c.label for c in grid(["logreg", "rbf_svm"], [0, 5])] == [
        "logreg/k=all", "logreg/k=5", "rbf_svm/k=all", "rbf_svm/k=5"]
    with pytest.raises(InputError, match="empty"):
        grid([], [5])


def test_select_candidate_prefers_the_informative_feature_and_never_sees_other_rows():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 20)
    X = rng.normal(size=(40, 30))
    X[:, 0] += 3 * y  # only feature 0 carries the grade
    X = np.c_[np.arange(40.0), X]  # column 0 = row id, to spy on what each fit sees
    seen: list[set[int]] = []

    class Spy(FusionClassifier):
        def fit(self, X, y):
            seen.append(set(X[:, 0].astype(int)))
            return super().fit(X[:, 1:], y)

        def predict_proba(self, X):
            return super().predict_proba(X[:, 1:])

    pids = np.array([f"p{i}" for i in range(40)])
    train = np.arange(30)  # rows 30..39 play the outer test fold
    cands = [Candidate("logreg", 20), Candidate("logreg", 1)]
    res = select_candidate(lambda c: Spy(c.classifier, c.select_k, n_radiomics=30, cnn_components=0),
                           X[train], y[train], pids[train], cands, method="inner_cv", inner_folds=3, seed=0)
    assert res.chosen == Candidate("logreg", 1)
    assert res.scores["logreg/k=1"] > res.scores["logreg/k=20"]
    assert len(seen) == 6 and all(s <= set(range(30)) and len(s) < 30 for s in seen)
    assert res.as_dict()["chosen"] == "logreg/k=1" and res.n_inner == 3


def test_selection_none_takes_the_first_candidate_without_fitting():
    res = select_candidate(lambda c: 1 / 0, np.zeros((4, 2)), [0, 1, 0, 1], list("abcd"),
                           [Candidate("rbf_svm", 5), Candidate("logreg")], method="none")
    assert res.chosen == Candidate("rbf_svm", 5) and res.scores == {} and res.method == "none"


def test_fusion_pca_block_and_radiomics_only_agree_when_cnn_is_dropped():
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1], 12)
    rad = rng.normal(size=(24, 5)) + y[:, None]
    X = np.c_[rad, rng.normal(size=(24, 40))]
    a = FusionClassifier("logreg", n_radiomics=5, cnn_components=0).fit(X, y).predict_proba(X)
    b = FusionClassifier("logreg", n_radiomics=5, cnn_components=0).fit(np.c_[rad, X[:, 5:]], y).predict_proba(X)
    np.testing.assert_allclose(a, b)
    fused = FusionClassifier("logreg", select_k=3, n_radiomics=5, cnn_components=4).fit(X, y)
    pca = fused.model_.named_steps["fuse"].named_transformers_["cnn"].named_steps["pca"]
    assert pca.n_components_ == 4 and pca.n_features_in_ == 40
    with pytest.raises(InputError, match="features"):
        fused.predict_proba(X[:, :10])


def test_recommended_preset_carries_ingest_and_cv_settings(tmp_path):
    from gliograde.settings import resolve

    ing = get_preset("recommended").ingest
    assert ing.channels == ("flair", "t1ce") and ing.preprocess.region == "brain_outside_roi"
    assert get_preset("paper").ingest == IngestCfg() and get_preset("paper").cv == CVCfg()
    yaml = tmp_path / "c.yaml"
    yaml.write_text("ingest:\n  slices: 3\n  preprocess:\n    rim: 4\ncv:\n  selection:\n    inner_folds: 4\n")
    cfg = resolve("cv", preset="recommended", config=yaml, overrides={"cv": {"selection": {"method": "inner_split"}}})
    ing = cfg.ingest
    assert (ing.slices, ing.preprocess.rim, ing.preprocess.intensity) == (3, 4, "robust")
    assert cfg.cv.configs == ("radiomics",) and cfg.cv.selection.inner_folds == 4
    assert cfg.cv.selection.method == "inner_split" and cfg.train.preset == "recommended"
    train = resolve("train", config=yaml)  # train: the preset's method, the YAML's grid
    assert train.cv.selection == replace(cfg.cv.selection, method="inner_cv") and train.kind == "radiomics"
    assert (get_preset("recommended").kind, get_preset("quick").kind) == ("radiomics", "cnn")
    assert resolve("train").preset == resolve("cv").preset == "recommended"
