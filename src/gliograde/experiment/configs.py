"""The registry of CV configurations: every configuration ``gliograde cv --configs`` can run.

The study's four (``full``, ``no-pretrain``, ``no-aug``, ``handcrafted``) compare a fine-tuned CNN with
its ablations and a handcrafted baseline on the same folds; ``handcrafted-mlp`` is the study's ANN on the
same features; ``radiomics`` and ``fusion`` choose their model inside each training fold; ``prior`` scores
pre-specified radiological signs with nothing fitted on grades but the calibration (``prior-monotone``: with
non-negative shrunk weights fitted per training fold).

To add a configuration: write a :class:`~gliograde.experiment.configuration.CVConfiguration` (or reuse
a class with other settings) and add one line to :data:`CONFIGS`.

>>> from gliograde.config import RunConfig
>>> sorted(CONFIGS)[:3], get_config("no-pretrain").settings(RunConfig()).train.weights
(['full', 'fusion', 'handcrafted'], 'none')
"""
from __future__ import annotations

from collections.abc import Sequence

from gliograde.errors import InputError
from gliograde.experiment.cnn import CNNConfiguration
from gliograde.experiment.configuration import CVConfiguration
from gliograde.experiment.handcrafted import HandcraftedConfiguration
from gliograde.experiment.prior import PriorConfiguration
from gliograde.experiment.selected import SelectedConfiguration

#: Every configuration by name, in the order ``--configs`` lists them.
CONFIGS: dict[str, CVConfiguration] = {c.name: c for c in (
    CNNConfiguration("full"),
    CNNConfiguration("no-pretrain", weights="none"),
    CNNConfiguration("no-aug", augment="none", uses=frozenset({"train"})),
    HandcraftedConfiguration("handcrafted"),
    HandcraftedConfiguration("handcrafted-mlp", classifier="mlp"),
    SelectedConfiguration("radiomics"),
    SelectedConfiguration("fusion", cnn=True, uses=frozenset({"selection", "train"})),
    PriorConfiguration("prior"),
    PriorConfiguration("prior-monotone", combine="monotone"),
)}


def get_config(name: str) -> CVConfiguration:
    """The configuration called ``name``; an :class:`~gliograde.errors.InputError` lists the known ones."""
    try:
        return CONFIGS[name]
    except KeyError:
        raise InputError(f"--configs: unknown configuration {name!r}; choose from {list(CONFIGS)}") from None


def get_configs(names: Sequence[str]) -> tuple[CVConfiguration, ...]:
    """The configurations of ``CVCfg.configs``, checked all at once (one message naming every unknown one)."""
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        raise InputError(f"--configs: unknown configuration(s) {unknown}; choose from {list(CONFIGS)}")
    return tuple(CONFIGS[n] for n in names)
