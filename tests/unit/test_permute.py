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


def _grouped(n: int = 40, slices: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Patients 3i, 3i+1, 3i+2 (i < 5) are one person (a group); the other patients are alone."""
    pids, y, sites = _patients(n, slices)
    number = np.repeat(np.arange(n), slices)
    groups = np.where(number < 15, np.char.add("TCGA-", (number // 3).astype(str)), pids)
    y = np.where(number < 15, (number // 3) % 2, y)  # one person, one real grade
    return pids, y, sites, groups


def test_patients_of_one_group_share_one_shuffled_grade_and_groups_move() -> None:
    pids, y, _, groups = _grouped()
    seen_two = False
    for i in range(10):
        lab = permuted_labels(pids, y, None, seed=0, index=i, groups=groups)
        per_group = pd.Series(lab).groupby(groups).nunique()
        assert (per_group == 1).all()  # one person keeps one grade, on every slice of every one of its patients
        units = pd.Series(lab).groupby(groups).first()
        assert sorted(units) == sorted(pd.Series(y).groupby(groups).first())  # the groups' grade counts kept
        by_patient = permuted_labels(pids, y, None, seed=0, index=i)
        seen_two |= bool((pd.Series(by_patient).groupby(groups).nunique() > 1).any())
    assert seen_two  # the check can fail: a shuffle by patient splits a person's grades
    lab = permuted_labels(pids, y, None, seed=0, index=0, groups=groups)
    assert np.array_equal(lab, permuted_labels(pids, y, None, seed=0, index=0, groups=groups))  # seeded
    assert not np.array_equal(lab, permuted_labels(pids, y, None, seed=0, index=1, groups=groups))
    assert not np.array_equal(lab, y)


@pytest.mark.parametrize("sites_on", [False, True])
def test_without_a_group_column_the_shuffle_is_the_patients_one(sites_on: bool) -> None:
    """No group column: Cohort.groups is the patient id, and the shuffle is exactly that of earlier versions."""
    pids, y, sites = _patients(30, 2)
    s = sites if sites_on else None
    for i in range(5):
        old = permuted_labels(pids, y, s, seed=3, index=i)
        assert np.array_equal(permuted_labels(pids, y, s, seed=3, index=i, groups=pids), old)
        assert np.array_equal(permuted_labels(pids, y, s, seed=3, index=i, groups=None), old)


def test_site_protocol_with_groups_moves_grades_between_groups_of_the_same_sites() -> None:
    pids, y, sites, groups = _grouped()
    sites = sites.copy()
    sites[np.isin(pids, ["P00"])] = "B"  # person TCGA-0 now has patients at sites A and B
    for i in range(10):
        lab = permuted_labels(pids, y, sites, seed=0, index=i, groups=groups)
        assert (pd.Series(lab).groupby(groups).nunique() == 1).all()
        for site in ("A", "B"):  # every site keeps its grade mix of groups (TCGA-0 is shuffled only with itself)
            here = np.unique(groups[sites == site])
            real = pd.Series(y).groupby(groups).first()[here]
            perm = pd.Series(lab).groupby(groups).first()[here]
            assert sorted(real) == sorted(perm)
        assert lab[pids == "P00"][0] == y[pids == "P00"][0]  # the only group at sites A and B


def test_run_permutations_shuffles_the_cohorts_groups(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gliograde.experiment.permute as permute

    pids, y, sites, groups = _grouped(24, 2)
    manifest = pd.DataFrame({"patient_id": pids, "group": np.where(groups == pids, "", groups)})
    cohort = Cohort(root=tmp_path, manifest=manifest, images=np.zeros((len(y), 1, 4, 4), np.uint8),
                    masks=np.zeros((len(y), 4, 4), bool), labels=y, classes=(2, 3), patient_ids=pids, sites=sites)
    shuffled: list[np.ndarray] = []

    def fake_protocol(exp: Experiment) -> pd.DataFrame:
        shuffled.append(exp.cohort.labels)
        lab = exp.cohort.labels
        return pd.DataFrame({"patient_id": exp.cohort.patient_ids, "fold": 0, "config": "handcrafted",
                             "label": np.asarray(exp.cohort.classes)[lab], "p_2": 1.0 - lab * 0.5, "p_3": lab * 0.5})

    monkeypatch.setattr(permute, "run_protocol", fake_protocol)
    monkeypatch.setattr(permute, "shared_test_rows", lambda exp: {"shared": 0, "of": 0})
    cfg = RunConfig(cv=CVCfg(configs=("handcrafted",), permute_labels=3))
    real = fake_protocol(Experiment(cohort, tmp_path, cfg, None, progress=False))  # type: ignore[arg-type]
    shuffled.clear()
    permute.run_permutations(cohort, tmp_path, cfg, None, ("honest",), {"honest": real},  # type: ignore[arg-type]
                             progress=False)
    assert len(shuffled) == 3
    for lab in shuffled:
        assert (pd.Series(lab).groupby(groups).nunique() == 1).all()


def test_shared_test_rows_count_a_person_whose_other_case_is_in_training(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two patients of one group (one person) on both sides of a fold are a shared test row, as the splits see it."""
    from types import SimpleNamespace

    from gliograde.experiment import permute

    cohort = SimpleNamespace(patient_ids=np.array(["a", "b", "c", "d"]), groups=np.array(["P1", "P1", "c", "d"]))
    monkeypatch.setattr(permute, "repeated_folds", lambda exp: [[0]])
    monkeypatch.setattr(permute, "fold_rows", lambda exp, fold: (np.array([0, 2]), np.array([1, 3])))
    assert permute.shared_test_rows(SimpleNamespace(cohort=cohort)) == {"shared": 1, "of": 2}  # b is a's person
