"""The cross-validated experiment: every configuration trained and tested on the same patient folds.

Following the data: the cohort's folds (:mod:`gliograde.splits`) -> the run's feature store
(:mod:`.features`) -> one unit per (configuration, fold) (:mod:`.configs` registry; :mod:`.cnn`,
:mod:`.handcrafted`, :mod:`.selected`, :mod:`.prior`) -> ``predictions.csv`` (:mod:`.core`) -> report (:mod:`.run`).

>>> sorted(CONFIGS)
['full', 'fusion', 'handcrafted', 'handcrafted-mlp', 'no-aug', 'no-pretrain', 'prior', 'prior-monotone', 'radiomics']
>>> get_config("radiomics").uses
frozenset({'selection'})
"""
from __future__ import annotations

from gliograde.experiment.configs import CONFIGS, get_config, get_configs
from gliograde.experiment.configuration import CVConfiguration
from gliograde.experiment.context import Experiment
from gliograde.experiment.core import run_protocol
from gliograde.experiment.features import FeatureStore
from gliograde.experiment.run import CVResult, run_cv

__all__ = ["CONFIGS", "CVConfiguration", "CVResult", "Experiment", "FeatureStore", "get_config", "get_configs",
           "run_cv", "run_protocol"]
