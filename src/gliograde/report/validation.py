"""The files of an external validation: predictions.csv, metrics.json, figures/, report.html, config.yaml,
run.json. The page and its figures use the shared helpers of :mod:`gliograde.report.html` and
:mod:`gliograde.report.plots`: one self-contained page, no links or scripts. The printed summary
(``gliograde validate``) reuses :func:`summary_rows`, :func:`shift_line`, :func:`auc_reasons` and
:func:`training_lines`.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gliograde.bundles.base import FAR_Z
from gliograde.fsio import atomic_path, atomic_write_json, atomic_write_text
from gliograde.report.checklist import cal_ci
from gliograde.report.evidence import CALIBRATION_NOTE, calibration_rows
from gliograde.report.format import fmt_ci, fmt_value, to_jsonable, to_percent
from gliograde.report.html import esc, html_page, html_table, img_tag
from gliograde.report.paths import shown_name
from gliograde.report.plots import plot_calibration, plot_confusion, plot_reliability, plot_roc
from gliograde.runinfo import write_run_info

logger = logging.getLogger(__name__)

PREDICTIONS_CSV = "predictions.csv"
METRICS_JSON = "metrics.json"
REPORT_HTML = "report.html"


def write_outputs(out: Path, table: pd.DataFrame, metrics: Mapping[str, Any], classes: tuple[int, ...], *,
                  seed: int | None, config: Mapping[str, Any], fingerprint: Mapping[str, Any]) -> list[Path]:
    """Write every validation file into ``out`` and return the paths written.

    Args:
        out: the validation folder (created).
        table: predictions.csv as a DataFrame (``label``, ``p_<grade>`` per grade in ``classes``, ...).
        metrics: :func:`gliograde.validation.metrics.validation_metrics` plus ``model``, ``seconds`` etc.
        classes: the model's grades. seed: the bootstrap seed, recorded in run.json.
        config: the resolved settings, written to config.yaml. fingerprint: the data's, recorded in run.json.
    """
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / PREDICTIONS_CSV) as tmp:  # every file atomic: a reader never sees half of one
        table.to_csv(tmp, index=False)
    atomic_write_json(out / METRICS_JSON, to_jsonable(metrics))
    write_run_info(out, command="validate", config=dict(config), seed=seed, fingerprint=fingerprint)
    figures = write_figures(out / "figures", table, metrics, classes)
    atomic_write_text(out / REPORT_HTML, render_html(out, metrics, figures, fingerprint))
    return [out / PREDICTIONS_CSV, out / METRICS_JSON, *figures, out / REPORT_HTML, out / "config.yaml",
            out / "run.json"]


def write_figures(fig_dir: Path, table: pd.DataFrame, metrics: Mapping[str, Any],
                  classes: tuple[int, ...]) -> list[Path]:
    """roc.png (only when the AUC is defined), reliability.png, calibration.png (the calibration curve with its
    patient-bootstrap band) and confusion.png."""
    fig_dir.mkdir(parents=True, exist_ok=True)
    written = []
    if metrics["auc"]["value"] is not None:
        y = table["label"].to_numpy(np.int64)
        p = table[[f"p_{g}" for g in classes]].to_numpy(np.float64)
        a = metrics["auc"]
        title = f"external validation ROC, n={metrics['n']}\nAUC {fmt_ci(a['value'], a['ci'])}"
        written.append(plot_roc(y, p, classes, title, fig_dir / "roc.png"))
    written.append(plot_reliability(metrics["reliability"], metrics["ece"], "validation", fig_dir / "reliability.png"))
    if metrics.get("calibration"):
        written.append(plot_calibration(metrics["calibration"], "validation", fig_dir / "calibration.png"))
    written.append(plot_confusion(np.asarray(metrics["confusion"]), classes, "validation", fig_dir / "confusion.png"))
    return written


def calibration_line(metrics: Mapping[str, Any]) -> str | None:
    """One line: calibration slope and intercept [95 % CI] per grade (:func:`gliograde.stats.calibration`)."""
    cal = metrics.get("calibration")
    if not cal:
        return None
    parts = [f"grade {g}: slope {cal_ci(e['slope'], e.get('slope_ci'))}, "
             f"intercept {cal_ci(e['intercept'], e.get('intercept_ci'))}" for g, e in cal["per_grade"].items()]
    boot = f" (95 % CIs: patient bootstrap, {cal['n_boot']} resamples)" if cal.get("n_boot") else ""
    return "calibration " + "; ".join(parts) + boot + " (ideal: slope 1, intercept 0)"


def _calibration_section(metrics: Mapping[str, Any]) -> str:
    cal = metrics.get("calibration")
    if not cal:
        return ""
    return ("<h2>Calibration</h2>" + html_table(calibration_rows(cal))
            + f"<p class=note>{esc(CALIBRATION_NOTE)}</p>")


def _auc_text(a: Mapping[str, Any]) -> str:
    if a["value"] is None:
        return "undefined (too few patients)" if "at least" in str(a["reason"]) else "undefined"
    return fmt_ci(a["value"], a["ci"]) if a["ci"] else fmt_value(a["value"])


def auc_reasons(metrics: Mapping[str, Any]) -> list[str]:
    """Why each undefined AUC (pooled, per site) is undefined, one line each."""
    sets = {"all patients": metrics["auc"], **{f"site {k}": s["auc"] for k, s in metrics["per_site"].items()}}
    return [f"AUC of {name} {a['reason']}" for name, a in sets.items() if a["reason"]]


def shift_line(metrics: Mapping[str, Any]) -> str | None:
    """One line on how many patients lie outside the training data (radiomics and CNN bundles), or None."""
    u = metrics.get("unlike_training")
    if not u or not u["n"]:
        return None
    return (f"{u['n']} of {u['of']} patients ({100 * u['share']:.0f} %) lie more than {FAR_Z:g} training SDs from "
            "the training mean (unlike_training: a selected radiomics feature, or the CNN's embedding): another "
            "scanner, protocol or preprocessing; harmonise before trusting these numbers")


def summary_rows(metrics: Mapping[str, Any]) -> list[list[str]]:
    """Header + one row for all patients + one per site: n, AUC [95% CI], accuracy [CI], balanced acc."""
    rows = [["set", "n", "AUC [95% CI]", "accuracy [95% CI]", "balanced accuracy"]]
    rows.append(["all", str(metrics["n"]), _auc_text(metrics["auc"]),
                 fmt_ci(metrics["accuracy"], metrics["accuracy_ci"], percent=True) if metrics["accuracy_ci"]
                 else f"{fmt_value(100 * metrics['accuracy'], '.1f')} %",
                 f"{fmt_value(100 * metrics['balanced_accuracy'], '.1f')} %"])
    for site, s in metrics["per_site"].items():
        acc = fmt_value(100 * s["accuracy"], ".1f")
        rows.append([f"site {site}", str(s["n"]), _auc_text(s["auc"]), f"{acc} %", ""])
    return rows


def training_lines(metrics: Mapping[str, Any]) -> list[str]:
    """The model's own estimates from model.json, one line each (empty when none was recorded)."""
    est = metrics.get("training_estimates") or {}
    lines = [f"model.json CV ({est['cv'].get('protocol')}, {est['cv'].get('n_patients')} patients), {name}: pooled "
             f"AUC {fmt_value(c.get('pooled_auc'))}, mean fold AUC {fmt_value(c.get('auc_mean'))}"
             for name, c in (est.get("cv") or {}).get("configs", {}).items()]
    if "inner_cv" in est:
        i = est["inner_cv"]
        lines.append(f"model.json inner-CV AUC of the chosen {i['chosen']}: {fmt_value(i['auc'])} ({i['note']})")
    return lines


def _per_grade_rows(metrics: Mapping[str, Any]) -> list[list[str]]:
    rows = [["grade", "n", "sensitivity", "specificity", "AUC (one-vs-rest)"]]
    for g, d in metrics["per_grade"].items():
        rows.append([str(g), str(d["n"]), fmt_value(to_percent(d["sensitivity"]), ".1f"),
                     fmt_value(to_percent(d["specificity"]), ".1f"),
                     fmt_value(d["auc"]) if d["auc"] is not None else "undefined (too few patients)"])
    return rows


def render_html(out: Path, metrics: Mapping[str, Any], figures: list[Path], fingerprint: Mapping[str, Any]) -> str:
    """report.html as one string: inline CSS, figures as base64 PNGs, no external links."""
    model = metrics["model"]
    title = f"gliograde external validation: {out.name}"
    notes = [metrics.get("excluded_note"), shift_line(metrics), *auc_reasons(metrics), *training_lines(metrics)]
    body = [
        f"<h1>{esc(title)}</h1>",
        f"<p>Model <b>{esc(shown_name(model['path']))}</b> ({esc(model['kind'])}, grades {esc(model['classes'])}), "
        f"{metrics['n']} patients ({esc(', '.join(f'grade {g}: {n}' for g, n in metrics['counts'].items()))}). "
        "Research use only; not a medical device.</p>",
        "<h2>Results</h2>", html_table(summary_rows(metrics)),
        f"<p class=note>AUC: {esc(metrics['auc']['kind'])}; 95% percentile bootstrap CI over patients "
        f"({metrics['auc']['n_boot']} resamples). Brier {fmt_value(metrics['brier'])}, "
        f"ECE {fmt_value(metrics['ece'])}.</p>",
        "".join(f"<p>{esc(n)}</p>" for n in notes if n),
        _calibration_section(metrics),
        "<h2>Per grade (one-vs-rest)</h2>", html_table(_per_grade_rows(metrics)),
        "<h2>Figures</h2>", "".join(img_tag(p) for p in figures),
        "<h2>Warnings</h2><ul>" + "".join(f"<li>{esc(w)}</li>" for w in metrics.get("warnings", [])) + "</ul>"
        if metrics.get("warnings") else "",
        "<h2>Provenance</h2>", html_table([["item", "value"], ["model fingerprint (sha256)", model["fingerprint"]],
                                       ["data fingerprint (sha256)", str(fingerprint.get("sha256"))],
                                       ["input files", str(fingerprint.get("n_files"))],
                                       ["wall time", ", ".join(f"{k} {v:.2f} s" for k, v in
                                                               (metrics.get("seconds") or {}).items())]]),
    ]
    return html_page(title, "".join(body))
