"""The study's Figure 4: every augmented version of one case in a grid, each tile labelled ``index: name``.

Drawn with matplotlib's object API (:class:`matplotlib.figure.Figure`), never pyplot, so a notebook's
backend is left alone; matplotlib is imported inside :func:`montage` because it is slow to import.

>>> # from gliograde.augment.policy import build_transforms
>>> # montage(image_chw_uint8, build_transforms(AugmentCfg()), Path("montage.png"))
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torchvision.utils import make_grid

from gliograde.augment.ops import AugTransform
from gliograde.augment.policy import expand
from gliograde.report.plots import save_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Each tile's label: white text with a black outline on a dark band, readable on inverted (white) tiles too.
LABEL_STYLE: dict[str, Any] = {"color": "white", "fontsize": 4.5, "va": "bottom",
               "bbox": {"facecolor": "black", "alpha": 0.75, "edgecolor": "none", "pad": 0.6}}
LABEL_OUTLINE: dict[str, Any] = {"linewidth": 1.0, "foreground": "black"}


def montage(images: torch.Tensor, transforms: Sequence[AugTransform], path: Path, *,
            masks: torch.Tensor | None = None, roi_only: bool = False, ncols: int = 8) -> Path:
    """The study's Figure 4: every version of one case, each tile labelled ``index: name``.

    Args:
        images: one case, (C, H, W) or (1, C, H, W) uint8; C = 3 is shown as RGB, otherwise channel 0.
        transforms: e.g. :func:`gliograde.augment.policy.build_transforms` (identity first).
        path: PNG to write (folders are created).
        masks: (H, W) or (1, H, W) bool, needed for ``roi_only``.
        roi_only: augment inside the mask only (as :func:`gliograde.augment.policy.expand`).
        ncols: tiles per row.

    Returns:
        ``path``.
    """
    fig = montage_figure(images, transforms, masks=masks, roi_only=roi_only, ncols=ncols)
    return save_figure(fig, Path(path), dpi=160)


def montage_figure(images: torch.Tensor, transforms: Sequence[AugTransform], *, masks: torch.Tensor | None = None,
                   roi_only: bool = False, ncols: int = 8) -> Figure:
    """The figure :func:`montage` saves (same arguments but ``path``): one axes, the tiles' grid, one label each."""
    from matplotlib import patheffects
    from matplotlib.figure import Figure  # slow to import: only when drawing

    images = torch.as_tensor(images)
    images = images[None] if images.ndim == 3 else images
    if masks is not None:
        masks = torch.as_tensor(masks)
        masks = masks[None] if masks.ndim == 2 else masks
    tiles = expand(images[:1], None if masks is None else masks[:1], transforms, roi_only=roi_only)
    tiles = tiles if tiles.shape[1] in (1, 3) else tiles[:, :1]
    h, w = tiles.shape[-2:]
    pad_top = max(8, h // 6)  # room for the label above each tile
    framed = torch.nn.functional.pad(tiles, (2, 2, pad_top, 2))
    grid = make_grid(framed, nrow=ncols, padding=0).permute(1, 2, 0).numpy()
    fig = Figure(figsize=(ncols * 1.6, math.ceil(len(tiles) / ncols) * 1.6 * (h + pad_top + 4) / (w + 4)))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(grid, interpolation="nearest")
    ax.axis("off")
    outline = [patheffects.withStroke(**LABEL_OUTLINE)]
    for k, t in enumerate(transforms):
        r, c = divmod(k, ncols)
        ax.text(c * (w + 4) + 2, r * (h + pad_top + 4) + pad_top - 2, f"{k}: {t.name}", path_effects=outline,
                **LABEL_STYLE)
    return fig
