"""The ``radiomics`` and ``fusion`` configurations: the model is chosen inside each training fold.

``radiomics``: the ROI features of ``selection.features`` (PyRadiomics, and optionally the semantic
features) of every channel. ``fusion``: the same, joined with the frozen ImageNet backbone's penultimate
features (PCA fitted per fold). In both, the classifier and the number of features kept are chosen by
:func:`gliograde.selection.select_candidate` on the training rows only, exactly as ``gliograde train
--kind radiomics`` chooses them on all patients (:func:`gliograde.training.radiomics.fit_selected`); the
unit writes what it chose to ``work/<config>/fold<k>/selection.json``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from gliograde.experiment.configuration import CVConfiguration
from gliograde.experiment.context import (
    Experiment,
    align_proba,
    fold_rows,
    fold_seed,
    prediction_table,
)
from gliograde.experiment.recalibrate import recalibrated
from gliograde.splits import Fold
from gliograde.training.radiomics import fit_selected

#: Each unit's record of what it chose (gathered into ``RUN/selection.json``).
SELECTION_FILE = "selection.json"


@dataclass(frozen=True)
class SelectedConfiguration(CVConfiguration):
    """ROI features (+ frozen CNN features when ``cnn``), (classifier, k) chosen per training fold.

    Attributes:
        cnn: join the frozen backbone features of ``train.model`` (reduced to ``selection.cnn_components``).
    """

    name: str
    cnn: bool = False
    uses: frozenset[str] = field(default=frozenset({"selection"}))
    selects: ClassVar[bool] = True

    def matrix(self, exp: Experiment) -> tuple[npt.NDArray[np.float64], int]:
        """The unit's feature matrix (every cohort row) and how many leading columns are ROI features."""
        sel = exp.cfg.cv.selection
        roi = exp.features.roi(sel.features, bin_width=sel.bin_width, selection=sel)
        if self.cnn:
            return np.hstack([roi, exp.features.cnn(exp.cfg.train)]), roi.shape[1]
        return roi, roi.shape[1]

    def prepare(self, exp: Experiment) -> None:
        self.matrix(exp)

    def run_unit(self, exp: Experiment, fold: Fold, unit: Path) -> pd.DataFrame:
        """Choose (classifier, k) on the fold's training rows, refit on them, predict its test rows."""
        c, s = exp.cohort, exp.cfg.cv.selection
        X, n_roi = self.matrix(exp)
        train_rows, test_rows = fold_rows(exp, fold)
        model, res = fit_selected(X[train_rows], c.labels[train_rows], c.patient_ids[train_rows], s,
                                  n_radiomics=n_roi, cnn_components=s.cnn_components if self.cnn else 0,
                                  seed=fold_seed(exp, fold), groups=c.groups[train_rows])
        model = recalibrated(model, X[train_rows], c.labels[train_rows], c.patient_ids[train_rows], exp.cfg.cv,
                             fold_seed(exp, fold), groups=c.groups[train_rows])  # --recalibrate platt: training only
        proba = align_proba(model.predict_proba(X[test_rows]), model.classes_, len(c.classes))
        (unit / SELECTION_FILE).write_text(json.dumps({"fold": fold.index, **res.as_dict()}, indent=1))
        table = prediction_table(exp, self.name, fold, test_rows, proba, per_row=exp.paper)
        table["chosen"] = res.chosen.label
        return table
