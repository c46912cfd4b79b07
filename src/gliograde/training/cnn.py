"""Train one model on an ingested cohort: inner split by patient, augmentation, fit, artefacts.

The command line (``gliograde train``), cross-validation and the model bundle all call
:func:`train_on_cohort`, so a fold's model is trained exactly like a stand-alone one.

>>> # from gliograde.data.dataset import load_cohort; from gliograde.presets import get_preset
>>> # res = train_on_cohort(load_cohort(Path("runs/ingested")), get_preset("quick"), AugmentCfg(), Path("runs/m"))

Artefacts written to ``out``: ``weights.safetensors`` (best epoch), ``history.csv``,
``history.png``, ``inner_split.csv`` (patient alias -> train/val: no patient id in a bundle folder),
``checkpoint.safetensors`` and ``state.json`` (resume), ``config.yaml`` and ``run.json`` (provenance).
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import torch
from safetensors.torch import save_file

from gliograde.augment.policy import expand_training
from gliograde.bundles.meta import WEIGHTS
from gliograde.config import AugmentCfg, RunConfig, TrainCfg
from gliograde.data.dataset import MANIFEST, Cohort
from gliograde.models import create_model
from gliograde.prediction.cases import patient_aliases
from gliograde.report.plots import plot_history
from gliograde.runinfo import fingerprint_files, names_withheld, write_run_info
from gliograde.splits import inner_split
from gliograde.training.device import expansion_device, stochastic_augmenter
from gliograde.training.engine import FitResult, fit

logger = logging.getLogger(__name__)


def train_on_cohort(
    cohort: Cohort,
    cfg: TrainCfg,
    aug_cfg: AugmentCfg,
    out: Path | None,
    *,
    rows: npt.ArrayLike | None = None,
    progress: bool = True,
    run: RunConfig | None = None,
) -> FitResult:
    """Train ``cfg.model`` on ``rows`` of ``cohort`` (all rows by default; a CV fold passes its training rows).

    A validation set of whole patients (``cfg.val_fraction``) is held out of ``rows`` for early
    stopping; only the remaining rows are augmented (``aug_cfg``), never the validation rows.

    Args:
        cohort: from :func:`gliograde.data.dataset.load_cohort`; images (N, C, H, W) uint8.
        cfg: training settings; aug_cfg: augmentation of the training rows.
        out: run folder for weights, history, figure, checkpoint and provenance (None: write nothing).
        rows: (n,) row indices of ``cohort`` to train on; test rows must not be among them.
        run: the whole resolved settings, written to ``out/config.yaml`` so ``--config`` replays the run.

    Returns:
        :class:`~gliograde.training.engine.FitResult` with the best-epoch model.
    """
    train_rows, val_rows = inner_rows(cohort, cfg, rows)
    x_train, y_train, _ = expand_training(cohort.images, cohort.masks, cohort.labels, train_rows, aug_cfg,
                                          test_idx=val_rows, device=expansion_device(cfg))
    logger.info("training on %d rows (%d after augmentation), validating on %d rows of %d patients",
                len(train_rows), len(y_train), len(val_rows), len(np.unique(cohort.patient_ids[val_rows])))
    channels = cohort.images.shape[1]
    torch.manual_seed(cfg.seed)  # the new head's initialisation
    model = create_model(cfg.model, len(cohort.classes), cfg.weights, allow_download=cfg.allow_download,
                         in_chans=channels if channels not in (1, 3) else 3)
    stochastic = stochastic_augmenter(cfg) if aug_cfg.mode == "stochastic" else None
    x_val = torch.from_numpy(cohort.images[val_rows])
    result = fit(model, x_train, y_train, x_val, cohort.labels[val_rows], cfg, out_dir=out, progress=progress,
                 stochastic_aug=stochastic)
    if out is not None:
        _write_artefacts(out, cohort, cfg, aug_cfg, result, train_rows, val_rows, run)
    return result


def inner_rows(cohort: Cohort, cfg: TrainCfg, rows: npt.ArrayLike | None = None,
               ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The (training, early-stopping validation) rows :func:`train_on_cohort` makes of ``rows`` (all by default):
    whole patients, stratified, seeded by ``cfg.seed``, so a caller (CV's ``--recalibrate platt``) can find the
    validation patients again without a second split."""
    rows = np.arange(len(cohort), dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
    tr, va = inner_split(cohort.patient_ids[rows], cohort.labels[rows], cfg.val_fraction, cfg.seed,
                         groups=cohort.groups[rows])  # one person (a BraTS case's TCGA patient) on one side
    return rows[tr], rows[va]


def _write_artefacts(out: Path, cohort: Cohort, cfg: TrainCfg, aug_cfg: AugmentCfg, result: FitResult,
                     train_rows: npt.NDArray[np.int64], val_rows: npt.NDArray[np.int64],
                     run: RunConfig | None = None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in result.model.state_dict().items()}
    save_file(state, str(out / WEIGHTS), metadata={"model": cfg.model, "classes": ",".join(map(str, cohort.classes)),
                                                   "best_epoch": str(result.best_epoch)})
    pd.DataFrame(result.history).to_csv(out / "history.csv", index=False)
    plot_history(result.history, out / "history.png", best_epoch=result.best_epoch)
    roles = pd.DataFrame({"patient_alias": patient_aliases(cohort.patient_ids[np.r_[train_rows, val_rows]]),
                          "role": ["train"] * len(train_rows) + ["val"] * len(val_rows)})
    roles.drop_duplicates().to_csv(out / "inner_split.csv", index=False)
    used = np.concatenate([train_rows, val_rows])
    cached = cohort.manifest.iloc[used]
    files = [cohort.root / MANIFEST] + [cohort.root / p for p in (*cached["cache_path"], *cached["cache_mask_path"])]
    settings = run.sections() if run is not None else {"train": cfg, "augment": aug_cfg}  # run: replayable
    config = {**settings, "classes": list(cohort.classes),
              "best_epoch": result.best_epoch, "stopped_epoch": result.stopped_epoch}
    write_run_info(out, command="train", config=config, seed=cfg.seed,
                   fingerprint=names_withheld(fingerprint_files(files, root=cohort.root)))  # names: PHI
    logger.debug("wrote %s (best epoch %d of %d)", out / WEIGHTS, result.best_epoch, result.stopped_epoch)
