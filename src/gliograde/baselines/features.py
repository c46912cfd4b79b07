"""Handcrafted radiomics features inside the tumour ROI, as an sklearn transformer.

Two backends compute the same feature families (first-order, GLCM, GLRLM, GLSZM, 2D shape)
on each channel of a 2D slice, using only the pixels inside the mask:

* ``"pyradiomics"``: PyRadiomics (``force2D``), the reference implementation (IBSI-aligned).
  Optional: the pip extra ``gliograde[radiomics]`` (pyradiomics-bhklab 3.1.4; see docs/baselines.md).
* ``"skimage"``: scikit-image GLCM / regionprops / connected zones plus numpy, always available
  (:mod:`gliograde.baselines.features_skimage`).
  The intensity discretisation, GLCM angles and first-order definitions follow PyRadiomics, so
  shared features (e.g. ``firstorder_Mean``, ``glcm_Contrast``, ``shape2D_PixelSurface``) agree.

``"auto"`` picks PyRadiomics when it imports and scikit-image otherwise; the choice is kept in
``backend_`` at ``fit`` so training and test features always come from one backend.

>>> import numpy as np
>>> imgs = np.full((2, 1, 16, 16), 100, np.uint8); imgs[:, :, 4:12, 4:12] += 50
>>> masks = np.zeros((2, 16, 16), bool); masks[:, 3:13, 3:13] = True
>>> X, names = extract_features(imgs, masks, backend="skimage")
>>> X.shape[0], names[0]
(2, 'c0_firstorder_10Percentile')
"""
from __future__ import annotations

import importlib.util
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, overload

import numpy as np
import numpy.typing as npt
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from gliograde.baselines.features_skimage import channel_features
from gliograde.baselines.features_skimage import (
    discretise as discretise,  # public here since it was defined here
)
from gliograde.errors import InputError, MaskMismatchError

logger = logging.getLogger(__name__)

Backend = Literal["pyradiomics", "skimage", "auto"]
FEATURE_CLASSES: tuple[str, ...] = ("firstorder", "glcm", "glrlm", "glszm", "shape2D")
DEFAULT_BIN_WIDTH = 8


@dataclass(frozen=True)
class RoiSamples:
    """N slices with their tumour masks; indexable like a sequence of ``(image, mask)`` pairs.

    ``len`` and ``[int]`` give pairs, ``[slice | index array]`` gives a smaller ``RoiSamples``,
    so sklearn's ``cross_val_predict`` / ``Pipeline`` can split it by index arrays.

    Attributes:
        images: (N, C, H, W) uint8 in [0, 255].
        masks: (N, H, W) bool, True inside the ROI.
    """

    images: npt.NDArray[np.uint8]
    masks: npt.NDArray[np.bool_]

    def __post_init__(self) -> None:
        _check_arrays(self.images, self.masks)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @overload
    def __getitem__(self, key: int) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_]]: ...
    @overload
    def __getitem__(self, key: slice | npt.NDArray[Any] | Sequence[int]) -> RoiSamples: ...

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, (int, np.integer)):
            return self.images[key], self.masks[key]
        if not isinstance(key, slice):
            key = np.asarray(key)
        return RoiSamples(self.images[key], self.masks[key])


RoiInput = RoiSamples | Sequence[tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_]]]


def as_roi_samples(X: RoiInput | npt.NDArray[Any]) -> RoiSamples:
    """Accept a :class:`RoiSamples` or a sequence of ``(image (C,H,W) uint8, mask (H,W) bool)`` pairs.

    Raises:
        InputError: ``X`` is a bare array (the message says how to wrap it), or holds no sample.
    """
    if isinstance(X, RoiSamples):
        return X
    if isinstance(X, np.ndarray):
        raise InputError(
            f"got an array of shape {X.shape}; wrap slices as RoiSamples(images (N,C,H,W) uint8, "
            "masks (N,H,W) bool) (a 2D float array is taken as precomputed features only by "
            "HandcraftedBaseline)")
    pairs = list(X)
    if not pairs:
        raise InputError("no samples given; pass at least one (image, mask) pair")
    return RoiSamples(np.stack([np.asarray(p[0]) for p in pairs]),
                      np.stack([np.asarray(p[1]) for p in pairs]))


def _check_arrays(images: np.ndarray, masks: np.ndarray) -> None:
    if images.ndim != 4 or images.dtype != np.uint8:
        raise InputError(f"images must be (N, C, H, W) uint8, got {images.shape} {images.dtype}; "
                         "add a channel axis (images[:, None]) or convert to uint8 first")
    if masks.dtype != np.bool_ or masks.shape != (images.shape[0], *images.shape[2:]):
        raise MaskMismatchError(
            f"masks must be (N, H, W) bool matching images {images.shape}, got {masks.shape} "
            f"{masks.dtype}; use mask > 0 and check image/mask pairing")


def check_roi(mask: npt.NDArray[np.bool_], index: int = 0) -> None:
    """PyRadiomics-style domain checks on one (H, W) bool mask.

    Raises:
        MaskMismatchError: "label not present" for an empty mask, "ROI too small" when the ROI
            spans fewer than 2 pixels along rows or columns (texture and shape are undefined).
    """
    if not mask.any():
        raise MaskMismatchError(f"sample {index}: label not present in mask (the ROI is empty); "
                                "check the image/mask pairing or drop this slice")
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if rows[-1] - rows[0] < 1 or cols[-1] - cols[0] < 1:
        raise MaskMismatchError(
            f"sample {index}: ROI too small ({int(mask.sum())} px spanning {rows[-1] - rows[0] + 1}x"
            f"{cols[-1] - cols[0] + 1}); texture needs >= 2 px in each direction: pick a larger slice")


# ------------------------------------------------------------------------- pyradiomics backend
def pyradiomics_available() -> bool:
    """True when ``import radiomics`` would work (PyRadiomics is an optional dependency)."""
    return importlib.util.find_spec("radiomics") is not None and importlib.util.find_spec(
        "SimpleITK") is not None


def _make_pyradiomics(bin_width: float, classes: Sequence[str]) -> Any:
    import radiomics  # optional (gliograde[radiomics]) and slow to import: only for this backend
    from radiomics import featureextractor, getFeatureClasses

    radiomics.setVerbosity(logging.WARNING)  # it logs every feature class of every ROI at INFO
    # importing it sets its logger to DEBUG, whose records then reach the root handler: keep warnings only
    logging.getLogger("radiomics").setLevel(logging.WARNING)
    ext = featureextractor.RadiomicsFeatureExtractor(
        binWidth=bin_width, force2D=True, force2Ddimension=0, label=1, additionalInfo=False)
    ext.disableAllFeatures()
    available = getFeatureClasses()
    for cls in classes:
        names = [n for n, deprecated in available[cls].getFeatureNames().items()
                 if not deprecated and n != "SumAverage"]  # SumAverage == 2 * JointAverage, and warns
        ext.enableFeaturesByName(**{cls: sorted(names)})
    return ext


def _pyradiomics_one(ext: Any, image: npt.NDArray[np.uint8],
                     mask: npt.NDArray[np.bool_]) -> dict[str, float]:
    import SimpleITK as sitk  # comes with pyradiomics (optional); slow to import

    result = ext.execute(sitk.GetImageFromArray(image[None].astype(np.float32)),
                         sitk.GetImageFromArray(mask[None].astype(np.uint8)))
    return {k.removeprefix("original_"): float(v) for k, v in result.items()
            if k.startswith("original_")}


# ------------------------------------------------------------------------------ public API
def resolve_backend(backend: Backend) -> Literal["pyradiomics", "skimage"]:
    """``"auto"`` -> PyRadiomics when installed, else scikit-image; checks explicit choices."""
    if backend == "auto":
        return "pyradiomics" if pyradiomics_available() else "skimage"
    if backend == "pyradiomics" and not pyradiomics_available():
        raise InputError("backend='pyradiomics' but PyRadiomics is not installed; run "
                         "`pip install 'gliograde[radiomics]'` or use backend='skimage'")
    if backend not in ("pyradiomics", "skimage"):
        raise ValueError(f"backend must be 'pyradiomics', 'skimage' or 'auto', got {backend!r}")
    return backend


def extract_features(
    images: npt.NDArray[np.uint8], masks: npt.NDArray[np.bool_], *, backend: Backend = "auto",
    bin_width: float = DEFAULT_BIN_WIDTH, feature_classes: Sequence[str] = FEATURE_CLASSES,
    channels: Sequence[int] | None = None,
) -> tuple[npt.NDArray[np.float64], list[str]]:
    """Radiomics features of every channel inside every ROI.

    Args:
        images: (N, C, H, W) uint8 in [0, 255] (an (N, H, W) array is taken as C = 1).
        masks: (N, H, W) bool ROI masks.
        backend: "pyradiomics", "skimage" or "auto" (PyRadiomics when installed).
        bin_width: intensity bin width for texture features and entropy/uniformity (grey units).
        feature_classes: subset of ``FEATURE_CLASSES``.
        channels: channel indices to use (default: all); features are concatenated per channel.

    Returns:
        features: (N, F) float64 (NaN where a feature is undefined, e.g. no GLCM pair);
        names: F names "c{channel}_{class}_{Feature}".

    Raises:
        MaskMismatchError: empty mask ("label not present") or "ROI too small".
    """
    images = images[:, None] if images.ndim == 3 else images
    _check_arrays(images, masks)
    classes = list(feature_classes)
    if unknown := sorted(set(classes) - set(FEATURE_CLASSES)):
        raise ValueError(f"unknown feature classes {unknown}; choose from {FEATURE_CLASSES}")
    chans = list(range(images.shape[1])) if channels is None else [int(c) for c in channels]
    if bad := [c for c in chans if not 0 <= c < images.shape[1]]:
        raise InputError(f"channels {bad} out of range for {images.shape[1]}-channel images")
    if bin_width <= 0:
        raise ValueError(f"bin_width must be > 0, got {bin_width}")
    name = resolve_backend(backend)
    ext = _make_pyradiomics(bin_width, classes) if name == "pyradiomics" else None
    rows: list[dict[str, float]] = []
    for i, (image, mask) in enumerate(zip(images, masks, strict=True)):  # same N: _check_arrays
        check_roi(mask, i)
        row: dict[str, float] = {}
        for c in chans:
            one = (_pyradiomics_one(ext, image[c], mask) if ext is not None
                   else channel_features(image[c], mask, bin_width, classes))
            row.update({f"c{c}_{k}": v for k, v in one.items()})
        rows.append(row)
    names = list(rows[0])
    return np.array([[r[n] for n in names] for r in rows], dtype=np.float64), names


class RadiomicsFeatures(TransformerMixin, BaseEstimator):  # type: ignore[misc]  # sklearn is untyped: Any bases
    """sklearn transformer: ``RoiSamples`` (or (image, mask) pairs) -> (N, F) float64 features.

    Stateless apart from the resolved backend and feature names, so it is safe in a Pipeline
    and under ``cross_val_predict``. Parameters as in :func:`extract_features`.
    """

    def __init__(self, backend: Backend = "auto", bin_width: float = DEFAULT_BIN_WIDTH,
                 feature_classes: Sequence[str] = FEATURE_CLASSES,
                 channels: Sequence[int] | None = None) -> None:
        self.backend = backend
        self.bin_width = bin_width
        self.feature_classes = feature_classes
        self.channels = channels

    def fit(self, X: RoiInput, y: Any = None) -> RadiomicsFeatures:
        samples = as_roi_samples(X)
        self.backend_ = resolve_backend(self.backend)
        _, self.feature_names_out_ = self._extract(samples[:1])
        self.n_features_out_ = len(self.feature_names_out_)
        return self

    def transform(self, X: RoiInput | npt.NDArray[Any]) -> npt.NDArray[np.float64]:
        """(N, F) float64 features of ``X``; a bare array raises :class:`InputError` (see :func:`as_roi_samples`)."""
        check_is_fitted(self, "backend_")
        features, names = self._extract(as_roi_samples(X))
        if names != self.feature_names_out_:
            raise InputError("features differ from those seen in fit (channel count changed?); "
                             "transform images with the same channels as the training images")
        return features

    def get_feature_names_out(self, input_features: Any = None) -> npt.NDArray[np.object_]:
        check_is_fitted(self, "feature_names_out_")
        return np.asarray(self.feature_names_out_, dtype=object)

    def _extract(self, s: RoiSamples) -> tuple[npt.NDArray[np.float64], list[str]]:
        return extract_features(s.images, s.masks, backend=self.backend_, bin_width=self.bin_width,
                                feature_classes=self.feature_classes, channels=self.channels)
