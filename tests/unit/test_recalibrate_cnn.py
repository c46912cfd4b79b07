"""``--recalibrate platt`` for the CNN configurations: a Platt fit on the CNN's early-stopping validation patients
(training fold only) maps its test-fold probabilities; ``none`` leaves predictions and unit hashes as they were;
the paper protocol's CNN units are not recalibrated (their only held-out rows are the test fold)."""
from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fakedata import small_cohort

from gliograde.config import AugmentCfg, CVCfg, RunConfig, TrainCfg
from gliograde.data.dataset import Cohort
from gliograde.errors import InputError
from gliograde.experiment import cnn as cnn_module
from gliograde.experiment.cnn import CNNConfiguration
from gliograde.experiment.context import Experiment
from gliograde.experiment.core import unit_hash, unit_inputs
from gliograde.experiment.features import FeatureStore
from gliograde.experiment.recalibrate import platt_mapped
from gliograde.splits import Fold

#: The tiny CNN of tests/unit/test_kinds.py, with an early-stopping split to fit the recalibration on.
TRAIN = TrainCfg(model="efficientnet_lite0", weights="none", image_size=32, epochs=1, batch_size=8, val_fraction=0.34,
                 patience=0, device="cpu")


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Cohort:
    return small_cohort(tmp_path_factory.mktemp("recal-cnn"), 12)  # type: ignore[no-any-return]


def _exp(cohort: Cohort, out: Path, recalibrate: str, protocol: str = "honest", **train: Any) -> Experiment:
    cfg = RunConfig(preset="test", train=replace(TRAIN, **train), augment=AugmentCfg(mode="none"),
                    cv=CVCfg(configs=("full",), recalibrate=recalibrate, protocol=protocol))  # type: ignore[arg-type]
    return Experiment(cohort, out, cfg, FeatureStore(cohort, out / "work"), progress=False)


def test_cnn_units_recalibrate_on_training_patients_only(cohort: Cohort, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    pids = sorted(set(cohort.patient_ids))
    test = (pids[0], pids[1], pids[6])
    fold = Fold(0, train=tuple(p for p in pids if p not in test), test=test)
    seen: list[dict[str, Any]] = []

    def spy(proba: np.ndarray, cal_proba: np.ndarray, cal_labels: np.ndarray, **kw: Any) -> np.ndarray:
        seen.append({"proba": proba.copy(), "n_cal": len(cal_proba), **kw})
        return platt_mapped(proba, cal_proba, cal_labels, **kw)

    monkeypatch.setattr(cnn_module, "platt_mapped", spy)
    config = CNNConfiguration("full")
    tables, hashes = {}, {}
    for mode in ("none", "platt"):
        exp = _exp(cohort, tmp_path / mode, mode)
        unit = tmp_path / mode / "unit"
        unit.mkdir(parents=True)
        config.prepare(exp)
        tables[mode] = config.run_unit(exp, fold, unit)
        hashes[mode] = unit_hash(unit_inputs(exp, config, fold))
        if mode == "none":  # at its default the key is left out: earlier runs' CNN units keep their hash
            assert "recalibrate" not in unit_inputs(exp, config, fold)["settings"]
    assert len(seen) == 1  # fitted once, for platt only
    cal = set(np.asarray(seen[0]["cal_patients"]).tolist())
    assert cal and cal <= set(fold.train) and not cal & set(test)  # its early-stopping patients, never a test one
    assert seen[0]["n_cal"] == len(seen[0]["cal_patients"])
    assert set(np.asarray(seen[0]["test_patients"]).tolist()) == set(test)
    cols = [c for c in tables["none"].columns if c.startswith("p_")]
    raw, none, platt = seen[0]["proba"], tables["none"][cols].to_numpy(), tables["platt"][cols].to_numpy()
    assert np.array_equal(raw, none)  # none: exactly the CNN's own probabilities, as before the option existed
    assert np.allclose(platt.sum(axis=1), 1) and not np.allclose(platt, none)
    assert hashes["none"] != hashes["platt"]  # a platt unit is never reused for a none run, nor the reverse


def test_platt_refuses_a_test_patient_and_a_missing_grade() -> None:
    p = np.array([[0.7, 0.3], [0.6, 0.4], [0.2, 0.8]])
    with pytest.raises(AssertionError, match="test patient"):
        platt_mapped(p, p, np.array([0, 0, 1]), cal_patients=["a", "b", "c"], test_patients=["c"])
    with pytest.raises(InputError, match="grade index"):
        platt_mapped(p, p, np.array([0, 0, 0]), cal_patients=["a", "b", "c"], test_patients=["t"])


def test_paper_cnn_units_are_not_recalibrated_and_no_val_split_is_an_error(
        cohort: Cohort, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = CNNConfiguration("full")
    with caplog.at_level(logging.WARNING, logger="gliograde.experiment.cnn"):
        config.prepare(_exp(cohort, tmp_path, "platt", protocol="paper"))
    assert "not applied to CNN configurations under the paper protocol" in caplog.text
    with pytest.raises(InputError, match="val-fraction"):
        config.prepare(_exp(cohort, tmp_path, "platt", val_fraction=0.0))
    config.prepare(_exp(cohort, tmp_path, "none", val_fraction=0.0))  # none needs no split
