"""Random AutoAugment-SVHN per batch, re-exported by :mod:`gliograde.augment.policy`.

:class:`StochasticSVHN` calls torchvision's ``AutoAugment(SVHN)`` image by image on CPU;
:class:`BatchedSVHN` makes the very same draws and applies them as batched tensor ops on the images'
device (the GPU-resident path): images that drew the same ops are transformed together. Both give the
same bytes from the same seed (tested).

The study's Figure 4 (the montage of every augmented version) is :func:`gliograde.report.montage.montage`.

    >>> import torch
    >>> StochasticSVHN(seed=0)(torch.zeros(2, 1, 8, 8, dtype=torch.uint8)).shape
    torch.Size([2, 1, 8, 8])
"""
from __future__ import annotations

import torch
from torchvision.transforms import AutoAugmentPolicy, v2

from gliograde.augment.ops import _SPACE, GEOMETRIC, SVHN_POLICY, _colour, _geometric, check_batch

#: One image's draw: the ops it gets, each with torchvision's (signed) magnitude.
Draw = tuple[tuple[str, float], ...]


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


def draw_svhn(seed: int, size: tuple[int, int]) -> Draw:
    """The ops ``v2.AutoAugment(SVHN)`` applies to an (H, W) image when torch's global seed is ``seed``.

    The same calls to torch's generator in the same order as torchvision's ``forward`` (sub-policy,
    then per op its probability and sign), inside ``fork_rng`` so the global state is left alone.
    """
    chain: list[tuple[str, float]] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        sub = SVHN_POLICY[int(torch.randint(len(SVHN_POLICY), ()))]
        for op, probability, bin_ in sub:
            if not torch.rand(()) <= probability:
                continue
            fn, signed = _SPACE[op]
            values = fn(10, size[0], size[1])
            m = 0.0
            if values is not None and bin_ is not None:
                m = float(values[bin_])
                if signed and torch.rand(()) <= 0.5:
                    m *= -1
            chain.append((op, m))
    return tuple(chain)


class BatchedSVHN(StochasticSVHN):
    """:class:`StochasticSVHN`'s draws, applied as batched tensor ops where the images are (CPU or GPU).

    Only the draws (a few scalars per image) are made on the CPU; images that drew the same ops are
    gathered and transformed together, so a batch costs one op call per distinct draw. ``fill`` must be 0.

    >>> x = torch.randint(0, 256, (4, 1, 16, 16), dtype=torch.uint8)
    >>> torch.equal(BatchedSVHN(seed=3)(x), StochasticSVHN(seed=3)(x))
    True
    """

    #: The training loop applies it to batches already on the device (no copy to the CPU).
    on_device = True

    def __init__(self, *, seed: int = 0, fill: int = 0) -> None:
        if fill != 0:
            raise ValueError(f"BatchedSVHN fills with 0 (its warps do), got fill={fill}; use StochasticSVHN")
        super().__init__(seed=seed, fill=fill)

    def __repr__(self) -> str:
        return f"BatchedSVHN(seed={self.seed})"

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) uint8 -> (N, C, H, W) uint8 on the same device, one independent draw per image."""
        images, _ = check_batch(images, None)
        seeds = torch.randint(0, 2**62, (len(images),), generator=self._gen).tolist()
        size = (images.shape[-2], images.shape[-1])
        groups: dict[Draw, list[int]] = {}
        for i, s in enumerate(seeds):
            groups.setdefault(draw_svhn(s, size), []).append(i)
        out = images.clone()
        for chain, rows in groups.items():
            if not chain:
                continue
            idx = torch.tensor(rows, device=images.device)
            x = images.index_select(0, idx)
            for op, m in chain:
                x = _geometric(x, op, m) if op in GEOMETRIC else _colour(x, op, m)
            out.index_copy_(0, idx, x)
        return out
