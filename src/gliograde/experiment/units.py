"""One (configuration, fold) unit of the experiment, for each kind of model and protocol."""
from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import torch

from gliograde.experiment.core import (
    HANDCRAFTED,
    Experiment,
    config_settings,
    copy_history,
    fold_rows,
    fold_seed,
    images_of,
    prediction_table,
)
from gliograde.experiment.splits import Fold, rows_of

logger = logging.getLogger(__name__)


def _size(cfg_model: str, image_size: int | None) -> int:
    from gliograde.models import get_spec

    return image_size or get_spec(cfg_model).input_size


def honest_cnn_unit(exp: Experiment, config: str, fold: Fold, unit: Path) -> pd.DataFrame:
    """Train on the fold's training patients (inner split for early stopping), test on its test patients."""
    from gliograde.models import get_spec
    from gliograde.training.cnn import train_on_cohort
    from gliograde.training.engine import predict_proba

    c = exp.cohort
    train, augment = config_settings(config, exp.train, exp.augment)
    train = replace(train, seed=fold_seed(exp, fold))
    train_rows, test_rows = rows_of(c.patient_ids, fold["train"]), rows_of(c.patient_ids, fold["test"])
    if np.intersect1d(c.patient_ids[train_rows], c.patient_ids[test_rows]).size:
        raise AssertionError("a patient is on both sides of a fold")  # cannot happen: make_folds groups by patient
    result = train_on_cohort(c, train, augment, unit, rows=train_rows, progress=exp.progress)
    copy_history(exp, config, fold, unit)
    proba = predict_proba(result.model, images_of(exp, test_rows), get_spec(train.model),
                          _size(train.model, train.image_size), batch_size=train.batch_size)
    return prediction_table(exp, config, fold["fold"], test_rows, proba)


def paper_cnn_unit(exp: Experiment, config: str, fold: Fold, unit: Path) -> pd.DataFrame:
    """The study's protocol: the whole cohort augmented first, random folds of augmented images,
    early stopping on the test fold itself. Leaks on purpose; never use it to judge a model."""
    from gliograde.augment.policy import expand_training
    from gliograde.models import create_model, get_spec
    from gliograde.training.engine import fit, predict_proba

    c = exp.cohort
    train, augment = config_settings(config, exp.train, exp.augment)
    train = replace(train, seed=fold_seed(exp, fold))
    tr, te = np.asarray(fold["train_rows"]), np.asarray(fold["test_rows"])
    if augment.mode == "fixed":
        pool, labels, source = expand_training(c.images, c.masks, c.labels, np.arange(len(c)), augment)
    else:  # no-aug: the identity copies only, keeping the same fold of each original image
        pool, labels, source = torch.from_numpy(c.images), torch.from_numpy(c.labels), np.arange(len(c))
        tr, te = fold_rows(exp, fold)
    torch.manual_seed(train.seed)
    model = create_model(train.model, len(c.classes), train.weights, allow_download=train.allow_download)
    result = fit(model, pool[tr], labels[tr], pool[te], labels[te], train, out_dir=unit, progress=exp.progress)
    _write_history(unit, result.history)
    copy_history(exp, config, fold, unit)
    proba = predict_proba(result.model, pool[te], get_spec(train.model), _size(train.model, train.image_size),
                          batch_size=train.batch_size)
    return prediction_table(exp, config, fold["fold"], source[te], proba, per_row=True)


def _write_history(unit: Path, history: list[dict[str, float]]) -> None:
    pd.DataFrame(history).to_csv(unit / "history.csv", index=False)


def handcrafted_unit(exp: Experiment, config: str, fold: Fold) -> pd.DataFrame:
    """Radiomics features inside the ROI + a scikit-learn classifier fitted on the training rows only."""
    from gliograde.baselines.classical import HandcraftedBaseline

    c = exp.cohort
    X = _features(exp)
    train_rows, test_rows = fold_rows(exp, fold)
    kind = HANDCRAFTED[config] or exp.cv.handcrafted_classifier
    model = HandcraftedBaseline(classifier=kind, random_state=fold_seed(exp, fold))
    model.fit(X[train_rows], c.labels[train_rows])
    proba = _align(model.predict_proba(X[test_rows]), model.classes_, len(c.classes))
    return prediction_table(exp, config, fold["fold"], test_rows, proba, per_row=exp.cv.protocol == "paper")


def _align(proba: npt.NDArray[np.float64], seen: npt.ArrayLike, k: int) -> npt.NDArray[np.float64]:
    """Columns for every class, zero for a class absent from a training fold."""
    out = np.zeros((len(proba), k))
    out[:, np.asarray(seen, dtype=int)] = proba
    return out


def _features(exp: Experiment) -> npt.NDArray[np.float64]:
    """Handcrafted features of every row, computed once per run and cached in ``work/features.npz``."""
    from gliograde.baselines.features import extract_features

    path = exp.out / "work" / "features.npz"
    c = exp.cohort
    if path.is_file():
        with np.load(path, allow_pickle=False) as data:
            cached = np.asarray(data["X"], dtype=np.float64)  # written as float64 below: no copy
        if cached.shape[0] == len(c):
            return cached
    logger.info("extracting handcrafted features of %d ROIs", len(c))
    X, names = extract_features(c.images, c.masks)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, X=X, names=np.asarray(names))
    return X
