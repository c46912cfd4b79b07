"""Figures of a CV run (matplotlib, Agg backend): pooled ROC per grade (the study's Figure 6), reliability,
confusion and training curves (Figure 5). Reads artefacts only."""
from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from gliograde.metrics import roc_curves
from gliograde.report.cv import _arrays, load_predictions
from gliograde.report.format import fmt_value

if TYPE_CHECKING:  # matplotlib loads inside write_figures(), after choosing the Agg backend
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

logger = logging.getLogger(__name__)


def write_figures(run_dir: Path, metrics: Mapping[str, Any]) -> list[Path]:
    """Write ROC, reliability, confusion and training-curve PNGs into ``run_dir/figures``.

    Returns:
        The paths written: ``roc_<config>.png`` (pooled one-vs-rest ROC per grade), ``roc_all.png``,
        ``reliability_<config>.png``, ``confusion_<config>.png``, ``training_<config>.png`` (when
        ``history/<config>/fold*.csv`` exist).
    """
    import matplotlib

    matplotlib.use("Agg")
    run_dir = Path(run_dir)
    fig_dir = run_dir / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    df, classes = load_predictions(run_dir)
    df = df[df["protocol"] == metrics["protocol"]] if metrics["protocol"] in set(df["protocol"]) else df
    written = [_roc_all(df, classes, metrics, fig_dir / "roc_all.png")]
    for name, c in metrics["configs"].items():
        y, p = _arrays(df[df["config"] == name], classes)
        written.append(_roc_one(y, p, classes, name, fig_dir / f"roc_{name}.png"))
        written.append(plot_reliability(c["reliability"], c["ece"], name, fig_dir / f"reliability_{name}.png"))
        written.append(plot_confusion(np.asarray(c["confusion"]), classes, name, fig_dir / f"confusion_{name}.png"))
        hist = _history(run_dir / "history" / name)
        if hist is not None:
            written.append(_training(hist, name, fig_dir / f"training_{name}.png"))
    return written


# ---------------------------------------------------------------- figures (matplotlib, Agg backend)

def save_figure(fig: Figure, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def new_figure(ncols: int = 1) -> tuple[Figure, Any]:
    """A figure and its axes: one ``Axes`` for ``ncols == 1``, else an array of them."""
    import matplotlib.pyplot as plt

    return plt.subplots(1, ncols, figsize=(4.6 * ncols, 4.0), layout="constrained")


def roc_axes(ax: Axes, title: str) -> None:
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=0.8)
    ax.set(xlabel="1 - specificity", ylabel="sensitivity", xlim=(0, 1), ylim=(0, 1.01), title=title)
    ax.legend(loc="lower right", fontsize=8)


def _roc_one(
    y: npt.NDArray[np.int64], p: npt.NDArray[np.float64], classes: tuple[int, ...], name: str, path: Path
) -> Path:
    fig, ax = new_figure()
    curves = roc_curves(y, p, classes)
    if len(classes) == 2:  # both one-vs-rest curves carry the same AUC: show the higher grade's
        curves = {g: v for g, v in curves.items() if g == classes[1]}
    for g, (fpr, tpr, auc) in curves.items():
        rest = str(classes[0]) if len(classes) == 2 else "rest"
        ax.plot(fpr, tpr, lw=1.8, label=f"grade {g} vs {rest} (AUC {auc:.3f})")
    roc_axes(ax, f"{name}: pooled out-of-fold ROC")
    return save_figure(fig, path)


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
    fig, ax = new_figure()
    for name, c in metrics["configs"].items():
        fpr, tpr = _macro_roc(*_arrays(df[df["config"] == name], classes), classes)
        ax.plot(fpr, tpr, lw=1.6, label=f"{name} (pooled AUC {fmt_value(c['pooled_auc'])})")
    kind = "binary" if len(classes) == 2 else "macro one-vs-rest"
    roc_axes(ax, f"pooled out-of-fold ROC ({kind})")
    return save_figure(fig, path)


def _floats(values: list[Any]) -> npt.NDArray[np.float64]:
    return np.array([math.nan if v is None else v for v in values], dtype=np.float64)


def plot_reliability(rel: Mapping[str, Any], ece: Any, name: str, path: Path) -> Path:
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


def _history(folder: Path) -> pd.DataFrame | None:
    files = sorted(folder.glob("fold*.csv"))
    if not files:
        return None
    return pd.concat([pd.read_csv(f).assign(fold=f.stem) for f in files], ignore_index=True)


def _training(hist: pd.DataFrame, name: str, path: Path) -> Path:
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


