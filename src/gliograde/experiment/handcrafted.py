"""The ``handcrafted`` configurations: PyRadiomics features inside the ROI + one fixed sklearn classifier.

The study's handcrafted baseline (``handcrafted``: ``CVCfg.handcrafted_classifier``, logistic regression
by default) and its ANN (``handcrafted-mlp``). The features come from the run's feature store (at the
default bin width, computed once per run); the classifier is fitted on the fold's training rows only.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from gliograde.baselines.classical import HandcraftedBaseline
from gliograde.baselines.features import DEFAULT_BIN_WIDTH
from gliograde.config import ClassifierKind
from gliograde.experiment.configuration import CVConfiguration
from gliograde.experiment.context import (
    Experiment,
    align_proba,
    fold_rows,
    fold_seed,
    prediction_table,
)
from gliograde.experiment.recalibrate import recalibrated
from gliograde.splits import Fold, group_keys


@dataclass(frozen=True)
class HandcraftedConfiguration(CVConfiguration):
    """Radiomics features of every channel + ``classifier`` (None: the run's ``cv.handcrafted_classifier``)."""

    name: str
    classifier: ClassifierKind | None = None
    uses: frozenset[str] = field(default=frozenset())

    def prepare(self, exp: Experiment) -> None:
        exp.features.family("radiomics", bin_width=DEFAULT_BIN_WIDTH)

    def run_unit(self, exp: Experiment, fold: Fold, unit: Path) -> pd.DataFrame:
        c = exp.cohort
        X = exp.features.family("radiomics", bin_width=DEFAULT_BIN_WIDTH)
        train_rows, test_rows = fold_rows(exp, fold)
        kind = self.classifier or exp.cfg.cv.handcrafted_classifier
        model = HandcraftedBaseline(classifier=kind, random_state=fold_seed(exp, fold))
        model.fit(X[train_rows], c.labels[train_rows],  # inner CVs (SVM Platt scaling) by patient / group
                  groups=group_keys(c.patient_ids[train_rows], c.groups[train_rows]))
        model = recalibrated(model, X[train_rows], c.labels[train_rows], c.patient_ids[train_rows], exp.cfg.cv,
                             fold_seed(exp, fold), groups=c.groups[train_rows])  # --recalibrate platt: training only
        proba = align_proba(model.predict_proba(X[test_rows]), model.classes_, len(c.classes))
        return prediction_table(exp, self.name, fold, test_rows, proba, per_row=exp.paper)
