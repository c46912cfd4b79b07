"""One protocol's cross-validated experiment: every configuration trained and tested on the same folds.

Each (configuration, fold) is one unit whose patient-level predictions are written to
``work/<config>/fold<k>/predictions.csv`` when it finishes; rerunning the same command skips the
finished units (and a unit interrupted mid-training resumes from its checkpoint), so the final
results equal an uninterrupted run's. The units run on the run's executor (``RunConfig.executor``: here, or
as Ray tasks); whichever it is, this process writes every unit's files, so the results are the same files.
Artefacts: ``folds.json``, ``predictions.csv``,
``history/<config>/fold<k>.csv``, ``selection.json`` (configurations that select), ``run.json``.

Repeated CV (``CVCfg.repeats`` = R > 1): repeat r splits the patients again with fold seed ``seed + r``
and its models get the seeds of a single run with ``--seed seed + r``. Repeat 0 is the single run,
file for file; repeat r >= 1 adds ``folds_r<r>.json``, ``work/<config>/r<r>/fold<k>/`` and
``history/<config>/r<r>/``, and ``predictions.csv`` gains a ``repeat`` column (only when R > 1).
"""
from __future__ import annotations

import json
import logging
import shutil
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from gliograde.data.dataset import MANIFEST
from gliograde.errors import TasksFailed
from gliograde.executor import run_tasks
from gliograde.experiment.configs import get_configs
from gliograde.experiment.configuration import CVConfiguration
from gliograde.experiment.context import Experiment, copy_history, n_transforms, unit_dir
from gliograde.experiment.selected import SELECTION_FILE
from gliograde.runinfo import fingerprint_files, write_run_info
from gliograde.splits import Fold, make_folds, paper_folds, save_folds

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
    pending = [(c, f) for c, f in units if not _finished(exp, c, f)]
    for config in {c.name: c for c, _ in pending}.values():
        config.prepare(exp)  # the feature store's matrices, computed once here and shipped with exp
    ex = exp.cfg.executor
    shared = exp if ex.name == "local" else replace(exp, progress=False, threads=_torch_threads())

    def done(i: int, result: UnitResult) -> None:
        commit_unit(exp, *pending[i], result)

    failed = run_tasks(compute_unit, pending, ex, on_done=done, desc=f"cv {exp.cfg.cv.protocol}",
                       progress=exp.progress, shared=shared)
    if failed:
        lines = [f"{unit_label(exp, *pending[f.index])}: {f.error}" for f in failed]
        raise TasksFailed("units", len(units), lines, "rerun the same command to run only these")
    preds = pd.concat([_unit_predictions(exp, c, f) for c, f in units], ignore_index=True)
    preds.to_csv(exp.out / "predictions.csv", index=False)
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


def _finished(exp: Experiment, config: CVConfiguration, fold: Fold) -> bool:
    if (unit_dir(exp, config.name, fold) / "predictions.csv").is_file():
        logger.info("%s: done earlier, skipped", unit_label(exp, config, fold))
        return True
    return False


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
            path.parent.mkdir(parents=True, exist_ok=True)
            path.with_name(path.name + ".tmp").write_bytes(data)
            path.with_name(path.name + ".tmp").replace(path)
    copy_history(exp, config.name, fold, unit)
    for ckpt in unit.glob("*.safetensors"):  # fold models are not kept: the bundle retrains on all patients
        ckpt.unlink()
    tmp = unit / "predictions.csv.tmp"
    result.table.to_csv(tmp, index=False)
    tmp.replace(unit / "predictions.csv")  # atomic: a unit is either finished or not
    logger.info("%s: done", unit_label(exp, config, fold))


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
    return make_folds(c.patient_ids, c.labels, cv.folds, seed, sites=sites)


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
    (exp.out / SELECTION_FILE).write_text(json.dumps(doc, indent=1))
    return doc


def _unit_selection(exp: Experiment, config: str, fold: Fold) -> dict[str, object]:
    """A unit's ``selection.json``; with R > 1 repeats it leads with the unit's ``repeat``."""
    doc: dict[str, object] = json.loads((unit_dir(exp, config, fold) / SELECTION_FILE).read_text())
    return {"repeat": fold.repeat, **doc} if exp.cfg.cv.repeats > 1 else doc


def _provenance(exp: Experiment) -> None:
    c, cfg = exp.cohort, exp.cfg
    files = [c.root / MANIFEST] + [c.root / p for p in (*c.manifest["cache_path"], *c.manifest["cache_mask_path"])]
    config = {"cohort": str(c.root), **cfg.sections(), "classes": list(c.classes)}  # --config replays it
    write_run_info(exp.out, command="cv", config=config, seed=cfg.cv.seed,
                   fingerprint=fingerprint_files(files, root=c.root))
