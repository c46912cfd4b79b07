"""Handcrafted-feature baselines: radiomics features in the ROI + classical sklearn classifiers.

>>> from gliograde.baselines import HandcraftedBaseline, RoiSamples, extract_features
"""
from __future__ import annotations

from gliograde.baselines.classical import (
    CLASSIFIER_KINDS,
    PARAM_GRIDS,
    HandcraftedBaseline,
    make_classifier,
)
from gliograde.baselines.features import (
    FEATURE_CLASSES,
    RadiomicsFeatures,
    RoiSamples,
    as_roi_samples,
    check_roi,
    extract_features,
    pyradiomics_available,
    resolve_backend,
)

__all__ = [
    "CLASSIFIER_KINDS", "FEATURE_CLASSES", "PARAM_GRIDS", "HandcraftedBaseline", "RadiomicsFeatures",
    "RoiSamples", "as_roi_samples", "check_roi", "extract_features", "make_classifier",
    "pyradiomics_available", "resolve_backend",
]
