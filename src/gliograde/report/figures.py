"""Figures of a CV run: pooled ROC per grade (the study's Figure 6), reliability, confusion and training
curves (Figure 5), written into ``RUN/figures/``. Reads artefacts only; drawing is :mod:`gliograde.report.plots`'.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from gliograde.metrics import roc_curves
from gliograde.report.artefacts import label_proba, load_predictions, read_history
from gliograde.report.format import fmt_value
from gliograde.report.plots import (
    new_figure,
    plot_confusion,
    plot_reliability,
    plot_roc,
    plot_training,
    roc_axes,
    save_figure,
)

logger = logging.getLogger(__name__)


def write_figures(run_dir: Path, metrics: Mapping[str, Any]) -> list[Path]:
    """Write ROC, reliability, confusion and training-curve PNGs into ``run_dir/figures``.

    Returns:
        The paths written: ``roc_<config>.png`` (pooled one-vs-rest ROC per grade), ``roc_all.png``,
        ``reliability_<config>.png``, ``confusion_<config>.png``, ``training_<config>.png`` (when
        ``history/<config>/fold*.csv`` exist).
    """
    run_dir = Path(run_dir)
    fig_dir = run_dir / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    df, classes = load_predictions(run_dir)
    df = df[df["protocol"] == metrics["protocol"]] if metrics["protocol"] in set(df["protocol"]) else df
    written = [_roc_all(df, classes, metrics, fig_dir / "roc_all.png")]
    for name, c in metrics["configs"].items():
        y, p = label_proba(df[df["config"] == name], classes)
        written.append(plot_roc(y, p, classes, f"{name}: pooled out-of-fold ROC", fig_dir / f"roc_{name}.png"))
        written.append(plot_reliability(c["reliability"], c["ece"], name, fig_dir / f"reliability_{name}.png"))
        written.append(plot_confusion(np.asarray(c["confusion"]), classes, name, fig_dir / f"confusion_{name}.png"))
        hist = read_history(run_dir / "history" / name)
        if hist is not None:
            written.append(plot_training(hist, name, fig_dir / f"training_{name}.png"))
    return written


def _macro_roc(
    y: npt.NDArray[np.int64], p: npt.NDArray[np.float64], classes: tuple[int, ...]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    curves = roc_curves(y, p, classes)
    if len(classes) == 2 and classes[1] in curves:
        fpr, tpr, _ = curves[classes[1]]
        return fpr, tpr
    grid = np.linspace(0, 1, 201)
    return grid, np.mean([np.interp(grid, f, t) for f, t, _ in curves.values()], axis=0)


def _roc_all(df: pd.DataFrame, classes: tuple[int, ...], metrics: Mapping[str, Any], path: Path) -> Path:
    """Every config's pooled ROC in one plot (binary, or the macro average of the one-vs-rest curves)."""
    fig, ax = new_figure()
    for name, c in metrics["configs"].items():
        fpr, tpr = _macro_roc(*label_proba(df[df["config"] == name], classes), classes)
        ax.plot(fpr, tpr, lw=1.6, label=f"{name} (pooled AUC {fmt_value(c['pooled_auc'])})")
    kind = "binary" if len(classes) == 2 else "macro one-vs-rest"
    roc_axes(ax, f"pooled out-of-fold ROC ({kind})")
    return save_figure(fig, path)
