"""Named presets: one :class:`Preset` object each, the starting point of every command's settings.

* ``recommended`` (the default of ``train`` and ``cv``): the best configuration measured on real TCGA-LGG
  data (``docs/real-data.md``, row 14): FLAIR + T1c scaled by the patient's own brain outside the tumour,
  the ``radiomics`` model with inner-CV selection. It finishes on a 2-core CPU in about a minute.
* ``paper``: the study (ImageNet AlexNet fine-tuned, the study's preprocessing and 57 fixed augmentations).
* ``modern``: a stronger CNN recipe (EfficientNet-Lite0, AdamW, cosine, label smoothing); days on a CPU.
* ``quick``: the CPU demo (frozen ImageNet backbone at 128 px, 9 augmented versions per image).

:func:`gliograde.settings.resolve` starts from a preset, then overlays a ``--config`` YAML, then flags.
The training choices are explained in ``docs/training.md``.

>>> p = get_preset("paper")
>>> p.kind, p.train.optimizer, p.train.lr, p.train.batch_size
('cnn', 'sgd', 0.001, 128)
>>> get_preset("recommended").ingest.channels, get_preset("recommended").cv.configs
(('flair', 't1ce'), ('radiomics',))
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from gliograde.config import AugmentCfg, CVCfg, IngestCfg, PreprocessCfg, RunConfig, TrainCfg
from gliograde.errors import InputError

#: The preset ``train`` and ``cv`` start from when none is named: ``cv``'s default evaluates the model
#: ``train``'s default fits.
DEFAULT_PRESET = "recommended"
#: The quick preset keeps 8 of the 56 fixed transforms (+ identity): 9 versions per training image.
QUICK_AUGMENT_SUBSET = 8


@dataclass(frozen=True)
class Preset:
    """Every default of one named recipe.

    Attributes:
        name: the preset's name (a key of :data:`PRESETS`).
        summary: one line for ``--help`` and the printed header.
        kind: the model kind ``gliograde train`` fits (``cnn`` or ``radiomics``).
        ingest: how a raw cohort is read.
        train: the CNN training recipe (also the frozen CNN of ``fusion``).
        augment: augmentation of the CNN's training images.
        cv: the experiment's defaults (configurations, selection grid).
    """

    name: str
    summary: str
    kind: str
    train: TrainCfg
    ingest: IngestCfg = field(default_factory=IngestCfg)
    augment: AugmentCfg = field(default_factory=AugmentCfg)
    cv: CVCfg = field(default_factory=CVCfg)

    def run_config(self) -> RunConfig:
        """The preset as a :class:`RunConfig` (before any YAML or flag)."""
        return RunConfig(preset=self.name, kind=self.kind, ingest=self.ingest, train=self.train,
                         augment=self.augment, cv=self.cv)


# Frozen ImageNet EfficientNet-Lite0 head at 128 px: features are computed once per run, so each epoch
# only trains the linear head (milliseconds). The CPU demo, and the CNN side of the recommended recipe.
_FROZEN_HEAD = TrainCfg(preset="quick", model="efficientnet_lite0", weights="imagenet", epochs=40, lr=1e-3,
                        batch_size=64, image_size=128, optimizer="adamw", weight_decay=1e-4, scheduler="cosine",
                        label_smoothing=0.0, patience=8, freeze_backbone=True)

_PRESETS = (
    # The study: ImageNet AlexNet, SGD + momentum 0.9, lr 0.001, <= 20 epochs, early stopping on the
    # validation loss. Batch 128 and L2 1e-4 are MATLAB trainingOptions' defaults, which the study
    # (listing only the options it set) most likely kept. Ingest and augmentation: the study's.
    Preset("paper", "the study: ImageNet AlexNet fine-tuned with SGD, 57 fixed augmentations", "cnn",
           TrainCfg(preset="paper", model="alexnet", weights="imagenet", epochs=20, lr=1e-3, batch_size=128,
                    optimizer="sgd", momentum=0.9, weight_decay=1e-4, scheduler="none", label_smoothing=0.0,
                    patience=3)),
    # Fine-tune everything with AdamW, a per-epoch cosine decay and label smoothing; the offline
    # ImageNet EfficientNet-Lite0 is stronger and ~5x cheaper than AlexNet.
    Preset("modern", "EfficientNet-Lite0 fine-tuned with AdamW + cosine (a GPU recipe: days on a CPU)", "cnn",
           TrainCfg(preset="modern", model="efficientnet_lite0", weights="imagenet", epochs=30, lr=3e-4,
                    batch_size=32, optimizer="adamw", weight_decay=0.05, scheduler="cosine", label_smoothing=0.1,
                    patience=5)),
    Preset("quick", "CPU demo: a frozen ImageNet EfficientNet-Lite0 head at 128 px, 9 augmented versions", "cnn",
           _FROZEN_HEAD, augment=AugmentCfg(subset=QUICK_AUGMENT_SUBSET)),
    # docs/real-data.md row 14: FLAIR and post-contrast T1 as channels, each scaled by the median/IQR of the
    # patient's own brain outside the tumour (site-robust); radiomics features with the classifier and feature
    # count chosen by patient-level inner CV. Pre-contrast T1 is left out: BraTS-style cases often lack it, and
    # a model that needs it cannot grade them (with it, pooled AUC 0.667; without, 0.685: no loss).
    # ``train --kind cnn`` and ``fusion`` use the quick recipe's frozen head, what a 2-core CPU affords.
    Preset("recommended", "best on real TCGA-LGG data: FLAIR + T1c radiomics, inner-CV selection (~1 min on a CPU)",
           "radiomics", replace(_FROZEN_HEAD, preset="recommended"),
           ingest=IngestCfg(channels=("flair", "t1ce"),
                            preprocess=PreprocessCfg(intensity="robust", region="brain_outside_roi")),
           augment=AugmentCfg(subset=QUICK_AUGMENT_SUBSET),
           cv=CVCfg(configs=("radiomics",))),
)

#: Every preset by name.
PRESETS: dict[str, Preset] = {p.name: p for p in _PRESETS}


def get_preset(name: str) -> Preset:
    """The named :class:`Preset`.

    Raises:
        InputError: unknown name (the message lists the known ones).

    >>> get_preset("quick").augment.subset
    8
    """
    if name not in PRESETS:
        raise InputError(f"preset: unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]
