"""The interface every CV configuration implements (``full``, ``no-pretrain``, ..., ``fusion``).

A configuration trains on one fold's training rows only and predicts its test rows; the experiment
runs it for every fold, caches its table and gathers the tables. A new configuration is one
subclass (or one instance of an existing class with other settings) plus one line in
:data:`gliograde.experiment.configs.CONFIGS`.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

import pandas as pd

from gliograde.config import RunConfig
from gliograde.experiment.context import Experiment
from gliograde.splits import Fold

#: The sections of :class:`~gliograde.config.RunConfig` a configuration may read (as ``ModelKind.uses``).
SECTIONS = frozenset({"train", "augment", "selection"})


class CVConfiguration(ABC):
    """One configuration of the experiment.

    Attributes:
        name: the key in :data:`~gliograde.experiment.configs.CONFIGS` and the ``config`` column of
            ``predictions.csv`` (``gliograde cv --configs NAME``).
        uses: the RunConfig sections it reads, from :data:`SECTIONS`: a flag of a section no chosen
            configuration uses changes nothing.
        selects: it chooses its model inside each training fold and writes ``selection.json`` per unit.
    """

    name: str
    uses: frozenset[str]
    selects: ClassVar[bool] = False

    def settings(self, cfg: RunConfig) -> RunConfig:
        """The run's settings as this configuration trains with them (an ablation changes some); default: as is."""
        return cfg

    def prepare(self, exp: Experiment) -> None:
        """Compute what every unit of this configuration shares, before the units are scheduled: the feature
        store's matrices (label-free), so they are computed once, in the driver, and reach Ray workers with
        ``exp``; default: nothing."""
        return None

    @abstractmethod
    def run_unit(self, exp: Experiment, fold: Fold, unit: Path) -> pd.DataFrame:
        """Fit on ``fold``'s training rows only and predict its test rows.

        Args:
            exp: the run (cohort, settings, feature store).
            fold: the outer fold; its test patients (rows) must never reach a fit.
            unit: the unit's folder, for checkpoints, history and ``selection.json``.

        Returns:
            The table of :func:`~gliograde.experiment.context.prediction_table` (extra columns allowed).
        """
