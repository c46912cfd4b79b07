"""Figures of an ingested cohort, like the study's Figures 1 and 2 (PNG, matplotlib Agg)."""
from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import numpy.typing as npt
import pandas as pd
from matplotlib.figure import Figure
from PIL import Image

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the Agg backend must be chosen before pyplot loads)

Preview = tuple[int, npt.NDArray[np.uint8], npt.NDArray[np.bool_], str]


def plot_examples(previews: list[Preview], path: Path, per_grade: int = 4) -> Path:
    """Figure 1: example slices per grade with the tumour outline in red."""
    grades = sorted({p[0] for p in previews})
    fig, axes = plt.subplots(len(grades), per_grade, figsize=(2.2 * per_grade, 2.3 * len(grades)), squeeze=False)
    for r, g in enumerate(grades):
        items = [p for p in previews if p[0] == g][:per_grade]
        for c in range(per_grade):
            ax = axes[r, c]
            ax.axis("off")
            if c < len(items):
                _, img, mask, _ = items[c]
                ax.imshow(_viewable(img), cmap="gray")
                ax.contour(mask, levels=[0.5], colors="red", linewidths=0.8)
        axes[r, 0].set_title(f"WHO grade {g}", loc="left", fontsize=10)
    fig.suptitle("Representative slices with the tumour outline")
    return _save(fig, path)


def plot_tumour_areas(manifest: pd.DataFrame, root: Path, path: Path, per_grade: int = 6) -> Path:
    """Figure 2: the extracted tumour areas (the cached model inputs), per grade."""
    reps = manifest[manifest["representative"]] if "representative" in manifest else manifest
    grades = sorted(reps["grade"].unique())
    fig, axes = plt.subplots(len(grades), per_grade, figsize=(1.8 * per_grade, 1.9 * len(grades)), squeeze=False)
    for r, g in enumerate(grades):
        rows = reps[reps["grade"] == g].head(per_grade)
        for c in range(per_grade):
            ax = axes[r, c]
            ax.axis("off")
            if c < len(rows):
                with Image.open(root / rows["cache_path"].iloc[c]) as im:
                    arr = np.asarray(im)
                ax.imshow(_viewable(arr), cmap="gray", vmin=0, vmax=255)
        axes[r, 0].set_title(f"WHO grade {g}", loc="left", fontsize=10)
    fig.suptitle("Extracted tumour areas (model input)")
    return _save(fig, path)


def _viewable(arr: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """(H, W) or RGB as is; any other channel count (e.g. 2: FLAIR + T1c) shows its last channel."""
    return arr[..., -1] if arr.ndim == 3 and arr.shape[-1] not in (3, 4) else arr


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
