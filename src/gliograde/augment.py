"""AutoAugment-SVHN made deterministic: the study's 57-fold expansion, on torchvision's ops.

The policy table is torchvision's ``AutoAugmentPolicy.SVHN`` (25 sub-policies). With the
probabilities ignored, each sub-policy gives op1, op2 and op1+op2; duplicates are removed and the
original image is put first (see ``docs/augment.md`` for both tables and the sign convention).

Every op runs through ``torchvision.transforms.v2.functional`` with torchvision's 10-bin magnitude
mapping. Geometric ops use nearest interpolation (torchvision's AutoAugment default) and fill 0; each
one is turned once per (op, magnitude, H, W) into a gather index by warping an index image with the
very same torchvision call, so a batch is warped with one ``index_select`` and a mask is warped
identically (bit-identical to calling ``F.affine``/``F.rotate`` on the uint8 image; tested).

    >>> import torch
    >>> from gliograde.augment import build_transforms, expand
    >>> ts = build_transforms()
    >>> len(ts), ts[0].name
    (57, 'identity')
    >>> expand(torch.zeros(2, 1, 32, 32, dtype=torch.uint8), None, ts).shape
    torch.Size([114, 1, 32, 32])
"""
from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torchvision.transforms import AutoAugment as _AutoAugmentV1
from torchvision.transforms import AutoAugmentPolicy, InterpolationMode
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from gliograde.config import AugmentCfg
from gliograde.errors import InputError, MaskMismatchError

logger = logging.getLogger(__name__)

#: torchvision's SVHN policy: 25 sub-policies ((op, probability, magnitude bin or None), (...)).
SVHN_POLICY: tuple[tuple[tuple[str, float, int | None], ...], ...] = tuple(
    tuple((str(op), float(p), None if b is None else int(b)) for op, p, b in sub)
    for sub in _AutoAugmentV1(AutoAugmentPolicy.SVHN).policies
)

#: Ops whose magnitude does not change the pixels (torchvision stores None for them).
MAGNITUDE_FREE = frozenset({"Invert", "Equalize", "AutoContrast"})
#: Ops that move pixels; applied to the mask too (nearest) when ``roi_only``.
GEOMETRIC = frozenset({"ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate"})

#: The nominal magnitude bins that the AutoAugment paper (Cubuk et al., CVPR 2019, SVHN policy table)
#: prints for Invert / Equalize / AutoContrast, per sub-policy (None where the op has a real bin).
#: torchvision drops them because they have no effect; the study's (op, magnitude) dedupe counted
#: them, which is where 56 (not 45) comes from. They only name transforms; pixels never depend on them.
PAPER_NOMINAL_BINS: tuple[tuple[int | None, int | None], ...] = (
    (None, 3), (None, 5), (5, None), (3, 3), (1, None),
    (None, 3), (None, 5), (None, None), (6, 1), (3, None),
    (None, None), (None, 4), (5, None), (4, 7), (None, None),
    (5, None), (None, None), (4, None), (None, None), (None, 5),
    (None, None), (None, 8), (None, None), (None, 3), (None, 5),
)

_SPACE = v2.AutoAugment._AUGMENTATION_SPACE  # torchvision's 10-bin mapping: op -> (fn(bins, H, W), signed)
_NEAREST = InterpolationMode.NEAREST
_COLOUR_OPS: dict[str, Any] = {
    "Brightness": lambda x, m: F.adjust_brightness(x, brightness_factor=1.0 + m),
    "Color": lambda x, m: F.adjust_saturation(x, saturation_factor=1.0 + m),  # no-op on 1 channel
    "Contrast": lambda x, m: F.adjust_contrast(x, contrast_factor=1.0 + m),
    "Sharpness": lambda x, m: F.adjust_sharpness(x, sharpness_factor=1.0 + m),
    "Posterize": lambda x, m: F.posterize(x, bits=int(m)),
    "Solarize": lambda x, m: F.solarize(x, threshold=255 * m),
    "AutoContrast": lambda x, m: F.autocontrast(x),
    "Equalize": lambda x, m: F.equalize(x),
    "Invert": lambda x, m: F.invert(x),
}


def magnitude(op: str, bin_: int | None, sign: int, size: tuple[int, int]) -> float | None:
    """torchvision's magnitude for ``op`` at ``bin_`` (0..9) on an (H, W) image, signed if the op is.

    Returns None for the magnitude-free ops. Translate values are in pixels, Rotate in degrees,
    Shear the tangent, Solarize the threshold as a fraction of 255, Contrast etc. the factor minus 1.
    """
    if op in MAGNITUDE_FREE or bin_ is None:
        return None
    fn, signed = _SPACE[op]
    value = float(fn(10, size[0], size[1])[bin_])
    return value * sign if signed else value


def _warp(img: torch.Tensor, op: str, m: float, fill: float) -> torch.Tensor:
    """The geometric op exactly as torchvision's AutoAugment calls it (nearest, constant fill)."""
    if op == "Rotate":
        return F.rotate(img, angle=m, interpolation=_NEAREST, fill=fill)
    shear = {"ShearX": [math.degrees(math.atan(m)), 0.0], "ShearY": [0.0, math.degrees(math.atan(m))]}
    translate = {"TranslateX": [int(m), 0], "TranslateY": [0, int(m)]}
    center = [0, 0] if op in shear else None
    return F.affine(img, angle=0.0, translate=translate.get(op, [0, 0]), scale=1.0,
                    shear=shear.get(op, [0.0, 0.0]), interpolation=_NEAREST, fill=fill, center=center)


@lru_cache(maxsize=512)
def _gather_index(op: str, m: float, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Source pixel of each output pixel (flat, int64) and the flat pixels that get the fill 0."""
    if h * w > 2**24:  # float32 holds every pixel index exactly only up to 2**24
        raise InputError(f"augment: {h}x{w} images are too large for the gather warp; resize below 4096x4096")
    idx = torch.arange(h * w, dtype=torch.float32).reshape(1, 1, h, w)
    warped = _warp(idx, op, m, fill=-1.0).reshape(-1)
    return warped.clamp(min=0).round().long(), torch.nonzero(warped < 0).reshape(-1)


def _geometric(x: torch.Tensor, op: str, m: float) -> torch.Tensor:
    """Warp (..., H, W) uint8/bool by one geometric op, background filled with 0."""
    h, w = x.shape[-2:]
    src, outside = _gather_index(op, m, h, w)
    flat = x.reshape(*x.shape[:-2], h * w).index_select(-1, src)
    return flat.index_fill_(-1, outside, 0).reshape(x.shape)


def _colour(x: torch.Tensor, op: str, m: float | None) -> torch.Tensor:
    """Colour op on (N, C, H, W) uint8; C not in {1, 3} is processed one channel at a time."""
    fn = _COLOUR_OPS[op]
    n, c, h, w = x.shape
    if c in (1, 3):
        return fn(x, m)  # type: ignore[no-any-return]
    return fn(x.reshape(n * c, 1, h, w), m).reshape(n, c, h, w)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class AugTransform:
    """One deterministic transform: a chain of (op name, magnitude bin or None); () is the identity.

    Attributes:
        ops: e.g. (("ShearX", 4), ("Invert", 3)); bins index torchvision's 10-bin mapping.
        sign: +1 or -1, applied to torchvision's signed ops (ShearX/Y, TranslateX/Y, Rotate, Contrast, ...).
    """

    ops: tuple[tuple[str, int | None], ...] = ()
    sign: int = 1

    def __post_init__(self) -> None:
        bad = [(op, b) for op, b in self.ops if op not in _SPACE
               or (op not in MAGNITUDE_FREE and not (isinstance(b, int) and 0 <= b <= 9))]
        if bad or self.sign not in (1, -1):
            raise ValueError(f"bad AugTransform ops {bad or self.ops}, sign {self.sign}: ops must be among "
                             f"{sorted(_SPACE)} with a bin 0..9 (None allowed for {sorted(MAGNITUDE_FREE)}), "
                             "sign +1 or -1")

    @property
    def name(self) -> str:
        """Readable name, e.g. ``ShearX[+4]+Invert[3]``; ``identity`` for ()."""
        parts = []
        for op, b in self.ops:
            s = ("+" if self.sign > 0 else "-") if _SPACE[op][1] and op not in MAGNITUDE_FREE else ""
            parts.append(op if b is None else f"{op}[{s}{b}]")
        return "+".join(parts) or "identity"

    def describe(self, size: tuple[int, int] = (227, 227)) -> dict[str, Any]:
        """Name, ops, bins, torchvision magnitudes at ``size`` (H, W) and sign, for tables and JSON."""
        return {
            "name": self.name,
            "ops": [op for op, _ in self.ops],
            "bins": [b for _, b in self.ops],
            "magnitudes": [magnitude(op, b, self.sign, size) for op, b in self.ops],
            "sign": "positive" if self.sign > 0 else "negative",
        }

    def apply(
        self, images: torch.Tensor, masks: torch.Tensor | None = None, *, roi_only: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Apply to a batch; the mask follows every geometric op (nearest).

        Args:
            images: (N, C, H, W) uint8.
            masks: (N, H, W) bool or None; required when ``roi_only``.
            roi_only: zero the background before the first op and after every op.

        Returns:
            (images (N, C, H, W) uint8, masks (N, H, W) bool or None).
        """
        if roi_only and masks is None:
            raise MaskMismatchError("roi_only needs the ROI masks; pass masks or set roi_only=False")
        x = images.masked_fill(~masks[:, None], 0) if roi_only and masks is not None else images
        return self._run(x, masks, roi_only)

    def _run(self, x: torch.Tensor, mk: torch.Tensor | None, roi_only: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        """apply() on an image whose background is already zeroed when ``roi_only``."""
        size = (x.shape[-2], x.shape[-1])
        for op, b in self.ops:
            m = magnitude(op, b, self.sign, size)
            if op in GEOMETRIC:
                assert m is not None  # checked in __post_init__: geometric ops carry a bin
                # a nearest warp with fill 0 of a masked image is the masked warp: no re-zeroing needed
                x = _geometric(x, op, m)
                mk = None if mk is None else _geometric(mk, op, m)
            else:
                y = _colour(x, op, m)
                if roi_only and mk is not None and y is not x:  # ops that return their input changed nothing
                    y = y.masked_fill_(~mk[:, None], 0)
                x = y
        return x, mk

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) uint8 -> (N, C, H, W) uint8 (the study's behaviour: whole image)."""
        return self.apply(images)[0]


def build_transforms(cfg: AugmentCfg = AugmentCfg()) -> list[AugTransform]:
    """The fixed transforms, identity first: 57 by default, 46 with ``dedupe="effect"``.

    >>> [t.name for t in build_transforms()[:3]]
    ['identity', 'ShearX[+4]', 'Invert[3]']
    """
    if cfg.dedupe not in ("identity", "effect") or cfg.sign not in ("positive", "negative"):
        raise InputError(f"augment: dedupe={cfg.dedupe!r}, sign={cfg.sign!r}; "
                         "use dedupe identity|effect and sign positive|negative")
    sign = 1 if cfg.sign == "positive" else -1
    chains: dict[tuple[tuple[str, int | None], ...], None] = {}  # insertion-ordered set
    for ((op1, _, b1), (op2, _, b2)), (n1, n2) in zip(SVHN_POLICY, PAPER_NOMINAL_BINS, strict=True):
        a, b = (op1, b1 if n1 is None else n1), (op2, b2 if n2 is None else n2)
        for chain in ((a,), (b,), (a, b)):
            if cfg.dedupe == "effect":
                chain = tuple((op, None if op in MAGNITUDE_FREE else k) for op, k in chain)
            chains.setdefault(chain)
    transforms = [AugTransform(ops=c, sign=sign) for c in chains]
    if cfg.subset is not None:
        k = cfg.subset
        if not 0 <= k <= len(transforms):
            raise InputError(f"augment: subset={k}; choose 0..{len(transforms)} or None for all")
        keep = sorted(set(np.linspace(0, len(transforms) - 1, k).round().astype(int).tolist())) if k else []
        transforms = [transforms[i] for i in keep]
    return [AugTransform(sign=sign), *transforms]


def _check_batch(images: torch.Tensor, masks: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    images = torch.as_tensor(images)
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise InputError(f"augment: images must be (N, C, H, W) uint8, got {tuple(images.shape)} {images.dtype}")
    if masks is not None:
        masks = torch.as_tensor(masks)
        if masks.shape != (images.shape[0], *images.shape[2:]):
            raise MaskMismatchError(f"augment: masks {tuple(masks.shape)} do not fit images "
                                    f"{tuple(images.shape)}; expected (N, H, W) bool")
        masks = masks.bool()
    return images, masks


def _effect(ops: tuple[tuple[str, int | None], ...], sign: int) -> tuple[Any, ...]:
    """What decides the pixels: the nominal bins of Invert/Equalize/AutoContrast do not."""
    return tuple((op, None if op in MAGNITUDE_FREE else b) for op, b in ops), sign


def _expand_into(out: torch.Tensor, x: torch.Tensor, m: torch.Tensor | None,
                 transforms: Sequence[AugTransform], roi_only: bool) -> None:
    """Fill out (n, T, C, H, W). Chains sharing a first op reuse its result, and chains with the
    same effect (e.g. Equalize[3] and Equalize[5]) are computed once and copied."""
    groups: dict[tuple[Any, ...], list[int]] = {}
    for t, tr in enumerate(transforms):
        groups.setdefault(_effect(tr.ops[:1], tr.sign), []).append(t)
    if roi_only:
        if m is None:
            raise MaskMismatchError("roi_only needs the ROI masks; pass masks or set roi_only=False")
        x = x.masked_fill(~m[:, None], 0)
    for (first, sign), members in groups.items():
        y, ym = AugTransform(ops=first, sign=sign)._run(x, m, roi_only)
        done: dict[tuple[Any, ...], int] = {}
        for t in members:
            key = _effect(transforms[t].ops, sign)
            if key in done:
                out[:, t] = out[:, done[key]]
                continue
            rest = AugTransform(ops=transforms[t].ops[1:], sign=sign)
            out[:, t] = rest._run(y, ym, roi_only)[0] if rest.ops else y
            done[key] = t


def iter_expand(images: torch.Tensor, masks: torch.Tensor | None, transforms: Sequence[AugTransform], *,
                roi_only: bool = False, chunk_size: int = 64) -> Iterator[tuple[int, torch.Tensor]]:
    """Stream the expansion chunk by chunk: yields (first source row, (n*T, C, H, W) uint8), image-major."""
    images, masks = _check_batch(images, masks)
    if not transforms:
        raise InputError("augment: no transforms given; use build_transforms(cfg)")
    n, c, h, w = images.shape
    for s in range(0, n, max(1, chunk_size)):
        e = min(n, s + max(1, chunk_size))
        out = torch.empty((e - s, len(transforms), c, h, w), dtype=torch.uint8)
        _expand_into(out, images[s:e], None if masks is None else masks[s:e], transforms, roi_only)
        yield s, out.view(-1, c, h, w)


def expanded_nbytes(n: int, n_transforms: int, channels: int, size: tuple[int, int]) -> int:
    """Bytes of an expanded uint8 set, e.g. 130 x 57 x 227^2 grey = 381,829,890 (382 MB, 364 MiB)."""
    return n * n_transforms * channels * size[0] * size[1]


def expand(images: torch.Tensor, masks: torch.Tensor | None, transforms: Sequence[AugTransform], *,
           roi_only: bool = False, chunk_size: int = 64) -> torch.Tensor:
    """Apply every transform to every image, in memory.

    Args:
        images: (N, C, H, W) uint8; masks: (N, H, W) bool or None (needed for ``roi_only``).
        transforms: from :func:`build_transforms`; chunk_size: images per batched step.

    Returns:
        (N*T, C, H, W) uint8, image-major: ``out[i*T + t] == transforms[t](images[i:i+1])[0]``.
    """
    images, masks = _check_batch(images, masks)
    if not transforms:
        raise InputError("augment: no transforms given; use build_transforms(cfg)")
    n, c, h, w = images.shape
    out = torch.empty((n, len(transforms), c, h, w), dtype=torch.uint8)
    step = max(1, chunk_size)
    for s in range(0, n, step):
        m = None if masks is None else masks[s:s + step]
        _expand_into(out[s:s + step], images[s:s + step], m, transforms, roi_only)
    return out.view(n * len(transforms), c, h, w)


def _check_indices(train_idx: npt.ArrayLike, n: int, test_idx: npt.ArrayLike | None) -> npt.NDArray[np.int64]:
    idx = np.asarray(train_idx)
    if idx.ndim != 1 or idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
        raise InputError(f"augment: train_idx must be a non-empty 1-D integer array of row numbers, got "
                         f"shape {idx.shape} dtype {idx.dtype}; for a boolean mask pass np.flatnonzero(mask)")
    if idx.min() < 0 or idx.max() >= n:
        raise InputError(f"augment: train_idx holds rows outside 0..{n - 1} (min {idx.min()}, max {idx.max()})")
    if len(np.unique(idx)) != len(idx):
        raise InputError("augment: train_idx repeats rows; each training row must appear once")
    if test_idx is not None:
        overlap = np.intersect1d(idx, np.asarray(test_idx))
        if overlap.size:
            raise InputError(f"augment: rows {overlap[:10].tolist()} are in both train_idx and test_idx; "
                             "a test sample must never be augmented into training - fix the split")
    return idx.astype(np.int64)


def expand_training(
    images: torch.Tensor | npt.NDArray[np.uint8],
    masks: torch.Tensor | npt.NDArray[np.bool_] | None,
    labels: torch.Tensor | npt.NDArray[np.int64],
    train_idx: npt.ArrayLike,
    cfg: AugmentCfg,
    *,
    test_idx: npt.ArrayLike | None = None,
    chunk_size: int = 64,
) -> tuple[torch.Tensor, torch.Tensor, npt.NDArray[np.int64]]:
    """The leakage guard: expand ONLY the training rows of one fold, once, as cached uint8.

    ``mode="fixed"`` gives T = len(build_transforms(cfg)) versions of every training row;
    ``"stochastic"`` and ``"none"`` return the training rows once (stochastic augmentation then
    happens per batch with :class:`StochasticSVHN`).

    Args:
        images: (N, C, H, W) uint8, the whole cohort; masks: (N, H, W) bool or None.
        labels: (N,) int class indices.
        train_idx: (n_train,) unique integer rows of this fold's training set.
        cfg: the augmentation config.
        test_idx: optional test rows; any overlap with ``train_idx`` raises.

    Returns:
        (aug_images (n_train*T, C, H, W) uint8, aug_labels (n_train*T,) int64,
        source_row (n_train*T,) int64 row of ``images`` each output came from), image-major.

    Raises:
        InputError: bad or repeated indices, or overlap with ``test_idx``.
    """
    images_t = torch.as_tensor(images)
    labels_t = torch.as_tensor(labels).long()
    if len(labels_t) != len(images_t):
        raise InputError(f"augment: {len(images_t)} images but {len(labels_t)} labels")
    idx = _check_indices(train_idx, len(images_t), test_idx)
    transforms = build_transforms(cfg) if cfg.mode == "fixed" else [AugTransform()]
    sel = torch.from_numpy(idx)
    sub_masks = None if masks is None else torch.as_tensor(masks)[sel]
    n_t = len(transforms)
    nbytes = expanded_nbytes(len(idx), n_t, images_t.shape[1], (images_t.shape[2], images_t.shape[3]))
    logger.info("augment: %d training rows x %d transforms = %d images (%.0f MB uint8)",
                len(idx), n_t, len(idx) * n_t, nbytes / 1e6)
    out = expand(images_t[sel], sub_masks, transforms, roi_only=cfg.roi_only and cfg.mode == "fixed",
                 chunk_size=chunk_size)
    return out, labels_t[sel].repeat_interleave(n_t), np.repeat(idx, n_t)


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
        images, _ = _check_batch(images, None)
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
