"""The ``radiomics`` and ``fusion`` units: features once per run, model chosen inside each training fold.

``radiomics``: the ROI features of ``selection.features`` (PyRadiomics, and optionally the semantic
features) of every channel. ``fusion``: the same, joined with
the frozen ImageNet backbone's penultimate features (PCA fitted per fold). In both, the classifier and
the number of features kept are chosen by :func:`gliograde.selection.select_candidate` on the training
rows only; the unit writes what it chose to ``work/<config>/fold<k>/selection.json``.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from gliograde.experiment.core import (
    SELECTION_FILE,
    Experiment,
    fold_rows,
    fold_seed,
    prediction_table,
)
from gliograde.experiment.splits import Fold

logger = logging.getLogger(__name__)


def radiomics_matrix(exp: Experiment) -> npt.NDArray[np.float64]:
    """(N, F) radiomics features of every row (all channels), cached in ``work/radiomics_bw<w>.npz``."""
    from gliograde.baselines.features import extract_features

    bw = exp.cv.selection.bin_width
    return _cached(exp.out / "work" / f"radiomics_bw{bw:g}.npz", len(exp.cohort),
                   lambda: extract_features(exp.cohort.images, exp.cohort.masks, bin_width=bw)[0])


def cnn_matrix(exp: Experiment) -> npt.NDArray[np.float64]:
    """(N, D) frozen ImageNet backbone features (``exp.train.model`` at its image size), cached per run."""
    from gliograde.baselines.fusion import cnn_features

    t = exp.train
    path = exp.out / "work" / f"cnn_{t.model}_{t.image_size or 'default'}.npz"
    return _cached(path, len(exp.cohort), lambda: cnn_features(
        exp.cohort.images, t.model, t.weights, t.image_size, device=t.device))


def _cached(path: Path, n: int, compute: Callable[[], npt.ArrayLike]) -> npt.NDArray[np.float64]:
    if path.is_file():
        X = np.load(path, allow_pickle=False)["X"]
        if X.shape[0] == n:
            return np.asarray(X, dtype=np.float64)
    logger.info("computing %s for %d rows", path.name, n)
    X = np.asarray(compute(), dtype=np.float64)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, X=X)
    return X


def roi_matrix(exp: Experiment) -> npt.NDArray[np.float64]:
    """(N, F) ROI features of every row: the families of ``selection.features`` side by side
    (:func:`gliograde.baselines.feature_sets.feature_matrix`), each computed once per run (``work/<family>.npz``)."""
    from gliograde.baselines.feature_sets import (
        check_families,
        cohort_channels,
        family_matrix,
    )

    c = exp.cohort

    def block(family: str) -> npt.NDArray[np.float64]:
        if family == "radiomics":
            return radiomics_matrix(exp)
        return _cached(exp.out / "work" / f"{family}.npz", len(c), lambda: family_matrix(
            family, c.images, c.masks, c.manifest["roi_area_px"].to_numpy(), channels=cohort_channels(c.manifest))[0])

    return np.hstack([block(f) for f in check_families(exp.cv.selection.features)])


def unit_features(exp: Experiment, config: str) -> tuple[npt.NDArray[np.float64], int]:
    """The feature matrix of a selecting configuration and how many leading columns are ROI features."""
    rad = roi_matrix(exp)
    if config == "fusion":
        return np.hstack([rad, cnn_matrix(exp)]), rad.shape[1]
    return rad, rad.shape[1]


def selected_unit(exp: Experiment, config: str, fold: Fold, unit: Path) -> pd.DataFrame:
    """Choose (classifier, k) on the fold's training rows, refit on them, predict its test rows."""
    from gliograde.training.radiomics import fit_selected

    c, s = exp.cohort, exp.cv.selection
    X, n_rad = unit_features(exp, config)
    train_rows, test_rows = fold_rows(exp, fold)
    # the same selection + refit as `gliograde train` (train_radiomics), on this fold's training rows only
    model, res = fit_selected(X[train_rows], c.labels[train_rows], c.patient_ids[train_rows], s, n_radiomics=n_rad,
                              cnn_components=s.cnn_components if config == "fusion" else 0,
                              seed=fold_seed(exp, fold))
    proba = np.zeros((len(test_rows), len(c.classes)))
    proba[:, np.asarray(model.classes_, dtype=int)] = model.predict_proba(X[test_rows])
    (unit / SELECTION_FILE).write_text(json.dumps({"fold": int(fold["fold"]), **res.as_dict()}, indent=1))
    table = prediction_table(exp, config, fold["fold"], test_rows, proba, per_row=exp.cv.protocol == "paper")
    table["chosen"] = res.chosen.label
    return table
