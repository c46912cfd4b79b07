"""report.py on synthetic run folders written into tmp_path (2 and 3 grades), plus a golden toy table."""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gliograde.cli import main
from gliograde.errors import InputError
from gliograde.report.artefacts import RunNotFoundError
from gliograde.report.cv import summarise_run, write_report
from gliograde.report.format import results_table, to_jsonable

STRENGTH = {"full": 3.0, "no-pretrain": 1.0, "no-aug": 0.8, "handcrafted": 1.5}
TWO = {"full": 3.0, "no-aug": 0.8}  # fewer configs, fewer figures: keeps the suite fast


def make_run(root: Path, classes: tuple[int, ...] = (2, 3, 4), n_patients: int = 30, n_folds: int = 3,
             protocol: str = "honest", seed: int = 0, copies: int = 1, history: bool = True,
             strength: dict[str, float] | None = None) -> Path:
    """Write a run folder as `gliograde cv` does: predictions.csv, folds.json, config.yaml, run.json, history/.

    ``copies`` > 1 mimics the paper protocol: several rows (augmented images) per patient.
    """
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    ids = [f"P{i:03d}" for i in range(n_patients)]
    labels = [classes[i % len(classes)] for i in range(n_patients)]
    folds = [(i // len(classes)) % n_folds for i in range(n_patients)]  # every fold holds every grade
    rows = []
    for cfg, s in (strength or STRENGTH).items():
        for pid, y, f in zip(ids, labels, folds, strict=True):
            for _ in range(copies):
                logits = rng.normal(0, 1, len(classes))
                logits[classes.index(y)] += s
                p = np.exp(logits) / np.exp(logits).sum()
                rows.append({"patient_id": pid, "fold": f, "config": cfg, "protocol": protocol,
                             **{f"p_{c}": p[k] for k, c in enumerate(classes)}, "label": y,
                             "pred": classes[int(p.argmax())]})
    pd.DataFrame(rows).to_csv(root / "predictions.csv", index=False)
    fold_list = [{"fold": k, "test": [i for i, f in zip(ids, folds, strict=True) if f == k],
                  "train": [i for i, f in zip(ids, folds, strict=True) if f != k]} for k in range(n_folds)]
    (root / "folds.json").write_text(json.dumps({"n_splits": n_folds, "seed": seed, "protocol": protocol,
                                                 "folds": fold_list}))
    (root / "config.yaml").write_text(f"cv:\n  n_splits: {n_folds}\n  protocol: {protocol}\n")
    (root / "run.json").write_text(json.dumps({"command": "cv", "seed": seed, "versions": {"numpy": np.__version__},
                                               "input_fingerprint": {"sha256": "ab" * 32, "n_files": 3}}))
    if history:
        hist = root / "history" / "full"
        hist.mkdir(parents=True)
        for k in range(n_folds):
            e = np.arange(1, 5)
            pd.DataFrame({"epoch": e, "train_loss": 1 / e, "train_acc": 1 - 0.5 / e, "val_loss": 1.2 / e,
                          "val_acc": 0.9 - 0.4 / e}).to_csv(hist / f"fold{k}.csv", index=False)
    return root


@pytest.mark.parametrize("classes", [(2, 3), (2, 3, 4)])
def test_write_report_end_to_end(tmp_path: Path, classes: tuple[int, ...]) -> None:
    run = make_run(tmp_path / "run", classes=classes)
    path = write_report(run, n_boot=200)
    assert path == run / "report.html"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["classes"] == list(classes) and metrics["protocol"] == "honest"
    assert list(metrics["configs"]) == ["full", "no-pretrain", "no-aug", "handcrafted"]
    for name, c in metrics["configs"].items():
        for key in ("mean", "sd"):
            assert isinstance(c["accuracy"][key], float) and isinstance(c["auc"][key], float)
        assert 0.0 <= c["pooled_auc"] <= 1.0
        lo, hi = c["pooled_auc_ci"]
        assert lo <= hi
        assert sorted(c["per_class"]) == sorted(str(g) for g in classes)
        assert np.asarray(c["confusion"]).shape == (len(classes), len(classes))
        assert np.asarray(c["confusion"]).sum() == 30
        assert 0.0 <= c["ece"] <= 1.0
        assert len(c["per_fold"]) == 3
        if name != "full":
            assert 0.0 <= c["delong_vs_full"]["p"] <= 1.0
            assert c["delong_vs_full"]["n_patients"] == 30
    assert "delong_vs_full" not in metrics["configs"]["full"]
    # the strong synthetic model must beat the weak one
    assert metrics["configs"]["full"]["pooled_auc"] > metrics["configs"]["no-aug"]["pooled_auc"]

    figures = sorted(p.name for p in (run / "figures").glob("*.png"))
    assert "roc_all.png" in figures and "training_full.png" in figures and "training_no-aug.png" not in figures
    for name in metrics["configs"]:
        assert {f"roc_{name}.png", f"reliability_{name}.png", f"confusion_{name}.png"} <= set(figures)

    html = path.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:|//)""", html, re.I)
    assert "<script" not in html.lower() and "<link" not in html.lower()
    assert html.count('src="data:image/png;base64,') == len(figures)
    for text in ("97.9", "0.9991", "61.42", "59.85", "88 %", "publication", "Provenance", "ab" * 32):
        assert text in html


def test_golden_values_on_toy_table(tmp_path: Path) -> None:
    """Fixed 2-grade, 2-fold, 8-patient table; the numbers below are worked out by hand."""
    p3 = {"full": [.1, .4, .7, .8, .35, .9, .6, .2], "no-aug": [.3, .6, .5, .55, .4, .7, .45, .45]}
    labels = [2, 2, 3, 3, 2, 3, 3, 2]
    rows = [{"patient_id": f"P{i}", "fold": i // 4, "config": cfg, "p_2": 1 - s, "p_3": s, "label": y}
            for cfg, scores in p3.items() for i, (s, y) in enumerate(zip(scores, labels, strict=True))]
    (tmp_path / "predictions.csv").write_text(pd.DataFrame(rows).to_csv(index=False))
    m = summarise_run(tmp_path, n_boot=200)
    full, noaug = m["configs"]["full"], m["configs"]["no-aug"]
    # full: fold 0 preds 2 2 3 3 (4/4), fold 1 preds 2 3 3 2 (4/4); pooled AUC 16/16
    assert full["accuracy"] == {"mean": 1.0, "sd": 0.0, "n": 2}
    assert full["pooled_auc"] == 1.0
    # no-aug: p_3 > .5 -> 3 (0.5 ties -> grade 2). fold 0: .3 .6 .5 .55 -> 2 3 2 3 vs 2 2 3 3 -> 2/4
    # fold 1: .4 .7 .45 .45 -> 2 3 2 2 vs 2 3 3 2 -> 3/4. mean .625, SD sqrt(((-.125)^2 * 2) / 1) = .1768
    assert noaug["accuracy"]["mean"] == pytest.approx(0.625)
    assert noaug["accuracy"]["sd"] == pytest.approx(0.125 * math.sqrt(2))
    # pooled no-aug AUC: positives .7 .5 .55 .45 vs negatives .3 .6 .4 .45:
    # .7 -> 4, .5 -> 3, .55 -> 3, .45 -> 2 + tie .5 = 2.5; 12.5 / 16
    assert noaug["pooled_auc"] == pytest.approx(12.5 / 16)
    assert noaug["pooled_accuracy"] == pytest.approx(5 / 8)
    assert noaug["confusion"] == [[3, 1], [2, 2]]
    assert noaug["pooled_per_class"][3]["sensitivity"] == pytest.approx(0.5)
    assert noaug["pooled_per_class"][3]["specificity"] == pytest.approx(0.75)
    # fold AUCs: fold 0 pos .5 .55 vs neg .3 .6 -> (1 + 1) / 4 = .5; fold 1 pos .7 .45 vs neg .4 .45 -> (2 + 1.5) / 4
    assert noaug["auc"]["mean"] == pytest.approx((0.5 + 0.875) / 2)
    # DeLong by hand. full separates perfectly: all its placements are 1, so it adds no variance.
    # no-aug positive placements V10 = .75 .75 1 .625 (sample var .0742188 / 3), negative placements
    # V01 = 1 .25 1 .875 (sample var .3867188 / 3); var(diff) = (.0247396 + .1289063) / 4 = .0384115,
    # z = -.21875 / sqrt(.0384115) = -1.11613, two-sided p = .264363
    assert noaug["delong_vs_full"]["p"] == pytest.approx(0.264363, abs=1e-6)
    assert noaug["delong_vs_full"]["diff"] == pytest.approx(12.5 / 16 - 1.0)


def test_paper_protocol_rows_and_comparison(tmp_path: Path) -> None:
    honest = make_run(tmp_path / "honest", n_patients=24, strength=TWO)
    paper = make_run(tmp_path / "paper", n_patients=24, protocol="paper", copies=3, history=False,
                     strength={k: v * 2 for k, v in TWO.items()})
    m = summarise_run(paper, n_boot=200)
    assert m["protocol"] == "paper"
    assert m["configs"]["full"]["n_rows"] == 72 and m["configs"]["full"]["n_patients"] == 24
    assert m["configs"]["no-aug"]["delong_vs_full"]["n_patients"] == 24  # rows averaged per patient
    path = write_report(honest, compare=paper, n_boot=200)
    metrics = json.loads((honest / "metrics.json").read_text())
    assert list(metrics["comparisons"]) == ["paper"]
    html = path.read_text()
    assert "paper: accuracy" in html and "leakage" in html and "Early stopping on the test" in html


def test_several_protocols_in_one_file(tmp_path: Path) -> None:
    a = make_run(tmp_path / "a", classes=(2, 3), n_patients=20, history=False, strength=TWO)
    b = make_run(tmp_path / "b", classes=(2, 3), n_patients=20, protocol="paper", history=False, strength=TWO)
    both = pd.concat([pd.read_csv(b / "predictions.csv"), pd.read_csv(a / "predictions.csv")])
    both.to_csv(a / "predictions.csv", index=False)
    assert summarise_run(a, n_boot=50)["protocol"] == "honest"
    assert summarise_run(a, n_boot=50, protocol="paper")["protocol"] == "paper"
    write_report(a, n_boot=50)
    assert list(json.loads((a / "metrics.json").read_text())["comparisons"]) == ["paper"]


def test_fold_missing_a_grade_gives_nan_and_warning(tmp_path: Path) -> None:
    run = make_run(tmp_path, n_patients=12, n_folds=4, history=False)  # each fold: 3 patients
    df = pd.read_csv(run / "predictions.csv")
    df.loc[(df["fold"] == 0) & (df["label"] == 4), "fold"] = 1  # fold 0 loses its grade-4 patient
    df.to_csv(run / "predictions.csv", index=False)
    m = summarise_run(run, n_boot=50)
    full = m["configs"]["full"]
    assert math.isnan(full["per_fold"][0]["auc"])
    assert full["auc"]["n"] == 3
    assert any(w.startswith("fold 0:") for w in full["warnings"])
    text = json.dumps(to_jsonable(m), allow_nan=False)  # NaN is written as null: strict JSON
    assert json.loads(text)["configs"]["full"]["per_fold"][0]["auc"] is None


def test_results_table_lists_configs(tmp_path: Path) -> None:
    m = summarise_run(make_run(tmp_path, classes=(2, 3), n_patients=20, history=False), n_boot=50)
    table = results_table(m)
    lines = table.splitlines()
    assert lines[1].startswith("config") and "pooled AUC [95% CI]" in lines[1]
    assert [ln.split()[0] for ln in lines[3:]] == ["full", "no-pretrain", "no-aug", "handcrafted"]
    assert "reference" in lines[3]


def test_bad_artefacts_raise_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(RunNotFoundError, match="gliograde cv"):
        summarise_run(tmp_path / "nothing")
    run = make_run(tmp_path / "r", classes=(2, 3), n_patients=10, history=False)
    df = pd.read_csv(run / "predictions.csv")
    df.loc[0, "p_2"] = 0.9
    df.loc[0, "p_3"] = 0.9
    df.to_csv(run / "predictions.csv", index=False)
    with pytest.raises(InputError, match="sum to 1"):
        summarise_run(run)
    df.drop(columns=["label"]).to_csv(run / "predictions.csv", index=False)
    with pytest.raises(InputError, match="missing columns"):
        summarise_run(run)
    df = pd.read_csv(make_run(tmp_path / "s", classes=(2, 3), n_patients=10, history=False) / "predictions.csv")
    df.loc[(df["patient_id"] == "P000") & (df["config"] == "full"), "label"] = 3  # P000 is grade 2 elsewhere
    df.to_csv(tmp_path / "s" / "predictions.csv", index=False)
    with pytest.raises(InputError, match="two different labels"):
        summarise_run(tmp_path / "s")


def test_cli_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = make_run(tmp_path / "run", classes=(2, 3), n_patients=20, history=False, strength=TWO)
    other = make_run(tmp_path / "other", classes=(2, 3), n_patients=20, protocol="paper", history=False,
                     strength=TWO)
    assert main(["report", str(run), "--compare", str(other), "--n-boot", "50"]) == 0
    out = capsys.readouterr().out
    assert "full" in out and "protocol paper" in out and f"report: {run / 'report.html'}" in out
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "predictions.csv not found" in capsys.readouterr().err


def test_selection_is_kept_and_shown(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", classes=(2, 3))
    sel = {"how": "inner_cv: chosen on training patients only", "method": "inner_cv",
           "configs": {"full": {"folds": [{"fold": 0, "chosen": "logreg/k=5", "inner_auc": {"logreg/k=5": 0.71}}]}}}
    (run / "selection.json").write_text(json.dumps(sel))
    write_report(run, n_boot=50)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["selection"]["configs"]["full"]["folds"][0]["chosen"] == "logreg/k=5"
    html = (run / "report.html").read_text()
    assert "Model selection" in html and "logreg/k=5" in html and "0.710" in html
