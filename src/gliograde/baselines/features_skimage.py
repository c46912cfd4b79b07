"""The scikit-image backend of :mod:`gliograde.baselines.features`: PyRadiomics' definitions in numpy.

First-order, GLCM, GLRLM, GLSZM and 2D shape features of one (H, W) channel inside an (H, W) mask.
The intensity discretisation, GLCM angles and first-order definitions follow PyRadiomics 3.0.1 with
``force2D``, so shared features (e.g. ``firstorder_Mean``, ``glcm_Contrast``) agree with it.

>>> import numpy as np
>>> img = np.full((16, 16), 100, np.uint8); img[4:12, 4:12] = 150
>>> mask = np.zeros((16, 16), bool); mask[3:13, 3:13] = True
>>> sorted(channel_features(img, mask, 8.0, ("firstorder",)))[0]
'firstorder_10Percentile'
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats

#: 2D angles as (row, col) offsets, the four PyRadiomics uses with force2D (symmetric GLCM).
_ANGLES = (0.0, np.pi / 4, np.pi / 2, 3 * np.pi / 4)
_GLCM_NAMES = ("Contrast", "DifferenceAverage", "Idm", "JointEnergy", "Correlation", "JointAverage",
               "Id", "JointEntropy", "ClusterTendency", "ClusterShade", "ClusterProminence",
               "MaximumProbability")


def discretise(values: npt.NDArray[Any], bin_width: float) -> npt.NDArray[np.int64]:
    """PyRadiomics fixed-bin-width discretisation: bin 1 starts at ``min - min % bin_width``."""
    low = values.min() - values.min() % bin_width
    bins: npt.NDArray[np.int64] = (np.floor((values - low) / bin_width) + 1).astype(np.int64)
    return bins



def _firstorder(v: npt.NDArray[np.float64], binned: npt.NDArray[np.int64]) -> dict[str, float]:
    p = np.bincount(binned)[1:] / binned.size
    p = p[p > 0]
    p10, p25, med, p75, p90 = np.percentile(v, [10, 25, 50, 75, 90])
    robust = v[(v >= p10) & (v <= p90)]
    flat = v.std() == 0
    return {
        "10Percentile": p10, "90Percentile": p90, "Energy": float(np.sum(v**2)),
        "Entropy": float(-np.sum(p * np.log2(p))), "InterquartileRange": p75 - p25,
        "Kurtosis": 0.0 if flat else float(stats.kurtosis(v, fisher=False)),
        "Maximum": v.max(), "MeanAbsoluteDeviation": float(np.mean(np.abs(v - v.mean()))),
        "Mean": v.mean(), "Median": med, "Minimum": v.min(), "Range": v.max() - v.min(),
        "RobustMeanAbsoluteDeviation": float(np.mean(np.abs(robust - robust.mean()))),
        "RootMeanSquared": float(np.sqrt(np.mean(v**2))),
        "Skewness": 0.0 if flat else float(stats.skew(v)),
        "Uniformity": float(np.sum(p**2)), "Variance": v.var(),
    }


def _glcm(levels: npt.NDArray[np.int64]) -> dict[str, float]:
    """GLCM features, averaged over the 4 angles; ``levels`` is 0 outside the ROI, 1..L inside."""
    from skimage.feature import graycomatrix, graycoprops  # skimage submodules are slow to import

    n = int(levels.max())
    raw = graycomatrix(levels, [1], _ANGLES, levels=n + 1, symmetric=True)[1:, 1:, 0, :]
    per_angle = []
    g = np.arange(1, n + 1, dtype=np.float64)
    for a in range(raw.shape[-1]):
        if raw[..., a].sum() == 0:
            continue  # no pixel pair inside the ROI at this angle (PyRadiomics skips it too)
        p = raw[..., a] / raw[..., a].sum()
        props = {k: float(graycoprops(p[:, :, None, None], k)[0, 0])
                 for k in ("contrast", "dissimilarity", "homogeneity", "ASM", "correlation")}
        px = p.sum(1)
        mu = float(g @ px)
        ci, cj = np.meshgrid(g - mu, g - mu, indexing="ij")
        nz = p[p > 0]
        per_angle.append({
            "Contrast": props["contrast"], "DifferenceAverage": props["dissimilarity"],
            "Idm": props["homogeneity"], "JointEnergy": props["ASM"],
            "Correlation": props["correlation"], "JointAverage": mu,
            "Id": float(np.sum(p / (1 + np.abs(ci - cj)))),
            "JointEntropy": float(-np.sum(nz * np.log2(nz))),
            "ClusterTendency": float(np.sum((ci + cj) ** 2 * p)),
            "ClusterShade": float(np.sum((ci + cj) ** 3 * p)),
            "ClusterProminence": float(np.sum((ci + cj) ** 4 * p)),
            "MaximumProbability": float(p.max()),
        })
    if not per_angle:
        return dict.fromkeys(_GLCM_NAMES, np.nan)
    return {k: float(np.mean([d[k] for d in per_angle])) for k in per_angle[0]}


def _lines(levels: npt.NDArray[np.int64], angle: int) -> npt.NDArray[np.int64]:
    """All lines of ``levels`` in one direction, joined by 0 separators into one 1D array."""
    h, w = levels.shape
    if angle == 0:
        lines = list(levels)
    elif angle == 1:
        lines = list(levels.T)
    else:
        arr = levels if angle == 2 else levels[:, ::-1]
        lines = [np.diagonal(arr, k) for k in range(-h + 1, w)]
    zero = np.zeros(1, np.int64)
    return np.concatenate([x for line in lines for x in (line, zero)])


def _zone_stats(gray: npt.NDArray[np.float64], size: npt.NDArray[np.float64], n_px: int,
                prefix: str) -> dict[str, float]:
    """Emphasis / non-uniformity statistics shared by run-length and size-zone matrices.

    ``gray``/``size``: (Z,) grey level and length (or area) of every run (or zone).
    """
    small, large = ("ShortRun", "LongRun") if prefix == "Run" else ("SmallArea", "LargeArea")
    nz = float(len(size))
    _, g_counts = np.unique(gray, return_counts=True)
    _, s_counts = np.unique(size, return_counts=True)
    _, joint = np.unique(np.stack([gray, size]), axis=1, return_counts=True)
    pj = joint / nz
    return {
        f"{small}Emphasis": float(np.mean(1 / size**2)),
        f"{large}Emphasis": float(np.mean(size**2)),
        "GrayLevelNonUniformity": float(np.sum(g_counts**2) / nz),
        f"{'RunLength' if prefix == 'Run' else 'SizeZone'}NonUniformity": float(np.sum(s_counts**2) / nz),
        f"{prefix}Percentage": nz / n_px,
        f"LowGrayLevel{prefix}Emphasis": float(np.mean(1 / gray**2)),
        f"HighGrayLevel{prefix}Emphasis": float(np.mean(gray**2)),
        f"{prefix}Entropy": float(-np.sum(pj * np.log2(pj))),
    }


def _glrlm(levels: npt.NDArray[np.int64]) -> dict[str, float]:
    """Run-length features over the 4 directions (averaged), runs of equal bins inside the ROI."""
    per_angle = []
    n_px = int((levels > 0).sum())
    for angle in range(4):
        flat = _lines(levels, angle)
        starts = np.flatnonzero(np.diff(flat, prepend=-1) != 0)
        lengths = np.diff(np.append(starts, flat.size))
        keep = flat[starts] > 0
        per_angle.append(_zone_stats(flat[starts][keep].astype(float), lengths[keep].astype(float),
                                     n_px, "Run"))
    return {k: float(np.mean([d[k] for d in per_angle])) for k in per_angle[0]}


def _glszm(levels: npt.NDArray[np.int64]) -> dict[str, float]:
    """Size-zone features: 8-connected zones of equal bin inside the ROI."""
    from skimage.measure import label  # skimage submodules are slow to import

    gray, size = [], []
    for g in np.unique(levels[levels > 0]):
        counts = np.bincount(label(levels == g, connectivity=2).ravel())[1:]
        gray.append(np.full(len(counts), g, float))
        size.append(counts.astype(float))
    return _zone_stats(np.concatenate(gray), np.concatenate(size), int((levels > 0).sum()), "Zone")


def _shape2d(mask: npt.NDArray[np.bool_]) -> dict[str, float]:
    from skimage.measure import regionprops  # skimage submodules are slow to import

    r = regionprops(mask.astype(np.uint8))[0]
    major, minor = float(r.axis_major_length), float(r.axis_minor_length)
    perimeter = float(r.perimeter)
    return {
        "PixelSurface": float(r.area), "Perimeter": perimeter,
        "PerimeterSurfaceRatio": perimeter / float(r.area),
        "MajorAxisLength": major, "MinorAxisLength": minor,
        "Elongation": minor / major if major > 0 else 0.0,
        "MaximumDiameter": float(r.feret_diameter_max),
        "Sphericity": 2 * np.sqrt(np.pi * r.area) / perimeter if perimeter > 0 else 1.0,
        "Solidity": float(r.solidity), "Eccentricity": float(r.eccentricity),
    }


def channel_features(image: npt.NDArray[np.uint8], mask: npt.NDArray[np.bool_], bin_width: float,
                     classes: Sequence[str]) -> dict[str, float]:
    """All requested feature classes of one channel inside its ROI.

    Args:
        image: (H, W) uint8 in [0, 255].
        mask: (H, W) bool ROI, checked by :func:`gliograde.baselines.features.check_roi` beforehand.
        bin_width: intensity bin width of the discretisation (grey levels).
        classes: feature classes, a subset of ``FEATURE_CLASSES``.

    Returns:
        ``{"<class>_<Feature>": value}``, sorted by feature within each class; NaN where undefined.
    """
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    img, roi = image[box].astype(np.float64), mask[box]
    values = img[roi]
    levels = np.zeros(roi.shape, np.int64)
    levels[roi] = discretise(values, bin_width)
    funcs: dict[str, Callable[[], dict[str, float]]] = {
        "firstorder": lambda: _firstorder(values, levels[roi]), "glcm": lambda: _glcm(levels),
        "glrlm": lambda: _glrlm(levels), "glszm": lambda: _glszm(levels), "shape2D": lambda: _shape2d(roi)}
    out: dict[str, float] = {}
    for cls in classes:
        out.update({f"{cls}_{k}": float(v) for k, v in sorted(funcs[cls]().items())})
    return out
