"""The model-kind protocol: what every kind of bundle does, and the one way a case is read for any of them.

A *kind* (``cnn``, ``radiomics``, ...) is one subclass of :class:`ModelKind` in its own module, listed once in
:data:`gliograde.bundles.registry.KINDS`. A loaded bundle *is* an instance of its kind, so prediction,
validation and export call its methods and never ask which kind it is:

====================  =======================================================================================
``train``             (classmethod) fit on a cohort from a :class:`~gliograde.config.RunConfig`, write the bundle
``train_header``      (classmethod) the line ``gliograde train`` prints before fitting
``settings_summary``  (classmethod) the resolved settings it trains with, for a header (default: none)
``write``             (classmethod) write ``model.json``, ``MODEL_CARD.md`` and the kind's model file
``load``              (classmethod) the bundle from its folder and its already read ``model.json``
``reads``             (class) what the kind grades: ``"crop"`` (the ingested crop) or ``"case"`` (the case's files)
``predict_crops``     probabilities (and per-row extras) for preprocessed crops: validation's inference of a
                      ``"crop"`` kind
``predict_case``      read, preprocess, grade and explain one case: prediction's inference (built on
                      ``model_input`` + ``infer``, the only two steps a kind supplies)
``case_columns``      per-patient extras of a ``predict_case`` result for validation's predictions.csv
``evidence``          the ``evidence`` block of ``prediction.json``
``panel``             the ``overlay.png`` picture
``card_section``      the kind's "Model" and "Data" sections of ``MODEL_CARD.md``
``describe``          the ``model`` block of ``prediction.json``
``warm_up``           one blank run, so the first case's timings hold no one-time costs
``onnx_graph``        the network for ``gliograde export`` (default: refused, the kind has none)
====================  =======================================================================================

>>> # b = load_bundle(Path("runs/m")); pred = b.predict_case(source); b.evidence(pred)["method"]
"""
from __future__ import annotations

import dataclasses
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar

import numpy as np
import numpy.typing as npt
from PIL import Image

from gliograde.config import IngestCfg
from gliograde.data.ingest import load_case
from gliograde.errors import InputError
from gliograde.preprocess import Preprocess
from gliograde.runinfo import to_plain

if TYPE_CHECKING:
    from gliograde.config import RunConfig
    from gliograde.data.dataset import Cohort
    from gliograde.data.source import CaseSource
    from gliograde.export import OnnxGraph

FitT = TypeVar("FitT")


#: A case whose ``max_abs_z`` exceeds this many training SDs is ``unlike_training``, for every kind (a radiomics
#: bundle's selected features, a CNN bundle's embedding, :mod:`gliograde.bundles.embedding`).
FAR_Z = 4.0
#: Settings that change where, how fast or under which label a model trains, not the model (left out of
#: :meth:`ModelKind.defining_settings`).
RUNTIME_ONLY = frozenset({"preset", "seed", "device", "amp", "num_threads", "resident", "compile", "allow_download"})

@dataclass
class CasePrediction:
    """The result for one case.

    Attributes:
        case: the name used in outputs (hash alias unless ``keep_ids``).
        status: ``ok`` or ``error``.
        grade: predicted WHO grade (None on error).
        probabilities: {grade: probability}, sums to 1.
        slice_index: representative slice used (index in the volume / series / slice stack).
        overlay: the evidence picture overlay.png (None when not explained or nothing was written).
        heat_in_roi: CNN: share of the evidence-map heat inside the tumour mask, in [0, 1].
        timings_ms: read, preprocess, inference (forward [+ evidence]), total (ms, warm-up excluded).
        message: the error, one line, PHI-scrubbed.
        crop: (S, S) or (S, S, C) uint8 preprocessed crop; mask: (S, S) bool; heat: (h, w) float32 in [0, 1].
        slice_image: (H, W) or (H, W, C) representative slice as read; slice_mask: (H, W) bool.
        display_masked: overlay.png shows the evidence inside the ROI only.
        features: radiomics: the top contributing features (see :mod:`gliograde.bundles.radiomics_evidence`);
            feature_z_max: the largest |z| against the training data (radiomics: of the selected features;
            CNN: of the penultimate-layer embedding over its top principal components, see
            :mod:`gliograde.bundles.embedding`); None when the bundle has no such measure.
        unlike_training: the case lies outside the training data (:meth:`ModelKind.unlike_training`), set by
            prediction beside the grade; None when the bundle cannot tell.
    """

    case: str
    status: str = "ok"
    grade: int | None = None
    probabilities: dict[int, float] = field(default_factory=dict)
    slice_index: int | None = None
    overlay: Path | None = None
    heat_in_roi: float | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    message: str = ""
    crop: npt.NDArray[np.uint8] | None = field(default=None, repr=False)
    mask: npt.NDArray[np.bool_] | None = field(default=None, repr=False)
    heat: npt.NDArray[np.float32] | None = field(default=None, repr=False)
    slice_image: npt.NDArray[np.generic] | None = field(default=None, repr=False)
    slice_mask: npt.NDArray[np.bool_] | None = field(default=None, repr=False)
    display_masked: bool = True
    features: list[dict[str, Any]] | None = None
    feature_z_max: float | None = None
    unlike_training: bool | None = None


@dataclass(frozen=True)
class CropScores:
    """What a kind gives for a stack of preprocessed crops.

    Attributes:
        proba: (N, K) float64 in the bundle's ``classes`` order, rows sum to 1.
        columns: per-row extras for validation's predictions.csv, in column order (radiomics, and CNN bundles
            with embedding statistics: ``unlike_training`` (N,) bool, ``max_abs_z`` (N,) float); empty otherwise.
    """

    proba: npt.NDArray[np.float64]
    columns: dict[str, npt.NDArray[Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainReport:
    """What :meth:`ModelKind.train` did: the bundle folder and the lines ``gliograde train`` prints after it."""

    bundle: Path
    lines: list[str]


def check_channels(ingest: IngestCfg, source: CaseSource) -> None:
    """Fail early, with the fix, when a case cannot give the sequences a bundle was trained on.

    Volumes are checked by file name, a single volume or DICOM series counts as one channel, a slice
    image by its PNG header (grey = 1 channel, colour = the 3 TCGA-LGG channels). Nothing is decoded.

    Raises:
        InputError: names the case, the sequences it has, those the bundle needs and what to do.
    """
    need = tuple(ingest.channels)
    fix = ("add the missing sequence(s), or predict with a bundle trained on what the case has "
           "(`gliograde ingest DATA --out C --channels ...`, then `gliograde train C`)")
    if source.kind == "volume" and set(source.images) != {"image"}:
        have = sorted(source.images)
        missing = [c for c in need if c not in source.images]
        if missing:
            key, some = next(iter(source.images.items()))
            expected = some.name.replace(f"_{key}.", f"_{missing[0]}.")
            raise InputError(f"{some.parent}: case has sequences {have} but the model was trained on {'+'.join(need)} "
                             f"(no {expected}); {fix}")
        return
    if source.kind == "dicom" and len(need) > 1:  # several series: matched to sequences when read (data.io)
        return
    n_have = 1
    where: Path | None = source.images.get("image") or source.images.get("series")
    if source.kind == "slices" and source.slices:
        where = next(iter(source.slices.values()))[0]
        try:
            with Image.open(where) as im:
                n_have = 1 if len(im.getbands()) == 1 else 3
        except Exception:  # unreadable, or a decompression bomb (PIL's own error type): the reader says which
            return
    if len(need) > n_have:
        raise InputError(f"{where}: {n_have} channel(s) per slice but the model was trained on {len(need)} "
                         f"({'+'.join(need)}); {fix}")


def blank_case(size: int, channels: int) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_]]:
    """A synthetic (size, size[, channels]) uint8 crop (seeded noise) and a centred disk mask, for warm-ups."""
    yy, xx = np.mgrid[:size, :size]
    mask = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 3) ** 2
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 256, size=(size, size) if channels == 1 else (size, size, channels), dtype=np.uint8)
    return crop, mask


class ModelKind(ABC, Generic[FitT]):
    """One kind of model bundle. Subclasses are frozen dataclasses holding at least these attributes.

    Attributes:
        path: the bundle folder. classes: WHO grades in output order, e.g. (2, 3, 4).
        ingest: how cases are read and preprocessed (identical to training).
        fingerprint: sha256 of the model file: identifies the exact model. meta: model.json as a dict.
        name: (class) the ``kind`` written to model.json. uses: (class) the :class:`~gliograde.config.RunConfig`
            sections training reads, from {"train", "augment", "selection"}.
        reads: (class) the input its inference needs. ``"crop"``: the preprocessed crop of the representative
            slice, so validation grades an ingested cohort's arrays with :meth:`predict_crops` (the same numbers
            :meth:`predict_case` gives). ``"case"``: the case's original files (e.g. every native plane), so
            validation finds each patient's case again (:func:`gliograde.data.origin.case_sources`) and calls
            :meth:`predict_case` on it, as ``gliograde predict`` does.
    """

    name: ClassVar[str]
    uses: ClassVar[frozenset[str]]
    reads: ClassVar[Literal["crop", "case"]] = "crop"
    #: (class) the newest model.json ``format_version`` this kind reads (checked by load_bundle).
    format_version: ClassVar[int] = 1
    path: Path
    classes: tuple[int, ...]
    ingest: IngestCfg
    fingerprint: str
    meta: dict[str, Any]

    @property
    def kind(self) -> str:
        """The kind's name, as in model.json."""
        return self.name

    # ---- writing and reading ------------------------------------------------------------------------------
    @classmethod
    @abstractmethod
    def train_header(cls, cohort: Cohort, out: Path, cfg: RunConfig) -> str:
        """The line ``gliograde train`` prints before training (what is fitted on what)."""

    @classmethod
    def settings_summary(cls, cfg: RunConfig) -> str:
        """The resolved settings this kind trains with, in a few words (for a command's header); "" = none."""
        return ""

    @classmethod
    def check_settings(cls, cfg: RunConfig, *, allow_random_frozen: bool = False) -> None:
        """Refuse, before any work, settings that would train a meaningless model (default: none are).

        Raises:
            InputError: one line naming the setting(s) and the fix.
        """

    @classmethod
    def cv_configuration(cls, cfg: RunConfig) -> str:
        """The ``gliograde cv`` configuration (:data:`gliograde.experiment.configs.CONFIGS`) that trains the model
        ``cfg`` gives this kind, whose CV metrics estimate it (default: the kind's name)."""
        return cls.name

    @classmethod
    def defining_settings(cls, cfg: RunConfig) -> dict[str, Any]:
        """The settings that define the model ``cfg`` trains, as plain data: what a cited CV run must share
        (:mod:`gliograde.bundles.cv_run`). Default: the sections in :attr:`uses` without the settings that only
        say where or how fast it runs (:data:`RUNTIME_ONLY`) or label it (``preset``), and without ``seed``: CV
        trains each fold with its own seed, so it estimates the procedure, not one seed's model. The
        preprocessing is not here: the cohort fingerprint covers it."""
        sections = {"train": cfg.train, "augment": cfg.augment, "selection": cfg.cv.selection}
        return {name: {k: v for k, v in to_plain(sections[name]).items() if k not in RUNTIME_ONLY}
                for name in sorted(cls.uses)}

    @classmethod
    @abstractmethod
    def train(cls, cohort: Cohort, out: Path, cfg: RunConfig, *, cv_metrics: dict[str, Any] | None = None,
              progress: bool = True) -> TrainReport:
        """Fit on every row of ``cohort`` with the ``cfg`` sections in :attr:`uses`, write the bundle to ``out``."""

    @classmethod
    @abstractmethod
    def write(cls, out: Path, cohort: Cohort, fit: FitT, cfg: RunConfig, *,
              cv_metrics: dict[str, Any] | None = None) -> Path:
        """Write the bundle files for a fitted model into ``out`` (the ingest settings from ``cohort.root``)."""

    @classmethod
    @abstractmethod
    def load(cls, path: Path, meta: dict[str, Any], device: str = "cpu") -> ModelKind[FitT]:
        """The bundle in ``path``, given its model.json ``meta``. Raises InputError for unreadable or unsafe files."""

    # ---- inference -----------------------------------------------------------------------------------------
    @abstractmethod
    def model_input(self, crop: npt.NDArray[np.uint8], mask: npt.NDArray[np.bool_], area_px: float,
                    where: str) -> Any:
        """What :meth:`infer` takes for one preprocessed crop (S, S[, C]) uint8 with its ROI (S, S) bool;
        ``area_px``: tumour pixels on the native slice; ``where``: names the source in errors."""

    @abstractmethod
    def infer(self, x: Any, mask: npt.NDArray[np.bool_],
              explain: bool) -> tuple[npt.NDArray[np.float64], dict[str, Any]]:
        """(probabilities (K,) float64, :class:`CasePrediction` fields the kind's evidence fills in)."""

    @abstractmethod
    def predict_crops(self, images: npt.NDArray[np.uint8], masks: npt.NDArray[np.bool_],
                      roi_area_px: npt.ArrayLike, *, batch_size: int = 16) -> CropScores:
        """Scores of (N, C, S, S) uint8 crops preprocessed with ``ingest``, masks (N, S, S) bool, areas (N,)."""

    def predict_case(self, source: CaseSource, *, explain: bool = True,
                     slice_index: int | None = None) -> CasePrediction:
        """Read, preprocess, classify and explain one case (no file written).

        ``timings_ms`` has ``read`` (files and slice choice), ``preprocess`` (crop, resize and the kind's
        model input), ``inference`` (probabilities, plus the evidence when ``explain``) and ``total``; call
        :meth:`warm_up` once first for steady-state numbers.

        Raises:
            GliogradeError: unreadable files, empty mask, wrong channels for this bundle.
        """
        t0 = time.perf_counter()
        check_channels(self.ingest, source)
        cfg = dataclasses.replace(self.ingest, slices=1, slice_index=slice_index)
        raw = load_case(source, cfg)[0][0]
        t1 = time.perf_counter()
        crop, mask = Preprocess(cfg=cfg.preprocess)(raw.image, raw.mask)
        x = self.model_input(crop, mask, float(raw.mask.sum()), str(raw.source_image))
        t2 = time.perf_counter()
        probs, found = self.infer(x, mask, explain)
        t3 = time.perf_counter()
        ms = {"read": t1 - t0, "preprocess": t2 - t1, "inference": t3 - t2, "total": t3 - t0}
        pred = CasePrediction(case=source.patient_id, grade=self.classes[int(np.argmax(probs))],
                              probabilities={g: float(p) for g, p in zip(self.classes, probs, strict=True)},
                              slice_index=int(raw.index), timings_ms={k: round(v * 1e3, 2) for k, v in ms.items()},
                              crop=crop, mask=mask, slice_image=raw.image, slice_mask=raw.mask)
        return dataclasses.replace(pred, **found)

    def case_columns(self, pred: CasePrediction) -> dict[str, Any]:
        """Per-patient extras of a :meth:`predict_case` result for validation's predictions.csv (a ``"case"``
        kind's counterpart of :attr:`CropScores.columns`); default: none."""
        return {}

    def warm_up(self, explain: bool = True) -> float:
        """Run the model (and its evidence) once on a synthetic case; returns the milliseconds it took.

        The first call pays one-time costs (lazy imports, memory allocation, kernel selection) that would
        otherwise inflate the first case's timings; :func:`gliograde.prediction.predict` calls this first.
        """
        crop, mask = blank_case(self.ingest.preprocess.size, len(self.ingest.channels))
        t0 = time.perf_counter()
        self.infer(self.model_input(crop, mask, float(mask.sum()), "warm-up"), mask, explain)
        return (time.perf_counter() - t0) * 1e3

    # ---- what a reader sees --------------------------------------------------------------------------------
    def unlike_training(self, pred: CasePrediction) -> bool | None:
        """Whether the case lies outside the training data: ``feature_z_max`` beyond :data:`FAR_Z` (default;
        None when the case has no such measure)."""
        return None if pred.feature_z_max is None else bool(pred.feature_z_max > FAR_Z)

    @abstractmethod
    def evidence(self, pred: CasePrediction) -> dict[str, Any] | None:
        """The ``evidence`` block of prediction.json (None when the case was not explained)."""

    @abstractmethod
    def panel(self, pred: CasePrediction, title: str) -> npt.NDArray[np.uint8] | None:
        """overlay.png as (h, w, 3) uint8 RGB, ``title`` (grade, probabilities, slice) drawn on top and the kind
        free to add to it; None when there is nothing to show."""

    @abstractmethod
    def card_section(self) -> str:
        """The kind's "## Model" and "## Data" sections of MODEL_CARD.md (Markdown)."""

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """The ``model`` block of prediction.json: kind, classes, channels and what identifies the model."""

    def onnx_graph(self) -> OnnxGraph:
        """The network as a uint8-in, probabilities-out module for :func:`gliograde.export.export_onnx`.

        Raises:
            InputError: this kind has no network to export (the default).
        """
        raise InputError(f"{self.path}: a {self.kind} bundle has no network to export; `gliograde export` "
                         "needs a CNN bundle (train --kind cnn, or --preset quick/modern/paper)")
