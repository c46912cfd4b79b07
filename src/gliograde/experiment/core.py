"""The cross-validated experiment: every configuration trained and tested on the same folds.

Commands::

    gliograde cv runs/tcga --out runs/cv-tcga --preset quick --folds 10          # honest (default)
    gliograde cv runs/synth --out runs/cv-paper --protocol paper                 # the study's leaky protocol
    gliograde cv runs/synth --out runs/cv --protocol both                        # honest + paper side by side
    gliograde cv runs/tcga --out runs/rep --preset recommended --repeats 5       # 5 x 10 folds, seeds 0..4

Each (configuration, fold) is one unit whose patient-level predictions are written to
``work/<config>/fold<k>/predictions.csv`` when it finishes; rerunning the same command skips the
finished units (and a unit interrupted mid-training resumes from its checkpoint), so the final
results equal an uninterrupted run's. Artefacts: ``folds.json``, ``predictions.csv``,
``history/<config>/fold<k>.csv``, ``metrics.json``, ``figures/``, ``report.html``.

Repeated CV (``CVCfg.repeats`` = R > 1): repeat r splits the patients again with fold seed ``seed + r``
and its models get the seeds of a single run with ``--seed seed + r``. Repeat 0 is the single run,
file for file; repeat r >= 1 adds ``folds_r<r>.json``, ``work/<config>/r<r>/fold<k>/`` and
``history/<config>/r<r>/``, and ``predictions.csv`` gains a ``repeat`` column (only when R > 1).
"""
from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import torch
from tqdm import tqdm

from gliograde.config import AugmentCfg, ClassifierKind, CVCfg, TrainCfg
from gliograde.data.dataset import MANIFEST, Cohort
from gliograde.errors import InputError
from gliograde.experiment.splits import (
    Fold,
    make_folds,
    paper_folds,
    rows_of,
    save_folds,
)
from gliograde.runinfo import fingerprint_files, write_run_info

logger = logging.getLogger(__name__)
CNN_CONFIGS = ("full", "no-pretrain", "no-aug")
#: Handcrafted configurations -> their classifier (None: ``CVCfg.handcrafted_classifier``).
HANDCRAFTED: dict[str, ClassifierKind | None] = {"handcrafted": None, "handcrafted-mlp": "mlp"}
#: Configurations that choose their classifier and feature count inside each training fold.
SELECTED = ("radiomics", "fusion")
KNOWN_CONFIGS = CNN_CONFIGS + tuple(HANDCRAFTED) + SELECTED
SELECTION_FILE = "selection.json"


@dataclass(frozen=True)
class Experiment:
    """Everything a unit needs: the cohort, the folds and the resolved settings."""

    cohort: Cohort
    out: Path
    cv: CVCfg
    train: TrainCfg
    augment: AugmentCfg
    progress: bool = True


def config_settings(name: str, train: TrainCfg, augment: AugmentCfg) -> tuple[TrainCfg, AugmentCfg]:
    """The study's ablations as changes to the full configuration."""
    if name == "no-pretrain":
        return replace(train, weights="none"), augment
    if name == "no-aug":
        return train, replace(augment, mode="none")
    return train, augment


def run_cv(exp: Experiment) -> pd.DataFrame:
    """Run (or resume) every unit of the experiment and write ``predictions.csv``; returns it."""
    unknown = [c for c in exp.cv.configs if c not in KNOWN_CONFIGS]
    if unknown:
        raise InputError(f"--configs: unknown configuration(s) {unknown}; choose from {list(KNOWN_CONFIGS)}")
    exp.out.mkdir(parents=True, exist_ok=True)
    folds = repeated_folds(exp)
    _provenance(exp)
    units = [(c, f) for c in exp.cv.configs for rep in folds for f in rep]
    bar = tqdm(units, desc=f"cv {exp.cv.protocol}", unit="fold", disable=None if exp.progress else True)
    for config, fold in bar:
        where = f" repeat {fold['repeat'] + 1}/{exp.cv.repeats}" if exp.cv.repeats > 1 else ""
        bar.set_postfix_str(f"{config}{where} fold {fold['fold'] + 1}/{len(folds[0])}")
        _run_unit(exp, config, fold)
    preds = pd.concat([_unit_predictions(exp, c, f) for c, f in units], ignore_index=True)
    preds.to_csv(exp.out / "predictions.csv", index=False)
    write_selection(exp, [f for rep in folds for f in rep])
    return preds


def repeated_folds(exp: Experiment) -> list[list[Fold]]:
    """The folds of every repeat, each fold carrying its ``"repeat"``; writes ``folds.json`` (repeat 0)
    and ``folds_r<r>.json`` (repeat r, fold seed ``cv.seed + r``), refusing a run folder of other folds."""
    out: list[list[Fold]] = []
    for r in range(exp.cv.repeats):
        seed = exp.cv.seed + r
        folds = _folds(exp, seed)
        name = "folds.json" if r == 0 else f"folds_r{r}.json"
        save_folds(exp.out / name, folds, n_splits=len(folds), seed=seed, protocol=exp.cv.protocol)
        out.append([{**f, "repeat": r} for f in folds])  # after saving: repeat 0's folds.json is unchanged
    return out


def _unit_predictions(exp: Experiment, config: str, fold: Fold) -> pd.DataFrame:
    table = pd.read_csv(_unit_dir(exp, config, fold) / "predictions.csv", dtype={"patient_id": str})
    if exp.cv.repeats > 1:
        table.insert(1, "repeat", int(fold["repeat"]))
    return table


def write_selection(exp: Experiment, folds: list[Fold]) -> dict[str, object] | None:
    """Gather what each fold of each selecting configuration chose into ``RUN/selection.json``."""
    names = [c for c in exp.cv.configs if c in SELECTED]
    if not names:
        return None
    sel = exp.cv.selection
    configs: dict[str, object] = {}
    doc: dict[str, object] = {
        "how": (f"{sel.method}: every candidate (classifier x features kept) is scored by patient-level AUC on "
                f"inner validation patients drawn from the outer training patients only "
                f"({sel.inner_folds}-fold StratifiedGroupKFold for inner_cv, one stratified split for "
                "inner_split); the best is refitted on all training patients. Test patients are never seen."),
        "method": sel.method, "inner_folds": sel.inner_folds, "features": list(sel.features), "candidates": {
            "classifiers": list(sel.classifiers), "select_k": [k or "all" for k in sel.select_k]},
        "configs": configs}
    if exp.cv.repeats > 1:
        doc["repeats"] = exp.cv.repeats
    for name in names:
        per_fold = [_unit_selection(exp, name, f) for f in folds]
        chosen = pd.Series([p["chosen"] for p in per_fold]).value_counts()
        configs[name] = {"folds": per_fold, "chosen_counts": chosen.to_dict()}
    (exp.out / SELECTION_FILE).write_text(json.dumps(doc, indent=1))
    return doc


def _unit_selection(exp: Experiment, config: str, fold: Fold) -> dict[str, object]:
    """A unit's ``selection.json``; with R > 1 repeats it leads with the unit's ``repeat``."""
    doc: dict[str, object] = json.loads((_unit_dir(exp, config, fold) / SELECTION_FILE).read_text())
    return {"repeat": int(fold["repeat"]), **doc} if exp.cv.repeats > 1 else doc


def _folds(exp: Experiment, seed: int) -> list[Fold]:
    c = exp.cohort
    if exp.cv.protocol == "paper":
        t = n_transforms(exp.augment)
        return paper_folds(len(c) * t, np.repeat(c.labels, t), exp.cv.folds, seed)
    sites = c.sites if exp.cv.protocol == "site" else None
    return make_folds(c.patient_ids, c.labels, exp.cv.folds, seed, sites=sites)


def _provenance(exp: Experiment) -> None:
    c = exp.cohort
    files = [c.root / MANIFEST] + [c.root / p for p in (*c.manifest["cache_path"], *c.manifest["cache_mask_path"])]
    config = {"cohort": str(c.root), "cv": exp.cv, "train": exp.train, "augment": exp.augment,
              "classes": list(c.classes)}
    write_run_info(exp.out, command="cv", config=config, seed=exp.cv.seed,
                   fingerprint=fingerprint_files(files, root=c.root))


def _repeat_dir(folder: Path, fold: Fold) -> Path:
    """``folder`` for repeat 0 (the single run's layout), ``folder/r<r>`` for repeat r >= 1."""
    r = int(fold.get("repeat", 0))
    return folder / f"r{r}" if r else folder


def _unit_dir(exp: Experiment, config: str, fold: Fold) -> Path:
    return _repeat_dir(exp.out / "work" / config, fold) / f"fold{fold['fold']}"


def _run_unit(exp: Experiment, config: str, fold: Fold) -> None:
    unit = _unit_dir(exp, config, fold)
    if (unit / "predictions.csv").is_file():
        logger.info("%s repeat %d fold %d: done earlier, skipped", config, fold.get("repeat", 0), fold["fold"])
        return
    unit.mkdir(parents=True, exist_ok=True)
    if config in HANDCRAFTED:
        from gliograde.experiment.units import handcrafted_unit

        table = handcrafted_unit(exp, config, fold)
    elif config in SELECTED:
        from gliograde.experiment.select import selected_unit

        table = selected_unit(exp, config, fold, unit)
    elif exp.cv.protocol == "paper":
        from gliograde.experiment.units import paper_cnn_unit

        table = paper_cnn_unit(exp, config, fold, unit)
    else:
        from gliograde.experiment.units import honest_cnn_unit

        table = honest_cnn_unit(exp, config, fold, unit)
    for ckpt in unit.glob("*.safetensors"):  # fold models are not kept: the bundle retrains on all patients
        ckpt.unlink()
    tmp = unit / "predictions.csv.tmp"
    table.to_csv(tmp, index=False)
    tmp.replace(unit / "predictions.csv")  # atomic: a unit is either finished or not


def prediction_table(exp: Experiment, config: str, fold: int, rows: npt.NDArray[np.int64],
                     proba: npt.NDArray[np.float64], *, per_row: bool = False) -> pd.DataFrame:
    """Patient-level predictions (mean probability over a patient's rows), or one row per sample."""
    c = exp.cohort
    df = pd.DataFrame(proba, columns=[f"p_{g}" for g in c.classes])
    df.insert(0, "patient_id", c.patient_ids[rows])
    df["label"] = np.asarray(c.classes)[c.labels[rows]]
    if not per_row:
        how = {**{f"p_{g}": "mean" for g in c.classes}, "label": "first"}
        df = df.groupby("patient_id", sort=True).agg(how).reset_index()
    pcols = [f"p_{g}" for g in c.classes]
    df["pred"] = np.asarray(c.classes)[df[pcols].to_numpy().argmax(axis=1)]
    df.insert(1, "fold", fold)
    df.insert(2, "config", config)
    df.insert(3, "protocol", exp.cv.protocol)
    return df


def copy_history(exp: Experiment, config: str, fold: Fold, unit: Path) -> None:
    """Keep the per-epoch history where the report looks for it."""
    src = unit / "history.csv"
    if src.is_file():
        dst = _repeat_dir(exp.out / "history" / config, fold) / f"fold{fold['fold']}.csv"
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)


def fold_seed(exp: Experiment, fold: Fold) -> int:
    """One seed per fold, shared by the configurations (so they differ only in what they ablate).

    Repeat r of a run with seed s uses the seeds of a single run with seed s + r (its folds too), so
    repeat 0 keeps the single run's seeds and every repeat can be rerun on its own with ``--seed s + r``.
    """
    return (int(exp.cv.seed) + int(fold.get("repeat", 0))) * 1000 + int(fold["fold"])


def n_transforms(augment: AugmentCfg) -> int:
    """Versions of each image in the paper protocol's augmented pool (57 for the study)."""
    from gliograde.augment.policy import build_transforms

    return len(build_transforms(augment)) if augment.mode == "fixed" else 1


def images_of(exp: Experiment, rows: npt.NDArray[np.int64]) -> torch.Tensor:
    """The cohort's uint8 images (n, C, H, W) of ``rows``."""
    return torch.from_numpy(exp.cohort.images[rows])


def fold_rows(exp: Experiment, fold: Fold) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(train_rows, test_rows) of the cohort; under the paper protocol the original images of its folds."""
    if exp.cv.protocol == "paper":
        t = n_transforms(exp.augment)
        tr, te = (np.asarray(fold[k]) for k in ("train_rows", "test_rows"))
        return tr[tr % t == 0] // t, te[te % t == 0] // t
    c = exp.cohort
    return rows_of(c.patient_ids, fold["train"]), rows_of(c.patient_ids, fold["test"])
