"""External validation: grade a labelled cohort from another site with a trained bundle and measure how it does.

    gliograde validate runs/model ../hospital_b --out runs/val_b          # raw cohort (any ingest layout)
    gliograde validate runs/model runs/hospital_b_ingested --out runs/val  # already ingested (same settings)
    gliograde validate runs/model scans/ --labels grades.csv --out runs/val --bootstrap 5000

The cohort is ingested with the bundle's own :class:`~gliograde.config.IngestCfg` (channels, ROI labels,
intensity scaling, crop), so every patient is preprocessed exactly as at training and as ``gliograde
predict`` would; a raw cohort is ingested into a temporary folder that is removed afterwards. The model
is run by the bundle's own inference, on the input its kind reads (:attr:`~gliograde.bundles.base.ModelKind.reads`):
the cohort's arrays (:meth:`~gliograde.bundles.base.ModelKind.predict_crops`), or each patient's original case
found again from the ingest's manifest (:meth:`~gliograde.bundles.base.ModelKind.predict_case`, as ``predict``).
Grades the model does not know are left out with one warning. Metrics: :mod:`gliograde.validation.metrics`;
files: :mod:`gliograde.report.validation`.

Identity: patient ids come from the user's labels (ingest never reads a DICOM header field into an id).
Ids of DICOM patients are still written as ``case-<sha256(id)[:10]>`` unless ``keep_ids``, as
``gliograde predict`` does, since DICOM exports are often named after the PatientID tag; no source path
reaches an output.

>>> # res = run_validation(Path("runs/model"), Path("../hospital_b"), Path("runs/val_b"))
>>> # res.metrics["auc"]["value"], res.metrics["auc"]["ci"]  -> 0.71, [0.55, 0.85]
"""
from __future__ import annotations

import logging
import math
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from gliograde.bundles import Bundle, CropScores, load_bundle
from gliograde.bundles.packed import PackedBundle, open_packed, pack_bundle
from gliograde.config import ExecutorCfg, ValidateCfg
from gliograde.errors import InputError, TasksFailed
from gliograde.executor import run_tasks
from gliograde.fsio import run_folder
from gliograde.metrics import predict_grades
from gliograde.prediction.cases import ALIASES_CSV, case_alias, write_aliases
from gliograde.report.paths import shown_name
from gliograde.report.validation import write_outputs
from gliograde.validation.cohort import ValidationCohort, listed_labels, prepare_cohort
from gliograde.validation.metrics import training_estimates, validation_metrics
from gliograde.validation.names import alias_rows, patient_folders, scrub_problems, skipped_names
from gliograde.validation.overlap import Overlap, training_overlap

if TYPE_CHECKING:
    from gliograde.data.source import CaseSource

logger = logging.getLogger(__name__)

__all__ = ["NoKnownGradeError", "ValidateCfg", "ValidationCohort", "ValidationResult", "grade_cohort",
           "predict_arrays", "predict_arrays_on", "predict_cases", "prepare_cohort", "run_validation", "score_cases",
           "score_chunk", "split_known"]

#: The Ray executor sends at most about this many chunks of crops (whole inference batches each).
MAX_TASKS = 64


class NoKnownGradeError(InputError):
    """After leaving out the grades the model does not know, no patient remains."""


@dataclass
class ValidationResult:
    """What :func:`run_validation` produced: the per-patient table, metrics.json as a dict, files written."""

    out: Path
    table: pd.DataFrame
    metrics: dict[str, Any]
    excluded: dict[int, int]
    files: list[Path]


def split_known(labels: npt.ArrayLike, classes: tuple[int, ...]) -> tuple[npt.NDArray[np.bool_], dict[int, int]]:
    """Which patients have a grade the model knows, and how many of each other grade there are.

    Args:
        labels: (N,) WHO grades; classes: the model's grades.

    Returns:
        (keep (N,) bool, {unknown grade: count}).

    >>> split_known([2, 4, 3, 4], (2, 3))
    (array([ True, False,  True, False]), {4: 2})
    """
    y = np.asarray(labels, dtype=np.int64)
    keep = np.isin(y, np.asarray(classes))
    grades, counts = np.unique(y[~keep], return_counts=True)
    return keep, {int(g): int(c) for g, c in zip(grades, counts, strict=True)}


def no_known_grade(labels_file: Path, excluded: dict[int, int], classes: tuple[int, ...]) -> NoKnownGradeError:
    """The one-line refusal of a cohort none of whose patients has a grade the model knows."""
    return NoKnownGradeError(
        f"{labels_file}: no patient has a grade the model knows ({excluded_message(excluded, classes)}); validate "
        f"on patients of grade {' or '.join(map(str, classes))}, or with a model trained on grade(s) "
        f"{', '.join(map(str, excluded))}")


def excluded_message(excluded: dict[int, int], classes: tuple[int, ...]) -> str:
    """One line: how many patients of which grade(s) were left out, and why.

    >>> excluded_message({4: 4}, (2, 3))
    'left out 4 patient(s) of grade 4: the model grades 2, 3 only'
    """
    n = sum(excluded.values())
    which = ", ".join(f"grade {g}" if len(excluded) == 1 else f"grade {g} ({c})" for g, c in excluded.items())
    return f"left out {n} patient(s) of {which}: the model grades {', '.join(map(str, classes))} only"


def predict_arrays(bundle: Bundle, images: npt.NDArray[np.uint8], masks: npt.NDArray[np.bool_],
                   roi_area_px: npt.ArrayLike, batch_size: int = 16) -> CropScores:
    """The bundle's scores for preprocessed crops (what ``predict_case`` gives on the raw case).

    Args:
        bundle: a loaded bundle of any kind.
        images: (N, C, S, S) uint8 crops preprocessed with ``bundle.ingest``; masks: (N, S, S) bool.
        roi_area_px: (N,) tumour pixels on the native slice (radiomics ``semantic`` features).
        batch_size: inference batch (kinds that batch).

    Returns:
        :class:`~gliograde.bundles.base.CropScores`: proba (N, K) float64 in ``bundle.classes`` order, rows
        sum to 1, and the kind's extra per-patient columns (radiomics: ``unlike_training``, ``max_abs_z``).
    """
    if len(images) == 0:
        return CropScores(np.zeros((0, len(bundle.classes))))
    return bundle.predict_crops(images, masks, roi_area_px, batch_size=batch_size)


@dataclass(frozen=True)
class _Shared:
    """What every chunk task needs, put into Ray's object store once: the packed bundle and the batch size."""

    bundle: PackedBundle
    batch_size: int


Chunk = tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_], npt.NDArray[np.float64]]


def score_chunk(chunk: Chunk, shared: _Shared) -> CropScores:
    """One Ray task: :func:`predict_arrays` on a chunk of crops with the shared bundle (loaded once per worker)."""
    bundle, _ = open_packed(shared.bundle)
    return predict_arrays(bundle, *chunk, batch_size=shared.batch_size)


def task_rows(n: int, batch_size: int, max_tasks: int = MAX_TASKS) -> int:
    """Crops per task: whole inference batches (so every batch holds the same crops as one local run),
    as few per task as keeps the tasks at most ``max_tasks``.

    >>> task_rows(8, 2), task_rows(1000, 16), task_rows(100_000, 16)
    (2, 16, 1568)
    """
    return batch_size * max(1, math.ceil(math.ceil(n / batch_size) / max_tasks))


def predict_arrays_on(bundle: Bundle, images: npt.NDArray[np.uint8], masks: npt.NDArray[np.bool_],
                      roi_area_px: npt.ArrayLike, batch_size: int = 16, executor: ExecutorCfg | None = None,
                      progress: bool = False) -> CropScores:
    """:func:`predict_arrays` with ``executor``: None or ``local`` = here; ``ray`` = chunks of whole batches as
    Ray tasks (the bundle and the crops travel through the object store), the same scores in the same order.

    Raises:
        TasksFailed: a chunk still failed after the executor's retries (no metrics without every patient).
    """
    if executor is None or executor.name == "local" or len(images) == 0:
        return predict_arrays(bundle, images, masks, roi_area_px, batch_size)
    areas = np.asarray(roi_area_px, dtype=np.float64)
    rows = task_rows(len(images), batch_size)
    chunks: list[Chunk] = [(images[a:a + rows], masks[a:a + rows], areas[a:a + rows])
                           for a in range(0, len(images), rows)]
    return _scores_on(score_chunk, chunks, rows, len(images), executor, progress,
                      _Shared(pack_bundle(bundle), batch_size))


def _scores_on(task: Callable[[Any, _Shared], CropScores], chunks: Sequence[Any], rows: int, n: int,
               executor: ExecutorCfg, progress: bool, shared: _Shared) -> CropScores:
    """Chunks of ``rows`` patients (``n`` in all) scored by ``task`` as Ray tasks, joined back in order."""
    parts: dict[int, CropScores] = {}
    failures = run_tasks(task, list(chunks), executor, on_done=parts.__setitem__, desc="patients",
                         progress=progress, shared=shared)
    if failures:  # no metrics without every patient
        raise TasksFailed("chunks of patients", len(chunks),
                          [f"patients {f.index * rows + 1}-{min((f.index + 1) * rows, n)}: {f.error}"
                           for f in failures], "nothing was written; rerun, or use --executor local")
    ordered = [parts[i] for i in range(len(chunks))]
    return CropScores(np.concatenate([p.proba for p in ordered]),
                      {name: np.concatenate([p.columns[name] for p in ordered]) for name in ordered[0].columns})


def predict_cases(bundle: Bundle, sources: Sequence[CaseSource]) -> CropScores:
    """A ``reads == "case"`` kind's scores: :meth:`~gliograde.bundles.base.ModelKind.predict_case` on each case (no
    evidence), exactly as ``gliograde predict`` grades it, with the kind's ``case_columns``."""
    if not sources:
        return CropScores(np.zeros((0, len(bundle.classes))))
    preds = [bundle.predict_case(s, explain=False) for s in sources]
    extras = [bundle.case_columns(p) for p in preds]
    return CropScores(np.array([[p.probabilities[g] for g in bundle.classes] for p in preds], dtype=np.float64),
                      {name: np.array([e[name] for e in extras]) for name in extras[0]})


def score_cases(chunk: list[CaseSource], shared: _Shared) -> CropScores:
    """One Ray task: :func:`predict_cases` on a chunk of cases (their files must be visible to the worker)."""
    bundle, _ = open_packed(shared.bundle)
    return predict_cases(bundle, chunk)


def grade_cohort(bundle: Bundle, cohort: ValidationCohort, keep: npt.NDArray[np.bool_], batch_size: int = 16,
                 executor: ExecutorCfg | None = None, progress: bool = False) -> CropScores:
    """The bundle's scores for the ``keep`` patients of ``cohort``, on the input its kind reads
    (:attr:`~gliograde.bundles.base.ModelKind.reads`): the cohort's crops (:func:`predict_arrays_on`), or each
    patient's original case (``cohort.sources``, :func:`predict_cases`; with ``executor`` ``ray``, chunks of
    cases as Ray tasks, which read the files where they are: one machine or a shared disk)."""
    if bundle.reads != "case":
        return predict_arrays_on(bundle, cohort.images[keep], cohort.masks[keep],
                                 cohort.table["roi_area_px"].to_numpy()[keep], batch_size, executor, progress)
    if cohort.sources is None:
        raise ValueError("grade_cohort: a case kind needs prepare_cohort(..., cases=True)")
    sources = [s for s, k in zip(cohort.sources, keep, strict=True) if k]
    if executor is None or executor.name == "local" or not sources:
        return predict_cases(bundle, sources)
    rows = task_rows(len(sources), 1)
    chunks = [sources[a:a + rows] for a in range(0, len(sources), rows)]
    return _scores_on(score_cases, chunks, rows, len(sources), executor, progress,
                      _Shared(pack_bundle(bundle), batch_size))


def prediction_table(cohort: ValidationCohort, keep: npt.NDArray[np.bool_], classes: tuple[int, ...],
                     scores: CropScores, keep_ids: bool) -> pd.DataFrame:
    """predictions.csv: patient_id, site, label, p_<grade>..., pred[, the kind's columns]."""
    t = cohort.table[keep].reset_index(drop=True)
    ids = [case_alias(p, False) if d and not keep_ids else p for p, d in zip(t["patient_id"], t["dicom"], strict=True)]
    out = pd.DataFrame({"patient_id": ids, "site": t["site"], "label": t["label"]})
    for k, g in enumerate(classes):
        out[f"p_{g}"] = scores.proba[:, k]
    out["pred"] = predict_grades(scores.proba, classes) if len(out) else []
    for name, values in scores.columns.items():
        out[name] = values
    return out


def _ingest_and_predict(bundle: Bundle, data: Path, cfg: ValidateCfg, labels: Path | None, progress: bool,
                        executor: ExecutorCfg | None,
                        ) -> tuple[ValidationCohort, pd.DataFrame, dict[int, int], Overlap, dict[str, float]]:
    t0 = time.perf_counter()
    listed = listed_labels(data, labels, cfg.sites)
    if listed is not None:  # what the labels alone refuse, refused before the ingest (checked again after it)
        known, unknown = split_known(listed.grades, bundle.classes)
        if not known.any():
            raise no_known_grade(listed.file, unknown, bundle.classes)
        if not cfg.allow_overlap:
            refuse_overlap(bundle, data, training_overlap(bundle.meta, np.asarray(listed.patient_ids)[known]))
    with tempfile.TemporaryDirectory(prefix="gliograde-validate-") as tmp:  # a case kind reads the staged files
        cohort = prepare_cohort(data, bundle, labels=labels, work=Path(tmp), progress=progress, skip_bad=cfg.skip_bad,
                                cases=bundle.reads == "case", sites=cfg.sites)  # --sites: gliograde.data.subset
        t1 = time.perf_counter()
        keep, excluded = split_known(cohort.table["label"], bundle.classes)
        if not keep.any():  # one line, the error alone
            raise no_known_grade(cohort.labels_file, excluded, bundle.classes)
        if excluded:
            logger.warning(excluded_message(excluded, bundle.classes))
        overlap = check_overlap(bundle, data, cohort.table["patient_id"][keep], cfg.allow_overlap)
        scores = grade_cohort(bundle, cohort, keep, cfg.batch_size, executor, progress)
    table = prediction_table(cohort, keep, bundle.classes, scores, cfg.keep_ids)
    if overlap.n_shared:  # only with --allow-overlap: each shared patient marked in the table too
        table["in_training_data"] = [case_alias(str(p), False) in overlap.shared
                                     for p in cohort.table["patient_id"][keep]]
    return cohort, table, excluded, overlap, {"ingest": t1 - t0, "predict": time.perf_counter() - t1}


def check_overlap(bundle: Bundle, data: Path, patient_ids: Iterable[object], allowed: bool) -> Overlap:
    """Refuse (one line) a cohort that shares patients with the bundle's training data, unless ``allowed``; then
    warn. A check that cannot be made (no hashes in the bundle, another alias key) is a warning, not a refusal."""
    overlap = training_overlap(bundle.meta, patient_ids)
    if not overlap.checked:
        logger.warning("could not check whether the cohort shares patients with the model's training data: %s",
                       overlap.reason)
    elif not allowed:
        refuse_overlap(bundle, data, overlap)
    elif overlap.n_shared:
        logger.warning("--allow-overlap: %s", overlap.warning())
    return overlap


def refuse_overlap(bundle: Bundle, data: Path, overlap: Overlap) -> None:
    """Raise the one-line refusal when ``overlap`` found shared patients (a check that could not be made passes)."""
    if overlap.checked and overlap.n_shared:
        raise InputError(f"{data}: {overlap.n_shared} of {overlap.n_cohort} patients were in the training data of "
                         f"{bundle.path} (keyed hashes in its model.json); validate on patients the model never saw, "
                         "or pass --allow-overlap to go on with results that are not an external validation")


def run_validation(bundle_dir: Path, data: Path, out: Path, cfg: ValidateCfg | None = None, *,
                   labels: Path | None = None, progress: bool = True,
                   executor: ExecutorCfg | None = None) -> ValidationResult:
    """Validate a bundle on a labelled cohort and write predictions.csv, metrics.json, figures/,
    report.html, config.yaml and run.json into ``out``.

    Args:
        bundle_dir: folder written by ``gliograde train``.
        data: labelled cohort (see :func:`prepare_cohort`).
        out: output folder (created; files of an earlier validation there are replaced).
        cfg: bootstrap, id and AUC settings (None = the defaults of :class:`~gliograde.config.ValidateCfg`).
        labels: labels CSV to use instead of the cohort's own grades.
        progress: show the ingest progress bar (and the Ray executor's).
        executor: where the crops are graded (see :func:`predict_arrays_on`; None = here); ingest runs here.

    Returns:
        A :class:`ValidationResult`.

    Raises:
        NoKnownGradeError: no patient left after leaving out unknown grades. InputError: see
        :func:`prepare_cohort` and :func:`gliograde.bundles.load_bundle`.
    """
    out, cfg = Path(out), cfg or ValidateCfg()
    with run_folder(out, "validate", inputs=[bundle_dir, data, labels]):  # checked and locked before any work
        return _run_validation(Path(bundle_dir), Path(data), out, cfg, labels, progress, executor)


def _run_validation(bundle_dir: Path, data: Path, out: Path, cfg: ValidateCfg, labels: Path | None, progress: bool,
                    executor: ExecutorCfg | None) -> ValidationResult:
    bundle = load_bundle(Path(bundle_dir))
    cohort, table, excluded, overlap, seconds = _ingest_and_predict(bundle, Path(data), cfg, labels, progress,
                                                                    executor)
    t0 = time.perf_counter()
    metrics = validation_metrics(table, bundle.classes, cfg)
    seconds["metrics"] = time.perf_counter() - t0
    # left-out patients by alias and their problems with files by place, unless keep_ids (validation.names)
    graded = [str(p) for p in cohort.table["patient_id"][split_known(cohort.table["label"], bundle.classes)[0]]]
    folders = patient_folders(data, cohort.labels_file, [*graded, *cohort.skipped]) \
        if cohort.skipped or cfg.write_aliases else {}
    problems = scrub_problems(cohort.problems, folders, cfg.keep_ids)
    for problem in problems:
        logger.warning("left out (--skip-bad): %s", problem)
    metrics.update({"excluded": {str(g): c for g, c in excluded.items()},
                    "skipped": skipped_names(cohort.skipped, cfg.keep_ids), "skipped_problems": problems,
                    "excluded_note": excluded_message(excluded, bundle.classes) if excluded else None,
                    "training_estimates": training_estimates(bundle.meta),
                    "model": {"path": str(bundle.path) if cfg.keep_ids else shown_name(bundle.path),  # --keep-ids
                              "kind": bundle.kind, "fingerprint": bundle.fingerprint, "classes": list(bundle.classes)},
                    "seconds": {k: round(v, 2) for k, v in seconds.items()},
                    "training_overlap": overlap.as_json(cfg.allow_overlap)})
    if overlap.n_shared:  # --allow-overlap: the warning heads metrics.json's and report.html's warnings
        metrics["warnings"] = [overlap.warning(), *metrics.get("warnings", [])]
    fingerprint = dict(cohort.fingerprint)
    if (bool(cohort.table["dicom"].any()) or cohort.skipped) and not cfg.keep_ids:
        fingerprint.pop("files", None)  # file names of DICOM exports (or of unread patients) can carry identifiers
    fingerprint["bundle_sha256"] = bundle.fingerprint
    config = {"bundle": str(bundle_dir), "data": str(data), "labels": str(labels) if labels else None,
              "validate": cfg, "ingest": bundle.ingest}
    files = write_outputs(out, table, metrics, bundle.classes, seed=cfg.seed, config=config,
                          fingerprint=fingerprint)
    if cfg.write_aliases:  # only on request: it names the patients
        files.append(write_aliases(out / ALIASES_CSV, alias_rows(graded, list(table["patient_id"]), cohort.skipped,
                                                                 folders, cfg.keep_ids)))
    return ValidationResult(out=out, table=table, metrics=metrics, excluded=excluded, files=files)
