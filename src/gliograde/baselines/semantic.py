"""Semantic ROI features: the quantities a radiologist reads off a glioma, measured on the ingested crop.

PyRadiomics texture features are many and abstract; these are few and named after what they mean:

* size: ``roi_sem_log_area``, log(1 + tumour pixels on the native slice) (from the manifest's ``roi_area_px``);
* shape of the outline: ``roi_sem_solidity`` (area / convex hull), ``roi_sem_eccentricity``,
  ``roi_sem_compactness`` (perimeter^2 / (4 pi area), 1 for a disk), ``roi_sem_extent`` (area / bounding box),
  ``roi_sem_radial_cv`` (SD / mean of the boundary's distance to the centroid: an irregular, infiltrative
  margin), ``roi_sem_n_components``;
* intensity of each channel inside the ROI, in units of the reference tissue: ``c<i>_sem_mean``, ``_median``,
  ``_p10``, ``_p90``, ``_std``, ``_iqr``, ``_skew``, and the fraction of the ROI brighter than 2 units above the
  reference (``_frac_bright``: enhancement on post-contrast T1, marked hyperintensity on FLAIR) or darker than
  2 units below it (``_frac_dark``: necrosis or cyst);
* enhancement, when both pre-contrast T1 (``t1``) and post-contrast T1 (``t1ce``) are channels: the
  subtraction ``z(t1ce) - z(t1)`` inside the ROI, each in its own reference units: ``enh_sem_frac1`` (fraction
  of the ROI enhancing by more than 1 unit), ``enh_sem_mean``, ``enh_sem_p90``. Contrast enhancement is the
  classic imaging sign separating grade 3 from grade 2 gliomas.

The intensity unit is ``(v - 128) / 32``: with ``PreprocessCfg(intensity="robust")`` ingest maps the reference
region's median to 128 and one inter-quartile range to 32 grey levels, so 1 unit = one IQR of the patient's
own tissue outside the tumour (the ``recommended`` preset). Under other scalings the features are still
well-defined numbers but lose that meaning.

>>> import numpy as np
>>> imgs = np.full((1, 1, 32, 32), 128, np.uint8); imgs[0, 0, 8:16, 8:24] = 224
>>> masks = np.zeros((1, 32, 32), bool); masks[0, 8:24, 8:24] = True
>>> X, names = semantic_features(imgs, masks, [256])
>>> f = dict(zip(names, X[0].tolist()))
>>> f["c0_sem_frac_bright"], f["roi_sem_solidity"], f["c0_sem_median"]
(0.5, 1.0, 1.5)
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from scipy import stats
from skimage import measure

from gliograde.errors import MaskMismatchError

#: grey level of the reference median and grey levels per reference IQR (``PreprocessCfg(intensity="robust")``).
CENTRE, UNIT = 128.0, 32.0
#: Units above / below the reference counted as bright / dark.
BRIGHT = 2.0
SHAPE_NAMES = ("log_area", "solidity", "eccentricity", "compactness", "extent", "radial_cv", "n_components")
CHANNEL_NAMES = ("mean", "median", "p10", "p90", "std", "iqr", "skew", "frac_bright", "frac_dark")
ENHANCEMENT_NAMES = ("frac1", "mean", "p90")


def feature_names(n_channels: int, enhancement: bool = False) -> list[str]:
    """The column names for ``n_channels`` channels: shape, each channel's intensity, then [enhancement].

    >>> feature_names(2)[:2], len(feature_names(2)), feature_names(3, enhancement=True)[-1]
    (['roi_sem_log_area', 'roi_sem_solidity'], 25, 'enh_sem_p90')
    """
    return ([f"roi_sem_{n}" for n in SHAPE_NAMES] + [f"c{c}_sem_{n}" for c in range(n_channels) for n in CHANNEL_NAMES]
            + ([f"enh_sem_{n}" for n in ENHANCEMENT_NAMES] if enhancement else []))


def enhancement_channels(channels: Sequence[str] | None) -> tuple[int, int] | None:
    """(index of ``t1``, index of ``t1ce``) when both are channels, else None.

    >>> enhancement_channels(["t1", "flair", "t1ce"]), enhancement_channels(["flair", "t1ce"])
    ((0, 2), None)
    """
    names = list(channels or [])
    return (names.index("t1"), names.index("t1ce")) if "t1" in names and "t1ce" in names else None


def enhancement_features(pre: npt.NDArray[np.uint8], post: npt.NDArray[np.uint8]) -> list[float]:
    """The :data:`ENHANCEMENT_NAMES` of the ROI's pre- and post-contrast grey levels (1-D each)."""
    e = (post.astype(np.float64) - pre.astype(np.float64)) / UNIT  # z(post) - z(pre): the centres cancel
    return [float((e > 1.0).mean()), float(e.mean()), float(np.percentile(e, 90))]


def shape_features(mask: npt.NDArray[np.bool_], area_px: float) -> list[float]:
    """The :data:`SHAPE_NAMES` of one (H, W) bool mask; ``area_px`` is the native-grid tumour area."""
    labels = measure.label(mask)
    regions = measure.regionprops(labels)
    big = max(regions, key=lambda r: r.area)
    contour = max(measure.find_contours(labels == big.label, 0.5), key=len)
    radius = np.hypot(contour[:, 0] - big.centroid[0], contour[:, 1] - big.centroid[1])
    return [float(np.log1p(area_px)), float(big.solidity), float(big.eccentricity),
            float(big.perimeter ** 2 / (4 * np.pi * big.area)), float(big.extent),
            float(radius.std() / max(radius.mean(), 1e-9)), float(len(regions))]


def intensity_features(values: npt.NDArray[np.uint8]) -> list[float]:
    """The :data:`CHANNEL_NAMES` of the ROI's grey levels (1-D), in reference units."""
    z = (values.astype(np.float64) - CENTRE) / UNIT
    p10, p25, p50, p75, p90 = np.percentile(z, [10, 25, 50, 75, 90])
    skew = float(stats.skew(z)) if z.std() > 0 else 0.0
    return [float(z.mean()), float(p50), float(p10), float(p90), float(z.std()), float(p75 - p25), skew,
            float((z > BRIGHT).mean()), float((z < -BRIGHT).mean())]


def semantic_features(images: npt.NDArray[np.uint8], masks: npt.NDArray[np.bool_],
                      roi_area_px: Sequence[float] | npt.NDArray[np.generic],
                      channels: Sequence[str] | None = None) -> tuple[npt.NDArray[np.float64], list[str]]:
    """Semantic features of N ingested crops.

    Args:
        images: (N, C, H, W) uint8 preprocessed crops (ingest's cache).
        masks: (N, H, W) bool ROI of each crop.
        roi_area_px: (N,) tumour pixels of each row on its native slice (``manifest.roi_area_px``).
        channels: the sequence name of each channel (``IngestCfg.channels``); with ``t1`` and ``t1ce`` the
            enhancement features are added.

    Returns:
        (N, 7 + 9 C [+ 3]) float64 features and their names (:func:`feature_names`).

    Raises:
        MaskMismatchError: shapes disagree or a mask is empty.
    """
    if images.ndim != 4 or masks.shape != (images.shape[0], *images.shape[2:]) or len(roi_area_px) != len(images):
        raise MaskMismatchError(f"semantic features need images (N, C, H, W), masks (N, H, W) and N areas; got "
                                f"{images.shape}, {masks.shape} and {len(roi_area_px)}")
    empty = [i for i in range(len(masks)) if not masks[i].any()]
    if empty:
        raise MaskMismatchError(f"rows {empty[:5]} have an empty ROI; every row needs a tumour mask")
    enh = enhancement_channels(channels)
    if channels is not None and len(channels) != images.shape[1]:
        raise MaskMismatchError(f"semantic features: {len(channels)} channel names {list(channels)} for "
                                f"{images.shape[1]} image channels")
    rows = [shape_features(m, float(a)) + [v for c in range(img.shape[0]) for v in intensity_features(img[c][m])]
            + (enhancement_features(img[enh[0]][m], img[enh[1]][m]) if enh else [])
            for img, m, a in zip(images, masks, roi_area_px, strict=True)]
    return (np.asarray(rows, dtype=np.float64).reshape(len(images), -1),
            feature_names(images.shape[1], enhancement=enh is not None))
