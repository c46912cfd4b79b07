"""The label-permutation check (gliograde.experiment.permute): shuffles keep a patient's slices together, keep
each site's grade mix under the site protocol, are seeded, enter the unit hash, and the p-value is the empirical
one. The whole check through ``gliograde cv --permute-labels``: tests/integration/test_permute_cli.py."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gliograde.config import CVCfg, RunConfig
from gliograde.data.dataset import Cohort
from gliograde.experiment.configs import get_config
from gliograde.experiment.context import Experiment
from gliograde.experiment.core import unit_hash, unit_inputs
from gliograde.experiment.permute import empirical_p, labels_sha256, permuted_labels, pooled_statistics
from gliograde.splits import Fold


def _patients(n: int = 40, slices: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pids = np.repeat([f"P{i:02d}" for i in range(n)], slices)
    y = np.repeat(np.arange(n) % 2, slices)
    sites = np.repeat(np.where(np.arange(n) < n // 2, "A", "B"), slices)
    return pids, y, sites


def test_a_patients_slices_share_one_shuffled_grade_and_counts_stay() -> None:
    pids, y, _ = _patients()
    lab = permuted_labels(pids, y, None, seed=0, index=0)
    per = pd.Series(lab).groupby(pids).nunique()
    assert (per == 1).all()  # never a patient with two grades: its slices are one unit, in training and test
    assert np.bincount(lab).tolist() == np.bincount(y).tolist()
    assert not np.array_equal(lab, y)  # something moved
    assert np.array_equal(lab, permuted_labels(pids, y, None, seed=0, index=0))  # seeded
    assert not np.array_equal(lab, permuted_labels(pids, y, None, seed=0, index=1))
    assert not np.array_equal(lab, permuted_labels(pids, y, None, seed=1, index=0))


def test_site_protocol_shuffles_within_each_site() -> None:
    pids, y, sites = _patients()
    y = np.where(sites == "A", y, 1)  # site B: all grade 1, site A mixed
    lab = permuted_labels(pids, y, sites, seed=0, index=2)
    for s in ("A", "B"):
        assert sorted(lab[sites == s]) == sorted(y[sites == s])
    assert (lab[sites == "B"] == 1).all()
    anywhere = permuted_labels(pids, y, None, seed=0, index=2)
    assert not (anywhere[sites == "B"] == 1).all()  # without sites the grades cross them


def test_empirical_p_counts_ties_and_is_never_zero() -> None:
    assert empirical_p(0.9, [0.5] * 19) == pytest.approx(1 / 20)
    assert empirical_p(0.5, [0.5, 0.4, 0.6]) == pytest.approx(3 / 4)
    assert empirical_p(0.7, [float("nan"), 0.8]) == pytest.approx(1.0)
    assert empirical_p(float("nan"), [0.5]) is None


def test_pooled_statistics_are_those_of_repeat_0() -> None:
    t = pd.DataFrame({"patient_id": list("abcdabcd"), "repeat": [0] * 4 + [1] * 4, "fold": 0, "config": "x",
                      "label": [2, 2, 3, 3] * 2, "p_2": [.9, .8, .3, .1, .1, .2, .7, .9],
                      "p_3": [.1, .2, .7, .9, .9, .8, .3, .1]})
    assert pooled_statistics(t, (2, 3)) == {"x": {"auc": 1.0, "accuracy": 1.0}}


def _exp(tmp_path: Path, permutation: dict[str, object] | None, **cv: object) -> Experiment:
    n = 8
    cohort = Cohort(root=tmp_path, manifest=pd.DataFrame(), images=np.zeros((n, 1, 4, 4), np.uint8),
                    masks=np.zeros((n, 4, 4), bool), labels=np.arange(n) % 2, classes=(2, 3),
                    patient_ids=np.array([f"P{i}" for i in range(n)]), sites=np.full(n, ""))

    class Store:
        fingerprint = {"sha256": "ab" * 32}

    cfg = RunConfig(cv=CVCfg(configs=("handcrafted",), **cv))  # type: ignore[arg-type]
    return Experiment(cohort, tmp_path, cfg, Store(), progress=False, permutation=permutation)  # type: ignore[arg-type]


def test_the_shuffle_is_part_of_the_unit_hash_and_the_flag_is_not(tmp_path: Path) -> None:
    config, fold = get_config("handcrafted"), Fold(0, train=("P0", "P1"), test=("P2",))
    real = unit_hash(unit_inputs(_exp(tmp_path, None), config, fold))
    # the real run's units do not change with the check: --permute-labels N reuses them
    assert unit_hash(unit_inputs(_exp(tmp_path, None, permute_labels=20), config, fold)) == real
    lab = np.arange(8) % 2
    shuffles = [{"index": i, "seed": [0, i], "labels_sha256": labels_sha256(lab)} for i in (0, 1)]
    h0, h1 = (unit_hash(unit_inputs(_exp(tmp_path, s), config, fold)) for s in shuffles)
    assert len({real, h0, h1}) == 3
    assert unit_hash(unit_inputs(_exp(tmp_path, None, recalibrate="platt"), config, fold)) != real


def test_the_report_says_how_far_the_paper_protocol_climbs_or_why_it_cannot() -> None:
    from gliograde.report.permutation import leak_lines

    def doc(shared: int, paper_null: float) -> dict[str, object]:
        def entry(mean: float) -> dict[str, object]:
            return {"auc": {"real": 0.7, "null": {"values": [mean], "mean": mean, "sd": None, "min": mean,
                                                  "max": mean, "n": 1}, "p": 0.5}}
        return {"n": 1, "protocols": {
            "honest": {"shared_test_rows": {"shared": 0, "of": 30}, "configs": {"radiomics": entry(0.51)}},
            "paper": {"shared_test_rows": {"shared": shared, "of": 30}, "configs": {"radiomics": entry(paper_null)}}}}

    (leak,) = leak_lines(doc(28, 0.69))
    assert "mean pooled AUC of 0.690 (honest protocol: 0.510), with 28 of 30 test rows" in leak
    (none,) = leak_lines(doc(0, 0.5))
    assert none.startswith("Under the paper protocol no test row of this run had its patient in the training fold")
