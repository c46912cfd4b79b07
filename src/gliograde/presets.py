"""Named presets: ``paper`` (the study), ``modern`` (a stronger recipe), ``quick`` (CPU demo) and
``recommended`` (the best configuration found on real TCGA-LGG data, ``docs/real-data.md``).

A preset is mainly a :class:`~gliograde.config.TrainCfg`; it may also carry the ingest settings used when
``cv``/``train`` ingest a raw cohort (:func:`get_ingest`) and defaults of the CV experiment
(:func:`get_cv_defaults`). Flags and YAML override single fields afterwards. The training choices are
explained in ``docs/training.md``.

>>> get_preset("paper").optimizer, get_preset("paper").lr, get_preset("paper").batch_size
('sgd', 0.001, 128)
>>> get_preset("quick").freeze_backbone
True
"""
from __future__ import annotations

import dataclasses
from typing import Any, Literal

from gliograde.config import IngestCfg, PreprocessCfg, TrainCfg
from gliograde.errors import InputError

PresetName = Literal["paper", "modern", "quick", "recommended"]
#: The quick preset keeps 8 of the 56 fixed transforms (+ identity): 9 versions per training image.
QUICK_AUGMENT_SUBSET = 8
#: The preset each command starts from when none is named.
TRAIN_DEFAULT_PRESET = "recommended"  # gliograde train: the best configuration measured on real data
CV_DEFAULT_PRESET = "modern"  # gliograde cv: the study comparison; --preset recommended is the real-data recipe

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
    # The CNN side of the recommended recipe (its frozen features feed ``fusion``; ``gliograde train
    # --kind cnn`` trains this head): the quick recipe, which is what a 2-core CPU affords.
    "recommended": TrainCfg(
        preset="recommended", model="efficientnet_lite0", weights="imagenet", epochs=40, lr=1e-3, batch_size=64,
        image_size=128, optimizer="adamw", weight_decay=1e-4, scheduler="cosine", label_smoothing=0.0,
        patience=8, freeze_backbone=True,
    ),
}

#: Ingest settings a preset uses when a command is given a raw cohort (others: :class:`IngestCfg` defaults,
#: the study's single post-contrast slice). Recommended: FLAIR and post-contrast T1 as channels, each scaled
#: by the median/IQR of the patient's own brain outside the tumour (site-robust), measured in
#: docs/real-data.md. Pre-contrast T1 is left out: BraTS-style cases often lack it, and a model that needs it
#: cannot grade them (with it, pooled AUC 0.667; without, 0.685: no loss).
PRESET_INGEST: dict[str, IngestCfg] = {
    "recommended": IngestCfg(channels=("flair", "t1ce"), slices=1,
                             preprocess=PreprocessCfg(intensity="robust", region="brain_outside_roi")),
}

#: CV defaults a preset sets (``CVCfg`` keys; ``--config`` YAML and flags override them).
PRESET_CV: dict[str, dict[str, Any]] = {
    "recommended": {"configs": ("radiomics",),
                    "selection": {"method": "inner_cv", "inner_folds": 5, "classifiers": ("logreg", "rbf_svm"),
                                  "select_k": (5, 10, 20)}},
}


#: Augmentation defaults a preset sets (``AugmentCfg`` keys; ``--config`` YAML and flags override them).
PRESET_AUGMENT: dict[str, dict[str, Any]] = {
    "quick": {"subset": QUICK_AUGMENT_SUBSET},
    "recommended": {"subset": QUICK_AUGMENT_SUBSET},
}


#: What ``gliograde train`` fits for a preset (others: ``cnn``). ``recommended`` trains the model its CV
#: evaluates: the ``radiomics`` configuration with the same inner-CV selection (gliograde.training.radiomics).
PRESET_TRAIN_KIND: dict[str, Literal["cnn", "radiomics"]] = {"recommended": "radiomics"}


def get_train_kind(name: PresetName | str | None) -> Literal["cnn", "radiomics"]:
    """``radiomics`` or ``cnn``: the kind of model ``gliograde train`` fits for a preset.

    >>> get_train_kind("recommended"), get_train_kind("quick")
    ('radiomics', 'cnn')
    """
    if name is not None and name not in PRESETS:
        raise InputError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return PRESET_TRAIN_KIND.get(name or "", "cnn")


def get_preset(name: PresetName | str) -> TrainCfg:
    """The :class:`~gliograde.config.TrainCfg` of a named preset.

    Raises:
        InputError: unknown preset name.
    """
    if name not in PRESETS:
        raise InputError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name]


def get_ingest(name: PresetName | str | None) -> IngestCfg:
    """Ingest settings of a preset (the :class:`IngestCfg` defaults for presets that set none).

    >>> get_ingest("recommended").channels
    ('flair', 't1ce')
    >>> get_ingest("paper") == IngestCfg()
    True
    """
    if name is not None and name not in PRESETS:
        raise InputError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return PRESET_INGEST.get(name or "", IngestCfg())


def get_cv_defaults(name: PresetName | str | None) -> dict[str, Any]:
    """CV defaults of a preset as a plain dict of ``CVCfg`` keys (empty for presets that set none)."""
    return {k: (dict(v) if isinstance(v, dict) else v) for k, v in PRESET_CV.get(name or "", {}).items()}


def get_augment_defaults(name: PresetName | str | None) -> dict[str, Any]:
    """Augmentation defaults of a preset as a plain dict of ``AugmentCfg`` keys (empty when it sets none).

    >>> get_augment_defaults("quick"), get_augment_defaults("paper")
    ({'subset': 8}, {})
    """
    return dict(PRESET_AUGMENT.get(name or "", {}))


def ingest_as_dict(cfg: IngestCfg) -> dict[str, Any]:
    """An :class:`IngestCfg` as nested plain data (for YAML overlays)."""
    return dataclasses.asdict(cfg)
