"""Typed, frozen configuration for each pipeline stage, plus YAML loading.

YAML supplies defaults, the command line overrides them, and every run writes the resolved
result to ``config.yaml`` in its output folder (see :mod:`gliograde.runinfo`).

Each stage owns one dataclass here. Keep them flat and of plain types so they round-trip
through YAML unchanged.

>>> cfg = PreprocessCfg(size=128)
>>> cfg.size, cfg.window
(128, (0.5, 99.5))
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import yaml

from gliograde.errors import InputError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

# Sequence names understood everywhere. For the 2D slice layout of TCGA-LGG (3-channel PNG)
# the channel order is [pre-contrast T1, FLAIR, post-contrast T1].
SEQUENCES = ("t1", "flair", "t1ce", "t2")
SLICE_CHANNEL_ORDER = ("t1", "flair", "t1ce")


@dataclass(frozen=True)
class PreprocessCfg:
    """The study's preprocessing, one step per field (see :mod:`gliograde.preprocess`).

    Attributes:
        window: lower and upper percentile mapped to 0 and 255 (robust 8-bit scaling).
        intensity: ``percentile`` (the study's 8-bit scaling), ``zscore`` (mean/SD, then +-3 SD to 0..255)
            or ``robust`` (median/IQR: ``(x - median) / IQR * 32 + 128``, so the reference tissue's
            median lands on 128 whatever the scanner's units).
        region: pixels the statistics are computed on: the whole ``slice``, the ``brain`` (non-zero
            pixels), the ``roi`` (tumour, after ``rim``), ``brain_outside_roi`` (non-zero pixels outside
            the tumour + rim: the patient's own normal-appearing tissue, robust to site) or ``ring``
            (a band of ``ring_width`` pixels around the tumour + rim).
        rim: pixels of context kept around the outline (0 = the tumour only, as in the study).
        ring_width: width in pixels of the ``ring`` region.
        margin: pixels added on each side of the ROI bounding box before cropping.
        square: pad the crop to a square before resizing so the tumour's shape is not distorted.
        size: output side in pixels (227 for the study's AlexNet).
    """

    window: tuple[float, float] = (0.5, 99.5)
    intensity: Literal["percentile", "zscore", "robust"] = "percentile"
    region: Literal["slice", "brain", "roi", "brain_outside_roi", "ring"] = "brain"
    rim: int = 0
    ring_width: int = 10
    margin: int = 4
    square: bool = True
    size: int = 227


@dataclass(frozen=True)
class IngestCfg:
    """How to find and read a cohort (see :mod:`gliograde.data.ingest`).

    Attributes:
        layout: ``auto`` detects slices / nifti / dicom / manifest.
        channels: sequences stacked as image channels, by name (``SEQUENCES``).
        roi_labels: segmentation labels that form the ROI; empty = every non-zero label.
        slice_index: fixed slice for every case; None = the largest tumour cross-section.
        slices: number of neighbouring slices per patient centred on the representative one.
        skip_bad: ingest the valid patients and list the others instead of failing.
    """

    layout: Literal["auto", "slices", "nifti", "dicom", "manifest"] = "auto"
    channels: tuple[str, ...] = ("t1ce",)
    roi_labels: tuple[int, ...] = ()
    slice_index: int | None = None
    slices: int = 1
    skip_bad: bool = False
    preprocess: PreprocessCfg = field(default_factory=PreprocessCfg)


T = TypeVar("T", bound="DataclassInstance")
#: Classifier kinds of the handcrafted baselines (:func:`gliograde.baselines.make_classifier`).
ClassifierKind = Literal["logreg", "logreg_l1", "svm", "rbf_svm", "mlp"]
#: Cross-validation protocols (:class:`CVCfg`); ``both`` = ``honest`` and ``paper`` side by side.
CVProtocol = Literal["honest", "paper", "site", "both"]


def from_dict(cls: type[T], data: dict[str, Any] | None) -> T:
    """Build a config dataclass from a plain dict, rejecting unknown keys (no silent typos).

    Nested dataclass fields and tuple fields are converted; missing keys keep their defaults.
    """
    data = dict(data or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise InputError(
            f"unknown {cls.__name__} option(s) {unknown}; known options are {sorted(fields)}"
        )
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        default = getattr(cls(), name) if _has_defaults(cls) else None
        if dataclasses.is_dataclass(default) and not isinstance(default, type) and isinstance(value, dict):
            value = from_dict(type(default), value)
        elif isinstance(default, tuple) and isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


def _has_defaults(cls: type[DataclassInstance]) -> bool:
    return all(
        f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        for f in dataclasses.fields(cls)
    )


def load_yaml(path: Path | None) -> dict[str, Any]:
    """Read a YAML config file into a dict (empty when ``path`` is None)."""
    if path is None:
        return {}
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: config file not found; check the --config path")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise InputError(f"{path}: not valid YAML ({err}); fix the file or drop --config") from err
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a mapping of options at the top level, got {type(data).__name__}")
    return data


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Overlay command-line overrides (None means 'not given') on YAML values."""
    out = dict(base)
    out.update({k: v for k, v in overrides.items() if v is not None})
    return out


@dataclass(frozen=True)
class AugmentCfg:
    """The study's AutoAugment-SVHN augmentation (see :mod:`gliograde.augment.policy` and ``docs/augment.md``).

    Attributes:
        mode: ``fixed`` = the study's deterministic expansion (every training image in all 57
            versions, computed once per fold); ``stochastic`` = torchvision's ``AutoAugment(SVHN)``
            drawn on the fly per batch; ``none`` = no augmentation.
        dedupe: ``identity`` removes duplicates by (op, magnitude bin) as the study did -> 56
            transforms (+identity = 57); ``effect`` also ignores the bin of Invert, Equalize and
            AutoContrast, which has no effect on the pixels -> 45 (+identity = 46).
        sign: sign given to the signed ops (ShearX/Y, TranslateX/Y, Rotate); ``positive`` is the
            study's "fixed image production".
        roi_only: warp the ROI mask with every geometric op (nearest) and zero the background after
            every op, so Invert/Solarize never light up the background (safe for MRI).
        subset: keep only this many transforms (+identity, evenly spaced) for quick CPU runs;
            None = all of them.
    """

    mode: Literal["fixed", "stochastic", "none"] = "fixed"
    dedupe: Literal["identity", "effect"] = "identity"
    sign: Literal["positive", "negative"] = "positive"
    roi_only: bool = False
    subset: int | None = None


@dataclass(frozen=True)
class TrainCfg:
    """How to train one model (see :mod:`gliograde.training.engine` and :mod:`gliograde.presets`).

    Attributes:
        preset: name of the preset these values started from (``paper``, ``modern``, ``quick``).
        model: registry name (:func:`gliograde.models.list_models`).
        weights: ``imagenet``, ``none`` (random start) or a path to a state dict.
        allow_download: fetch missing ImageNet weights (off: nothing downloads).
        epochs: maximum number of epochs.
        lr: peak learning rate.
        batch_size: images per optimisation step.
        image_size: square input side; None = the model's default (227 AlexNet, 224 others).
        optimizer: ``sgd`` (with ``momentum``) or ``adamw``.
        momentum: SGD momentum.
        weight_decay: L2 (SGD) or decoupled (AdamW) weight decay.
        scheduler: ``none`` (constant) or ``cosine`` (per epoch, to 0 at ``epochs``).
        label_smoothing: cross-entropy label smoothing in [0, 1).
        patience: epochs without a lower validation loss before stopping (0 = never stop early).
        freeze_backbone: train only the head on backbone features computed once per run.
        val_fraction: share of the training patients held out for early stopping.
        seed: seeds initialisation, shuffling and dropout.
        device: ``auto`` (CUDA when present), ``cpu``, ``cuda``, ``cuda:1``.
        amp: mixed precision on CUDA (ignored on CPU).
        num_threads: CPU threads for torch (0 = torch's default).
    """

    preset: str = "paper"
    model: str = "alexnet"
    weights: str = "imagenet"
    allow_download: bool = False
    epochs: int = 20
    lr: float = 1e-3
    batch_size: int = 128
    image_size: int | None = None
    optimizer: Literal["sgd", "adamw"] = "sgd"
    momentum: float = 0.9
    weight_decay: float = 1e-4
    scheduler: Literal["none", "cosine"] = "none"
    label_smoothing: float = 0.0
    patience: int = 3
    freeze_backbone: bool = False
    val_fraction: float = 0.2
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    num_threads: int = 0


@dataclass(frozen=True)
class SelectionCfg:
    """Honest model selection and fusion for the ``radiomics`` and ``fusion`` configurations
    (see :mod:`gliograde.selection`, :mod:`gliograde.baselines.fusion`).

    Every choice is made inside each outer training fold, on inner validation patients drawn from
    the training patients only; what each fold chose is written to ``selection.json``.

    Attributes:
        method: ``inner_cv`` (nested CV by patient), ``inner_split`` (one fixed stratified inner
            split of the training patients) or ``none`` (the first candidate, no selection).
        inner_folds: folds of the inner CV (capped by the smallest grade's patient count).
        classifiers: candidate classifier kinds (:data:`gliograde.baselines.CLASSIFIER_KINDS`).
        select_k: candidate numbers of features kept by ANOVA F (0 = all).
        cnn_components: PCA components of the CNN penultimate features in ``fusion`` (fitted per fold).
        bin_width: grey-level bin width of the radiomics texture features.
        features: feature families computed inside the ROI (:mod:`gliograde.baselines.feature_sets`): ``radiomics``
            (PyRadiomics texture, first order and 2D shape of each channel) and/or ``semantic`` (size, outline
            shape and intensity in reference-tissue units: :mod:`gliograde.baselines.semantic`).
    """

    method: Literal["none", "inner_cv", "inner_split"] = "inner_cv"
    inner_folds: int = 5
    classifiers: tuple[str, ...] = ("logreg", "rbf_svm")
    select_k: tuple[int, ...] = (5, 10, 20)
    cnn_components: int = 8
    bin_width: float = 8.0
    features: tuple[str, ...] = ("radiomics",)


@dataclass(frozen=True)
class CVCfg:
    """The cross-validated experiment (see :mod:`gliograde.experiment.splits`).

    Attributes:
        folds: number of folds (``site`` protocol: one fold per site, this is ignored).
        protocol: ``honest`` (patient-level folds, augmentation inside training folds, early stopping
            on an inner split of training patients), ``paper`` (the study's: augment everything first,
            split augmented images at random, early-stop on the test fold: leaks on purpose) or
            ``site`` (leave one acquisition site out, honest otherwise); ``both`` runs ``honest`` and
            ``paper`` side by side (:func:`gliograde.experiment.run.run_cv_command` splits it).
        configs: which configurations to run on the same folds: ``full``, ``no-pretrain``, ``no-aug``,
            ``handcrafted`` (radiomics + SVM/logistic regression), ``handcrafted-mlp`` (the study's ANN),
            ``radiomics`` (radiomics, classifier and feature count chosen per fold by ``selection``) and
            ``fusion`` (radiomics + frozen CNN penultimate features, chosen the same way).
        handcrafted_classifier: classifier of the ``handcrafted`` configuration.
        seed: fold assignment and every model's seed derive from it.
        n_boot: bootstrap resamples for confidence intervals in the report.
        selection: how ``radiomics`` and ``fusion`` choose their model inside each training fold.
        repeats: repeated cross-validation: repeat ``r`` splits the patients again with fold seed
            ``seed + r`` (repeat 0 = the single run's folds); ``site`` folds are fixed, so ``site`` allows 1 only.
    """

    folds: int = 10
    protocol: CVProtocol = "honest"
    configs: tuple[str, ...] = ("full", "no-pretrain", "no-aug", "handcrafted")
    handcrafted_classifier: ClassifierKind = "logreg"
    seed: int = 0
    n_boot: int = 2000
    selection: SelectionCfg = field(default_factory=SelectionCfg)
    repeats: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.repeats, bool) or not isinstance(self.repeats, int) or self.repeats < 1:
            raise InputError(f"--repeats {self.repeats!r}: expected a whole number >= 1 (1 = one cross-validation)")
        if self.repeats > 1 and self.protocol == "site":
            raise InputError(f"--repeats {self.repeats} with --protocol site: leave-one-site-out folds are the same "
                             "for every seed, so a repeat would redo the same split; use --repeats 1, or "
                             "--protocol honest to repeat random patient splits")
