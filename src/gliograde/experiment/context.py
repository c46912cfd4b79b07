"""What every unit of one protocol's run shares: the :class:`Experiment`, and the per-fold helpers.

A unit is one (configuration, fold). Its folder is ``RUN/work/<config>/fold<k>`` (repeat 0, the single run)
or ``RUN/work/<config>/r<r>/fold<k>`` (repeat r >= 1); the helpers here give every configuration the
same rows, seeds and prediction table, so configurations differ only in what they train.
"""
from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from gliograde.augment.policy import build_transforms
from gliograde.config import AugmentCfg, RunConfig
from gliograde.data.dataset import Cohort
from gliograde.experiment.features import FeatureStore
from gliograde.splits import Fold, rows_of


@dataclass(frozen=True)
class Experiment:
    """One protocol's run: the cohort, the run folder, the resolved settings and the run's feature store.

    Attributes:
        cohort: the ingested cohort; row i of the feature matrices is its row i.
        out: the run folder of this protocol (``RUN``, or ``RUN/compare/paper`` under ``--protocol both``).
        cfg: the run's settings; ``cfg.cv.protocol`` is ``honest``, ``paper`` or ``site`` here (never ``both``).
        features: computes each feature family of the cohort once (shared by the protocols of a run).
        progress: show progress bars.
        threads: torch's CPU threads in each unit (0 = leave the process's setting); the driver sets it for
            Ray workers to its own, as a CNN trained on CPU with other threads differs in the last digits.
        permutation: for a label-permutation run (:mod:`gliograde.experiment.permute`), which shuffle of the
            grades ``cohort.labels`` holds (index, seed, sha256 of the labels); part of every unit's hash.
    """

    cohort: Cohort
    out: Path
    cfg: RunConfig
    features: FeatureStore
    progress: bool = True
    threads: int = 0
    permutation: Mapping[str, Any] | None = None

    @property
    def paper(self) -> bool:
        """The study's leaky protocol (folds of augmented images, not of patients)."""
        return self.cfg.cv.protocol == "paper"


def repeat_dir(folder: Path, fold: Fold) -> Path:
    """``folder`` for repeat 0 (the single run's layout), ``folder/r<r>`` for repeat r >= 1."""
    return folder / f"r{fold.repeat}" if fold.repeat else folder


def unit_dir(exp: Experiment, config: str, fold: Fold) -> Path:
    """``RUN/work/<config>[/r<r>]/fold<k>``: the unit's predictions, selection and checkpoints."""
    return repeat_dir(exp.out / "work" / config, fold) / f"fold{fold.index}"


def fold_seed(exp: Experiment, fold: Fold) -> int:
    """One seed per fold, shared by the configurations (so they differ only in what they ablate).

    Repeat r of a run with seed s uses the seeds of a single run with seed s + r (its folds too), so
    repeat 0 keeps the single run's seeds and every repeat can be rerun on its own with ``--seed s + r``.
    """
    return (int(exp.cfg.cv.seed) + fold.repeat) * 1000 + fold.index


def n_transforms(augment: AugmentCfg) -> int:
    """Versions of each image in the paper protocol's augmented pool (57 for the study)."""
    return len(build_transforms(augment)) if augment.mode == "fixed" else 1


def fold_rows(exp: Experiment, fold: Fold) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(train_rows, test_rows) of the cohort; under the paper protocol the original images of its folds."""
    if fold.by_rows:
        t = n_transforms(exp.cfg.augment)
        tr, te = np.asarray(fold.train_rows, dtype=np.int64), np.asarray(fold.test_rows, dtype=np.int64)
        return tr[tr % t == 0] // t, te[te % t == 0] // t
    c = exp.cohort
    return rows_of(c.patient_ids, fold.train), rows_of(c.patient_ids, fold.test)


def prediction_table(exp: Experiment, config: str, fold: Fold, rows: npt.NDArray[np.int64],
                     proba: npt.NDArray[np.float64], *, per_row: bool = False) -> pd.DataFrame:
    """Patient-level predictions (mean probability over a patient's rows), or one row per sample.

    Columns: ``patient_id, fold, config, protocol, p_<grade>..., label, pred``.
    """
    c = exp.cohort
    df = pd.DataFrame(proba, columns=[f"p_{g}" for g in c.classes])
    df.insert(0, "patient_id", c.patient_ids[rows])
    df["label"] = np.asarray(c.classes)[c.labels[rows]]
    if not per_row:
        how = {**{f"p_{g}": "mean" for g in c.classes}, "label": "first"}
        df = df.groupby("patient_id", sort=True).agg(how).reset_index()
    pcols = [f"p_{g}" for g in c.classes]
    df["pred"] = np.asarray(c.classes)[df[pcols].to_numpy().argmax(axis=1)]
    df.insert(1, "fold", fold.index)
    df.insert(2, "config", config)
    df.insert(3, "protocol", exp.cfg.cv.protocol)
    return df


def align_proba(proba: npt.NDArray[np.float64], seen: npt.ArrayLike, k: int) -> npt.NDArray[np.float64]:
    """(n, k) probabilities of every class, zero for a class absent from a training fold (``seen``: the
    model's ``classes_``, class indices)."""
    out = np.zeros((len(proba), k))
    out[:, np.asarray(seen, dtype=int)] = proba
    return out


def copy_history(exp: Experiment, config: str, fold: Fold, unit: Path) -> None:
    """Keep the unit's per-epoch history where the report looks for it (``history/<config>[/r<r>]/fold<k>.csv``)."""
    src = unit / "history.csv"
    if src.is_file():
        dst = repeat_dir(exp.out / "history" / config, fold) / f"fold{fold.index}.csv"
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
