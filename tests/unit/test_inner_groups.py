"""The classical baselines' own inner CVs (SVM Platt scaling, ``tune=True``) split by patient / group, never by row.

With several rows per patient (``--slices k`` > 1) or several patients who are one person (a ``group`` column), a
row-level inner split puts one person's rows on both sides: leakage inside the training fold. Each test records
the rows every inner classifier is fitted on, through every caller that fits these pipelines (the estimator, the
selection, the final refit, ``--recalibrate platt``), and checks that no unit is on both sides of an inner split.
Column 0 of the features is the unit's code: equal for the rows of one unit after any per-column affine scaling,
so a unit is recognised in what the classifier sees.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
import skops.io as sio
from fakedata import small_cohort
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import SVC

from gliograde.baselines import classical
from gliograde.baselines.classical import HandcraftedBaseline, inner_cv, make_classifier
from gliograde.baselines.fusion import FusionClassifier
from gliograde.bundles.radiomics import TRUSTED_TYPES
from gliograde.bundles.skops_file import canonical_skops
from gliograde.config import ClassifierKind, CVCfg, RunConfig, SelectionCfg
from gliograde.errors import InputError
from gliograde.experiment import Experiment, FeatureStore, get_config
from gliograde.experiment.recalibrate import recalibrated
from gliograde.selection import Candidate, select_candidate
from gliograde.splits import group_keys, make_folds
from gliograde.training.radiomics import fit_selected


def _cohort(n: int = 24, per: int = 2, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X, y, pids): ``per`` rows per patient; column 0 codes the patient, the others are noise + signal."""
    rng = np.random.default_rng(seed)
    code = np.repeat(np.arange(n), per).astype(np.float64)
    y = np.repeat(np.arange(n) % 2, per)
    X = np.c_[code, rng.normal(size=(n * per, 4)) + 1.0 * y[:, None]]
    return X, y, np.repeat([f"p{i:02d}" for i in range(n)], per)


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> list[np.ndarray]:
    """Every matrix an SVC or a LogisticRegression of classical.py is fitted on, in order."""
    fits: list[np.ndarray] = []

    def recording(base: type) -> type:
        class Recording(base):  # type: ignore[misc]
            def fit(self, X: Any, y: Any, sample_weight: Any = None) -> Any:
                fits.append(np.array(X, dtype=np.float64))
                return super().fit(X, y, sample_weight)
        Recording.__name__ = base.__name__
        return Recording

    monkeypatch.setattr(classical, "SVC", recording(SVC))
    monkeypatch.setattr(classical, "LogisticRegression", recording(LogisticRegression))
    return fits


def _code(row: np.ndarray) -> object:
    return float(row[0])


def _straddling(fits: list[np.ndarray], unit: Callable[[np.ndarray], object] = _code) -> tuple[int, int]:
    """(inner splits seen, those with a unit on both sides); ``unit`` names the unit of a row as the model sees it.

    An inner CV fits its classifier on each training part, then (final fit or refit) on all its rows, a strict
    super-multiset of its parts; the validation part of a training part is the rest of those rows. Within one
    inner CV the classifier sees the same transformed rows, so rows match exactly.
    """
    n_splits = leaks = 0
    pending: list[tuple[Counter[bytes], set[object]]] = []
    for rows in fits:
        every = Counter(r.tobytes() for r in rows)
        if pending and all(part < every for part, _ in pending):
            unit_of = {r.tobytes(): unit(r) for r in rows}
            for part, inside in pending:
                val = {unit_of[k] for k in (every - part)}
                n_splits += 1
                leaks += bool(inside & val)
            pending = []
        else:
            pending.append((Counter(r.tobytes() for r in rows), {unit(r) for r in rows}))
    return n_splits, leaks


@pytest.mark.parametrize("kind", ["svm", "rbf_svm"])
def test_platt_folds_keep_a_patients_rows_together(kind: ClassifierKind, seen: list[np.ndarray]) -> None:
    X, y, pids = _cohort()
    HandcraftedBaseline(kind, random_state=1).fit(X, y, groups=pids)
    n, leaks = _straddling(seen)
    assert (n, leaks) == (classical.PLATT_FOLDS, 0)


def test_row_level_platt_folds_do_leak_without_groups(seen: list[np.ndarray]) -> None:
    """The check above can fail: the same fit without groups (row-level folds, sklearn's default) straddles."""
    X, y, _ = _cohort()
    HandcraftedBaseline("rbf_svm", random_state=1).fit(X, y)
    n, leaks = _straddling(seen)
    assert n == classical.PLATT_FOLDS and leaks > 0


def test_tuning_folds_keep_a_patients_rows_together(seen: list[np.ndarray]) -> None:
    X, y, pids = _cohort()
    HandcraftedBaseline("logreg", tune=True, random_state=2).fit(X, y, groups=pids)
    n, leaks = _straddling(seen)
    assert n == 3 * len(classical.PARAM_GRIDS["logreg"]["C"]) and leaks == 0


def test_selection_and_refit_split_by_patient_inside_every_candidate(seen: list[np.ndarray]) -> None:
    """select_candidate -> FusionClassifier -> make_classifier: each candidate's own Platt CV, every inner fold."""
    X, y, pids = _cohort(n=30)
    sel = SelectionCfg(classifiers=("rbf_svm",), select_k=(0, 3), inner_folds=3)
    fit_selected(X, y, pids, sel, n_radiomics=X.shape[1], seed=3)
    n, leaks = _straddling(seen)
    # 2 candidates x 3 selection folds + the final refit, each with its 3 Platt folds
    assert (n, leaks) == ((2 * 3 + 1) * classical.PLATT_FOLDS, 0)


def test_recalibration_passes_groups_to_the_refitted_model(seen: list[np.ndarray]) -> None:
    X, y, pids = _cohort(n=30)
    model = HandcraftedBaseline("svm", random_state=4).fit(X, y)  # recalibrated refits a clone: groups given there
    seen.clear()
    recalibrated(model, X, y, pids, CVCfg(recalibrate="platt"), seed=4)
    n, leaks = _straddling(seen)
    assert n == (CVCfg().selection.inner_folds + 1) * classical.PLATT_FOLDS and leaks == 0


def test_a_group_of_patients_is_one_unit_of_the_inner_cv(seen: list[np.ndarray]) -> None:
    """One row per patient, but patients 2i and 2i+1 are one person (a group column): the unit is the group."""
    rng = np.random.default_rng(5)
    n = 40
    person = np.arange(n) // 2
    y = person % 2
    pids = np.array([f"p{i:02d}" for i in range(n)])
    X = np.c_[person.astype(np.float64), rng.normal(size=(n, 3)) + y[:, None]]
    keys = group_keys(pids, [f"TCGA-{g}" for g in person])
    select_candidate(lambda c: HandcraftedBaseline(cast(ClassifierKind, c.classifier), select_k=c.select_k), X, y, pids,
                     [Candidate("svm"), Candidate("svm", 2)], inner_folds=3, groups=[f"TCGA-{g}" for g in person])
    n_splits, leaks = _straddling(seen)
    assert n_splits == 2 * 3 * classical.PLATT_FOLDS and leaks == 0
    seen.clear()
    HandcraftedBaseline("svm").fit(X, y, groups=pids)  # by patient only: the person straddles
    assert _straddling(seen)[1] > 0
    seen.clear()
    HandcraftedBaseline("svm").fit(X, y, groups=keys)
    assert _straddling(seen) == (classical.PLATT_FOLDS, 0)


@pytest.mark.parametrize("kind", ["logreg", "svm", "rbf_svm"])  # mlp's tuning is logreg's GridSearchCV (and slow)
@pytest.mark.parametrize("tune", [False, True])
def test_one_row_per_patient_gives_the_models_of_earlier_versions(kind: ClassifierKind, tune: bool) -> None:
    """Every row its own patient: the inner CV is the old StratifiedKFold and the predictions are the same bytes."""
    X, y, pids = _cohort(n=30, per=1)
    old = make_classifier(kind, 7, select_k=3, tune=tune).fit(X, y)
    new = make_classifier(kind, 7, select_k=3, tune=tune, y=y, groups=pids).fit(X, y)
    assert np.array_equal(old.predict_proba(X), new.predict_proba(X))
    cv = inner_cv(3, 7, y, pids)
    assert isinstance(cv, StratifiedKFold) and (cv.n_splits, cv.shuffle, cv.random_state) == (3, True, 7)
    fusion = FusionClassifier(kind, 3, n_radiomics=5, cnn_components=0, random_state=7)
    assert np.array_equal(fusion.fit(X, y).predict_proba(X), fusion.fit(X, y, groups=pids).predict_proba(X))


def test_inner_folds_are_the_splits_module_s_and_cover_every_row_once() -> None:
    _, y, pids = _cohort(n=12, per=3)
    folds = inner_cv(3, 0, y, pids)
    assert not isinstance(folds, StratifiedKFold)
    assert sorted(np.concatenate([va for _, va in folds]).tolist()) == list(range(len(y)))
    for tr, va in folds:
        assert not set(pids[tr]) & set(pids[va]) and set(y[va]) == {0, 1}
    with pytest.raises(InputError, match=">= 2 patients"):  # one patient of grade 1: no inner CV by patient
        inner_cv(3, 0, np.r_[np.zeros(9), np.ones(3)], np.repeat(["a", "b", "c", "d"], 3))


def test_a_tuned_svm_on_grouped_rows_is_refused_not_leaked() -> None:
    X, y, pids = _cohort()
    with pytest.raises(InputError, match="tune=True"):
        HandcraftedBaseline("rbf_svm", tune=True).fit(X, y, groups=pids)
    HandcraftedBaseline("rbf_svm", tune=True).fit(X[::2], y[::2], groups=pids[::2])  # one row per patient: fine


def test_a_grouped_svm_still_saves_as_a_trusted_bundle() -> None:
    """The index-list folds are plain arrays: model.skops needs no type beyond the bundle's trusted list."""
    X, y, pids = _cohort()
    model = make_classifier("rbf_svm", 0, y=y, groups=pids).fit(X, y)
    raw = canonical_skops(sio.dumps(model))
    untrusted = set(sio.get_untrusted_types(data=raw))
    assert untrusted <= TRUSTED_TYPES
    back = sio.loads(raw, trusted=sorted(untrusted))
    assert np.array_equal(back.predict_proba(X), model.predict_proba(X))


@pytest.mark.parametrize("name", ["handcrafted", "radiomics"])
def test_cv_units_with_two_slices_per_patient_never_split_a_patient_inside(name: str, tmp_path: Path,
                                                                           seen: list[np.ndarray]) -> None:
    """Through the CV units (the handcrafted SVM, the selected radiomics model, ``--recalibrate platt``): two
    identical rows per patient, as ``--slices 2`` of one slice; a row-level inner split holds one copy of two."""
    base = small_cohort(tmp_path / "c", 24)
    cohort = base.select(np.repeat(np.arange(len(base)), 2))
    sel = SelectionCfg(inner_folds=2, classifiers=("rbf_svm",), select_k=(0, 5))
    cfg = RunConfig(cv=CVCfg(folds=2, handcrafted_classifier="rbf_svm", selection=sel, recalibrate="platt"))
    exp = Experiment(cohort, tmp_path / "run", cfg, FeatureStore(cohort, tmp_path / "run" / "work"), progress=False)
    fold = make_folds(cohort.patient_ids, cohort.labels, 2, seed=0)[0]
    (tmp_path / "unit").mkdir()
    get_config(name).run_unit(exp, fold, tmp_path / "unit")
    n, leaks = _straddling(seen, unit=lambda row: row.tobytes())
    # fit on the training rows (radiomics: 2 candidates x 2 selection folds + the refit), then 2 recalibration
    # folds + the final fit; each fit with its 3 Platt folds
    assert (n, leaks) == (((1 if name == "handcrafted" else 2 * 2 + 1) + 2 + 1) * classical.PLATT_FOLDS, 0)


def test_an_ungrouped_inner_cv_is_capped_by_the_smallest_grade_or_refused_in_one_line() -> None:
    """Platt scaling's 3 inner folds on a training fold with 2 patients of a grade: 2 folds, not sklearn's error;
    one patient of a grade: a one-line refusal naming the fix."""
    from gliograde.baselines.classical import inner_cv

    cv = inner_cv(3, 0, [0, 0, 1, 1, 1, 1])
    assert cv.get_n_splits() == 2
    assert inner_cv(3, 0, [0, 0, 0, 1, 1, 1]).get_n_splits() == 3  # enough of each: as before
    with pytest.raises(InputError, match=r"one grade has 1 of 5; use more patients or fewer outer folds"):
        inner_cv(3, 0, [0, 1, 1, 1, 1])
