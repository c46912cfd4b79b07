"""Repeated cross-validation (``CVCfg.repeats``, ``gliograde cv --repeats R``).

Repeat 0 must be the single run, file for file; repeat r must be the single run with seed + r.
"""
from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from fakedata import small_cohort

from gliograde.config import AugmentCfg, CVCfg, RunConfig, SelectionCfg
from gliograde.experiment import Experiment, FeatureStore, run_protocol
from gliograde.experiment.context import fold_seed
from gliograde.experiment.handcrafted import HandcraftedConfiguration
from gliograde.metrics import roc_auc
from gliograde.presets import get_preset
from gliograde.report.artefacts import load_predictions
from gliograde.report.cv import summarise_run, write_report
from gliograde.report.format import to_jsonable
from gliograde.splits import Fold

RUN_CONFIGS = ("handcrafted", "handcrafted-mlp")  # logreg, and an MLP whose result depends on its seed
N_PATIENTS, K = 20, 2


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return small_cohort(tmp_path_factory.mktemp("rep"), N_PATIENTS)


def _exp(cohort, out, **cv):
    cfg = RunConfig(train=get_preset("quick").train, augment=AugmentCfg(mode="none"),
                    cv=CVCfg(**{"folds": K, "configs": RUN_CONFIGS, "n_boot": 20, **cv}))
    return Experiment(cohort, out, cfg, FeatureStore(cohort, out / "work"), progress=False)


def _run(cohort, out, features=None, **cv):
    if features is not None:  # the features of every row are the same in every run: skip re-extracting them
        (out / "work").mkdir(parents=True)
        shutil.copyfile(features, out / "work" / features.name)
    return run_protocol(_exp(cohort, out, **cv))


@pytest.fixture(scope="module")
def runs(cohort, tmp_path_factory):
    """Three runs of the same cohort: repeats=1 seed 0, repeats=2 seed 0, repeats=1 seed 1."""
    root = tmp_path_factory.mktemp("runs")
    single = _run(cohort, root / "single")
    feats = root / "single" / "work" / "radiomics_bw8.npz"
    return {"single": (root / "single", single), "rep": (root / "rep", _run(cohort, root / "rep", feats, repeats=2)),
            "seed1": (root / "seed1", _run(cohort, root / "seed1", feats, seed=1))}


def test_two_repeats_give_2k_units_and_test_each_patient_once_per_repeat(runs):
    out, preds = runs["rep"]
    for config in RUN_CONFIGS:
        units = sorted(p.parent.relative_to(out / "work" / config).as_posix()
                       for p in (out / "work" / config).rglob("predictions.csv"))
        assert units == ["fold0", "fold1", "r1/fold0", "r1/fold1"]
    assert list(preds.columns[:3]) == ["patient_id", "repeat", "fold"]
    per_unit = {(c, r): N_PATIENTS for c in RUN_CONFIGS for r in (0, 1)}
    assert preds.groupby(["config", "repeat"]).size().to_dict() == per_unit
    for (_, _), g in preds.groupby(["config", "repeat"]):
        assert g["patient_id"].is_unique
    f0, f1 = (json.loads((out / name).read_text()) for name in ("folds.json", "folds_r1.json"))
    assert (f0["seed"], f1["seed"]) == (0, 1)
    assert [f["test"] for f in f0["folds"]] != [f["test"] for f in f1["folds"]]  # another split
    p = preds[preds["config"] == "handcrafted"].pivot(index="patient_id", columns="repeat", values="p_3")
    assert not np.allclose(p[0], p[1])  # the repeats differ


def test_repeat0_is_the_single_run_file_for_file(runs):
    (a, single), (b, rep) = runs["single"], runs["rep"]
    assert "repeat" not in single.columns
    assert (a / "folds.json").read_bytes() == (b / "folds.json").read_bytes()
    for config in RUN_CONFIGS:
        for k in range(K):
            unit = f"work/{config}/fold{k}/predictions.csv"
            assert (a / unit).read_bytes() == (b / unit).read_bytes()
    assert not (a / "folds_r1.json").exists() and not (a / "work" / RUN_CONFIGS[0] / "r1").exists()
    repeat0 = rep[rep["repeat"] == 0].drop(columns="repeat")
    assert repeat0.to_csv(index=False) == (a / "predictions.csv").read_text()
    pd.testing.assert_frame_equal(load_predictions(b)[0], load_predictions(a)[0])  # the default view: repeat 0


def test_repeat_r_is_the_single_run_with_seed_plus_r(runs, cohort):
    (b, rep), (c, seed1) = runs["rep"], runs["seed1"]
    assert json.loads((b / "folds_r1.json").read_text()) == json.loads((c / "folds.json").read_text())
    for config in RUN_CONFIGS:
        for k in range(K):
            assert ((b / f"work/{config}/r1/fold{k}/predictions.csv").read_bytes()
                    == (c / f"work/{config}/fold{k}/predictions.csv").read_bytes())
    repeat1 = rep[rep["repeat"] == 1].drop(columns="repeat").reset_index(drop=True)
    pd.testing.assert_frame_equal(repeat1, seed1)
    exp = _exp(cohort, b, repeats=2)
    assert [fold_seed(exp, Fold(k, repeat=0)) for k in range(K)] == [0, 1]  # as before repeats existed
    assert [fold_seed(exp, Fold(k)) for k in range(K)] == [0, 1]
    assert [fold_seed(exp, Fold(k, repeat=1)) for k in range(K)] == [1000, 1001]


def test_metrics_keep_repeat0_and_add_the_spread_over_repeats(runs, tmp_path):
    (a, _), (b, rep), (c, _) = runs["single"], runs["rep"], runs["seed1"]
    html = write_report(b, n_boot=20).read_text()
    m = json.loads((b / "metrics.json").read_text())
    one = summarise_run(a, n_boot=20)
    assert m["n_repeats"] == 2 and "n_repeats" not in one and m["n_folds"] == K
    for config in RUN_CONFIGS:
        block = m["configs"][config].pop("repeats")
        assert m["configs"][config] == json.loads(json.dumps(to_jsonable(one["configs"][config])))  # repeat 0's
        d = rep[(rep["config"] == config)]
        aucs = [roc_auc(g["label"], g[["p_2", "p_3"]].to_numpy(), (2, 3)) for _, g in d.groupby("repeat")]
        assert block["n"] == 2 and block["repeat"] == [0, 1]
        assert block["auc"]["values"] == pytest.approx(aucs)
        assert block["auc"]["values"][0] == pytest.approx(one["configs"][config]["pooled_auc"])
        assert block["auc"]["values"][1] == pytest.approx(summarise_run(c, n_boot=20)["configs"][config]["pooled_auc"])
        assert block["auc"]["mean"] == pytest.approx(np.mean(aucs))
        assert block["auc"]["sd"] == pytest.approx(np.std(aucs, ddof=1))
        assert (block["auc"]["min"], block["auc"]["max"]) == pytest.approx((min(aucs), max(aucs)))
        assert len(block["accuracy"]["values"]) == 2
    assert "AUC over 2 repeats: mean ± SD (min–max)" in html and "Repeated cross-validation (2 repeats)" in html
    from gliograde.report.format import results_table

    table = results_table(m | {"configs": {k: v | {"repeats": {"auc": {"mean": .5, "sd": .1, "min": .4, "max": .6}}}
                                           for k, v in m["configs"].items()}})
    assert "AUC over 2 repeats" in table and "0.500 ± 0.100 (0.400–0.600)" in table and "x 2 repeats" in table
    assert "repeats" not in results_table(one)


def test_resume_after_deleting_one_unit_recomputes_only_it(runs, cohort, tmp_path, monkeypatch):
    b, rep = runs["rep"]
    run = tmp_path / "resumed"
    shutil.copytree(b, run)
    (run / "work" / "handcrafted-mlp" / "r1" / "fold1" / "predictions.csv").unlink()
    calls, real = [], HandcraftedConfiguration.run_unit

    def spy(self, exp, fold, unit):
        calls.append((self.name, fold.repeat, fold.index))
        return real(self, exp, fold, unit)

    monkeypatch.setattr(HandcraftedConfiguration, "run_unit", spy)
    resumed = run_protocol(_exp(cohort, run, repeats=2))
    assert calls == [("handcrafted-mlp", 1, 1)]
    pd.testing.assert_frame_equal(resumed, rep)
    assert (run / "predictions.csv").read_bytes() == (b / "predictions.csv").read_bytes()


def test_more_repeats_later_reuse_the_finished_ones(runs, cohort, tmp_path, monkeypatch):
    a, _ = runs["single"]
    run = tmp_path / "grown"
    shutil.copytree(a, run)
    calls, real = [], HandcraftedConfiguration.run_unit
    monkeypatch.setattr(HandcraftedConfiguration, "run_unit",
                        lambda self, exp, f, unit: calls.append(f.repeat) or real(self, exp, f, unit))
    grown = run_protocol(_exp(cohort, run, repeats=2))
    assert calls == [1] * (len(RUN_CONFIGS) * K)  # repeat 0 was done by the single run
    pd.testing.assert_frame_equal(grown, runs["rep"][1])


def test_cli_refuses_repeats_with_the_site_protocol_before_any_work(tmp_path, capsys):
    from gliograde.cli import main

    rc = main(["cv", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o"), "--protocol", "site", "--repeats", "3",
               "--configs", "handcrafted"])
    assert rc == 2 and "--protocol site" in capsys.readouterr().err and not (tmp_path / "o").exists()


def test_paper_protocol_and_selection_record_every_repeat(cohort, tmp_path, monkeypatch):
    rad = np.random.default_rng(0).normal(size=(len(cohort), 6)) + cohort.labels[:, None]
    monkeypatch.setattr(FeatureStore, "roi", lambda self, families, **kw: rad)
    sel = SelectionCfg(method="inner_split", classifiers=("logreg",), select_k=(0, 3))
    paper = run_protocol(_exp(cohort, tmp_path / "paper", protocol="paper", configs=("handcrafted",), repeats=2))
    assert paper.groupby("repeat").size().tolist() == [N_PATIENTS, N_PATIENTS]
    assert json.loads((tmp_path / "paper" / "folds_r1.json").read_text())["protocol"] == "paper"
    out = tmp_path / "sel"
    run_protocol(_exp(cohort, out, configs=("radiomics",), repeats=3, selection=sel))
    doc = json.loads((out / "selection.json").read_text())
    folds = doc["configs"]["radiomics"]["folds"]
    assert doc["repeats"] == 3 and [(f["repeat"], f["fold"]) for f in folds] == [(r, k) for r in range(3)
                                                                                  for k in range(K)]
    assert sum(doc["configs"]["radiomics"]["chosen_counts"].values()) == 3 * K
    html = write_report(out, n_boot=20).read_text()
    assert "<th>repeat</th><th>fold</th><th>chosen</th>" in html
