"""Random AutoAugment-SVHN per batch (:class:`StochasticSVHN`), re-exported by :mod:`gliograde.augment.policy`.

The study's Figure 4 (the montage of every augmented version) is :func:`gliograde.report.montage.montage`.

    >>> import torch
    >>> StochasticSVHN(seed=0)(torch.zeros(2, 1, 8, 8, dtype=torch.uint8)).shape
    torch.Size([2, 1, 8, 8])
"""
from __future__ import annotations

import torch
from torchvision.transforms import AutoAugmentPolicy, v2

from gliograde.augment.ops import check_batch


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
