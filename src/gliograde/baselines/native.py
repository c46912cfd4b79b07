"""Radiomics on the native grid, in millimetres, named by sequence: the ``native`` feature family.

The ``radiomics`` family measures the ingested crop, resized to 227 px without a pixel size, so its shape
features describe the normalised crop and its textures depend on the resize factor. This family reads each
case's original files again (:func:`gliograde.signs.read.read_planes`, the planes the prior model reads) and
runs PyRadiomics on the grid they were saved on:

* a NIfTI volume (BraTS) or a DICOM series: the whole tumour in 3D (every tumour-bearing plane), spacing from
  the affine (DICOM: PixelSpacing and the step between slices);
  a multi-label BraTS segmentation (1 necrotic / non-enhancing core, 2 oedema, 4 enhancing) adds the share of
  the lesion each sub-region takes (``roi_brats_enhancing_fraction``, ``_necrotic_``, ``_oedema_``);
* a slice folder (PNG / TIFF, TCGA-LGG): the row's slice in 2D, spacing from ``SelectionCfg.spacing``
  (``--spacing ROW_MM,COL_MM``); without it the spacing is unknown, PyRadiomics measures in pixels and every
  shape feature's name ends in ``_px`` (:data:`PX`), so a number in pixels is never read as one in mm.

A model trained on one of the two is given a case of the same kind only: :func:`check_dims` refuses a volume for a
model of 2D slices (and back), by the model's shape columns, before the case is read.

Intensities: without a params file each sequence is scaled as ingest scales it (``ingest.preprocess``:
e.g. robust, median/IQR of the patient's brain outside the ROI, :func:`gliograde.preprocess.to_uint8`) and
binned at ``bin_width``; first-order, GLCM, GLRLM, GLSZM and shape are computed. With a standard PyRadiomics
params file (``SelectionCfg.radiomics_params``, ``--radiomics-params FILE``) its settings, image types and
feature classes are used as given on the raw intensities (its ``normalize`` etc. decide the scaling); only
``label`` is set (1: the ROI is passed as a 0/1 mask) and, for a 2D slice, ``force2D``.

Names: ``<sequence>_<PyRadiomics name>`` (``flair_original_glcm_Contrast``), shape once as
``roi_<name>`` (``roi_original_shape_MeshVolume``).

>>> import numpy as np
>>> from gliograde.signs.read import CasePlanes
>>> img = np.zeros((1, 12, 12), np.float32); img[0, 2:10, 2:10] = 50; img[0, 4:8, 4:8] = 90
>>> roi = np.zeros((1, 12, 12), bool); roi[0, 3:9, 3:9] = True
>>> row = case_features(CasePlanes({"flair": img}, roi, None, (0,)), ("flair",), NativeSettings())
>>> row["roi_original_shape2D_PixelSurface_px"], "flair_original_glcm_Contrast" in row
(36.0, True)
"""
from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from gliograde.config import IngestCfg, PreprocessCfg, SelectionCfg
from gliograde.data.dataset import Cohort
from gliograde.data.origin import case_sources
from gliograde.data.source import CaseSource
from gliograde.errors import InputError, MaskMismatchError
from gliograde.preprocess import reference_region, to_uint8
from gliograde.runinfo import sha256_file
from gliograde.signs.cohort import read_case
from gliograde.signs.read import CasePlanes

logger = logging.getLogger(__name__)

#: A bundle's copy of the PyRadiomics params file it was trained with (predict reads this one).
PARAMS_FILE = "radiomics_params.yaml"
#: Suffix of a shape feature measured in pixels (no spacing known).
PX = "_px"
#: PyRadiomics feature classes of the default extraction (shape: ``shape2D`` in 2D, ``shape`` in 3D).
CLASSES = ("firstorder", "glcm", "glrlm", "glszm")
#: BraTS label -> the name of its share of the lesion.
SUBREGIONS = {4: "enhancing", 1: "necrotic", 2: "oedema"}
#: The dimensions a case's native features are computed in, by where its files come from (``CaseSource.kind``): a
#: slice folder's slice in 2D, a NIfTI volume's or a DICOM series' whole tumour in 3D (:func:`case_features`).
CASE_DIMS = {"slices": 2, "volume": 3, "dicom": 3}
#: A native shape column: ``roi_original_shape2D_*`` (measured in 2D) or ``roi_original_shape_*`` (in 3D).
SHAPE_COLUMN = re.compile(r"^roi_[^_]+_shape(2D)?_")


@dataclass(frozen=True)
class NativeSettings:
    """How the native features are computed.

    Attributes:
        spacing: (row mm, column mm) of 2D slice files; () = unknown (shape features in pixels, named ``_px``).
            Files with geometry (NIfTI) use their own.
        params: a PyRadiomics params file (YAML / JSON), or None for the default extraction.
        bin_width: grey-level bin width of the default extraction (on the ingest-scaled intensities).
        preprocess: ingest's intensity scaling, applied without a params file.
    """

    spacing: tuple[float, ...] = ()
    params: Path | None = None
    bin_width: float = 8.0
    preprocess: PreprocessCfg = field(default_factory=PreprocessCfg)

    def __post_init__(self) -> None:
        if self.spacing and (len(self.spacing) != 2 or min(self.spacing) <= 0):
            raise InputError(f"--spacing {','.join(map(str, self.spacing))}: give the pixel size of the 2D slices "
                             "as ROW_MM,COL_MM, both > 0 (e.g. --spacing 0.9,0.9), or leave it out (unknown)")
        if self.params is not None and not Path(self.params).is_file():
            raise InputError(f"{self.params}: PyRadiomics params file not found; give the path of a params YAML "
                             "(radiomics' examples/exampleSettings/Params.yaml is one) or leave it out")


def case_features(planes: CasePlanes, channels: Sequence[str], settings: NativeSettings, *,
                  plane: int | None = None) -> dict[str, float]:
    """The native features of one case: 3D over every plane when ``planes`` has a spacing from its file (a
    volume), else 2D on plane number ``plane`` (a slice number of ``planes.indices``; None = the largest).

    Args:
        planes: :func:`gliograde.signs.read.read_planes` of the case.
        channels: the sequences to measure, each a key of ``planes.sequences``.

    Raises:
        InputError: a sequence the case lacks, or ``plane`` not among its tumour-bearing planes.
        MaskMismatchError: a ROI too small to measure (fewer than 2 pixels along an axis).
    """
    missing = [c for c in channels if c not in planes.sequences]
    if missing:
        raise InputError(f"native features: the case has sequences {sorted(planes.sequences)}, not {missing}; "
                         "give the sequences the model was trained on")
    if planes.spacing is not None:  # a volume: the whole tumour in 3D, gaps between tumour planes left out of the ROI
        # scaled as ingest scales (statistics over the tumour-bearing planes), unless a params file says how
        scaled = {c: planes.sequences[c] if settings.params is not None else
                  _scaled(planes.sequences[c], planes.roi, settings.preprocess) for c in channels}
        first = planes.indices[0]
        depth = planes.indices[-1] - first + 1
        pos = [k - first for k in planes.indices]
        roi = np.zeros((depth, *planes.roi.shape[1:]), bool)
        roi[pos] = planes.roi
        images = {}
        for c in channels:
            vol = np.zeros(roi.shape, np.float32)
            vol[pos] = scaled[c]
            images[c] = vol
        labels = None
        if planes.labels is not None:
            labels = np.zeros(roi.shape, np.int16)
            labels[pos] = planes.labels
        row_mm, col_mm, plane_mm = planes.spacing
        spacing: tuple[float, float, float] | None = (row_mm, col_mm, plane_mm)
        three_d = True
    else:
        at = planes.largest() if plane is None else _position(planes, plane)
        roi = planes.roi[at:at + 1]
        images = {c: _scaled(planes.sequences[c][at:at + 1], roi, settings.preprocess)
                  if settings.params is None else planes.sequences[c][at:at + 1] for c in channels}
        labels = None if planes.labels is None else planes.labels[at:at + 1]
        spacing = (float(settings.spacing[0]), float(settings.spacing[1]), 1.0) if settings.spacing else None
        three_d = False
    _check_extent(roi)
    ext = _extractor(settings, three_d)
    row: dict[str, float] = {}
    for c in channels:
        for key, value in _execute(ext, images[c], roi, spacing).items():
            if "_shape" in key:
                name = f"roi_{key}" + ("" if spacing is not None else PX)
                row.setdefault(name, value)
            else:
                row[f"{c}_{key}"] = value
    if labels is not None:
        lesion = max(int(roi.sum()), 1)
        for lab, what in SUBREGIONS.items():
            row[f"roi_brats_{what}_fraction"] = float(((labels == lab) & roi).sum()) / lesion
    return row


def rows_matrix(rows: Sequence[Mapping[str, float]]) -> tuple[npt.NDArray[np.float64], list[str]]:
    """(N, F) of the rows' features, columns in first-seen order; a column a row lacks (a sub-region share of a
    case without a BraTS segmentation) is NaN there, imputed by the classifiers' pipelines."""
    names: list[str] = []
    seen: set[str] = set()
    for r in rows:
        for n in r:
            if n not in seen:
                seen.add(n)
                names.append(n)
    X = np.array([[float(r.get(n, np.nan)) for n in names] for r in rows], dtype=np.float64)
    return X.reshape(len(rows), len(names)), names


def settings_for(sel: SelectionCfg, preprocess: PreprocessCfg, params: Path | None = None) -> NativeSettings:
    """The native settings of a run: ``sel``'s spacing and bin width, ingest's scaling; ``params`` replaces
    ``sel.radiomics_params`` (a bundle's own copy of the file)."""
    given = params if params is not None else (Path(sel.radiomics_params) if sel.radiomics_params else None)
    return NativeSettings(spacing=tuple(float(v) for v in sel.spacing), params=given,
                          bin_width=float(sel.bin_width), preprocess=preprocess)


def settings_record(settings: NativeSettings) -> dict[str, str]:
    """What a cached native matrix was computed with (spacing, bin width, scaling, the params file's sha256)."""
    return {"spacing": ",".join(f"{v:g}" for v in settings.spacing) or "unknown",
            "bin_width": f"{settings.bin_width:g}", "preprocess": repr(settings.preprocess),
            "params_sha256": sha256_file(settings.params) if settings.params is not None else ""}


def cohort_rows(cohort: Cohort, ingest: IngestCfg, settings: NativeSettings) -> list[dict[str, float]]:
    """The native features of every row of an ingested cohort, from each patient's original files
    (:func:`gliograde.data.origin.case_sources`, checked against what ingest read): a volume's row gets its
    patient's 3D features, a slice row those of its own slice (``slice_index``)."""
    sources = case_sources(cohort)
    planes: dict[str, CasePlanes] = {}
    memo: dict[tuple[str, int | None], dict[str, float]] = {}
    out = []
    for pid, index in zip(cohort.manifest["patient_id"].astype(str), cohort.manifest["slice_index"], strict=True):
        if pid not in planes:
            planes[pid] = read_case(sources[pid], ingest)
        key = (pid, None if planes[pid].spacing is not None else int(index))
        if key not in memo:
            memo[key] = case_features(planes[pid], ingest.channels, settings, plane=key[1])
        out.append(memo[key])
    return out


# ---- the case being predicted (the radiomics bundle's predict_case sets it) ----------------------------------
@dataclass(frozen=True)
class PendingCase:
    """The planes of the case :meth:`RadiomicsBundle.predict_case` grades, for :func:`current_rows`; a warm-up's
    case has no planes and gives 0 for each of ``fill`` (the bundle's native columns: the model runs, PyRadiomics
    on a native grid does not)."""

    planes: CasePlanes | None
    settings: NativeSettings
    plane: int | None = None
    fill: tuple[str, ...] = ()


_CURRENT: ContextVar[PendingCase | None] = ContextVar("gliograde_native_case", default=None)


@contextlib.contextmanager
def predicting(case: PendingCase) -> Iterator[None]:
    """While a bundle grades ``case``: the ``native`` family of its one crop is this case's features.

    The crop-based model interface (:meth:`gliograde.bundles.base.ModelKind.model_input`) sees the preprocessed
    crop only; a context variable (thread- and task-local) carries the case's native planes to it instead of a
    second interface.
    """
    token = _CURRENT.set(case)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def pending_case(source: CaseSource, ingest: IngestCfg, settings: NativeSettings,
                 slice_index: int | None = None) -> PendingCase:
    """The case a bundle is about to grade, read on its native grid."""
    return PendingCase(read_case(source, ingest), settings, slice_index)


def trained_dims(feature_names: Sequence[str]) -> frozenset[int]:
    """The dimensions a model's native features were computed in at training, from its shape columns: {2} slices,
    {3} volumes, {2, 3} a cohort of both; empty when it has none (a params file without the shape class).

    >>> sorted(trained_dims(["roi_original_shape2D_Elongation", "flair_original_glcm_Contrast"]))
    [2]
    """
    dims = {3 if match.group(1) is None else 2 for n in feature_names if (match := SHAPE_COLUMN.match(n))}
    return frozenset(dims)


def check_dims(source: CaseSource, feature_names: Sequence[str]) -> None:
    """Refuse, before anything of it is read, a case whose native features would be computed in other dimensions
    than the model's were at training (:data:`CASE_DIMS`): their columns would not be the model's, or worse, mean
    something else under the same names.

    Raises:
        InputError: one line naming the case's file, the dimensions of both, and the fix.
    """
    trained, dims = trained_dims(feature_names), CASE_DIMS.get(source.kind)
    if not trained or dims is None or dims in trained:
        return
    files = [*source.images.values(), *(image for image, _ in source.slices.values())]
    where = files[0] if files else source.patient_id
    if dims == 3:
        raise InputError(f"{where}: the model's native features were computed in 2-D at training (slice images), "
                         "but this case is a 3-D volume; grade it with a bundle trained on volumes (NIfTI or "
                         "DICOM), or pass the case's representative slice as a 2-D image (PNG/TIFF and its mask)")
    raise InputError(f"{where}: the model's native features were computed in 3-D at training (volumes), but this "
                     "case is 2-D slice images; grade it with a bundle trained on slices, or pass the case's volume "
                     "(NIfTI or DICOM series, with its segmentation)")


def current_rows(n: int, channels: Sequence[str]) -> list[dict[str, float]]:
    """The native features of the case being predicted (``n`` must be 1: one crop per case).

    Raises:
        InputError: no case is being predicted (crops alone carry no native grid).
    """
    case = _CURRENT.get()
    if case is None or n != 1:
        raise InputError("the 'native' feature family reads each case's original files: grade cases with "
                         "`gliograde predict MODEL CASE`; crops alone (an ingested cohort) carry no native grid")
    if case.planes is None:
        return [dict.fromkeys(case.fill, 0.0)]
    return [case_features(case.planes, channels, case.settings, plane=case.plane)]


def warm_up_case(feature_names: Sequence[str], crop_names: Sequence[str]) -> PendingCase:
    """A warm-up's stand-in case: the native columns are the bundle's ``feature_names`` the crop's families do not
    give (``crop_names``)."""
    crop = set(crop_names)
    return PendingCase(None, NativeSettings(), fill=tuple(n for n in feature_names if n not in crop))


# ---- PyRadiomics --------------------------------------------------------------------------------------------
def _position(planes: CasePlanes, plane: int) -> int:
    if plane not in planes.indices:
        raise InputError(f"native features: slice {plane} is not among the case's tumour-bearing slices "
                         f"{list(planes.indices)}; ingest again (the files changed?)")
    return planes.indices.index(plane)


def _check_extent(roi: npt.NDArray[np.bool_]) -> None:
    spans = [int(np.ptp(np.flatnonzero(roi.any(axis=tuple(j for j in range(3) if j != i))))) + 1
             for i in (1, 2)]
    if min(spans) < 2:
        raise MaskMismatchError(f"native features: ROI of {int(roi.sum())} px spans {spans[0]}x{spans[1]}; "
                                "texture needs >= 2 px in each direction: pick a larger slice")


def _scaled(image: npt.NDArray[np.float32], roi: npt.NDArray[np.bool_], cfg: PreprocessCfg) -> npt.NDArray[np.float32]:
    """Ingest's 8-bit scaling, its reference region taken plane by plane and the statistics over all of them."""
    regions = [reference_region(p, r, cfg.region, ring_width=cfg.ring_width) for p, r in zip(image, roi, strict=True)]
    ref = None if any(r is None for r in regions) else np.stack([r for r in regions if r is not None])
    return to_uint8(image, region=ref, window=cfg.window, method=cfg.intensity).astype(np.float32)


def _extractor(settings: NativeSettings, three_d: bool) -> Any:
    import radiomics  # optional and slow to import: only for this family
    from radiomics import featureextractor, getFeatureClasses

    radiomics.setVerbosity(logging.WARNING)  # it logs every feature class of every ROI at INFO
    logging.getLogger("radiomics").setLevel(logging.WARNING)
    if settings.params is not None:
        ext = featureextractor.RadiomicsFeatureExtractor(str(settings.params))
        ext.settings.update(label=1, additionalInfo=False)
        if not three_d:
            ext.settings.update(force2D=True, force2Ddimension=0)
        return ext
    ext = featureextractor.RadiomicsFeatureExtractor(binWidth=settings.bin_width, label=1, additionalInfo=False,
                                                     **({} if three_d else {"force2D": True, "force2Ddimension": 0}))
    ext.disableAllFeatures()
    available = getFeatureClasses()
    for cls in (*CLASSES, "shape" if three_d else "shape2D"):
        names = [n for n, deprecated in available[cls].getFeatureNames().items()
                 if not deprecated and n != "SumAverage"]  # SumAverage == 2 * JointAverage, and warns
        ext.enableFeaturesByName(**{cls: sorted(names)})
    return ext


def _execute(ext: Any, image: npt.NDArray[np.float32], roi: npt.NDArray[np.bool_],
             spacing: tuple[float, float, float] | None) -> dict[str, float]:
    """PyRadiomics on a (planes, rows, cols) image; SimpleITK's spacing is (columns, rows, planes)."""
    import SimpleITK as sitk  # comes with pyradiomics; slow to import

    img, msk = sitk.GetImageFromArray(np.asarray(image, np.float32)), sitk.GetImageFromArray(roi.astype(np.uint8))
    if spacing is not None:
        for s in (img, msk):
            s.SetSpacing((spacing[1], spacing[0], spacing[2]))  # type: ignore[no-untyped-call]  # SimpleITK: untyped
    result = ext.execute(img, msk)
    return {str(k): float(v) for k, v in result.items() if not str(k).startswith("diagnostics_")}


__all__ = ["CASE_DIMS", "PARAMS_FILE", "PX", "NativeSettings", "PendingCase", "case_features", "check_dims",
           "cohort_rows", "current_rows", "pending_case", "predicting", "rows_matrix", "settings_for",
           "settings_record", "trained_dims", "warm_up_case"]
