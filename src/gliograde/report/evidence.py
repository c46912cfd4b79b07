"""The evidence a reviewer asks for, in the CV report: calibration (slope, intercept, curve with bands, Brier),
the label-permutation check and the TRIPOD+AI / CLAIM checklist; plus ``methods.md`` beside the report.

:func:`write_evidence` is the report's one call (figures and ``methods.md``), :func:`evidence_sections` the page's
(HTML). The numbers come from ``metrics.json`` (``calibration`` per configuration:
:func:`gliograde.stats.calibration`) and ``permutation.json``; nothing is recomputed here.

>>> cal = {"n_boot": 0, "brier": 0.2, "per_grade": {3: {"slope": 0.8, "slope_ci": None, "intercept": 0.1,
...        "intercept_ci": None}}}
>>> calibration_rows(cal)[1]
['3', '0.800', '0.100', '0.200']
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gliograde.report.checklist import cal_ci, checklist_section
from gliograde.report.format import fmt_value
from gliograde.report.html import esc, html_table, img_tag
from gliograde.report.methods import write_methods
from gliograde.report.permutation import permutation_section, write_permutation_figures
from gliograde.report.plots import plot_calibration

CALIBRATION_NOTE = ("Logistic recalibration of the predicted log-odds (Van Calster et al., BMC Med 2019): the slope "
                    "b of logit P(grade) = a + b logit(p) (ideal 1; below 1 the predictions are too extreme, the "
                    "usual sign of overfitting) and the calibration intercept, a with the slope fixed at 1 (ideal 0; "
                    "above 0 the grade is under-predicted on average). Two grades: the higher grade's probability; "
                    "more: one-vs-rest per grade. 95 % CIs and the curve's band: percentile bootstrap over patients. "
                    "Points: observed rate in quantile bins of the prediction (patients per bin beside them). "
                    "Brier: mean squared error of the probabilities (0 ideal).")


def calibration_rows(cal: Mapping[str, Any], lead: list[str] | None = None) -> list[list[str]]:
    """Header + one row per grade: slope [CI], intercept [CI], Brier (``lead``: cells put before, e.g. config)."""
    lead = lead or []
    head = [*(["config"] if lead else []), "grade", "calibration slope [95% CI]", "calibration intercept [95% CI]",
            "Brier"]
    rows = [head]
    for g, e in cal["per_grade"].items():
        rows.append([*lead, str(g), cal_ci(e["slope"], e.get("slope_ci")),
                     cal_ci(e["intercept"], e.get("intercept_ci")), fmt_value(cal["brier"])])
    return rows


def write_evidence(run_dir: Path, metrics: Mapping[str, Any]) -> list[Path]:
    """Write ``figures/calibration_<config>.png``, ``figures/permutation_<config>.png`` (with the check) and
    ``methods.md``; returns the figures."""
    fig_dir = Path(run_dir) / "figures"
    written = [plot_calibration(c["calibration"], name, fig_dir / f"calibration_{name}.png")
               for name, c in metrics["configs"].items() if c.get("calibration")]
    written += write_permutation_figures(run_dir)
    write_methods(run_dir, metrics)
    return written


def calibration_section(metrics: Mapping[str, Any], figures: list[Path]) -> str:
    """Slope, intercept and Brier of every configuration, and their calibration curves ("" without any)."""
    configs = {n: c["calibration"] for n, c in metrics["configs"].items() if c.get("calibration")}
    if not configs:
        return ""
    rows = [calibration_rows(next(iter(configs.values())), ["x"])[0]]
    for name, cal in configs.items():
        rows += calibration_rows(cal, [name])[1:]
    curves = [p for p in figures if p.name.startswith("calibration_")]
    return ("<h2>Calibration: slope, intercept, curve</h2>" + html_table(rows)
            + f"<p class=note>{esc(CALIBRATION_NOTE)}</p>" + "".join(img_tag(p) for p in curves))


def evidence_sections(run_dir: Path, metrics: Mapping[str, Any], figures: list[Path]) -> str:
    """The page's calibration, label-permutation and reporting-checklist sections, in that order."""
    return (calibration_section(metrics, figures) + permutation_section(run_dir, figures)
            + checklist_section(run_dir, metrics))
