"""AutoAugment-SVHN made deterministic: the study's 57-fold expansion, on torchvision's ops.

The policy table is torchvision's ``AutoAugmentPolicy.SVHN`` (25 sub-policies). With the
probabilities ignored, each sub-policy gives op1, op2 and op1+op2; duplicates are removed and the
original image is put first (see ``docs/augment.md`` for both tables and the sign convention).

The ops themselves (policy table, magnitudes, the gather-index warps, :class:`AugTransform`) live in
:mod:`gliograde.augment.ops`; per-batch random augmentation (:class:`StochasticSVHN`) in
:mod:`gliograde.augment.stochastic`. All are importable from here. The Figure-4 montage is
:func:`gliograde.report.montage.montage`.

    >>> import torch
    >>> from gliograde.augment.policy import build_transforms, expand
    >>> ts = build_transforms()
    >>> len(ts), ts[0].name
    (57, 'identity')
    >>> expand(torch.zeros(2, 1, 32, 32, dtype=torch.uint8), None, ts).shape
    torch.Size([114, 1, 32, 32])
"""
from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import numpy.typing as npt
import torch

from gliograde.augment.ops import (
    GEOMETRIC,
    MAGNITUDE_FREE,
    PAPER_NOMINAL_BINS,
    SVHN_POLICY,
    AugTransform,
    OpChain,
    _gather_index,
    _store,
    _zero_outside,
    check_batch,
    magnitude,
    pixel_major,
)
from gliograde.augment.stochastic import BatchedSVHN, StochasticSVHN
from gliograde.config import AugmentCfg
from gliograde.errors import InputError, MaskMismatchError

__all__ = [
    "GEOMETRIC", "MAGNITUDE_FREE", "PAPER_NOMINAL_BINS", "SVHN_POLICY", "AugTransform", "OpChain",
    "BatchedSVHN", "StochasticSVHN", "build_transforms", "expand", "expand_training", "expanded_nbytes", "iter_expand",
    "magnitude", "_gather_index",
]

logger = logging.getLogger(__name__)


def build_transforms(cfg: AugmentCfg | None = None) -> list[AugTransform]:
    """The fixed transforms, identity first: 57 by default, 46 with ``dedupe="effect"``.

    Args:
        cfg: dedupe, sign and subset (None: ``AugmentCfg()``, the study's 57).

    >>> [t.name for t in build_transforms()[:3]]
    ['identity', 'ShearX[+4]', 'Invert[3]']
    """
    cfg = AugmentCfg() if cfg is None else cfg
    if cfg.dedupe not in ("identity", "effect") or cfg.sign not in ("positive", "negative"):
        raise InputError(f"augment: dedupe={cfg.dedupe!r}, sign={cfg.sign!r}; "
                         "use dedupe identity|effect and sign positive|negative")
    sign = 1 if cfg.sign == "positive" else -1
    chains: dict[OpChain, None] = {}  # insertion-ordered set
    for ((op1, _, b1), (op2, _, b2)), (n1, n2) in zip(SVHN_POLICY, PAPER_NOMINAL_BINS, strict=True):
        a, b = (op1, b1 if n1 is None else n1), (op2, b2 if n2 is None else n2)
        for chain in ((a,), (b,), (a, b)):
            chains.setdefault(_effect(chain, sign)[0] if cfg.dedupe == "effect" else chain)
    transforms = [AugTransform(ops=c, sign=sign) for c in chains]
    if cfg.subset is not None:
        k = cfg.subset
        if not 0 <= k <= len(transforms):
            raise InputError(f"augment: subset={k}; choose 0..{len(transforms)} or None for all")
        keep = sorted(set(np.linspace(0, len(transforms) - 1, k).round().astype(int).tolist())) if k else []
        transforms = [transforms[i] for i in keep]
    return [AugTransform(sign=sign), *transforms]


def _effect(ops: OpChain, sign: int) -> tuple[OpChain, int]:
    """What decides the pixels: the nominal bins of Invert/Equalize/AutoContrast do not."""
    return tuple((op, None if op in MAGNITUDE_FREE else b) for op, b in ops), sign


def _expand_into(out: torch.Tensor, x: torch.Tensor, m: torch.Tensor | None,
                 transforms: Sequence[AugTransform], roi_only: bool) -> None:
    """Fill out (n, T, C, H, W). Each transform's last op writes straight into its slot ``out[:, t]``; chains
    sharing a first op read its result from the slot of the transform that is that op alone (when there is one),
    and chains with the same effect (e.g. Equalize[3] and Equalize[5]) are computed once and copied."""
    groups: dict[tuple[OpChain, int], list[int]] = {}
    for t, tr in enumerate(transforms):
        groups.setdefault(_effect(tr.ops[:1], tr.sign), []).append(t)
    if roi_only:
        if m is None:
            raise MaskMismatchError("roi_only needs the ROI masks; pass masks or set roi_only=False")
        x = _zero_outside(x.clone(), m)
    cols = pixel_major(x) if sum(bool(f) and f[0][0] in GEOMETRIC for f, _ in groups) > 1 else None
    for (first, sign), members in groups.items():
        done: dict[tuple[OpChain, int], int] = {}  # effect -> the slot that holds it
        head = next((t for t in members if _effect(transforms[t].ops, sign) == (first, sign)), None)
        y, ym = AugTransform(ops=first, sign=sign).run_zeroed(x, m, roi_only, None if head is None else out[:, head],
                                                              cols)
        if head is not None:
            done[(first, sign)] = head
        for t in members:
            key = _effect(transforms[t].ops, sign)
            if key in done:
                if done[key] != t:
                    _store(out[:, done[key]], out[:, t])
                continue
            AugTransform(ops=transforms[t].ops[1:], sign=sign).run_zeroed(y, ym, roi_only, out[:, t])
            done[key] = t


def _empty_uint8(shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """An uninitialised uint8 tensor; on CPU allocated by numpy, which asks the kernel for huge pages on large
    arrays: first-touching 344 MB then takes 0.06 s where the memory was freed just before, a third of torch's
    allocator's 0.17 s. In a VM that hands freed memory back to its host (this project's CI) memory freed seconds
    before costs 0.35-0.4 s with huge pages and 0.18-0.23 s without; in the augment benchmark, where each expansion
    follows torchvision's 5 s loop, both allocators gave the same medians (measured 2026-12-01)."""
    if device.type == "cpu":
        return torch.from_numpy(np.empty(shape, dtype=np.uint8))
    return torch.empty(shape, dtype=torch.uint8, device=device)


def iter_expand(images: torch.Tensor, masks: torch.Tensor | None, transforms: Sequence[AugTransform], *,
                roi_only: bool = False, chunk_size: int = 64) -> Iterator[tuple[int, torch.Tensor]]:
    """Stream the expansion chunk by chunk: yields (first source row, (n*T, C, H, W) uint8), image-major."""
    images, masks = check_batch(images, masks)
    if not transforms:
        raise InputError("augment: no transforms given; use build_transforms(cfg)")
    n, c, h, w = images.shape
    for s in range(0, n, max(1, chunk_size)):
        e = min(n, s + max(1, chunk_size))
        out = _empty_uint8((e - s, len(transforms), c, h, w), images.device)
        _expand_into(out, images[s:e], None if masks is None else masks[s:e], transforms, roi_only)
        yield s, out.view(-1, c, h, w)


def expanded_nbytes(n: int, n_transforms: int, channels: int, size: tuple[int, int]) -> int:
    """Bytes of an expanded uint8 set, e.g. 130 x 57 x 227^2 grey = 381,829,890 (382 MB, 364 MiB)."""
    return n * n_transforms * channels * size[0] * size[1]


def expand(images: torch.Tensor, masks: torch.Tensor | None, transforms: Sequence[AugTransform], *,
           roi_only: bool = False, chunk_size: int = 64) -> torch.Tensor:
    """Apply every transform to every image, in memory, on the images' device (CPU or GPU: same bytes).

    Args:
        images: (N, C, H, W) uint8; masks: (N, H, W) bool or None (needed for ``roi_only``), same device.
        transforms: from :func:`build_transforms`; chunk_size: images per batched step.

    Returns:
        (N*T, C, H, W) uint8 on ``images.device``, image-major: ``out[i*T + t] == transforms[t](images[i:i+1])[0]``.
    """
    images, masks = check_batch(images, masks)
    if not transforms:
        raise InputError("augment: no transforms given; use build_transforms(cfg)")
    n, c, h, w = images.shape
    out = _empty_uint8((n, len(transforms), c, h, w), images.device)
    # On CPU, chunks run in torch's number of threads (numpy and OpenCV release the GIL; each chunk writes its
    # own rows of ``out``, so the bytes do not depend on it); on a device its kernels are already parallel.
    workers = torch.get_num_threads() if images.device.type == "cpu" else 1
    step = max(1, min(chunk_size, -(-n // workers)))

    def chunk(s: int) -> None:
        m = None if masks is None else masks[s:s + step]
        _expand_into(out[s:s + step], images[s:s + step], m, transforms, roi_only)

    starts = range(0, n, step)
    if workers > 1 and len(starts) > 1:
        with ThreadPoolExecutor(min(workers, len(starts))) as pool:
            list(pool.map(chunk, starts))  # list(): re-raises a chunk's error here
    else:
        for s in starts:
            chunk(s)
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
    device: torch.device | str | None = None,
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
        device: where the expansion runs and stays (the GPU-resident path); None: where ``images`` are.
            Only the training rows are moved there, before expanding; the bytes are the same on every device.

    Returns:
        (aug_images (n_train*T, C, H, W) uint8, aug_labels (n_train*T,) int64 (both on ``device``),
        source_row (n_train*T,) int64 row of ``images`` each output came from), image-major.

    Raises:
        InputError: bad or repeated indices, or overlap with ``test_idx``.
    """
    if isinstance(images, np.ndarray) and not images.flags.writeable:  # Ray's object store hands out read-only
        images = images.copy()  # arrays; torch warns on those (it is only read here, but keep it defined)
    images_t = torch.as_tensor(images)
    labels_t = torch.as_tensor(labels).long()
    if len(labels_t) != len(images_t):
        raise InputError(f"augment: {len(images_t)} images but {len(labels_t)} labels")
    idx = _check_indices(train_idx, len(images_t), test_idx)
    transforms = build_transforms(cfg) if cfg.mode == "fixed" else [AugTransform()]
    sel = torch.from_numpy(idx)
    sub_images = images_t[sel] if device is None else images_t[sel].to(device)
    sub_masks = None if masks is None else torch.as_tensor(masks)[sel].to(sub_images.device)
    labels_t = labels_t.to(sub_images.device)
    n_t = len(transforms)
    nbytes = expanded_nbytes(len(idx), n_t, images_t.shape[1], (images_t.shape[2], images_t.shape[3]))
    logger.info("augment: %d training rows x %d transforms = %d images (%.0f MB uint8)",
                len(idx), n_t, len(idx) * n_t, nbytes / 1e6)
    out = expand(sub_images, sub_masks, transforms, roi_only=cfg.roi_only and cfg.mode == "fixed",
                 chunk_size=chunk_size)
    return out, labels_t[sel.to(labels_t.device)].repeat_interleave(n_t), np.repeat(idx, n_t)
