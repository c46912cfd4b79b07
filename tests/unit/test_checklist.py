"""The CV report's evidence: the calibration entry of metrics.json, the label-permutation section, the TRIPOD+AI /
CLAIM checklist filled from the run's own files (and what is left to fill in), and methods.md with the run's numbers.
The demo-sized run end to end: tests/integration/test_permute_cli.py."""
from __future__ import annotations

import json
from pathlib import Path

from fakedata import make_run

from gliograde.report.checklist import FILL, cal_ci, checklist_items
from gliograde.report.cv import write_report
from gliograde.report.format import fmt_ci, fmt_value


def _report(tmp_path: Path, permutation: dict | None = None) -> tuple[Path, dict, str, str]:  # type: ignore[type-arg]
    run = make_run(tmp_path / "run", classes=(2, 3), n_patients=16, n_folds=2, history=False,
                   strength={"radiomics": 1.0})
    (run / "config.yaml").write_text("cohort: data/cohort\ningest:\n  channels: [flair, t1ce]\n  slices: 1\n"
                                     "  preprocess: {intensity: robust, region: brain, size: 64}\n"
                                     "cv:\n  folds: 2\n  protocol: honest\n  configs: [radiomics]\n")
    (run / "cohort").mkdir()
    (run / "cohort" / "skipped.json").write_text(json.dumps({"patients": ["P-SECRET-1"], "problems": ["x: bad"]}))
    if permutation is not None:
        (run / "permutation.json").write_text(json.dumps(permutation))
    write_report(run, n_boot=50)
    metrics = json.loads((run / "metrics.json").read_text())
    return run, metrics, (run / "report.html").read_text(), (run / "methods.md").read_text()


PERMUTATION = {"n": 3, "seed": 0, "protocols": {"honest": {"shared_test_rows": {"shared": 0, "of": 16}, "configs": {
    "radiomics": {"auc": {"real": 0.81, "null": {"values": [0.45, 0.55, 0.5], "mean": 0.5, "sd": 0.05, "min": 0.45,
                                                 "max": 0.55, "n": 3}, "p": 0.25},
                  "accuracy": {"real": 0.7, "null": {"values": [0.5] * 3, "mean": 0.5, "sd": 0.0, "min": 0.5,
                                                     "max": 0.5, "n": 3}, "p": 0.25}}}}}}


def test_checklist_and_methods_are_filled_from_the_run(tmp_path: Path) -> None:
    run, m, html, methods = _report(tmp_path, PERMUTATION)
    c = m["configs"]["radiomics"]
    cal = c["calibration"]["per_grade"]["3"]
    assert len(cal["slope_ci"]) == 2 and c["calibration"]["n_boot"] == 50
    assert "Reporting checklist (TRIPOD+AI / CLAIM)" in html and "Calibration: slope, intercept, curve" in html
    items = {i.topic: i for i in checklist_items(run, m)}
    assert "ab" * 32 in items["Data source"].text and "16 patients (grade 2: 8, grade 3: 8)" in html
    assert items["Excluded cases and why"].text.startswith("1 patient(s) left out at ingest, 1 problem(s)")
    assert "P-SECRET-1" not in html and "P-SECRET-1" not in methods  # counted, never named
    assert items["Unit of splitting"].text.startswith("honest protocol: patients (StratifiedGroupKFold")
    authors_only = ("Sample size", "External testing", "Ethics, consent, data availability")
    assert {items[t].status for t in authors_only} == {FILL}
    auc = fmt_ci(c["pooled_auc"], c["pooled_auc_ci"])
    assert auc in items["Performance (discrimination)"].text and auc in methods
    assert f"slope {cal_ci(cal['slope'], cal['slope_ci'])}" in methods
    assert "We analysed 16 patients (grade 2: 8, grade 3: 8)" in methods
    assert "[grading system and WHO edition]" in methods
    assert "2-fold cross-validation" in methods and "channels flair, t1ce" in items["Input data and preprocessing"].text
    # the permutation result: on the page (with its figure), in the checklist and in methods.md
    assert "Label-permutation check (3 shuffles)" in html and (run / "figures" / "permutation_radiomics.png").is_file()
    item = items["Leakage check (label permutation)"]
    assert item.status == "done" and "0.500 ± 0.050" in item.text and f"p = {fmt_value(0.25)}" in item.text
    assert "On 3 shuffles of the grades the pooled AUC was 0.500 ± 0.050" in methods
    (run / "permutation.json").unlink()
    assert {i.topic: i for i in checklist_items(run, m)}["Leakage check (label permutation)"].status == "not run"
