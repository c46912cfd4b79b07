"""The ROI feature matrix of the selecting models: one or more feature families, side by side.

One function computes it for CV (:class:`gliograde.experiment.features.FeatureStore`), training
(:mod:`gliograde.training.radiomics`) and prediction (:mod:`gliograde.bundles.radiomics`), so the three
always agree on the columns. Families (``SelectionCfg.features``):

* ``radiomics``: PyRadiomics first-order, GLCM, GLRLM, GLSZM and 2D-shape features of every channel
  (:func:`gliograde.baselines.features.extract_features`), ``c<i>_<class>_<name>``;
* ``semantic``: size, outline shape and intensity in reference-tissue units
  (:func:`gliograde.baselines.semantic.semantic_features`), ``roi_sem_<name>`` and ``c<i>_sem_<name>``, plus
  ``enh_sem_<name>`` when pre- and post-contrast T1 are both channels;
* ``enhancement``: those three contrast-enhancement features alone (needs ``t1`` and ``t1ce`` channels);
* ``native``: PyRadiomics on each case's original grid in mm, by sequence (``flair_original_glcm_Contrast``;
  :mod:`gliograde.baselines.native`): not computed from the crops, so the caller passes each row's features
  (``native_rows``: :class:`gliograde.experiment.features.FeatureStore` in CV and training), or a bundle grading
  one case sets it (:func:`gliograde.baselines.native.predicting`).

>>> check_families(("semantic", "radiomics"))
('semantic', 'radiomics')
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import cast

import numpy as np
import numpy.typing as npt
import pandas as pd

from gliograde.baselines.features import Backend, extract_features
from gliograde.baselines.native import current_rows, rows_matrix
from gliograde.baselines.semantic import enhancement_channels, semantic_features
from gliograde.errors import InputError

FAMILIES = ("radiomics", "semantic", "enhancement", "native")
NativeRows = Sequence[Mapping[str, float]]


def check_families(families: Sequence[str]) -> tuple[str, ...]:
    """The families, validated (known, at least one, no repeats)."""
    fams = tuple(families)
    bad = [f for f in fams if f not in FAMILIES]
    if bad or not fams or len(set(fams)) != len(fams):
        raise InputError(f"selection.features {list(fams)}: give one or more of {list(FAMILIES)}, each once")
    return fams


def family_matrix(family: str, images: npt.NDArray[np.uint8], masks: npt.NDArray[np.bool_],
                  roi_area_px: Sequence[float] | npt.NDArray[np.generic], *, bin_width: float = 8.0,
                  backend: str = "auto", channels: Sequence[str] | None = None,
                  native_rows: NativeRows | None = None) -> tuple[npt.NDArray[np.float64], list[str]]:
    """(N, F) features of one family for N crops (N, C, H, W) uint8 with masks (N, H, W) bool; ``channels``
    names the sequences (the semantic family adds T1c - T1 enhancement when both are there); ``native_rows``:
    the ``native`` family's N rows (None: the case being predicted, :func:`gliograde.baselines.native.predicting`)."""
    if family == "native":
        rows = native_rows if native_rows is not None else current_rows(len(images), tuple(channels or ()))
        return rows_matrix(rows)
    if family == "radiomics":
        X, names = extract_features(images, masks, backend=cast("Backend", backend), bin_width=bin_width)
        return np.asarray(X, dtype=np.float64), list(names)
    if family == "semantic":
        return semantic_features(images, masks, roi_area_px, channels)
    if family == "enhancement":
        if enhancement_channels(channels) is None:
            raise InputError(f"feature family 'enhancement' needs the t1 and t1ce channels, the cohort has "
                             f"{list(channels or [])}; ingest with --channels t1,flair,t1ce (or t1,t1ce)")
        X, names = semantic_features(images, masks, roi_area_px, channels)
        keep = [i for i, n in enumerate(names) if n.startswith("enh_")]
        return X[:, keep], [names[i] for i in keep]
    raise InputError(f"unknown feature family {family!r}; choose from {list(FAMILIES)}")


def feature_matrix(images: npt.NDArray[np.uint8], masks: npt.NDArray[np.bool_],
                   roi_area_px: Sequence[float] | npt.NDArray[np.generic], families: Sequence[str], *,
                   bin_width: float = 8.0, backend: str = "auto", channels: Sequence[str] | None = None,
                   native_rows: NativeRows | None = None) -> tuple[npt.NDArray[np.float64], list[str]]:
    """Every family's features, joined column-wise in the order given.

    Args:
        images: (N, C, H, W) uint8 preprocessed crops; masks: (N, H, W) bool ROI.
        roi_area_px: (N,) native-slice tumour pixels (used by ``semantic``).
        families: subset of :data:`FAMILIES`.
        bin_width, backend: of the ``radiomics`` family.
        channels: sequence name of each channel (``IngestCfg.channels``), for the ``semantic`` family.
        native_rows: the ``native`` family's features of each row (see :func:`family_matrix`).

    Returns:
        (N, F) float64 and the F column names.
    """
    blocks = [family_matrix(f, images, masks, roi_area_px, bin_width=bin_width, backend=backend, channels=channels,
                            native_rows=native_rows) for f in check_families(families)]
    return np.hstack([b[0] for b in blocks]), [n for b in blocks for n in b[1]]


def cohort_channels(manifest: pd.DataFrame) -> tuple[str, ...] | None:
    """The sequence names of an ingested cohort's channels (manifest ``channels``, e.g. ``flair+t1ce``)."""
    if "channels" not in manifest or manifest.empty:
        return None
    return tuple(str(manifest["channels"].iloc[0]).split("+"))
