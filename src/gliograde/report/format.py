"""Plain-text formatting of metrics, shared by both pages: values, CIs, the CV results table, JSON-safe values."""
from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)


def fmt_value(x: Any, spec: str = ".3f") -> str:
    """``x`` formatted with ``spec``; 'n/a' for None or NaN.

    >>> fmt_value(0.91234), fmt_value(None), fmt_value(97.94, ".1f")
    ('0.912', 'n/a', '97.9')
    """
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def fmt_p(p: Any) -> str:
    """A p-value: '<0.001' below 0.001, else three decimals ('n/a' when missing)."""
    return "<0.001" if isinstance(p, float) and p < 0.001 else fmt_value(p)


def fmt_mean_sd(d: Mapping[str, Any], percent: bool = False) -> str:
    """'97.9 ± 1.0 %' or '0.912 ± 0.050' from a {"mean", "sd"} dict."""
    if percent:
        return f"{fmt_value(to_percent(d.get('mean')), '.1f')} ± {fmt_value(to_percent(d.get('sd')), '.1f')} %"
    return f"{fmt_value(d.get('mean'))} ± {fmt_value(d.get('sd'))}"


def to_percent(x: Any) -> Any:
    """A fraction as a percentage (``0.25`` -> ``25.0``); anything that is not a number (None) as is."""
    return x * 100 if isinstance(x, (int, float)) else x


def fmt_ci(point: Any, ci: Any, percent: bool = False) -> str:
    """'0.912 [0.853, 0.960]' (or percentages)."""
    lo, hi = (ci or [None, None])[:2]
    if percent:
        pct = [fmt_value(to_percent(v), ".1f") for v in (point, lo, hi)]
        return f"{pct[0]} % [{pct[1]}, {pct[2]}]"
    return f"{fmt_value(point)} [{fmt_value(lo)}, {fmt_value(hi)}]"


def fmt_spread(d: Mapping[str, Any] | None) -> str:
    """'0.634 ± 0.058 (0.546–0.685)' from a :func:`gliograde.metrics.describe` dict ('n/a' when None)."""
    if not d:
        return "n/a"
    return f"{fmt_mean_sd(d)} ({fmt_value(d.get('min'))}–{fmt_value(d.get('max'))})"


def auc_kind(classes: Any) -> str:
    """What "AUC" means for these grades: the binary AUC of the higher grade, or the macro one-vs-rest mean.

    >>> auc_kind([2, 3]), auc_kind([2, 3, 4])
    ('grade 3 vs 2', 'macro one-vs-rest over 3 grades')
    """
    cls = list(classes or [])
    return f"grade {cls[1]} vs {cls[0]}" if len(cls) == 2 else f"macro one-vs-rest over {len(cls)} grades"


def delong_header(metrics: Mapping[str, Any]) -> str:
    """The DeLong column's header, naming the multiple-comparison method when there is one (3 or more grades)."""
    ref = metrics.get("reference", "full")
    if len(metrics.get("classes") or []) > 2:
        return f"DeLong p vs {ref} (min Holm-adj. OvR)"
    return f"DeLong p vs {ref}"


def metric_definitions(metrics: Mapping[str, Any]) -> list[str]:
    """One sentence per metric of the CV tables: AUC, accuracy, ECE, the CI and the DeLong p, as computed here."""
    cls = list(metrics.get("classes") or [])
    ref = metrics.get("reference", "full")
    dl = (f"DeLong p vs {ref}: one paired DeLong test per grade (that grade vs the rest) on patient-level pooled "
          f"predictions (a patient's rows averaged), the {len(cls)} p-values Holm-adjusted for multiple comparisons; "
          "the column shows the smallest adjusted p (a test of the global null that no grade's AUC differs)."
          if len(cls) > 2 else
          f"DeLong p vs {ref}: paired two-sided DeLong test of the two AUCs on patient-level pooled predictions "
          "(a patient's rows averaged); one test, no multiple-comparison adjustment.")
    return [f"AUC: area under the ROC curve, {auc_kind(cls)}"
            + (" (the mean of the per-grade one-vs-rest AUCs)." if len(cls) > 2 else
               f" (grade {cls[1]} is the positive class)." if len(cls) == 2 else "."),
            "Accuracy: share of predictions whose most probable grade is the true grade.",
            "ECE: expected calibration error, sum over 10 equal-width confidence bins of (share of predictions in "
            "the bin) x |accuracy - mean top probability| in the bin; 0 = calibrated.",
            f"95% CI: percentile bootstrap ({metrics.get('n_boot')} resamples, seed {metrics.get('seed')}) "
            "resampling whole patients with all their rows (cluster bootstrap).", dl]


def table_rows(metrics: Mapping[str, Any]) -> list[list[str]]:
    """Rows of the study-style summary table (header first), shared by the text table and the HTML.

    A repeated CV (``n_repeats`` > 1) adds the column "AUC over R repeats: mean ± SD (min–max)" of the
    pooled patient-level AUC of each repeat; the other columns are repeat 0's.
    """
    ref = metrics.get("reference", "full")
    n_rep = int(metrics.get("n_repeats") or 1)
    rows = [["config", "accuracy (mean ± SD)", "AUC (mean ± SD)", "pooled AUC [95% CI]", delong_header(metrics),
             "ECE"]]
    if n_rep > 1:
        rows[0].append(f"AUC over {n_rep} repeats: mean ± SD (min–max)")
    for name, c in metrics["configs"].items():
        dl = c.get(f"delong_vs_{ref}")
        p = "reference" if name == ref else (fmt_p(dl["p"]) if dl else "n/a")
        rows.append([name, fmt_mean_sd(c["accuracy"], percent=True), fmt_mean_sd(c["auc"]),
                     fmt_ci(c["pooled_auc"], c.get("pooled_auc_ci")), p, fmt_value(c.get("ece"))])
        if n_rep > 1:
            rows[-1].append(fmt_spread((c.get("repeats") or {}).get("auc")))
    return rows


def results_table(metrics: Mapping[str, Any]) -> str:
    """Plain-text results table (like the study's), printed at the end of a CV run.

    Args:
        metrics: the dict of :func:`summarise_run` (or metrics.json loaded back).

    Returns:
        A multi-line string: title line, header, one row per config.
    """
    rows = table_rows(metrics)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    n_rep = int(metrics.get("n_repeats") or 1)
    folds = f"{metrics.get('n_folds')} folds" + (f" x {n_rep} repeats" if n_rep > 1 else "")
    over = "folds of repeat 0" if n_rep > 1 else "folds"
    cohort = metrics.get("cohort") or {}
    named = f"cohort {cohort['name']}{' (SYNTHETIC data)' if cohort.get('synthetic') else ''}: " if cohort else ""
    title = (f"{named}protocol {metrics.get('protocol')}, grades {metrics.get('classes')}, {metrics.get('n_patients')} "
             f"patients, {folds} (accuracy/AUC: mean ± SD over {over}; AUC = {auc_kind(metrics.get('classes'))})")
    others = [results_table({k: v for k, v in m.items() if k != "comparisons"})
              for m in (metrics.get("comparisons") or {}).values()]
    return "\n\n".join(["\n".join([title, *lines]), *others])


def to_jsonable(obj: Any) -> Any:
    """NaN/inf -> None, numpy scalars -> Python, dict keys -> str: strict JSON."""
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, (np.integer, np.bool_)):
        return obj.item()
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    return obj

