"""The experiment's registry of CV configurations, its feature store, its typed folds and ``run_cv``.

Every configuration of :data:`gliograde.experiment.CONFIGS` runs one unit on a tiny cohort without ever
seeing its test patients' grades. A toy configuration added through the registry running end to end, and the
feature store shared by a whole run: tests/integration/test_cv_protocol.py.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from fakedata import small_cohort

from gliograde.config import AugmentCfg, CVCfg, RunConfig, SelectionCfg
from gliograde.errors import InputError
from gliograde.experiment import (
    CONFIGS,
    Experiment,
    FeatureStore,
    get_config,
    get_configs,
    run_protocol,
)
from gliograde.experiment.configuration import SECTIONS
from gliograde.presets import get_preset
from gliograde.splits import Fold, make_folds, paper_folds, save_folds

N_PATIENTS = 20
SELECTION = SelectionCfg(inner_folds=2, classifiers=("logreg",), select_k=(0, 3), cnn_components=2)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return small_cohort(tmp_path_factory.mktemp("cfg"), N_PATIENTS)


def _cfg(**cv) -> RunConfig:
    train = replace(get_preset("quick").train, image_size=32, epochs=1, batch_size=16, patience=0)
    return RunConfig(train=train, augment=AugmentCfg(subset=1),
                     cv=CVCfg(**{"folds": 2, "n_boot": 20, "selection": SELECTION, **cv}))


def _exp(cohort, out: Path, **cv) -> Experiment:
    return Experiment(cohort, out, _cfg(**cv), FeatureStore(cohort, out / "work"), progress=False)


def _swap_test_grades(cohort, fold: Fold):
    """The cohort with the grades of the fold's test patients swapped (2 <-> 3): only a leak can notice."""
    test = np.isin(cohort.patient_ids, list(fold.test))
    return dataclasses.replace(cohort, labels=np.where(test, 1 - cohort.labels, cohort.labels))


@pytest.mark.parametrize("name", list(CONFIGS))
def test_every_configuration_runs_one_unit_and_never_sees_its_test_patients(name, cohort, tmp_path):
    """One unit's test-patient predictions do not change when those patients' grades do."""
    config = get_config(name)
    assert config.name == name and config.uses <= SECTIONS
    fold = make_folds(cohort.patient_ids, cohort.labels, 2, seed=0)[0]
    tables = []
    for i, c in enumerate((cohort, _swap_test_grades(cohort, fold))):
        exp = _exp(c, tmp_path / f"run{i}", configs=(name,))
        unit = tmp_path / f"unit{i}"
        unit.mkdir()
        tables.append(config.run_unit(exp, fold, unit))
    a, b = tables
    assert sorted(a["patient_id"]) == sorted(fold.test) and set(a["config"]) == {name}
    assert (a["label"] != b["label"]).all()  # the swap reached the table's labels ...
    pcols = [f"p_{g}" for g in cohort.classes]
    np.testing.assert_array_equal(a[pcols].to_numpy(), b[pcols].to_numpy())  # ... never the predictions
    np.testing.assert_allclose(a[pcols].sum(axis=1), 1.0, atol=1e-6)
    if config.selects:
        assert json.loads((tmp_path / "unit0" / "selection.json").read_text())["fold"] == 0


def test_unknown_configurations_are_refused_naming_the_known_ones():
    with pytest.raises(InputError, match="'nope'.*full") as err:
        get_config("nope")
    assert "\n" not in str(err.value)
    with pytest.raises(InputError, match=r"\['a', 'b'\]"):
        get_configs(("full", "a", "b"))
    assert [c.name for c in get_configs(("radiomics", "full"))] == ["radiomics", "full"]


def test_ablations_are_settings_changes_of_the_full_configuration():
    cfg = _cfg()
    assert get_config("full").settings(cfg) == cfg
    assert get_config("no-pretrain").settings(cfg) == replace(cfg, train=replace(cfg.train, weights="none"))
    assert get_config("no-aug").settings(cfg) == replace(cfg, augment=replace(cfg.augment, mode="none"))
    assert {n for n, c in CONFIGS.items() if c.selects} == {"radiomics", "fusion"}
    assert get_config("fusion").uses == {"selection", "train"} and get_config("handcrafted").uses == frozenset()


def test_the_store_serves_one_matrix_per_family_and_ignores_a_cache_of_another_cohort(cohort, tmp_path):
    store = FeatureStore(cohort, tmp_path)
    np.savez(tmp_path / "semantic.npz", X=np.zeros((3, 2)))  # another cohort's rows
    X = store.family("semantic")
    assert X.shape[0] == len(cohort) and X.dtype == np.float64
    assert store.family("semantic") is X
    assert store.roi(("semantic", "radiomics")).shape == (len(cohort), X.shape[1] + store.family("radiomics").shape[1])
    assert FeatureStore(cohort, tmp_path).family("semantic").tolist() == X.tolist()  # read back from the cache


def test_folds_are_typed_and_write_the_same_folds_json_as_before(tmp_path):
    pids = np.repeat([f"p{i:02d}" for i in range(8)], 2)
    y = np.repeat(np.arange(8) % 2, 2)
    folds = make_folds(pids, y, 2, seed=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        folds[0].index = 3  # type: ignore[misc]
    assert folds[0].to_json() == {"fold": 0, "train": list(folds[0].train), "test": list(folds[0].test)}
    site = make_folds(pids, y, sites=np.where(np.isin(pids, ["p00", "p01", "p02", "p03"]), "A", "B"))
    assert list(site[0].to_json()) == ["fold", "train", "test", "site"]
    paper = paper_folds(16, y, 2, seed=0)
    assert paper[0].by_rows and list(paper[0].to_json()) == ["fold", "train_rows", "test_rows"]
    save_folds(tmp_path / "folds.json", folds, n_splits=2, seed=0, protocol="honest")
    old_layout = {"n_splits": 2, "seed": 0, "protocol": "honest",  # the dicts the experiment wrote before
                  "folds": [{"fold": f.index, "train": sorted(f.train), "test": sorted(f.test)} for f in folds]}
    assert (tmp_path / "folds.json").read_text() == json.dumps(old_layout, indent=1)


def test_run_protocol_refuses_an_unknown_configuration_before_any_work(cohort, tmp_path):
    with pytest.raises(InputError, match="unknown configuration"):
        run_protocol(_exp(cohort, tmp_path / "run", configs=("handcrafted", "bogus")))
    assert not (tmp_path / "run").exists()
