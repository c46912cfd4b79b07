"""`gliograde report` and :func:`gliograde.report.cv.write_report` on synthetic run folders (2 and 3 grades):
the whole CV page with its figures, the paper-protocol comparison, the selection table and the CLI."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fakedata import TWO, make_run

from gliograde.cli import main
from gliograde.report.cv import summarise_run, write_report


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
    paper_figures = ("97.9", "0.9991", "61.42", "59.85", "88 %")  # the study's 3-grade figures: 3-grade runs only
    for text in (*(paper_figures if len(classes) == 3 else ()), "publication", "Provenance", "ab" * 32):
        assert text in html
    assert len(classes) == 3 or not any(t in html for t in paper_figures)


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
