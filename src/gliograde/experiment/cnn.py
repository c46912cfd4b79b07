"""The CNN configurations (``full``, ``no-pretrain``, ``no-aug``): fine-tune a CNN on each fold.

Honest and site protocols: train on the fold's training patients with an inner split of them for early
stopping (:func:`gliograde.training.cnn.train_on_cohort`, as ``gliograde train`` does), test on its test
patients. Paper protocol (the study's): the whole cohort augmented first, random folds of augmented
images, early stopping on the test fold itself; it leaks on purpose, never use it to judge a model.

``--recalibrate platt`` (honest and site protocols): the fold's CNN predicts its early-stopping validation
patients (an inner split of the training patients, :func:`gliograde.training.cnn.inner_rows`) and a Platt fit
on those predictions (:func:`gliograde.experiment.recalibrate.platt_mapped`, the sklearn configurations'
sigmoid) maps its test-fold probabilities. The paper protocol's CNN units are not recalibrated: their only
held-out rows are the test fold itself, and the rest are the very images the CNN was fitted on.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import torch
from torch import nn

from gliograde.augment.policy import expand_training
from gliograde.config import RunConfig
from gliograde.errors import InputError
from gliograde.experiment.configuration import CVConfiguration
from gliograde.experiment.context import (
    Experiment,
    copy_history,
    fold_rows,
    fold_seed,
    prediction_table,
)
from gliograde.experiment.recalibrate import platt_mapped
from gliograde.models import create_model, get_spec
from gliograde.splits import Fold, rows_of
from gliograde.training.cnn import inner_rows, train_on_cohort
from gliograde.training.device import expansion_device
from gliograde.training.engine import fit, predict_proba

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CNNConfiguration(CVConfiguration):
    """A CNN fine-tuned per fold with the run's ``train`` and ``augment`` settings, changed as given.

    Attributes:
        weights: replaces ``train.weights`` (``none``: the no-pretrain ablation); None keeps it.
        augment: replaces ``augment.mode`` (``none``: the no-aug ablation); None keeps it.
    """

    name: str
    weights: str | None = None
    augment: Literal["fixed", "stochastic", "none"] | None = None
    uses: frozenset[str] = field(default=frozenset({"train", "augment"}))

    def settings(self, cfg: RunConfig) -> RunConfig:
        train = cfg.train if self.weights is None else replace(cfg.train, weights=self.weights)
        augment = cfg.augment if self.augment is None else replace(cfg.augment, mode=self.augment)
        return replace(cfg, train=train, augment=augment)

    def prepare(self, exp: Experiment) -> None:
        """Before any unit: ``--recalibrate platt`` needs early-stopping validation patients to fit on."""
        if exp.cfg.cv.recalibrate == "none":
            return
        if exp.paper:  # the refusal is logged once per configuration, not raised: --protocol both still runs
            logger.warning("cv paper: %s: --recalibrate %s is not applied to CNN configurations under the paper "
                           "protocol (their early stopping uses the test fold, so no held-out training rows are "
                           "left to fit it on); their probabilities are reported as predicted", self.name,
                           exp.cfg.cv.recalibrate)
        elif self.settings(exp.cfg).train.val_fraction <= 0:
            raise InputError(f"cv --recalibrate {exp.cfg.cv.recalibrate}: the CNN configuration {self.name} holds "
                             "out no early-stopping validation patients to fit it on (train.val_fraction is 0); "
                             "give --val-fraction above 0, or --recalibrate none")

    def run_unit(self, exp: Experiment, fold: Fold, unit: Path) -> pd.DataFrame:
        cfg = self.settings(exp.cfg)
        cfg = replace(cfg, train=replace(cfg.train, seed=fold_seed(exp, fold)))
        if exp.paper:
            return self._paper_unit(exp, cfg, fold, unit)
        return self._honest_unit(exp, cfg, fold, unit)

    def _honest_unit(self, exp: Experiment, cfg: RunConfig, fold: Fold, unit: Path) -> pd.DataFrame:
        """Train on the fold's training patients (inner split for early stopping), test on its test patients."""
        c, train = exp.cohort, cfg.train
        train_rows, test_rows = rows_of(c.patient_ids, fold.train), rows_of(c.patient_ids, fold.test)
        if np.intersect1d(c.patient_ids[train_rows], c.patient_ids[test_rows]).size:
            raise AssertionError("a patient is on both sides of a fold")  # cannot happen: make_folds groups by patient
        result = train_on_cohort(c, train, cfg.augment, unit, rows=train_rows, progress=exp.progress)
        copy_history(exp, self.name, fold, unit)
        proba = _predict(result.model, c.images[test_rows], cfg)
        # --recalibrate platt: fitted on the inner validation patients (training fold, never test). They also chose
        # the best epoch, so the fit is a little optimistic there, but refitting the CNN per inner fold (as the
        # sklearn configurations' CalibratedClassifierCV does) would multiply a CNN unit's cost by the inner folds.
        if cfg.cv.recalibrate == "platt":
            _, val_rows = inner_rows(c, train, train_rows)
            proba = platt_mapped(proba, _predict(result.model, c.images[val_rows], cfg), c.labels[val_rows],
                                 cal_patients=c.patient_ids[val_rows], test_patients=c.patient_ids[test_rows])
        return prediction_table(exp, self.name, fold, test_rows, proba)

    def _paper_unit(self, exp: Experiment, cfg: RunConfig, fold: Fold, unit: Path) -> pd.DataFrame:
        """The study's protocol: one row per test image of the augmented pool.

        Never recalibrated (:meth:`prepare` says so): its early-stopping rows are the test fold, and a fit on the
        training pool would learn from images the CNN was trained on (the sigmoid of an overfitted model's own
        training predictions), not a check anyone could trust."""
        c, train = exp.cohort, cfg.train
        tr, te = np.asarray(fold.train_rows), np.asarray(fold.test_rows)
        if cfg.augment.mode == "fixed":
            pool, labels, source = expand_training(c.images, c.masks, c.labels, np.arange(len(c)), cfg.augment,
                                                   device=expansion_device(train))
        else:  # no-aug: the identity copies only, keeping the same fold of each original image
            pool, labels, source = torch.from_numpy(c.images), torch.from_numpy(c.labels), np.arange(len(c))
            tr, te = fold_rows(exp, fold)
        torch.manual_seed(train.seed)
        model = create_model(train.model, len(c.classes), train.weights, allow_download=train.allow_download)
        result = fit(model, pool[tr], labels[tr], pool[te], labels[te], train, out_dir=unit, progress=exp.progress)
        pd.DataFrame(result.history).to_csv(unit / "history.csv", index=False)
        copy_history(exp, self.name, fold, unit)
        proba = predict_proba(result.model, pool[te], get_spec(train.model), _size(train.model, train.image_size),
                              batch_size=train.batch_size)
        return prediction_table(exp, self.name, fold, source[te], proba, per_row=True)


def _predict(model: nn.Module, images: npt.NDArray[np.uint8], cfg: RunConfig) -> npt.NDArray[np.float64]:
    train = cfg.train
    return predict_proba(model, torch.from_numpy(images), get_spec(train.model), _size(train.model, train.image_size),
                         batch_size=train.batch_size)


def _size(model: str, image_size: int | None) -> int:
    return image_size or get_spec(model).input_size
