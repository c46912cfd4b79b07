"""Drawing functions shared by every report: ROC, reliability, confusion and training curves.

Built on matplotlib's object API (:class:`matplotlib.figure.Figure`, saved with ``fig.savefig``), never
pyplot: no global figure state and no backend switch, so a notebook's backend is left alone.
matplotlib is imported inside the functions that draw: it takes about a second to import, and most
commands never draw.

>>> # plot_history(fit_result.history, Path("run/history.png"), best_epoch=7)
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from gliograde.fsio import atomic_path
from gliograde.metrics import roc_curves
from gliograde.report.format import fmt_value

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def new_figure(ncols: int = 1) -> tuple[Figure, Any]:
    """A 4.6 x 4.0 inch panel per column, constrained layout: one ``Axes`` for ``ncols == 1``, else an array."""
    from matplotlib.figure import Figure  # slow to import: only when drawing

    fig = Figure(figsize=(4.6 * ncols, 4.0), layout="constrained")
    return fig, fig.subplots(1, ncols)


def save_figure(fig: Figure, path: Path, dpi: int = 90) -> Path:
    """Write ``fig`` to ``path`` (PNG by its suffix; folders are created) and return ``path``."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi)
    return path


def roc_axes(ax: Axes, title: str) -> None:
    """Chance diagonal, axis labels and limits, the title and the legend of a ROC plot."""
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=0.8)
    ax.set(xlabel="1 - specificity", ylabel="sensitivity", xlim=(0, 1), ylim=(0, 1.01), title=title)
    ax.legend(loc="lower right", fontsize=8)


def plot_roc(y: npt.NDArray[np.int64], p: npt.NDArray[np.float64], classes: tuple[int, ...], title: str,
             path: Path) -> Path:
    """One-vs-rest ROC per grade with its AUC in the legend; two grades: the higher grade's curve only.

    Args:
        y: (N,) true grades. p: (N, len(classes)) probabilities in ``classes`` order.
        classes: the grades. title: the plot title. path: PNG to write.
    """
    fig, ax = new_figure()
    curves = roc_curves(y, p, classes)
    if len(classes) == 2:  # both one-vs-rest curves carry the same AUC: show the higher grade's
        curves = {g: v for g, v in curves.items() if g == classes[1]}
    for g, (fpr, tpr, auc) in curves.items():
        rest = str(classes[0]) if len(classes) == 2 else "rest"
        ax.plot(fpr, tpr, lw=1.8, label=f"grade {g} vs {rest} (AUC {auc:.3f})")
    roc_axes(ax, title)
    return save_figure(fig, path)


def _floats(values: list[Any]) -> npt.NDArray[np.float64]:
    return np.array([math.nan if v is None else v for v in values], dtype=np.float64)


def plot_reliability(rel: Mapping[str, Any], ece: Any, name: str, path: Path) -> Path:
    """Top-label reliability diagram: accuracy per confidence bin (bars, patients per bin on top).

    Args:
        rel: :func:`gliograde.stats.reliability_curve`'s dict (``edges``, ``accuracy``, ``confidence``, ``count``).
        ece: expected calibration error, shown in the title. name: title prefix. path: PNG to write.
    """
    fig, ax = new_figure()
    edges = np.asarray(rel["edges"])
    centers, width = (edges[:-1] + edges[1:]) / 2, edges[1] - edges[0]
    acc, conf = _floats(rel["accuracy"]), _floats(rel["confidence"])
    ax.bar(centers, np.nan_to_num(acc), width=0.9 * width, color="tab:blue", alpha=0.6, edgecolor="k",
           label="accuracy in bin")
    ax.plot(conf, acc, "o", c="tab:red", ms=4, label="mean confidence")
    for x, a, n in zip(centers, np.nan_to_num(acc), rel["count"], strict=True):
        if n:
            ax.text(x, a + 0.02, str(n), ha="center", fontsize=7)
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=0.8, label="perfect calibration")
    ax.set(xlabel="top-label confidence", ylabel="accuracy", xlim=(0, 1), ylim=(0, 1.08),
           title=f"{name}: reliability (ECE {fmt_value(ece)})")
    ax.legend(loc="upper left", fontsize=8)
    return save_figure(fig, path)


def plot_confusion(cm: npt.NDArray[np.int64], classes: tuple[int, ...], name: str, path: Path) -> Path:
    """Confusion matrix (rows: true grade), each cell its count and its share of the row."""
    fig, ax = new_figure()
    rows = cm.sum(axis=1, keepdims=True)
    frac = np.divide(cm, rows, out=np.zeros(cm.shape), where=rows > 0)
    ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, f"{cm[i, j]}\n{100 * frac[i, j]:.0f}%", ha="center", va="center",
                    color="white" if frac[i, j] > 0.6 else "black")
    ticks = [f"grade {c}" for c in classes]
    ax.set(xticks=range(len(classes)), yticks=range(len(classes)), xticklabels=ticks, yticklabels=ticks,
           xlabel="predicted", ylabel="true", title=f"{name}: pooled confusion")
    return save_figure(fig, path)


def plot_training(hist: pd.DataFrame, name: str, path: Path) -> Path:
    """Loss and accuracy against epoch, mean ± SD over folds (the study's Figure 5, for a CV run).

    Args:
        hist: the folds' histories stacked (:func:`gliograde.report.artefacts.read_history`): ``epoch``,
            ``fold`` and any of ``train_loss``, ``val_loss``, ``train_acc``, ``val_acc``.
        name: the config, in the titles. path: PNG to write.
    """
    fig, axes = new_figure(2)
    stats = hist.drop(columns="fold").groupby("epoch").agg(["mean", "std"])
    for ax, kind in zip(axes, ("loss", "acc"), strict=True):
        for split in ("train", "val"):
            col = f"{split}_{kind}"
            if col in hist.columns:
                mean, sd = stats[col]["mean"], stats[col]["std"].fillna(0)
                ax.plot(stats.index, mean, label=split)
                ax.fill_between(stats.index, mean - sd, mean + sd, alpha=0.2)
        ax.set(xlabel="epoch", ylabel=kind, title=f"{name}: {kind} (mean ± SD over {hist['fold'].nunique()} folds)")
        ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_history(history: list[dict[str, float]], path: Path, best_epoch: int | None = None) -> Path:
    """Loss and accuracy against epoch of one fit, training and validation (like the study's Figure 5).

    Args:
        history: :attr:`gliograde.training.engine.FitResult.history`: one dict per epoch with ``epoch``,
            ``train_acc``, ``val_acc``, ``train_loss``, ``val_loss``.
        path: PNG (or any matplotlib format) to write; folders are created.
        best_epoch: marked with a vertical line when given.
    """
    from matplotlib.figure import Figure  # slow to import: only when drawing

    ep = [h["epoch"] for h in history]
    fig = Figure(figsize=(6, 6))
    axes = fig.subplots(2, 1, sharex=True)
    for ax, key, name in ((axes[0], "acc", "accuracy"), (axes[1], "loss", "loss")):
        ax.plot(ep, [h[f"train_{key}"] for h in history], "o-", label="training")
        ax.plot(ep, [h[f"val_{key}"] for h in history], "s--", label="validation")
        if best_epoch:
            ax.axvline(best_epoch, color="grey", lw=0.8, ls=":", label=f"best epoch ({best_epoch})")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend()
    axes[1].set_xlabel("epoch")
    fig.tight_layout()
    return save_figure(fig, path, dpi=120)


def plot_calibration(cal: Mapping[str, Any], name: str, path: Path) -> Path:
    """Calibration curve per grade: the logistic recalibration curve with its patient-bootstrap band, observed
    rates in quantile bins of the prediction (points, patients per bin beside them) and the ideal diagonal.

    Args:
        cal: :func:`gliograde.stats.calibration`'s dict (``grid``, ``per_grade``: ``curve``, ``band``, ``bins``,
            ``slope``, ``intercept``). name: title prefix. path: PNG to write.
    """
    fig, ax = new_figure()
    grid = np.asarray(cal["grid"], dtype=np.float64)
    for i, (g, e) in enumerate(cal["per_grade"].items()):
        colour = f"C{i}"
        ax.plot(grid, _floats(e["curve"]), c=colour, lw=1.8,  # NaN (not drawn) when perfectly separated
                label=f"grade {g}: slope {fmt_value(e['slope'], '.2f')}, intercept {fmt_value(e['intercept'], '.2f')}")
        if e.get("band"):
            ax.fill_between(grid, _floats(e["band"][0]), _floats(e["band"][1]), color=colour, alpha=0.18)
        b = e["bins"]
        ax.plot(b["predicted"], b["observed"], "o", c=colour, ms=4)
        for x, y, n in zip(b["predicted"], b["observed"], b["count"], strict=True):
            ax.text(x, y + 0.02, str(n), fontsize=6, color=colour, ha="center")
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=0.8, label="ideal")
    band = f", band: 95 % patient bootstrap ({cal['n_boot']})" if cal.get("n_boot") else ""
    ax.set(xlabel="predicted probability", ylabel="observed proportion", xlim=(0, 1), ylim=(0, 1.05),
           title=f"{name}: calibration{band}")
    ax.title.set_fontsize(9)
    ax.legend(loc="upper left", fontsize=7)
    return save_figure(fig, path)
