"""The CV report's reporting checklist: the TRIPOD+AI (Collins et al., BMJ 2024) and CLAIM (Tejani et al.,
Radiology: AI 2024) topics a run can answer from its own artefacts, filled in, and those only its authors can
answer, marked ``fill in``.

Sources, all in the run folder: ``metrics.json`` (counts, results, calibration), ``run.json`` (data fingerprint,
versions), ``config.yaml`` (ingest, protocol, folds, selection), ``selection.json``, ``permutation.json``, and the
ingested cohort's ``skipped.json`` (cases left out and why; counted, never named). Items are named by topic: check
the numbering against the checklist version your journal asks for.

>>> [i.status for i in checklist_items(Path("no-such-run"), {"configs": {}, "protocol": "honest"})][:2]
['partly', 'partly']
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gliograde.report.artefacts import read_json
from gliograde.report.format import fmt_ci, fmt_value
from gliograde.report.html import esc

FILL = "fill in"


@dataclass(frozen=True)
class Item:
    """One checklist row: the topic, where the guidelines ask for it, ``done``/``partly``/``fill in``, the text."""

    topic: str
    guideline: str
    status: str
    text: str


def cal_ci(point: Any, ci: Any) -> str:
    """A calibration slope or intercept with its CI: '0.812 [0.420, 1.310]'; a bound among perfectly separated
    bootstrap resamples is unbounded (inf, null in JSON) and shown as inf; a separated point estimate too.

    >>> cal_ci(4.0, [2.8, None]), cal_ci(None, None), cal_ci(0.5, None)
    ('4.000 [2.800, inf]', 'inf (perfectly separated)', '0.500')
    """
    if point is None or (isinstance(point, float) and math.isinf(point)):
        return "inf (perfectly separated)"
    if not ci:
        return fmt_value(point)
    lo, hi = ci[:2]
    return f"{fmt_value(point)} [{'-inf' if lo is None else fmt_value(lo)}, {'inf' if hi is None else fmt_value(hi)}]"


def run_config(run_dir: Path) -> dict[str, Any]:
    """The run's ``config.yaml`` as a dict ({} when missing or unreadable)."""
    path = Path(run_dir) / "config.yaml"
    try:
        doc = yaml.safe_load(path.read_text()) if path.is_file() else {}
    except yaml.YAMLError:
        return {}
    return doc if isinstance(doc, dict) else {}


def skipped_cases(run_dir: Path, cfg: Mapping[str, Any]) -> dict[str, int] | None:
    """``{"patients", "problems"}`` counted from the ingested cohort's ``skipped.json`` (None when not found)."""
    folders = [Path(str(cfg["cohort"]))] if cfg.get("cohort") else []
    for folder in [*folders, Path(run_dir) / "cohort"]:  # the recorded cohort, else the run's own ingest
        path = folder / "skipped.json"
        if path.is_file():
            doc = read_json(path)
            return {"patients": len(doc.get("patients") or []), "problems": len(doc.get("problems") or [])}
    return None


def grade_counts(metrics: Mapping[str, Any]) -> str:
    counts = metrics.get("patients_per_grade") or {}
    return ", ".join(f"grade {g}: {n}" for g, n in counts.items()) or "n/a"


def unit_of_split(protocol: str) -> str:
    """What a fold is made of under ``protocol``, in words."""
    return {"honest": "patients (StratifiedGroupKFold keeps every row of a patient in one fold)",
            "site": "sites (each fold tests one acquisition site never seen in training)",
            "paper": "augmented images at random, the study's protocol (rows of one patient sit in training and "
                     "test folds: it leaks on purpose and must not be reported as an estimate)"}.get(protocol,
                                                                                                    protocol)


def _inner(metrics: Mapping[str, Any], cfg: Mapping[str, Any]) -> str:
    sel = metrics.get("selection")
    parts = []
    if sel:
        parts.append(sel.get("how", "model selection inside each training fold"))
    train = cfg.get("train") or {}
    cnn = [n for n in metrics.get("configs", {}) if n in ("full", "no-pretrain", "no-aug", "fusion")]
    if cnn:
        parts.append(f"CNN configurations ({', '.join(cnn)}) stop early on a stratified inner split of "
                     f"{fmt_value(train.get('val_fraction'), '.2f')} of the training patients")
    cv = cfg.get("cv") or {}
    recal = recalibration_note(cv.get("recalibrate"), list(metrics.get("configs", {})),
                               str(metrics.get("protocol", cv.get("protocol"))))
    if recal:
        parts.append(recal)
    return "; ".join(parts) or "none: every configuration is fitted with fixed settings"


def recalibration_note(recal: Any, configs: list[str], protocol: str) -> str:
    """How ``--recalibrate`` treated each kind of configuration, in words ('' when it is ``none``): the sklearn
    configurations on inner cross-validated predictions, the CNNs on their early-stopping validation patients
    (not under the paper protocol, whose early stopping uses the test fold), the prior ones not at all.

    >>> recalibration_note("platt", ["full", "handcrafted"], "honest")[:61]
    'probability recalibration (platt, one-vs-rest logistic fits):'
    """
    if recal in (None, "none"):
        return ""
    sk = [n for n in configs if n in ("handcrafted", "handcrafted-mlp", "radiomics", "fusion")]
    cnn = [n for n in configs if n in ("full", "no-pretrain", "no-aug")]
    prior = [n for n in configs if n not in sk and n not in cnn]
    parts = [f"{', '.join(sk)} recalibrated on inner cross-validated predictions of the training patients"
             ] if sk else []
    if cnn and protocol == "paper":
        parts.append(f"{', '.join(cnn)} not recalibrated (under the paper protocol their early stopping uses the "
                     "test fold, so no held-out training patients are left to fit on)")
    elif cnn:
        parts.append(f"{', '.join(cnn)} recalibrated on their predictions of their early-stopping validation "
                     "patients (an inner split of the training patients)")
    if prior:
        parts.append(f"{', '.join(prior)} not recalibrated (their own logistic calibration is fitted per training "
                     "fold)")
    return f"probability recalibration ({recal}, one-vs-rest logistic fits): " + "; ".join(parts)


def _results(metrics: Mapping[str, Any]) -> str:
    out = []
    for name, c in metrics.get("configs", {}).items():
        out.append(f"{name}: pooled AUC {fmt_ci(c.get('pooled_auc'), c.get('pooled_auc_ci'))}, pooled accuracy "
                   f"{fmt_ci(c.get('pooled_accuracy'), c.get('pooled_accuracy_ci'), percent=True)}")
    return "; ".join(out) or "n/a"


def _calibration(metrics: Mapping[str, Any]) -> str:
    out = []
    for name, c in metrics.get("configs", {}).items():
        cal = c.get("calibration")
        if not cal:
            continue
        for g, e in cal["per_grade"].items():
            out.append(f"{name} grade {g}: slope {cal_ci(e['slope'], e.get('slope_ci'))}, intercept "
                       f"{cal_ci(e['intercept'], e.get('intercept_ci'))}")
        out.append(f"{name}: Brier {fmt_value(cal['brier'])}, ECE {fmt_value(c.get('ece'))}")
    return "; ".join(out)


def _permutation(run_dir: Path) -> Item:
    doc = read_json(Path(run_dir) / "permutation.json") if (Path(run_dir) / "permutation.json").is_file() else {}
    topic, where = "Leakage check (label permutation)", "TRIPOD+AI analysis methods; CLAIM data partitions"
    if not doc:
        return Item(topic, where, "not run", "not run: add --permute-labels N to gliograde cv")
    parts = []
    for proto, p in doc.get("protocols", {}).items():
        for name, e in p.get("configs", {}).items():
            a = e["auc"]
            parts.append(f"{proto} {name}: pooled AUC on {a['null']['n']} shuffles {fmt_value(a['null']['mean'])} ± "
                         f"{fmt_value(a['null']['sd'])}, real {fmt_value(a['real'])}, p = {fmt_value(a['p'])}")
    return Item(topic, where, "done", "; ".join(parts))


def checklist_items(run_dir: Path, metrics: Mapping[str, Any]) -> list[Item]:
    """Every checklist row of the run (see the module docstring)."""
    run_dir = Path(run_dir)
    info, folds, cfg = read_json(run_dir / "run.json"), read_json(run_dir / "folds.json"), run_config(run_dir)
    fp = info.get("input_fingerprint") or {}
    cohort = metrics.get("cohort") or {}
    ingest, cv = cfg.get("ingest") or {}, cfg.get("cv") or {}
    pre = ingest.get("preprocess") or {}
    protocol = str(metrics.get("protocol", cv.get("protocol", "n/a")))
    synthetic = " (synthetic: gliograde synth)" if cohort.get("synthetic") else ""
    skipped = skipped_cases(run_dir, cfg)
    n_rep = int(metrics.get("n_repeats") or 1)
    others = list(metrics.get("comparisons") or {})
    external = ("leave-one-site-out folds: each site tested once by a model that never saw it" if protocol == "site"
                else "none in this run: internal cross-validation only; test a trained bundle on another site "
                     "with `gliograde validate` (calibration slope and intercept with CIs are reported there)")
    return [
        Item("Data source", "TRIPOD+AI sources of data; CLAIM data sources", "partly",
             f"cohort {cohort.get('name', 'n/a')}{synthetic}; data fingerprint sha256 {fp.get('sha256', 'n/a')} over "
             f"{fp.get('n_files', 'n/a')} files. {FILL}: where and when the images were acquired, the setting, "
             "the scanners and sequences"),
        Item("Participants and grades", "TRIPOD+AI participants, outcome; CLAIM ground truth", "partly",
             f"{metrics.get('n_patients', 'n/a')} patients ({grade_counts(metrics)}). {FILL}: eligibility "
             "criteria, the grading system and WHO edition the labels follow, who assigned them and whether "
             "blinded to the images"),
        Item("Input data and preprocessing", "TRIPOD+AI predictors, data preparation; CLAIM preprocessing", "done",
             f"channels {', '.join(map(str, ingest.get('channels') or [])) or 'n/a'}; {ingest.get('slices', 'n/a')} "
             f"slice(s) per patient; intensity {pre.get('intensity', 'n/a')} over {pre.get('region', 'n/a')}; "
             f"crop around the ROI resized to {pre.get('size', 'n/a')} px"),
        Item("Excluded cases and why", "TRIPOD+AI participants flow, missing data; CLAIM data", "done"
             if skipped is not None else FILL,
             (f"{skipped['patients']} patient(s) left out at ingest, {skipped['problems']} problem(s) recorded "
              "(reasons in the cohort's skipped.json; complete-case analysis, nothing imputed)") if skipped
             is not None else f"{FILL}: the ingested cohort's skipped.json was not found beside the run"),
        Item("Unit of splitting", "TRIPOD+AI analysis methods; CLAIM data partitions", "done",
             f"{protocol} protocol: {unit_of_split(protocol)}"),
        Item("Folds", "TRIPOD+AI internal validation; CLAIM data partitions", "done",
             f"{metrics.get('n_folds', 'n/a')} folds, fold seed {folds.get('seed', 'n/a')}"
             + (f", repeated {n_rep} times (fold seeds seed..seed+{n_rep - 1})" if n_rep > 1 else "")
             + (f"; also run: {', '.join(others)}" if others else "")),
        Item("Inner selection and tuning", "TRIPOD+AI model building; CLAIM model training", "done",
             _inner(metrics, cfg)),
        Item("Performance (discrimination)", "TRIPOD+AI performance measures; CLAIM metrics", "done",
             _results(metrics) + f" (95 % CIs: percentile bootstrap over patients, {metrics.get('n_boot')} "
             "resamples)"),
        Item("Calibration", "TRIPOD+AI performance measures (calibration); CLAIM metrics",
             "done" if _calibration(metrics) else FILL, _calibration(metrics) or f"{FILL}: not computed"),
        _permutation(run_dir),
        Item("External testing", "TRIPOD+AI evaluation data; CLAIM external validation",
             "done" if protocol == "site" else FILL, external),
        Item("Software and reproducibility", "TRIPOD+AI open science; CLAIM software", "done",
             "gliograde " + str((info.get("versions") or {}).get("gliograde", "n/a")) + "; the resolved settings in "
             "config.yaml replay the run (gliograde cv --config config.yaml); seed "
             f"{info.get('seed', 'n/a')}; versions in run.json"),
        Item("Sample size", "TRIPOD+AI sample size; CLAIM sample size", FILL,
             f"{FILL}: how the study size was arrived at (the run used every ingested patient)"),
        Item("Failure analysis and fairness", "TRIPOD+AI fairness; CLAIM failure analysis", FILL,
             f"{FILL}: which patients were misclassified and why (pooled confusion matrices above; predictions.csv "
             "per patient), results by subgroup"),
        Item("Ethics, consent, data availability", "TRIPOD+AI ethics, open science; CLAIM", FILL,
             f"{FILL}: approval, consent or waiver, where the data and code can be obtained"),
    ]


def checklist_section(run_dir: Path, metrics: Mapping[str, Any]) -> str:
    """The report's ``Reporting checklist`` section: one row per item, ``fill in`` rows highlighted."""
    items = checklist_items(run_dir, metrics)
    rows = "".join(f"<tr{' class=ref' if i.status in (FILL, 'not run') else ''}><td>{esc(i.topic)}</td>"
                   f"<td>{esc(i.guideline)}</td><td><b>{esc(i.status)}</b></td><td>{esc(i.text)}</td></tr>"
                   for i in items)
    n_fill = sum(i.status in (FILL, "partly", "not run") for i in items)
    return ("<h2>Reporting checklist (TRIPOD+AI / CLAIM)</h2><p>Filled from this run's own files; the "
            f"{n_fill} rows marked <b>fill in</b>, <b>partly</b> or <b>not run</b> need what only the study's "
            "authors know or another run. Topics, not item numbers: check them against the checklist version your "
            "journal asks for. methods.md beside this report turns the same facts into a paragraph.</p>"
            f"<table><tr><th>topic</th><th>asked by</th><th>status</th><th>from this run</th></tr>{rows}</table>")
