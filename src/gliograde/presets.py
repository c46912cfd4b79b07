"""Named training presets: ``paper`` (the study), ``modern`` (a stronger recipe), ``quick`` (CPU demo).

Flags and YAML override single fields afterwards (:func:`dataclasses.replace`). The choices are
explained in ``docs/training.md``.

>>> get_preset("paper").optimizer, get_preset("paper").lr, get_preset("paper").batch_size
('sgd', 0.001, 128)
>>> get_preset("quick").freeze_backbone
True
"""
from __future__ import annotations

from typing import Literal

from gliograde.config import TrainCfg
from gliograde.errors import InputError

PresetName = Literal["paper", "modern", "quick"]
#: The quick preset keeps 8 of the 56 fixed transforms (+ identity): 9 versions per training image.
QUICK_AUGMENT_SUBSET = 8

PRESETS: dict[str, TrainCfg] = {
    # The study: ImageNet AlexNet, SGD + momentum 0.9, lr 0.001, <= 20 epochs, early stopping on the
    # validation loss. Batch 128 and L2 1e-4 are MATLAB trainingOptions' defaults, which the study
    # (listing only the options it set) most likely kept.
    "paper": TrainCfg(
        preset="paper", model="alexnet", weights="imagenet", epochs=20, lr=1e-3, batch_size=128,
        optimizer="sgd", momentum=0.9, weight_decay=1e-4, scheduler="none", label_smoothing=0.0,
        patience=3,
    ),
    # Fine-tune everything with AdamW, a per-epoch cosine decay and label smoothing; the offline
    # ImageNet EfficientNet-Lite0 is stronger and ~5x cheaper than AlexNet.
    "modern": TrainCfg(
        preset="modern", model="efficientnet_lite0", weights="imagenet", epochs=30, lr=3e-4, batch_size=32,
        optimizer="adamw", weight_decay=0.05, scheduler="cosine", label_smoothing=0.1, patience=5,
    ),
    # CPU demo: frozen ImageNet backbone at 128 px; features are computed once per run, so each
    # epoch only trains the linear head (milliseconds).
    "quick": TrainCfg(
        preset="quick", model="efficientnet_lite0", weights="imagenet", epochs=40, lr=1e-3, batch_size=64,
        image_size=128, optimizer="adamw", weight_decay=1e-4, scheduler="cosine", label_smoothing=0.0,
        patience=8, freeze_backbone=True,
    ),
}


def get_preset(name: PresetName | str) -> TrainCfg:
    """The :class:`~gliograde.config.TrainCfg` of a named preset.

    Raises:
        InputError: unknown preset name.
    """
    if name not in PRESETS:
        raise InputError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name]
