"""No PHI-bearing path in a report: a CV run kept under a folder named after a patient
(``.../patients/JOHN_DOE/...``) gets a report.html, methods.md and metrics.json that never contain that name; the
run folder is shown by its own name and the resolved config's paths by their last component. The run's own
config.yaml keeps the full paths (it replays the run). Main printed the whole run-folder path in the Provenance
section, and the recorded cohort path inside the resolved config shown there."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import yaml
from fakedata import TWO, make_run, write_slice_cohort

import gliograde
from gliograde.config import ValidateCfg
from gliograde.report.cv import write_report
from gliograde.report.paths import shown_config, shown_name
from gliograde.report.validation import render_html as validation_html
from gliograde.validation.metrics import validation_metrics

PHI = ("JOHN_DOE", "dr_smith")  # a fake patient's name and the clinician's home folder around it


def _text_outputs(run: Path) -> dict[str, str]:
    """Every report output that is text: the page, methods.md, metrics.json."""
    return {name: (run / name).read_text() for name in ("report.html", "methods.md", "metrics.json")}


def _assert_no_phi(outputs: dict[str, str]) -> None:
    for name, text in outputs.items():
        for word in PHI:
            assert word not in text, f"{name} contains {word!r}"


def test_a_report_of_a_run_under_a_patients_folder_never_names_the_patient(tmp_path: Path) -> None:
    home = tmp_path / "home" / "dr_smith" / "patients" / "JOHN_DOE"
    run = make_run(home / "honest", n_patients=12, strength=TWO, history=False)
    make_run(home / "paper", n_patients=12, protocol="paper", copies=2, strength=TWO, history=False)
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg.update(cohort=str(home / "cohort"), subset={"labels": str(home / "labels.csv"), "sites": []})
    (run / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    write_report(run, compare=home / "paper", n_boot=20)
    outputs = _text_outputs(run)
    _assert_no_phi(outputs)
    page = outputs["report.html"]
    assert "<td>run folder</td><td>honest</td>" in page  # the run folder's own name
    assert "cohort: cohort" in page and "labels: labels.csv" in page  # the config's paths by their last component
    assert "n_splits: 3" in page and "protocol: honest" in page  # the rest of the config as it is
    assert json.loads(outputs["metrics.json"])["comparisons"]["paper"]["run_dir"] == "paper"
    assert str(home / "cohort") in (run / "config.yaml").read_text()  # the run's own config still replays it


def test_a_real_cv_run_in_a_patients_folder_writes_no_path_of_it(tmp_path: Path) -> None:
    home = tmp_path / "home" / "dr_smith" / "patients" / "JOHN_DOE"
    raw = write_slice_cohort(home / "raw", [(f"P-{i:02d}", 2 + i % 2) for i in range(12)], size=32)
    gliograde.ingest(raw, home / "cohort", preset="recommended", figures=False, progress=False)
    fast = {"cv": {"folds": 2, "n_boot": 20, "configs": ["radiomics"],
                   "selection": {"inner_folds": 2, "classifiers": ["logreg"], "select_k": [3]}}}
    result = gliograde.cv(home / "cohort", home / "run", overrides=fast, progress=False)
    assert result.report == home / "run" / "report.html"
    _assert_no_phi(_text_outputs(home / "run"))
    assert "JOHN_DOE" in (home / "run" / "config.yaml").read_text()  # the path was there to leak (main did)


def test_the_validation_page_names_its_model_by_folder_name(tmp_path: Path) -> None:
    table = pd.DataFrame({"patient_id": ["a", "b", "c", "d"], "site": "", "label": [2, 3, 2, 3],
                          "p_2": [.7, .4, .6, .2], "p_3": [.3, .6, .4, .8]})
    metrics = validation_metrics(table, (2, 3), ValidateCfg(n_boot=0, min_per_grade=1))
    metrics["model"] = {"path": "/home/dr_smith/patients/JOHN_DOE/model", "kind": "radiomics", "fingerprint": "ab",
                        "classes": [2, 3]}
    page = validation_html(tmp_path / "val", metrics, [], {"sha256": "cd", "n_files": 4})
    assert "<b>model</b>" in page and not any(word in page for word in PHI)


def test_shown_name_and_config() -> None:
    assert shown_name("/home/dr_smith/patients/JOHN_DOE/run") == "run"
    assert shown_name(r"C:\Users\dr_smith\JOHN_DOE\run") == "run"
    assert shown_name(Path("runs") / "demo") == "demo" and shown_name("demo") == "demo"
    doc = {"cohort": "/p/JOHN_DOE/cohort", "train": {"weights": "imagenet"}, "ingest": {"channels": ["t1ce"]},
           "subset": {"labels": "JOHN_DOE/labels.csv", "sites": []}, "cv": {"folds": 10, "seed": None}}
    assert shown_config(doc) == {"cohort": "cohort", "train": {"weights": "imagenet"}, "ingest": {"channels": ["t1ce"]},
                                 "subset": {"labels": "labels.csv", "sites": []}, "cv": {"folds": 10, "seed": None}}
