"""One protocol's cross-validated experiment: every configuration trained and tested on the same folds.

Each (configuration, fold) is one unit whose patient-level predictions are written to
``work/<config>/fold<k>/predictions.csv`` when it finishes, with ``work/<config>/unit-fold<k>.json`` beside the
folder (the unit's own files stay those of the unit, whichever executor ran it): the sha256 of everything that
determines the unit (:func:`unit_inputs`: the configuration's resolved settings, the cohort fingerprint, the
fold's patients or rows, the gliograde version). Rerunning reuses a finished unit only when its hash matches
(and a unit interrupted mid-training resumes from its checkpoint), so the final results equal an uninterrupted
run's; a unit whose settings or data changed is cleared and recomputed, and the log says which.
The units run on the run's executor (``RunConfig.executor``: here, or
as Ray tasks); whichever it is, this process writes every unit's files, so the results are the same files.
Artefacts: ``folds.json``, ``predictions.csv``,
``history/<config>/fold<k>.csv``, ``selection.json`` (configurations that select), ``run.json``.

Repeated CV (``CVCfg.repeats`` = R > 1): repeat r splits the patients again with fold seed ``seed + r``
and its models get the seeds of a single run with ``--seed seed + r``. Repeat 0 is the single run,
file for file; repeat r >= 1 adds ``folds_r<r>.json``, ``work/<config>/r<r>/fold<k>/`` and
``history/<config>/r<r>/``, and ``predictions.csv`` gains a ``repeat`` column (only when R > 1).
"""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gliograde.errors import InputError, TasksFailed
from gliograde.executor import run_tasks
from gliograde.experiment.configs import get_configs
from gliograde.experiment.configuration import CVConfiguration
from gliograde.experiment.context import Experiment, copy_history, fold_rows, n_transforms, unit_dir
from gliograde.experiment.selected import SELECTION_FILE
from gliograde.fsio import atomic_path, atomic_write_bytes, atomic_write_json
from gliograde.progress import detail
from gliograde.runinfo import code_version, sha256_file, to_plain, write_run_info
from gliograde.splits import Fold, inner_split, inner_splits, make_folds, paper_folds, save_folds

logger = logging.getLogger(__name__)


def run_protocol(exp: Experiment) -> pd.DataFrame:
    """Run (or resume) every unit of the experiment and write ``predictions.csv``; returns it.

    The units not finished yet run on ``exp.cfg.executor`` (:func:`gliograde.executor.run_tasks`); each one's
    files are written here, by this process, as it finishes.

    Raises:
        TasksFailed: units that still failed after their retries (the others finished and were written;
            a rerun runs only the failed ones); ``predictions.csv`` is not written then.
    """
    configs = get_configs(exp.cfg.cv.configs)
    exp.out.mkdir(parents=True, exist_ok=True)
    folds = repeated_folds(exp)
    _provenance(exp)
    units = [(c, f) for c in configs for rep in folds for f in rep]
    check_inner_splits(exp, configs, [f for rep in folds for f in rep])
    pending = [(c, f) for c, f in units if not _reusable(exp, c, f)]
    if len(pending) < len(units):
        logger.info("cv %s: %d of %d units reused (same settings and data), %d to compute", exp.cfg.cv.protocol,
                    len(units) - len(pending), len(units), len(pending))
    for config in {c.name: c for c, _ in pending}.values():
        config.prepare(exp)  # the feature store's matrices, computed once here and shipped with exp
    ex = exp.cfg.executor
    shared = exp if ex.name == "local" else replace(exp, progress=False, threads=_torch_threads())

    def done(i: int, result: UnitResult) -> None:
        commit_unit(exp, *pending[i], result)

    # one progress line for the run (units done, the one running, ETA); each unit's own lines are detail (-v)
    failed = run_tasks(compute_unit, pending, ex, on_done=done, desc=f"cv {exp.cfg.cv.protocol}",
                       progress=exp.progress, shared=shared, label=lambda i: unit_label(exp, *pending[i]),
                       unit="unit")
    if failed:
        lines = [f"{unit_label(exp, *pending[f.index])}: {f.error}" for f in failed]
        raise TasksFailed("units", len(units), lines, "rerun the same command to run only these")
    preds = pd.concat([_unit_predictions(exp, c, f) for c, f in units], ignore_index=True)
    with atomic_path(exp.out / "predictions.csv") as tmp:
        preds.to_csv(tmp, index=False)
    write_selection(exp, configs, [f for rep in folds for f in rep])
    return preds


@dataclass(frozen=True)
class UnitResult:
    """What one unit sends back to the driver: its prediction table and the files of its folder.

    Attributes:
        table: the configuration's prediction table (:func:`~gliograde.experiment.context.prediction_table`).
        files: every file the unit wrote in its folder but checkpoints (path relative to it -> bytes):
            ``history.csv``, ``selection.json``, ...
    """

    table: pd.DataFrame
    files: dict[str, bytes]


def unit_label(exp: Experiment, config: CVConfiguration, fold: Fold) -> str:
    """``radiomics fold 3``, ``radiomics repeat 1 fold 3`` (indices as in the unit folders' names)."""
    where = f" repeat {fold.repeat}" if exp.cfg.cv.repeats > 1 else ""
    return f"{config.name}{where} fold {fold.index}"


def _torch_threads() -> int:
    """This process's torch CPU threads (0 when torch is not loaded): what the units use locally."""
    torch = sys.modules.get("torch")
    return int(torch.get_num_threads()) if torch is not None else 0


def unit_record(exp: Experiment, config: CVConfiguration, fold: Fold) -> Path:
    """``RUN/work/<config>[/r<r>]/unit-fold<k>.json``: a unit's record, beside its folder: the hash of what
    determines it, those inputs, and (once it finished) the sha256 of its predictions.csv."""
    unit = unit_dir(exp, config.name, fold)
    return unit.with_name(f"unit-{unit.name}.json")


#: TrainCfg fields that choose where or how fast a unit runs, not what it computes.
_RUN_ONLY = ("device", "num_threads", "allow_download", "preset")


def unit_inputs(exp: Experiment, config: CVConfiguration, fold: Fold) -> dict[str, Any]:
    """Everything that determines one unit's predictions: the configuration's resolved settings (the sections
    it ``uses``, with its ablation applied, and the CV keys every unit reads), the cohort fingerprint, the
    fold's patients (or rows), the fold seed's parts and the gliograde version."""
    cfg = config.settings(exp.cfg)
    cv = cfg.cv
    # every CV key but those that only choose which units exist or how the report is made (folds: the fold below)
    settings: dict[str, Any] = {k: v for k, v in to_plain(cv).items()
                                if k not in ("n_boot", "configs", "repeats", "folds", "selection", "permute_labels")}
    if cv.recalibrate == "none":  # at its default it is left out, so the units of earlier runs keep their hash
        settings.pop("recalibrate")
    if "train" in config.uses or exp.paper:
        settings["train"] = {k: v for k, v in to_plain(cfg.train).items() if k not in _RUN_ONLY}
    if "augment" in config.uses or exp.paper:
        settings["augment"] = to_plain(cfg.augment)
    if "selection" in config.uses:
        settings["selection"] = {k: v for k, v in to_plain(cv.selection).items()  # native keys at their default
                                 if not (k in ("spacing", "radiomics_params") and not v)}  # left out: hash kept
        if cv.selection.radiomics_params and Path(cv.selection.radiomics_params).is_file():  # its content decides
            settings["selection"]["radiomics_params"] = sha256_file(Path(cv.selection.radiomics_params))
    inputs = {"config": config.name, "settings": settings,
              "cohort_sha256": exp.features.fingerprint["sha256"], "classes": list(exp.cohort.classes),
              "fold": {**fold.to_json(), "repeat": fold.repeat}, "gliograde": code_version()}
    if exp.permutation is not None:  # a label-permutation run (gliograde.experiment.permute): its shuffle
        inputs["permutation"] = dict(exp.permutation)
    return inputs


def unit_hash(inputs: dict[str, Any]) -> str:
    """sha256 of :func:`unit_inputs` as canonical JSON."""
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()


def _reusable(exp: Experiment, config: CVConfiguration, fold: Fold) -> bool:
    """True when the unit finished earlier with the same inputs (reuse it): its record's hash matches and its
    predictions.csv is the one the record's ``predictions_sha256`` (written last, when it finished) names.
    Otherwise a unit folder left by other inputs (or by a version that kept no record) is cleared, and this
    run's record is written before it runs, so a unit interrupted now resumes from its checkpoint only under
    the same inputs."""
    unit = unit_dir(exp, config.name, fold)
    inputs = unit_inputs(exp, config, fold)
    want = unit_hash(inputs)
    try:
        record = json.loads(unit_record(exp, config, fold).read_text())
        have = record.get("hash")
    except (OSError, ValueError, AttributeError):
        record, have = {}, None
    label = unit_label(exp, config, fold)
    if have == want and (unit / "predictions.csv").is_file() and record.get("predictions_sha256") == sha256_file(
            unit / "predictions.csv"):
        logger.debug("%s: done earlier with the same settings and data, reused", label)  # counted in one line
        return True
    if unit.exists() and have != want:
        why = "no record of its settings" if have is None else "settings or data changed since it ran"
        logger.info("%s: %s; recomputing", label, why)
        shutil.rmtree(unit)
    atomic_write_json(unit_record(exp, config, fold), {"hash": want, "inputs": inputs})
    return False


def check_inner_splits(exp: Experiment, configs: tuple[CVConfiguration, ...], folds: list[Fold]) -> None:
    """Before any unit runs: every outer training fold must be large enough for the inner split its
    configurations make (a CNN's early-stopping validation patients, a selecting configuration's inner CV), so a
    small cohort is one line naming the minimum instead of every unit failing after its retries.

    Raises:
        InputError: the first fold whose training patients are too few, with the counts and the fixes.
    """
    if exp.paper:
        return
    c, cv, train = exp.cohort, exp.cfg.cv, exp.cfg.train
    cnn = any("train" in k.uses and "selection" not in k.uses for k in configs)
    selecting = any(k.selects for k in configs)
    for fold in folds:
        rows = fold_rows(exp, fold)[0]
        pids, y, groups = c.patient_ids[rows], c.labels[rows], c.groups[rows]
        counts = {str(c.classes[k]): int(n) for k, n in zip(*np.unique(y, return_counts=True), strict=True)}
        try:
            if cnn and train.val_fraction > 0:
                inner_split(pids, y, train.val_fraction, 0, groups=groups)
            if selecting:
                inner_splits(pids, y, cv.selection.method, cv.selection.inner_folds, 0, groups=groups)
        except ValueError as err:  # sklearn's splitters (and InputError, a ValueError) on too few members
            need = max(2, round(1 / train.val_fraction)) if cnn and train.val_fraction > 0 else 2
            raise InputError(f"cv: the training patients of fold {fold.index} are too few to split again "
                             f"(rows per grade {counts}; an inner split needs at least {need} of a grade for early "
                             "stopping and 2 of each grade for model selection); add patients, use fewer --folds "
                             "or a larger --val-fraction") from err


def compute_unit(item: tuple[CVConfiguration, Fold], exp: Experiment) -> UnitResult:
    """Run one unit wherever the executor put it (this process or a Ray worker) and return its results.

    The unit works in its folder of the run when this machine sees the run folder (the driver's, or a shared
    disk: an interrupted CNN then resumes from its checkpoint), else in a scratch folder removed afterwards.
    """
    config, fold = item
    if exp.threads:
        import torch  # heavy: loaded already wherever a CNN configuration is registered

        torch.set_num_threads(exp.threads)
    scratch = None if exp.out.is_dir() else Path(tempfile.mkdtemp(prefix="gliograde-unit-"))
    if scratch is not None:
        exp = replace(exp, out=scratch)
    try:
        unit = unit_dir(exp, config.name, fold)
        unit.mkdir(parents=True, exist_ok=True)
        # the unit's own lines (augmentation, training, epochs) are detail, shown with -v: the progress line counts
        with detail(unit_label(exp, config, fold)):
            table = config.run_unit(exp, fold, unit)
        files = {p.relative_to(unit).as_posix(): p.read_bytes() for p in sorted(unit.rglob("*"))
                 if p.is_file() and p.suffix not in (".safetensors", ".tmp")}
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    return UnitResult(table, files)


def commit_unit(exp: Experiment, config: CVConfiguration, fold: Fold, result: UnitResult) -> None:
    """Write a finished unit's files into its folder, ``predictions.csv`` last and atomically (in the driver)."""
    unit = unit_dir(exp, config.name, fold)
    for rel, data in result.files.items():
        path = unit / rel
        if not (path.is_file() and path.read_bytes() == data):  # the same machine already wrote it
            atomic_write_bytes(path, data)
    copy_history(exp, config.name, fold, unit)
    for ckpt in unit.glob("*.safetensors"):  # fold models are not kept: the bundle retrains on all patients
        ckpt.unlink()
    with atomic_path(unit / "predictions.csv") as tmp:  # atomic: a unit is either finished or not
        result.table.to_csv(tmp, index=False)
    inputs = unit_inputs(exp, config, fold)  # last: the record names the finished predictions
    atomic_write_json(unit_record(exp, config, fold), {"hash": unit_hash(inputs), "inputs": inputs,
                                                       "predictions_sha256": sha256_file(unit / "predictions.csv")})
    logger.debug("%s: done", unit_label(exp, config, fold))  # the progress line counts it


def repeated_folds(exp: Experiment) -> list[list[Fold]]:
    """The folds of every repeat, each fold carrying its ``repeat``; writes ``folds.json`` (repeat 0)
    and ``folds_r<r>.json`` (repeat r, fold seed ``cv.seed + r``), refusing a run folder of other folds."""
    out: list[list[Fold]] = []
    cv = exp.cfg.cv
    for r in range(cv.repeats):
        seed = cv.seed + r
        folds = _folds(exp, seed)
        name = "folds.json" if r == 0 else f"folds_r{r}.json"
        save_folds(exp.out / name, folds, n_splits=len(folds), seed=seed, protocol=cv.protocol)
        out.append([replace(f, repeat=r) for f in folds])
    return out


def _folds(exp: Experiment, seed: int) -> list[Fold]:
    c, cv = exp.cohort, exp.cfg.cv
    if exp.paper:
        t = n_transforms(exp.cfg.augment)
        return paper_folds(len(c) * t, np.repeat(c.labels, t), cv.folds, seed)
    sites = c.sites if cv.protocol == "site" else None
    return make_folds(c.patient_ids, c.labels, cv.folds, seed, sites=sites, groups=c.groups)  # one person, one side


def _unit_predictions(exp: Experiment, config: CVConfiguration, fold: Fold) -> pd.DataFrame:
    table = pd.read_csv(unit_dir(exp, config.name, fold) / "predictions.csv", dtype={"patient_id": str})
    if exp.cfg.cv.repeats > 1:
        table.insert(1, "repeat", fold.repeat)
    return table


def write_selection(exp: Experiment, configs: tuple[CVConfiguration, ...],
                    folds: list[Fold]) -> dict[str, object] | None:
    """Gather what each fold of each selecting configuration chose into ``RUN/selection.json``."""
    selecting = [c.name for c in configs if c.selects]
    if not selecting:
        return None
    cv = exp.cfg.cv
    sel = cv.selection
    per_config: dict[str, object] = {}
    doc: dict[str, object] = {
        "how": (f"{sel.method}: every candidate (classifier x features kept) is scored by patient-level AUC on "
                f"inner validation patients drawn from the outer training patients only "
                f"({sel.inner_folds}-fold StratifiedGroupKFold for inner_cv, one stratified split for "
                "inner_split); the best is refitted on all training patients. Test patients are never seen."),
        "method": sel.method, "inner_folds": sel.inner_folds, "features": list(sel.features), "candidates": {
            "classifiers": list(sel.classifiers), "select_k": [k or "all" for k in sel.select_k]},
        "configs": per_config}
    if cv.repeats > 1:
        doc["repeats"] = cv.repeats
    for name in selecting:
        per_fold = [_unit_selection(exp, name, f) for f in folds]
        chosen = pd.Series([p["chosen"] for p in per_fold]).value_counts()
        per_config[name] = {"folds": per_fold, "chosen_counts": chosen.to_dict()}
        # one summary line per configuration; each fold's choice is a DEBUG line of selection.py (-v)
        logger.info("%s model selection (%s): %s of %d folds", name, sel.method,
                    ", ".join(f"{k} in {n}" for k, n in chosen.items()), len(per_fold))
    atomic_write_json(exp.out / SELECTION_FILE, doc, indent=1)
    return doc


def _unit_selection(exp: Experiment, config: str, fold: Fold) -> dict[str, object]:
    """A unit's ``selection.json``; with R > 1 repeats it leads with the unit's ``repeat``."""
    doc: dict[str, object] = json.loads((unit_dir(exp, config, fold) / SELECTION_FILE).read_text())
    return {"repeat": fold.repeat, **doc} if exp.cfg.cv.repeats > 1 else doc


def _provenance(exp: Experiment) -> None:
    c, cfg = exp.cohort, exp.cfg
    config = {"cohort": str(c.root), **cfg.sections(), "classes": list(c.classes)}  # --config replays it
    write_run_info(exp.out, command="cv", config=config, seed=cfg.cv.seed, fingerprint=exp.features.fingerprint)
