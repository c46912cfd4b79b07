"""The GPU-resident training path: where the uint8 cache, its expansion and the augmentation live.

With ``train.resident`` on (``auto``: on for CUDA and MPS, off for CPU) a CNN configuration keeps
everything on the training device: the training rows are moved there once as uint8 and expanded there
(:func:`gliograde.augment.policy.expand_training` with ``device``), batches are gathered, normalised
(channels_last) and, in ``stochastic`` mode, augmented there (:class:`gliograde.augment.policy.BatchedSVHN`,
batched tensor ops), and the forward-backward runs under bf16 autocast on CUDA (``train.amp``). Nothing
but a few scalars per batch crosses to the CPU. ``train.compile`` adds ``torch.compile``.

The bytes are the same on every path: the expansion is bit-identical on CPU and device kernels and
``BatchedSVHN`` makes ``StochasticSVHN``'s draws, so a resident run on CPU gives the CPU path's predictions
(tested); on a GPU only float rounding of the network itself differs.

    >>> from gliograde.config import TrainCfg
    >>> resident(TrainCfg(device="cpu")), resident(TrainCfg(device="cpu", resident="on"))
    (False, True)
"""
from __future__ import annotations

import logging

import torch
from torch import nn

from gliograde.augment.policy import BatchedSVHN, StochasticSVHN
from gliograde.config import TrainCfg

logger = logging.getLogger(__name__)


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` -> CUDA when available, else CPU; anything else is passed to ``torch.device``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def resident(cfg: TrainCfg) -> bool:
    """Whether ``cfg`` trains on the GPU-resident path (``auto``: when the device is not the CPU)."""
    if cfg.resident == "auto":
        return resolve_device(cfg.device).type != "cpu"
    return cfg.resident == "on"


def expansion_device(cfg: TrainCfg) -> torch.device | None:
    """Where the training set is expanded: the training device when resident, else None (the CPU, as stored)."""
    return resolve_device(cfg.device) if resident(cfg) else None


def stochastic_augmenter(cfg: TrainCfg) -> StochasticSVHN:
    """Per-batch AutoAugment-SVHN seeded by ``cfg.seed``: batched on the device when resident (same draws)."""
    return BatchedSVHN(seed=cfg.seed) if resident(cfg) else StochasticSVHN(seed=cfg.seed)


def maybe_compile(model: nn.Module, cfg: TrainCfg) -> None:
    """``torch.compile`` ``model`` in place when ``cfg.compile`` (its state_dict keys stay the same)."""
    if cfg.compile:
        logger.info("compiling %s with torch.compile (the first batches are slow)", type(model).__name__)
        model.compile()


def bf16_roofline_tflops(device: torch.device) -> float | None:
    """Dense bf16 peak of a known GPU in TFLOP/s (vendor figures, no sparsity), or None when unknown.

    Used for the fraction of the roofline a benchmark reaches; the table is short on purpose: a peak that is
    not known is not guessed.
    """
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device).lower()
    peaks = {"h200": 989.0, "h100": 989.0, "a100": 312.0, "l40s": 362.0, "a10g": 70.0, "l4": 121.0, "4090": 165.0}
    return next((v for k, v in peaks.items() if k in name), None)
