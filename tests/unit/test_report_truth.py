"""Issue 19, reports and figures: the CV page says what it shows. The cohort and "synthetic" in the title (from
provenance, never a path or patient id), per-grade counts, every metric defined, the multiple-comparison method
named, the publication's 3-grade figures only beside a 3-grade run, the protocols side by side before any figure,
CIs that resample patients (the paper protocol's many rows per patient drawn together), `report` reusing the run's
settings, and montage labels that can be read on every tile. Synthetic run folders from fakedata (no training); the
page is rendered without figures (report_metrics + render_html) to stay fast: tests/integration/test_report_truth_cli.py
writes whole reports."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from conftest import disk_slice
from fakedata import TWO, make_run
from PIL import Image, ImageDraw

from gliograde.augment.policy import build_transforms
from gliograde.config import AugmentCfg
from gliograde.metrics import accuracy
from gliograde.report.cohort import MontageCollector, draw_label
from gliograde.report.cv import report_metrics
from gliograde.report.cv_page import render_html
from gliograde.report.montage import montage_figure
from gliograde.report.runmeta import describe_cohort, report_settings
from gliograde.stats import bootstrap_ci, resampling_units


def _title(html: str) -> str:
    return re.search(r"<title>(.*?)</title>", html).group(1)  # type: ignore[union-attr]


def _page(run: Path, **kw: object) -> tuple[dict, str]:  # type: ignore[type-arg]
    metrics = report_metrics(run, **kw)  # type: ignore[arg-type]
    return metrics, render_html(run, metrics, [])


def _synth_chain(tmp: Path, run: Path, data_name: str = "synth") -> None:
    """The provenance `gliograde synth` -> `ingest` -> `cv` leaves: data/run.json, cohort/config.yaml, cv's cohort."""
    (tmp / data_name).mkdir()
    (tmp / data_name / "run.json").write_text(json.dumps({"command": "synth", "seed": 0}))
    (tmp / "cohort").mkdir()
    (tmp / "cohort" / "config.yaml").write_text(yaml.safe_dump({"data": str(tmp / data_name), "ingest": {}}))
    doc = yaml.safe_load((run / "config.yaml").read_text())
    (run / "config.yaml").write_text(yaml.safe_dump({"cohort": str(tmp / "cohort"), **doc}))


def test_title_names_the_cohort_and_says_synthetic(tmp_path: Path) -> None:
    run = make_run(tmp_path / "cv", n_patients=12, strength=TWO, history=False)
    _synth_chain(tmp_path, run)
    metrics, html = _page(run, n_boot=20)
    title = _title(html)
    assert title == "gliograde cross-validation report: cohort synth (SYNTHETIC data)"
    assert "<h1>gliograde cross-validation report: cohort synth (SYNTHETIC data)</h1>" in html
    assert "written by `gliograde synth`" in html and "Research use only" in html
    assert metrics["cohort"]["synthetic"] is True and metrics["cohort"]["name"] == "synth"


def test_a_real_cohort_is_not_called_synthetic_and_no_patient_or_path_is_in_the_title(tmp_path: Path) -> None:
    run = make_run(tmp_path / "cv", n_patients=12, strength=TWO, history=False)
    _synth_chain(tmp_path, run, data_name="P003")  # a data folder named after one of its patients
    (tmp_path / "P003" / "run.json").write_text(json.dumps({"command": "ingest"}))
    title = _title(_page(run, n_boot=20)[1])
    assert "SYNTHETIC" not in title and "P003" not in title and str(tmp_path) not in title
    assert title == "gliograde cross-validation report: cohort data " + "ab" * 6  # the data fingerprint instead


def test_synthetic_ids_are_the_fallback_signal(tmp_path: Path) -> None:
    assert describe_cohort(tmp_path, ["SYN-XA-0001", "SYN-XB-0002"])["synthetic"] is True
    assert describe_cohort(tmp_path, ["SYN-XA-0001", "TCGA-CS-4938"])["synthetic"] is False
    kept = describe_cohort(tmp_path, ["P1"], previous={"name": "synth", "synthetic": True, "evidence": "x"})
    assert kept == {"name": "synth", "synthetic": True, "evidence": "x"}  # a moved run keeps what it was


@pytest.mark.parametrize("classes", [(2, 3), (2, 3, 4)])
def test_counts_definitions_and_the_publication_column(tmp_path: Path, classes: tuple[int, ...]) -> None:
    run = make_run(tmp_path / "cv", classes=classes, n_patients=12, strength=TWO, history=False)
    metrics, html = _page(run, n_boot=20)
    counts = {str(g): 12 // len(classes) for g in classes}
    assert metrics["patients_per_grade"] == counts
    assert f"WHO grades {' / '.join(map(str, classes))}: {' / '.join(map(str, counts.values()))} patients" in html
    assert "ECE: expected calibration error" in html and "Accuracy: share of predictions" in html
    assert "resampling patients, not rows (cluster bootstrap)" in html
    if len(classes) == 3:
        assert "macro one-vs-rest over 3 grades" in html and "DeLong p vs full (min Holm-adj. OvR)" in html
        assert "Holm-adjusted for multiple comparisons" in html
        assert "publication (reported, not ours)" in html and "0.9991" in html
    else:
        assert "AUC: area under the ROC curve, grade 3 vs 2" in html and "Holm" not in html
        assert "publication (reported" not in html and "0.9991" not in html and "97.9" not in html


def test_both_protocols_lead_the_page_and_the_paper_ci_resamples_patients(tmp_path: Path) -> None:
    honest = make_run(tmp_path / "cv", n_patients=24, strength=TWO)
    paper = make_run(tmp_path / "cv" / "compare" / "paper", n_patients=24, protocol="paper", copies=4,
                     history=False, strength={k: v * 2 for k, v in TWO.items()})
    metrics, html = _page(honest, n_boot=60)
    side = html.index("<h2>Protocols side by side: honest vs paper</h2>")
    assert side < html.index("<h2>Results</h2>") < html.index("<h2>Per grade")
    assert "<b>honest</b> (primary) and <b>paper</b> (comparison, leaky by design)" in html
    assert html.count("<h2>Protocol") == 1  # not repeated at the end
    ci = metrics["comparisons"]["paper"]["configs"]["full"]["pooled_ci"]
    assert ci == {"method": "percentile bootstrap", "level": 0.95, "n_boot": 60, "seed": 0, "unit": "patient",
                  "n_units": 24, "n_rows": 96, "rows_per_unit": [4, 4]}
    assert ("paper: 95% CI by percentile bootstrap (60 resamples, seed 0), resampling patients, not rows (cluster "
            "bootstrap): each resample draws 24 of the 24 patients with replacement, each with all of its rows "
            "(4 rows per patient: its augmented copies and slices, 96 rows in all).") in html
    # the recorded interval is the patient bootstrap's, wider than resampling the 96 near-duplicate rows
    df = pd.read_csv(paper / "predictions.csv")
    d = df[df["config"] == "no-aug"]
    y, p = d["label"].to_numpy(), d[["p_2", "p_3", "p_4"]].to_numpy()
    by_patient = bootstrap_ci(y, p, (2, 3, 4), accuracy, n_boot=60, seed=0, groups=d["patient_id"].to_numpy())
    by_row = bootstrap_ci(y, p, (2, 3, 4), accuracy, n_boot=60, seed=0)
    m = metrics["comparisons"]["paper"]["configs"]["no-aug"]
    assert m["pooled_accuracy_ci"] == pytest.approx(list(by_patient[1:]))
    assert resampling_units(None, 96)["unit"] == "row" and by_row[1:] != by_patient[1:]


def test_report_reuses_the_runs_bootstrap_settings(tmp_path: Path) -> None:
    run = make_run(tmp_path / "cv", n_patients=12, strength=TWO, history=False)
    doc = yaml.safe_load((run / "config.yaml").read_text())
    doc["cv"].update(n_boot=30, seed=4)
    (run / "config.yaml").write_text(yaml.safe_dump(doc))
    first = report_metrics(run, reference="no-aug")
    assert (first["n_boot"], first["seed"], first["reference"]) == (30, 4, "no-aug")
    assert first["settings_from"] == {"n_boot": "config.yaml", "seed": "config.yaml", "reference": "given"}
    (run / "metrics.json").write_text(json.dumps(first))  # as write_report leaves it
    again = report_metrics(run)  # regenerated without arguments: the same settings, the same intervals
    assert again["reference"] == "no-aug" and again["settings_from"]["reference"] == "metrics.json"
    assert [c["pooled_auc_ci"] for c in again["configs"].values()] == [c["pooled_auc_ci"]
                                                                       for c in first["configs"].values()]
    assert report_settings(run, n_boot=10)["n_boot"] == 10  # given settings win


def test_augment_montage_labels_are_outlined_on_a_band_inside_their_tile() -> None:
    img, mask = disk_slice(40)
    transforms = build_transforms(AugmentCfg(subset=4))
    fig = montage_figure(torch.from_numpy(img)[None], transforms, masks=torch.from_numpy(mask), ncols=2)
    fig.canvas.draw()  # an Agg canvas: Figure() without pyplot
    texts = fig.axes[0].texts
    assert [t.get_text() for t in texts] == [f"{k}: {t.name}" for k, t in enumerate(transforms)]
    width = fig.bbox.width / 2
    for k, t in enumerate(texts):
        strokes = [e for e in t.get_path_effects() if type(e).__name__ == "withStroke"]
        assert strokes and t.get_color() == "white"  # white text with a dark outline ...
        band = t.get_bbox_patch()
        assert band is not None and max(band.get_facecolor()[:3]) < 0.2 and band.get_facecolor()[3] >= 0.5  # ... band
        box = t.get_window_extent()
        col = k % 2
        assert col * width <= box.x0 and box.x1 <= (col + 1) * width  # within its own tile's column


def test_synth_montage_labels_space_their_words() -> None:
    """'WHO grade 2' must not read 'WHOgrade': the word gap is clearly wider than the gaps between letters."""
    collector = MontageCollector(per_grade=1)
    img, mask = disk_slice(256, radius=40)
    collector.add(2, np.full((256, 256, 3), 255, np.uint8), mask)  # a white tile: labels must still be read
    band = collector.render()[:22, 6:250].max(axis=-1) > 128
    ink = band.any(axis=0)
    inside = ink[np.flatnonzero(ink)[0]:]
    gaps = [len(g) for g in re.findall(r"0+", "".join("1" if v else "0" for v in inside))]
    assert gaps[2] >= 4 and gaps[2] >= 2 * max(gaps[:2])  # after "W", "H", "O": the space before "grade"
    pil = Image.new("RGB", (80, 24), (255, 255, 255))  # on a white tile the outline keeps the text readable
    draw_label(ImageDraw.Draw(pil), (2, 2), "WHO")
    assert (np.asarray(pil).max(axis=-1) < 60).sum() > 20
