"""Figures of a cohort: ingest's example slices and tumour areas per grade (the study's Figures 1 and 2),
and the synthetic cohort's montage (FLAIR with the mask outline, and T1ce, per grade).

The ingest figures use matplotlib's object API (:class:`matplotlib.figure.Figure`), never pyplot, so a
notebook's backend is left alone; matplotlib is imported inside them because it is slow to import. The
synthetic montage is drawn with PIL alone.

>>> import numpy as np
>>> tile = outline(np.zeros((8, 8), np.uint8), np.ones((8, 8), bool))
>>> tile.shape, tile.dtype.name
((8, 8, 3), 'uint8')
"""
from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from gliograde.fsio import atomic_path

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

Preview = tuple[int, npt.NDArray[np.uint8], npt.NDArray[np.bool_], str]
OUTLINE_RGB = (255, 40, 40)
#: Pixel height of the synthetic montage's tile labels (its header band is 22 px).
LABEL_PX = 13


@functools.cache
def label_font(size: int = LABEL_PX) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """The montage labels' font: matplotlib's DejaVu Sans (installed with matplotlib, found without importing it),
    whose word space is a third of an em. PIL's built-in font spaces words by a fifth of an em, 2 px at its default
    size, so "WHO grade" read as "WHOgrade"; it is the fall-back when DejaVu Sans is not there.
    """
    spec = importlib.util.find_spec("matplotlib")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        ttf = Path(folder) / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
        if ttf.is_file():
            return ImageFont.truetype(str(ttf), size)
    return ImageFont.load_default(size=size)


def draw_label(draw: ImageDraw.ImageDraw, xy: tuple[int, int], text: str) -> None:
    """White text with a black outline: readable on the dark header band and on any bright tile it may reach."""
    draw.text(xy, text, font=label_font(), fill=(255, 255, 255), stroke_width=2, stroke_fill=(0, 0, 0))


def _grid(nrows: int, ncols: int, tile_w: float, tile_h: float) -> tuple[Figure, npt.NDArray[np.object_]]:
    from matplotlib.figure import Figure  # slow to import: only when drawing

    fig = Figure(figsize=(tile_w * ncols, tile_h * nrows))
    return fig, fig.subplots(nrows, ncols, squeeze=False)


def plot_examples(previews: list[Preview], path: Path, per_grade: int = 4) -> Path:
    """Figure 1: example slices per grade with the tumour outline in red.

    Args:
        previews: ``(grade, image, mask, patient_id)``: image (H, W) uint8 (or (H, W, C)), mask (H, W) bool.
        path: PNG to write (folders are created). per_grade: slices shown per grade row.
    """
    grades = sorted({p[0] for p in previews})
    fig, axes = _grid(len(grades), per_grade, 2.2, 2.3)
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
    fig.tight_layout()
    return _save(fig, path)


def plot_tumour_areas(manifest: pd.DataFrame, root: Path, path: Path, per_grade: int = 6) -> Path:
    """Figure 2: the extracted tumour areas (the cached model inputs), per grade.

    Args:
        manifest: ingest's manifest (``grade``, ``cache_path`` relative to ``root``, optional ``representative``).
        root: the ingested folder. path: PNG to write. per_grade: tiles per grade row.
    """
    reps = manifest[manifest["representative"]] if "representative" in manifest else manifest
    grades = sorted(reps["grade"].unique())
    fig, axes = _grid(len(grades), per_grade, 1.8, 1.9)
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
    fig.tight_layout()
    return _save(fig, path)


def _save(fig: Figure, path: Path) -> Path:
    # not report.plots.save_figure: that module imports sklearn (slow), and synth's workers import this one
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    return path


def _viewable(arr: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """(H, W) or RGB as is; any other channel count (e.g. 2: FLAIR + T1c) shows its last channel."""
    return arr[..., -1] if arr.ndim == 3 and arr.shape[-1] not in (3, 4) else arr


def outline(grey: npt.NDArray[np.uint8], mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.uint8]:
    """(H, W) uint8 grey image -> (H, W, 3) uint8 RGB with the mask's border drawn in red."""
    rgb = np.repeat(grey[..., None], 3, axis=-1)
    border = mask & ~ndimage.binary_erosion(mask)
    rgb[border] = OUTLINE_RGB
    return rgb


class MontageCollector:
    """Keep the middle slice of the first ``per_grade`` patients of each grade and draw them in a grid.

    Rows are WHO grades 2, 3, 4; each patient gives two tiles: FLAIR with the mask outline, then T1ce.
    """

    def __init__(self, *, per_grade: int = 3) -> None:
        self.per_grade = per_grade
        self.examples_: dict[int, list[tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_]]]] = {2: [], 3: [], 4: []}

    def add(self, grade: int, image: npt.NDArray[np.uint8], mask: npt.NDArray[np.bool_]) -> None:
        """Remember one patient's middle slice ((H, W, 3) uint8 and (H, W) bool) if its grade row is not full."""
        row = self.examples_[grade]
        if len(row) < self.per_grade:
            row.append((image.copy(), mask.copy()))

    def render(self) -> npt.NDArray[np.uint8]:
        """(rows * tile, cols * tile, 3) uint8 montage; empty cells stay black."""
        tile, head = 256, 22
        grid = np.zeros((3 * (tile + head), 2 * self.per_grade * tile, 3), np.uint8)
        for r, grade in enumerate((2, 3, 4)):
            for p, (img, mask) in enumerate(self.examples_[grade]):
                y = r * (tile + head) + head
                grid[y : y + tile, 2 * p * tile : (2 * p + 1) * tile] = outline(img[..., 1], mask)
                grid[y : y + tile, (2 * p + 1) * tile : (2 * p + 2) * tile] = np.repeat(img[..., 2:3], 3, axis=-1)
        pil = Image.fromarray(grid)
        draw = ImageDraw.Draw(pil)
        for r, grade in enumerate((2, 3, 4)):
            for p in range(len(self.examples_[grade])):
                y = r * (tile + head) + 4
                draw_label(draw, (2 * p * tile + 6, y), f"WHO grade {grade}: FLAIR + mask")
                draw_label(draw, ((2 * p + 1) * tile + 6, y), f"WHO grade {grade}: T1 post-contrast")
        return np.asarray(pil)

    def save(self, path: Path) -> Path:
        """Write the montage PNG and return its path."""
        Image.fromarray(self.render()).save(path)
        return path
