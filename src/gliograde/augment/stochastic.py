"""Random AutoAugment-SVHN per batch (:class:`StochasticSVHN`) and the study's Figure 4 (:func:`montage`).

Both are re-exported by :mod:`gliograde.augment.policy`.

    >>> import torch
    >>> StochasticSVHN(seed=0)(torch.zeros(2, 1, 8, 8, dtype=torch.uint8)).shape
    torch.Size([2, 1, 8, 8])
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import torch
from torchvision.transforms import AutoAugmentPolicy, v2

from gliograde.augment.ops import AugTransform, check_batch


class StochasticSVHN:
    """torchvision's ``AutoAugment(SVHN)`` drawn afresh for every image at every call, seeded.

    Each image gets its own sub-policy, probabilities and signs, from a private generator, so two
    instances with the same seed produce the same stream of batches (the global RNG is left alone).
    Images with C not in {1, 3} get the same draw for every channel (same geometry).

    >>> aug = StochasticSVHN(seed=0)
    >>> aug(torch.zeros(2, 1, 8, 8, dtype=torch.uint8)).shape
    torch.Size([2, 1, 8, 8])
    """

    def __init__(self, *, seed: int = 0, fill: int = 0) -> None:
        self.seed = seed
        self.fill = fill
        self._policy = v2.AutoAugment(AutoAugmentPolicy.SVHN, fill=fill)
        self._gen = torch.Generator().manual_seed(seed)

    def __repr__(self) -> str:
        return f"StochasticSVHN(seed={self.seed}, fill={self.fill})"

    def reset(self, seed: int | None = None) -> None:
        """Restart the stream (optionally with a new seed)."""
        self.seed = self.seed if seed is None else seed
        self._gen = torch.Generator().manual_seed(self.seed)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) uint8 -> (N, C, H, W) uint8, one independent draw per image."""
        images, _ = check_batch(images, None)
        seeds = torch.randint(0, 2**62, (len(images),), generator=self._gen).tolist()
        out = torch.empty_like(images)
        groups = [slice(0, images.shape[1])] if images.shape[1] in (1, 3) else \
            [slice(c, c + 1) for c in range(images.shape[1])]
        for i, s in enumerate(seeds):
            for g in groups:
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(s)
                    out[i, g] = self._policy(images[i, g])
        return out


def montage(images: torch.Tensor, transforms: Sequence[AugTransform], path: Path, *,
            masks: torch.Tensor | None = None, roi_only: bool = False, ncols: int = 8) -> Path:
    """The study's Figure 4: every version of one case, each tile labelled ``index: name``.

    Args:
        images: one case, (C, H, W) or (1, C, H, W) uint8; C = 3 is shown as RGB, otherwise channel 0.
        transforms: e.g. :func:`build_transforms` (identity first).
        path: PNG to write (folders are created).
        masks: (H, W) or (1, H, W) bool, needed for ``roi_only``.

    Returns:
        ``path``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images = torch.as_tensor(images)
    images = images[None] if images.ndim == 3 else images
    if masks is not None:
        masks = torch.as_tensor(masks)
        masks = masks[None] if masks.ndim == 2 else masks
    from torchvision.utils import make_grid

    from gliograde.augment.policy import (
        expand,  # imported here: gliograde.augment.policy re-exports this module
    )

    tiles = expand(images[:1], None if masks is None else masks[:1], transforms, roi_only=roi_only)
    tiles = tiles if tiles.shape[1] in (1, 3) else tiles[:, :1]
    h, w = tiles.shape[-2:]
    pad_top = max(8, h // 6)  # room for the label above each tile
    framed = torch.nn.functional.pad(tiles, (2, 2, pad_top, 2))
    grid = make_grid(framed, nrow=ncols, padding=0).permute(1, 2, 0).numpy()
    fig = plt.figure(figsize=(ncols * 1.6, math.ceil(len(tiles) / ncols) * 1.6 * (h + pad_top + 4) / (w + 4)))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(grid, interpolation="nearest")
    ax.axis("off")
    for k, t in enumerate(transforms):
        r, c = divmod(k, ncols)
        ax.text(c * (w + 4) + 2, r * (h + pad_top + 4) + pad_top - 2, f"{k}: {t.name}",
                color="white", fontsize=4.5, va="bottom")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=160)
    plt.close(fig)
    return path
