"""Typed, frozen configuration for each pipeline stage, checked when it is built.

Each stage owns one dataclass here, flat and of plain types so it round-trips through YAML unchanged.
Every field is checked when a config is built (from Python, YAML or flags): its type (a whole number, a
number, a choice of the ``Literal`` types below, ...), its range (``LIMITS``) and a few cross-field
rules (:mod:`gliograde.schema`), so a wrong value fails at once with one line naming the key, never after
ingest already ran.
:func:`from_dict` builds a config from plain data and refuses unknown keys. :mod:`gliograde.settings`
resolves a whole :class:`RunConfig` (preset < YAML < flags) and every run writes it to ``config.yaml``
(:mod:`gliograde.runinfo`).

>>> cfg = PreprocessCfg(size=128)
>>> cfg.size, cfg.window
(128, (0.5, 99.5))
>>> PreprocessCfg(size=-3)
Traceback (most recent call last):
...
gliograde.schema.ConfigError: ingest.preprocess.size: got -3; expected a whole number >= 1
>>> from_dict(TrainCfg, {"optimizer": "adamm"})
Traceback (most recent call last):
...
gliograde.schema.ConfigError: train.optimizer: got 'adamm'; expected one of 'sgd', 'adamw' (did you mean 'adamw'?)
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, get_args

from gliograde.schema import FRACTION, NON_NEGATIVE, POSITIVE, Checked, ConfigError, Limit, from_dict, load_yaml

__all__ = ["SEQUENCES", "SLICE_CHANNEL_ORDER", "AugmentCfg", "CVCfg", "CVProtocol", "ClassifierKind", "ConfigError",
           "ExecutorCfg", "FeatureFamily", "IngestCfg", "PredictCfg", "PreprocessCfg", "PriorCfg", "RunConfig",
           "SelectionCfg",
           "SequenceName", "SubsetCfg", "TrainCfg", "ValidateCfg", "from_dict", "load_yaml"]

#: Sequence names understood everywhere.
SequenceName = Literal["t1", "flair", "t1ce", "t2"]
SEQUENCES: tuple[str, ...] = get_args(SequenceName)
# For the 2D slice layout of TCGA-LGG (3-channel PNG) the channel order is [pre-contrast T1, FLAIR, post-contrast T1].
SLICE_CHANNEL_ORDER = ("t1", "flair", "t1ce")
#: Classifier kinds of the handcrafted baselines (:func:`gliograde.baselines.make_classifier`).
ClassifierKind = Literal["logreg", "logreg_l1", "svm", "rbf_svm", "mlp"]
#: ROI feature families of the selecting models (:mod:`gliograde.baselines.feature_sets`).
FeatureFamily = Literal["radiomics", "semantic", "enhancement", "native"]
#: Cross-validation protocols (:class:`CVCfg`); ``both`` = ``honest`` and ``paper`` side by side.
CVProtocol = Literal["honest", "paper", "site", "both"]


@dataclass(frozen=True)
class PreprocessCfg(Checked):
    """The study's preprocessing, one step per field (see :mod:`gliograde.preprocess`).

    Attributes:
        window: lower and upper percentile mapped to 0 and 255 (robust 8-bit scaling), 0 <= low < high <= 100.
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

    SECTION: ClassVar[str] = "ingest.preprocess"
    LIMITS: ClassVar[Mapping[str, Limit]] = {"window": Limit(0, 100), "rim": NON_NEGATIVE, "ring_width": POSITIVE,
                                             "margin": NON_NEGATIVE, "size": POSITIVE}

    window: tuple[float, float] = (0.5, 99.5)
    intensity: Literal["percentile", "zscore", "robust"] = "percentile"
    region: Literal["slice", "brain", "roi", "brain_outside_roi", "ring"] = "brain"
    rim: int = 0
    ring_width: int = 10
    margin: int = 4
    square: bool = True
    size: int = 227

    def check(self) -> None:
        if not self.window[0] < self.window[1]:
            raise self.fail("window", f"got {list(self.window)}; expected low < high, e.g. [0.5, 99.5]")


@dataclass(frozen=True)
class IngestCfg(Checked):
    """How to find and read a cohort (see :mod:`gliograde.data.ingest`).

    Attributes:
        layout: ``auto`` detects slices / nifti / dicom / manifest.
        channels: sequences stacked as image channels, by name (``SEQUENCES``), each once.
        roi_labels: segmentation labels that form the ROI; empty = every non-zero label.
        slice_index: fixed slice for every case; None = the largest tumour cross-section.
        slices: number of neighbouring slices per patient centred on the representative one.
        skip_bad: ingest the valid patients and list the others instead of failing.
        preprocess: the 8-bit scaling and the crop (:class:`PreprocessCfg`).
        series_map: DICOM: ``SEQUENCE=PATTERN`` entries (or a YAML/CSV file of them) matching SeriesDescriptions to
            sequences before the built-in patterns (:func:`gliograde.data.io.match_sequence`); with several
            ``channels`` (or a map) a patient folder's series are read as channels.
    """

    SECTION: ClassVar[str] = "ingest"
    LIMITS: ClassVar[Mapping[str, Limit]] = {"roi_labels": POSITIVE, "slice_index": NON_NEGATIVE, "slices": POSITIVE}

    layout: Literal["auto", "slices", "nifti", "dicom", "manifest"] = "auto"
    channels: tuple[SequenceName, ...] = ("t1ce",)
    roi_labels: tuple[int, ...] = ()
    slice_index: int | None = None
    slices: int = 1
    skip_bad: bool = False
    preprocess: PreprocessCfg = field(default_factory=PreprocessCfg)
    series_map: tuple[str, ...] = ()

    def check(self) -> None:
        if not self.channels or len(set(self.channels)) != len(self.channels):
            raise self.fail("channels", f"got {list(self.channels)}; give one or more of {list(SEQUENCES)}, each once")


@dataclass(frozen=True)
class AugmentCfg(Checked):
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

    SECTION: ClassVar[str] = "augment"
    LIMITS: ClassVar[Mapping[str, Limit]] = {"subset": NON_NEGATIVE}

    mode: Literal["fixed", "stochastic", "none"] = "fixed"
    dedupe: Literal["identity", "effect"] = "identity"
    sign: Literal["positive", "negative"] = "positive"
    roi_only: bool = False
    subset: int | None = None


@dataclass(frozen=True)
class TrainCfg(Checked):
    """How to train one CNN (see :mod:`gliograde.training.engine` and :mod:`gliograde.presets`).

    Attributes:
        preset: name of the preset these values started from (``paper``, ``modern``, ``quick``, ``recommended``).
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
        val_fraction: share of the training patients held out for early stopping, in [0, 0.5].
        seed: seeds initialisation, shuffling and dropout.
        device: ``auto`` (CUDA when present), ``cpu``, ``cuda``, ``cuda:1``.
        amp: mixed precision on CUDA (ignored on CPU).
        num_threads: CPU threads for torch (0 = torch's default).
        resident: keep the uint8 cache and its expansion on the device and augment there in batches
            (:mod:`gliograde.training.device`); ``auto`` = on for CUDA/MPS, off for CPU. Same results either way.
        compile: ``torch.compile`` the network for training (CUDA; a first-epoch compile cost).
    """

    SECTION: ClassVar[str] = "train"
    LIMITS: ClassVar[Mapping[str, Limit]] = {
        "epochs": POSITIVE, "lr": Limit(0, lo_open=True), "batch_size": POSITIVE, "image_size": POSITIVE,
        "momentum": FRACTION, "weight_decay": NON_NEGATIVE, "label_smoothing": FRACTION, "patience": NON_NEGATIVE,
        "val_fraction": Limit(0, 0.5), "seed": NON_NEGATIVE, "num_threads": NON_NEGATIVE}

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
    resident: Literal["auto", "on", "off"] = "auto"
    compile: bool = False

    def check(self) -> None:
        base, _, index = self.device.partition(":")
        if base not in ("auto", "cpu", "cuda", "mps") or (index and (base != "cuda" or not index.isdigit())):
            raise self.fail("device", f"got {self.device!r}; expected auto, cpu, cuda, cuda:N or mps")


@dataclass(frozen=True)
class SelectionCfg(Checked):
    """Honest model selection and fusion for the ``radiomics`` and ``fusion`` configurations
    (see :mod:`gliograde.selection`, :mod:`gliograde.baselines.fusion`).

    Every choice is made inside each outer training fold, on inner validation patients drawn from
    the training patients only; what each fold chose is written to ``selection.json``.

    Attributes:
        method: ``inner_cv`` (nested CV by patient), ``inner_split`` (one fixed stratified inner
            split of the training patients) or ``none`` (the first candidate, no selection).
        inner_folds: folds of the inner CV (capped by the smallest grade's patient count).
        classifiers: candidate classifier kinds (:data:`ClassifierKind`).
        select_k: candidate numbers of features kept by ANOVA F (0 = all).
        cnn_components: PCA components of the CNN penultimate features in ``fusion`` (fitted per fold).
        bin_width: grey-level bin width of the radiomics texture features.
        features: feature families computed inside the ROI (:mod:`gliograde.baselines.feature_sets`), each once:
            ``radiomics`` (PyRadiomics texture, first order and 2D shape of each channel), ``semantic`` (size,
            outline shape and intensity in reference-tissue units: :mod:`gliograde.baselines.semantic`) and/or
            ``enhancement`` (T1c - T1 inside the ROI) and/or ``native`` (PyRadiomics on each case's original grid
            in mm, by sequence: :mod:`gliograde.baselines.native`).
        spacing: (row mm, column mm) of 2D PNG/TIFF slices for ``native``; empty = unknown (shape in pixels).
        radiomics_params: a PyRadiomics params file for ``native`` ("" = the default extraction).
    """

    SECTION: ClassVar[str] = "cv.selection"
    LIMITS: ClassVar[Mapping[str, Limit]] = {"inner_folds": Limit(2), "select_k": NON_NEGATIVE,
                                             "cnn_components": POSITIVE, "bin_width": Limit(0, lo_open=True)}

    method: Literal["none", "inner_cv", "inner_split"] = "inner_cv"
    inner_folds: int = 5
    classifiers: tuple[ClassifierKind, ...] = ("logreg", "rbf_svm")
    select_k: tuple[int, ...] = (5, 10, 20)
    cnn_components: int = 8
    bin_width: float = 8.0
    features: tuple[FeatureFamily, ...] = ("radiomics",)
    spacing: tuple[float, ...] = ()
    radiomics_params: str = ""

    def check(self) -> None:
        for name in ("classifiers", "select_k", "features"):
            value = getattr(self, name)
            if not value or len(set(value)) != len(value):
                raise self.fail(name, f"got {list(value)}; give one or more values, each once")
        if self.spacing and (len(self.spacing) != 2 or min(self.spacing) <= 0):
            raise self.fail("spacing", f"got {list(self.spacing)}; give the 2D slices' pixel size as ROW_MM,COL_MM, "
                                       "both > 0 (e.g. 0.9,0.9), or leave it empty (unknown)")


@dataclass(frozen=True)
class PriorCfg(Checked):
    """How the ``prior`` model combines its pre-specified radiological signs (see :mod:`gliograde.signs`).

    Attributes:
        combine: ``fixed`` (the mean of the signs: nothing fitted on grades) or ``monotone`` (non-negative
            weights on the signs, each standardised on the training patients, with L2 shrinkage ``shrinkage``
            towards zero, fitted inside the training fold).
        shrinkage: L2 penalty of the ``monotone`` weights (larger = closer to no weights at all).
        calibration_c: inverse L2 penalty of the logistic calibration of the score (fitted inside the training
            fold; the score is standardised on the training patients first).
        reference_excess: score each intensity sign as its excess over the same share in the patient's own
            reference tissue (tumour share minus normal-tissue share), which cancels a scanner's noise floor
            (an exploratory option; off = the shares as defined in docs/prior.md).
    """

    SECTION: ClassVar[str] = "cv.prior"
    LIMITS: ClassVar[Mapping[str, Limit]] = {"shrinkage": Limit(0), "calibration_c": Limit(0, lo_open=True)}

    combine: Literal["fixed", "monotone"] = "fixed"
    shrinkage: float = 10.0
    calibration_c: float = 1.0
    reference_excess: bool = False


@dataclass(frozen=True)
class CVCfg(Checked):
    """The cross-validated experiment (see :mod:`gliograde.experiment`).

    Attributes:
        folds: number of folds (``site`` protocol: one fold per site, this is ignored).
        protocol: ``honest`` (patient-level folds, augmentation inside training folds, early stopping
            on an inner split of training patients), ``paper`` (the study's: augment everything first,
            split augmented images at random, early-stop on the test fold: leaks on purpose) or
            ``site`` (leave one acquisition site out, honest otherwise); ``both`` runs ``honest`` and
            ``paper`` side by side.
        configs: which configurations to run on the same folds: ``full``, ``no-pretrain``, ``no-aug``,
            ``handcrafted`` (radiomics + SVM/logistic regression), ``handcrafted-mlp`` (the study's ANN),
            ``radiomics`` (radiomics, classifier and feature count chosen per fold by ``selection``) and
            ``fusion`` (radiomics + frozen CNN penultimate features, chosen the same way); names are checked
            against the experiment's registry by :func:`gliograde.settings.resolve`.
        handcrafted_classifier: classifier of the ``handcrafted`` configuration.
        seed: fold assignment and every model's seed derive from it.
        n_boot: bootstrap resamples for confidence intervals in the report.
        selection: how ``radiomics`` and ``fusion`` choose their model inside each training fold.
        repeats: repeated cross-validation: repeat ``r`` splits the patients again with fold seed
            ``seed + r`` (repeat 0 = the single run's folds); ``site`` folds are fixed, so ``site`` allows 1 only.
        prior: how the ``prior`` configurations and ``train --kind prior`` combine and calibrate the signs.
        permute_labels: label-permutation check (:mod:`gliograde.experiment.permute`): rerun the protocol this
            many times with grades shuffled between patients (0: no check).
        recalibrate: ``platt``: every configuration recalibrates its probabilities by a logistic (Platt) fit per
            grade, one-vs-rest (sklearn's ``CalibratedClassifierCV`` sigmoid), inside the training patients: the
            sklearn ones (radiomics, fusion, handcrafted) on inner cross-validated predictions, the CNNs (full,
            no-pretrain, no-aug) on their predictions of their early-stopping validation patients (needs
            ``train.val_fraction`` > 0); the test fold is never seen. Under the paper protocol the CNNs are not
            recalibrated (their early stopping uses the test fold). ``none``: as fitted.
    """

    SECTION: ClassVar[str] = "cv"
    LIMITS: ClassVar[Mapping[str, Limit]] = {"folds": Limit(2), "seed": NON_NEGATIVE, "n_boot": POSITIVE,
                                             "repeats": POSITIVE, "permute_labels": NON_NEGATIVE}

    folds: int = 10
    protocol: CVProtocol = "honest"
    configs: tuple[str, ...] = ("full", "no-pretrain", "no-aug", "handcrafted")
    handcrafted_classifier: ClassifierKind = "logreg"
    seed: int = 0
    n_boot: int = 2000
    selection: SelectionCfg = field(default_factory=SelectionCfg)
    repeats: int = 1
    prior: PriorCfg = field(default_factory=PriorCfg)
    permute_labels: int = 0
    recalibrate: Literal["none", "platt"] = "none"

    def check(self) -> None:
        if not self.configs or len(set(self.configs)) != len(self.configs):
            raise self.fail("configs", f"got {list(self.configs)}; give one or more configurations, each once")
        if self.repeats > 1 and self.protocol == "site":
            raise self.fail("repeats", f"--repeats {self.repeats} with --protocol site: leave-one-site-out folds "
                            "are the same for every seed, so a repeat would redo the same split; use --repeats 1, "
                            "or --protocol honest to repeat random patient splits")


@dataclass(frozen=True)
class PredictCfg(Checked):
    """How ``gliograde predict`` grades new cases (see :mod:`gliograde.prediction.run`).

    Attributes:
        explain: compute the evidence (LayerCAM map or top radiomics features) and ``overlay.png``.
        slice_index: a fixed slice for every case; None = the largest tumour cross-section.
        mask_heat: draw the evidence inside the ROI only in ``overlay.png`` (``heat_in_roi`` in the JSON is
            always measured on the whole map).
        keep_ids: name cases by folder/file name instead of ``case-<hmac[:10]>`` (names can identify patients).
        threads: CPU threads torch uses; None = leave torch's setting (``gliograde predict`` uses 1).
        write_aliases: also write ``aliases.csv`` (case alias -> input path), to map results back to the inputs;
            it names patients' files, so it is written only when asked.
    """

    SECTION: ClassVar[str] = "predict"
    LIMITS: ClassVar[Mapping[str, Limit]] = {"slice_index": NON_NEGATIVE, "threads": POSITIVE}

    explain: bool = True
    slice_index: int | None = None
    mask_heat: bool = True
    keep_ids: bool = False
    threads: int | None = None
    write_aliases: bool = False


@dataclass(frozen=True)
class ValidateCfg(Checked):
    """Settings of one external validation (see :mod:`gliograde.validation.run`).

    Attributes:
        n_boot: bootstrap resamples (over patients) for the 95 % CIs; 0 = no CI.
        seed: seed of the bootstrap.
        keep_ids: write DICOM patients' ids as given instead of ``case-<hmac[:10]>`` (keyed alias).
        min_per_grade: an AUC is reported only when every grade of the model has at least this many
            patients (pooled and per site); below it the AUC is undefined, with the reason.
        n_bins: confidence bins of the ECE and the reliability diagram.
        batch_size: CNN inference batch.
        skip_bad: leave out patients whose files cannot be ingested (listed in metrics.json ``skipped``).
        write_aliases: also write ``aliases.csv`` (the name each patient has in the outputs -> patient id and
            input folder), to map results back; it names patients, so it is written only when asked.
        allow_overlap: go on when the cohort shares patients with the model's training data (found by the keyed
            hashes in ``model.json``); every output then says the results are not an external validation.
    """

    SECTION: ClassVar[str] = "validate"
    LIMITS: ClassVar[Mapping[str, Limit]] = {"n_boot": NON_NEGATIVE, "seed": NON_NEGATIVE, "min_per_grade": POSITIVE,
                                             "n_bins": POSITIVE, "batch_size": POSITIVE}

    n_boot: int = 2000
    seed: int = 0
    keep_ids: bool = False
    min_per_grade: int = 5
    n_bins: int = 10
    batch_size: int = 16
    skip_bad: bool = False
    write_aliases: bool = False
    allow_overlap: bool = False
    sites: tuple[str, ...] = ()  # --sites: validate on these sites only (gliograde.data.subset)


@dataclass(frozen=True)
class SubsetCfg(Checked):
    """Which patients of a cohort ``train`` and ``cv`` use (:mod:`gliograde.data.subset`): all by default.

    Attributes:
        labels: a CSV of the patients to use (``--labels``: a patient column, ``patient_id`` or ``case_id``, and
            optionally a grade column whose grades must agree with the cohort's); None = every patient.
        sites: the acquisition sites to use (``--sites A,B``: the cohort's ``site``/``institution``); () = all.
    """

    SECTION: ClassVar[str] = "subset"

    labels: str | None = None
    sites: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExecutorCfg(Checked):
    """Where the tasks of ``cv`` (units), ``predict`` and ``validate`` run (:mod:`gliograde.executor`).

    Attributes:
        name: ``local`` (in order in this process; no Ray) or ``ray`` (Ray tasks; ``pip install 'gliograde[ray]'``).
        address: the Ray cluster: None (``RAY_ADDRESS``, else the one ``ray start`` started here, else a new one),
            ``auto`` (an existing one only), ``local`` (a new one), ``HOST:PORT`` or ``ray://HOST:PORT``.
        unit_cpus, unit_gpus: what each task asks Ray for (fractions allowed: 0.5 GPU = two tasks share one).
        retries: times a failed task (an exception, a dead worker) is run again before it is reported.
    """

    SECTION: ClassVar[str] = "executor"
    LIMITS: ClassVar[Mapping[str, Limit]] = {"unit_cpus": NON_NEGATIVE, "unit_gpus": NON_NEGATIVE,
                                             "retries": NON_NEGATIVE}

    name: Literal["local", "ray"] = "local"
    address: str | None = None
    unit_cpus: float = 1.0
    unit_gpus: float = 0.0
    retries: int = 2

    def check(self) -> None:
        if self.address is not None and self.name != "ray":
            raise self.fail("address", f"got {self.address!r} with the local executor, which reads no address; "
                            "add --executor ray, or drop --ray-address")
        if self.address is not None and not re.fullmatch(r"auto|local|(ray://)?[^:\s/]+:\d{1,5}", self.address):
            raise self.fail("address", f"got {self.address!r}; expected auto, local, HOST:PORT or ray://HOST:PORT")


@dataclass(frozen=True)
class RunConfig(Checked):
    """Every setting of one command, resolved once (preset < YAML < flags) by :func:`gliograde.settings.resolve`.

    Its defaults are the study's settings, those of the ``paper`` preset; ``resolve`` starts ``train`` and
    ``cv`` from ``recommended`` instead.

    Attributes:
        preset: the preset the values started from (:data:`gliograde.presets.PRESETS`).
        kind: the model kind ``train`` fits (a key of :data:`gliograde.bundles.KINDS`).
        ingest: how a raw cohort is read (used only when the cohort is not ingested yet).
        train: CNN training settings.
        augment: augmentation of the CNN's training images.
        cv: the cross-validated experiment, including the radiomics selection grid (``cv.selection``),
            which ``train --kind radiomics`` uses too.
        predict: how ``predict`` grades new cases (the bundle gives everything else).
        validate: the bootstrap, id and AUC settings of ``validate``.
        subset: the patients of the cohort ``train`` and ``cv`` use (``--labels``, ``--sites``; default: all).
        executor: where ``cv``'s units and ``predict``/``validate``'s cases run (not in ``config.yaml``: it
            changes no result, and a cluster address belongs to one machine).
    """

    SECTION: ClassVar[str] = ""

    preset: str = "paper"
    kind: str = "cnn"
    ingest: IngestCfg = field(default_factory=IngestCfg)
    train: TrainCfg = field(default_factory=TrainCfg)
    augment: AugmentCfg = field(default_factory=AugmentCfg)
    cv: CVCfg = field(default_factory=CVCfg)
    predict: PredictCfg = field(default_factory=PredictCfg)
    validate: ValidateCfg = field(default_factory=ValidateCfg)
    executor: ExecutorCfg = field(default_factory=ExecutorCfg)
    subset: SubsetCfg = field(default_factory=SubsetCfg)

    def sections(self) -> dict[str, Any]:
        """``preset``, ``kind`` and each section ``train`` and ``cv`` read: what their ``config.yaml`` holds
        (``--config`` replays it; ``predict`` and ``validate`` write their own section).

        ``subset`` only when it picks patients, so the config.yaml of a run on a whole cohort stays as it was.

        >>> list(RunConfig().sections())
        ['preset', 'kind', 'ingest', 'train', 'augment', 'cv']
        >>> RunConfig(subset=SubsetCfg(sites=("CS",))).sections()["subset"]
        SubsetCfg(labels=None, sites=('CS',))
        """
        subset = ("subset",) if self.subset != SubsetCfg() else ()
        names = ("preset", "kind", "ingest", "train", "augment", "cv", *subset)
        return {name: getattr(self, name) for name in names}
