"""The time estimate ``gliograde cv`` logs at the start of a long run: its CNN units at measured rates.

Each CNN configuration (:class:`gliograde.experiment.cnn.CNNConfiguration`) of each protocol costs
``folds x repeats`` units of :func:`gliograde.training.estimate.unit_work`; the rates are measured now,
on the run's device, with the run's own network (:func:`gliograde.training.estimate.measure_rates`, a few
seconds on a CPU), never taken from a table. Other configurations (radiomics, handcrafted, prior) are not
counted, and the line says so. Runs of fewer than :data:`LONG_RUN_PASSES` image passes are not estimated.

>>> # est = estimate_cv(cohort, cfg); print(est.line() if est else "short run")
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from gliograde.augment.policy import build_transforms
from gliograde.config import AugmentCfg, RunConfig, TrainCfg
from gliograde.data.dataset import Cohort
from gliograde.experiment.cnn import CNNConfiguration
from gliograde.experiment.configs import get_config
from gliograde.training.estimate import Rates, UnitWork, measure_rates, unit_seconds, unit_work

logger = logging.getLogger(__name__)

#: Below this many image passes (a forward counts 1, a training step 3) a run is short: no estimate.
LONG_RUN_PASSES = 10_000
Measure = Callable[[TrainCfg, tuple[int, int, int], AugmentCfg], Rates]


@dataclass(frozen=True)
class CVEstimate:
    """The CNN part of a cv run: seconds (every epoch of every unit counted), units, rates and what is left out."""

    seconds: float
    units: int
    rates: tuple[Rates, ...]
    left_out: tuple[str, ...]

    def line(self) -> str:
        """One line for the log, e.g. ``estimate: about 12.3 min for 60 CNN units if every epoch runs (...)``.

        Not a bound: the rates come from a few images, and a unit's fixed costs (building the network, writing
        checkpoints) are not counted; on a quiet CPU a quick-preset unit took 1.2-1.7x its estimate."""
        rates = "; ".join(("" if r.train == r.infer else f"train {r.train:.1f} img/s, ")
                          + f"inference {r.infer:.1f} img/s, expansion {r.expand:.0f} img/s ({r.source})"
                          for r in self.rates)
        left = f"; not counted: {', '.join(self.left_out)}" if self.left_out else ""
        return (f"estimate: about {self.seconds / 60:.1f} min for {self.units} CNN units if every epoch runs "
                f"(early stopping and resumed units make it shorter; rates measured on a few images): {rates}{left}")


def _units(cohort: Cohort, cfg: RunConfig) -> tuple[list[tuple[TrainCfg, AugmentCfg, UnitWork, int]], list[str]]:
    """(train settings, augment settings, work of one unit, number of such units) per CNN configuration."""
    protocols = ("honest", "paper") if cfg.cv.protocol == "both" else (cfg.cv.protocol,)
    folds = len(np.unique(cohort.sites)) if cfg.cv.protocol == "site" else cfg.cv.folds
    out, left = [], []
    for name in cfg.cv.configs:
        conf = get_config(name)
        if not isinstance(conf, CNNConfiguration):  # only CNN training is estimated (see the module docstring)
            left.append(name)
            continue
        s = conf.settings(cfg)
        t = len(build_transforms(s.augment)) if s.augment.mode == "fixed" else 1
        frozen = s.train.freeze_backbone and s.augment.mode != "stochastic"
        for proto in protocols:
            w = unit_work(rows=len(cohort), folds=folds, val_fraction=s.train.val_fraction, transforms=t,
                          epochs=s.train.epochs, paper=proto == "paper", frozen=frozen)
            out.append((s.train, s.augment, w, folds * cfg.cv.repeats))
    return out, left


def _passes(w: UnitWork) -> int:
    forwards = w.train_images + w.val_images + w.test_images
    return forwards if w.frozen else w.epochs * (3 * w.train_images + w.val_images) + w.test_images


def estimate_cv(cohort: Cohort, cfg: RunConfig, *, measure: Measure = measure_rates) -> CVEstimate | None:
    """The CNN units' time at rates measured now, or None for a short run (or one without CNN units)."""
    units, left = _units(cohort, cfg)
    if not units or sum(_passes(w) * n for _, _, w, n in units) < LONG_RUN_PASSES:
        return None
    shape = (int(cohort.images.shape[1]), int(cohort.images.shape[2]), int(cohort.images.shape[3]))
    rates: dict[tuple[str, int | None, str], Rates] = {}
    total = 0.0
    for train, aug, w, n in units:
        key = (train.model, train.image_size, train.device)
        if key not in rates:  # one measurement per network (the configurations differ in weights and data only)
            rates[key] = measure(replace(train, weights="none"), shape, replace(aug, mode="fixed"))
        total += n * unit_seconds(w, rates[key])
    return CVEstimate(total, sum(n for *_, n in units), tuple(rates.values()), tuple(left))


def log_estimate(cohort: Cohort, cfg: RunConfig, *, measure: Measure = measure_rates) -> None:
    """Log :func:`estimate_cv`'s line (INFO: the CLI shows it on stderr) for a long run."""
    est = estimate_cv(cohort, cfg, measure=measure)
    if est is not None:
        logger.info("%s", est.line())
