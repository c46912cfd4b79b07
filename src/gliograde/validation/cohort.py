"""Load a labelled cohort for external validation, preprocessed exactly as the bundle's training data.

A raw cohort (any layout ``gliograde ingest`` reads) is ingested with the bundle's own
:class:`~gliograde.config.IngestCfg` into a scratch folder; an already ingested cohort is accepted when
it was ingested with the same settings. Either way one row per patient is kept: the representative
(largest) tumour cross-section, the slice ``gliograde predict`` uses.

>>> # cohort = prepare_cohort(Path("../hospital_b"), load_bundle(Path("runs/model")), work=Path(tmp))
>>> # cohort.images.shape -> (N, C, S, S) uint8; cohort.table.columns -> patient_id, site, label, ...
"""
from __future__ import annotations

import dataclasses
import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd

from gliograde.config import IngestCfg, SubsetCfg
from gliograde.data.cohort import Cohort, ingested_root, is_ingested, open_cohort, read_ingest_cfg
from gliograde.data.io import is_image, is_nifti
from gliograde.data.layouts import patient_folder, read_labels
from gliograde.data.origin import case_sources
from gliograde.data.source import CaseSource
from gliograde.data.subset import apply_subset
from gliograde.errors import CohortError, GliogradeError, InputError
from gliograde.runinfo import fingerprint_files

logger = logging.getLogger(__name__)

#: IngestCfg fields that change what the model sees; an ingested cohort must match the bundle on all of them.
PREPROCESSING_FIELDS = ("channels", "roi_labels", "slice_index", "preprocess")


@dataclass
class ValidationCohort:
    """One row per patient, ready for the model.

    Attributes:
        table: patient_id (as labelled), site, label (WHO grade), roi_area_px (native slice), dicom (bool).
        images: (N, C, S, S) uint8 preprocessed crops, the bundle's channels; masks: (N, S, S) bool.
        labels_file: the file the grades came from (named in messages).
        fingerprint: ``{"sha256", "n_files", "files"}`` of the input files (see :mod:`gliograde.runinfo`).
        skipped: labelled patients the ``skip_bad`` ingest left out.
        problems: their problems, as ingest wrote them (they name files: the caller scrubs them before any output,
            :func:`gliograde.validation.names.scrub_problems`).
        sources: each row's original case (for a kind that reads cases, ``ModelKind.reads == "case"``), or None;
            its files are valid while the ``work`` folder of :func:`prepare_cohort` exists (a raw cohort is
            staged there).
    """

    table: pd.DataFrame
    images: npt.NDArray[np.uint8]
    masks: npt.NDArray[np.bool_]
    labels_file: Path
    fingerprint: dict[str, Any] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    sources: list[CaseSource] | None = None


class HasIngest(Protocol):
    """What validation needs of a bundle here: the ingest settings its training data was read with."""

    @property
    def ingest(self) -> IngestCfg: ...


def _check_same_preprocessing(root: Path, have: IngestCfg, want: IngestCfg) -> None:
    diff = [f for f in PREPROCESSING_FIELDS if getattr(have, f) != getattr(want, f)]
    if diff:
        detail = "; ".join(f"{f}: cohort {getattr(have, f)} vs model {getattr(want, f)}" for f in diff)
        raise InputError(f"{root}: ingested with other settings than the model was trained on ({detail}); "
                         "give the raw cohort instead (validate ingests it with the model's settings)")


def _stage_labels(data: Path, labels: Path, work: Path) -> Path:
    """A cohort folder with ``labels`` as its labels.csv and symlinks to the patient folders it lists.

    Folders of ``data`` that ``labels`` does not list are left out, so a labels file can pick a subset.
    """
    staged = work / "staged"
    staged.mkdir(parents=True)
    subdirs = sorted(p.name for p in data.iterdir() if p.is_dir() and not p.name.startswith("."))
    lab, _ = read_labels(labels)  # problems are reported by the ingest itself
    for pid, folder in zip(lab["patient_id"], lab["folder"], strict=True):
        src = data / (folder or patient_folder(str(pid), subdirs))
        if src.is_dir() and not (staged / src.name).exists():
            (staged / src.name).symlink_to(src.resolve(), target_is_directory=True)
    shutil.copyfile(labels, staged / "labels.csv")
    return staged


def _unstage(err: GliogradeError, staged: Path, data: Path, labels: Path) -> GliogradeError:
    """The same error with the scratch folder's paths replaced by the user's."""
    def fix(msg: str) -> str:
        return msg.replace(str(staged / "labels.csv"), str(labels)).replace(str(staged), str(data))

    if isinstance(err, CohortError):
        return CohortError([fix(p) for p in err.problems])
    return type(err)(fix(str(err)))


def _ingest_raw(data: Path, cfg: IngestCfg, labels: Path | None, work: Path, progress: bool,
                skip_bad: bool = False) -> tuple[Cohort, Path, dict[str, Any], list[str], list[str]]:
    """Ingest a raw cohort into ``work/cohort``; returns (cohort, labels file, fingerprint, skipped patients, their
    problems with the user's paths, not the staging folder's)."""
    staged = _stage_labels(data, labels, work) if labels is not None and data.is_dir() else data
    try:
        cohort = open_cohort(staged, work, dataclasses.replace(cfg, layout="auto", skip_bad=skip_bad),
                             progress=progress, figures=False)
    except GliogradeError as err:
        if labels is None or staged == data:
            raise
        raise _unstage(err, staged, data, labels) from err
    labels_file = labels if labels is not None else (data / "labels.csv" if data.is_dir() else data)
    fingerprint, problems = _ingest_record(cohort.root)  # only with skip_bad: each left-out patient's problem
    problems = [p.replace(str(staged), str(data)) for p in problems] if staged != data else problems
    return cohort, labels_file, fingerprint, _left_out(labels_file, cohort.manifest), problems


def _ingest_record(root: Path) -> tuple[dict[str, Any], list[str]]:
    """The input fingerprint (``run.json``) and the problems of left-out patients (``skipped.json``) of an ingest."""
    run = json.loads((root / "run.json").read_text())
    skipped = root / "skipped.json"
    problems = json.loads(skipped.read_text()).get("problems", []) if skipped.is_file() else []
    return dict(run.get("input_fingerprint") or {}), [str(p) for p in problems]


def _left_out(labels_file: Path, manifest: pd.DataFrame) -> list[str]:
    """Labelled patients the ingest left out (``skip_bad``); none when the labels cannot be listed."""
    try:
        lab, _ = read_labels(labels_file)
    except (FileNotFoundError, GliogradeError):
        return []
    return sorted(set(lab["patient_id"].astype(str)) - set(manifest["patient_id"].astype(str)))


def _one_row_per_patient(manifest: pd.DataFrame) -> npt.NDArray[np.intp]:
    """Manifest rows of the representative slices (the largest cross-section, what predict uses)."""
    if "representative" in manifest.columns:
        rep = manifest["representative"].astype(str).str.lower().isin(("true", "1"))
        if rep.groupby(manifest["patient_id"]).sum().eq(1).all():
            return np.flatnonzero(rep.to_numpy())
    best = manifest.groupby("patient_id", sort=False)["roi_area_px"].idxmax()
    return np.sort(best.to_numpy().astype(np.intp))


def _listed_only(cohort: Cohort, labels: Path) -> Cohort:
    """The patients of an ingested cohort (or manifest) that ``labels`` lists, as a raw folder's labels pick
    them; a listed patient the cohort does not have is refused."""
    lab, problems = read_labels(labels)
    if problems:
        raise CohortError(problems)
    have = set(cohort.patient_ids.astype(str).tolist())
    unknown = sorted(set(lab["patient_id"].astype(str)) - have)
    if unknown:
        raise InputError(f"{labels} (--labels): {len(unknown)} patient(s) not in the cohort ({', '.join(unknown[:5])}"
                         f"{', ...' if len(unknown) > 5 else ''}); remove them or correct the ids")
    return cohort.select(np.flatnonzero(np.isin(cohort.patient_ids.astype(str), list(lab["patient_id"]))))


def _apply_labels(table: pd.DataFrame, labels: Path) -> pd.DataFrame:
    """Grades (and sites, where given) of ``labels`` replace the cohort's, matched by patient_id."""
    lab, problems = read_labels(labels)
    if problems:
        raise CohortError(problems)
    grade = dict(zip(lab["patient_id"], lab["grade"], strict=True))
    site = {p: s for p, s in zip(lab["patient_id"], lab["site"], strict=True) if s}
    out = table.copy()
    out["label"] = out["patient_id"].map(grade).astype(int)
    out["site"] = [site.get(p, s) for p, s in zip(out["patient_id"], out["site"], strict=True)]
    return out


def _is_dicom(source: str) -> bool:
    p = Path(source)
    return not (is_image(p) or is_nifti(p))


@dataclass(frozen=True)
class ListedLabels:
    """A raw cohort's labels as its labels file lists them, read before anything is ingested."""

    file: Path
    patient_ids: list[str]
    grades: list[int]


def listed_labels(data: Path, labels: Path | None, sites: tuple[str, ...] = ()) -> ListedLabels | None:
    """The patients and grades a raw cohort's labels file lists (of ``sites``, when given; rows without a readable
    grade left to ingest, which names them), so that ``validate`` can refuse a cohort whose answer is already a
    refusal (no grade the model knows, or patients the model was trained on) before spending minutes ingesting
    it; None for an ingested cohort (nothing to spare) or labels that cannot be listed (ingest then says why)."""
    data = ingested_root(Path(data))
    if is_ingested(data):
        return None
    labels_file = Path(labels) if labels is not None else (data / "labels.csv" if data.is_dir() else data)
    try:
        lab, _ = read_labels(labels_file)
    except (FileNotFoundError, GliogradeError):
        return None
    keep = lab["grade"].notna() & (lab["site"].astype(str).isin(sites) if sites else True)
    first = lab[keep].drop_duplicates("patient_id")
    return ListedLabels(labels_file, first["patient_id"].astype(str).tolist(), first["grade"].astype(int).tolist())


def prepare_cohort(data: Path, bundle: HasIngest, *, labels: Path | None = None,
                   work: Path, progress: bool = True, skip_bad: bool = False, cases: bool = False,
                   sites: tuple[str, ...] = ()) -> ValidationCohort:
    """Ingest ``data`` with the bundle's settings (or check an ingested cohort matches them) and load it.

    Args:
        data: raw cohort (slices / nifti / dicom folder with labels.csv, or a manifest CSV) or a folder
            written by ``gliograde ingest``; opened by :func:`gliograde.data.cohort.open_cohort`.
        bundle: the loaded bundle; its ``ingest`` settings are used.
        labels: labels CSV (patient_id/case_id, who_grade/grade[, site/institution][, folder]) used instead
            of ``data``'s own grades; for a raw folder it plays the part of labels.csv. Only the patients it lists
            are validated.
        work: scratch folder for the ingest (the caller removes it).
        progress: show the ingest progress bar.
        skip_bad: leave out patients whose files are unreadable or inconsistent (listed in ``skipped``)
            instead of stopping; a raw cohort only.
        cases: also find each patient's original case again (:func:`gliograde.data.origin.case_sources`: as ingest
            found it, every file checked against the sha256 ingest recorded) into ``sources``.
        sites: validate the patients of these sites only (``--sites``; :func:`gliograde.data.subset.apply_subset`).

    Returns:
        A :class:`ValidationCohort`, one row per patient.

    Raises:
        InputError, CohortError: unreadable or inconsistent data, labels or settings (message names the fix).
    """
    data = ingested_root(Path(data))
    if labels is not None and not Path(labels).is_file():
        raise InputError(f"{labels}: labels file not found; give a CSV with patient_id and who_grade columns")
    ingested = is_ingested(data)
    if ingested:
        _check_same_preprocessing(data, read_ingest_cfg(data), bundle.ingest)
        cohort = open_cohort(data, work, bundle.ingest, progress=progress)
        labels_file = labels or data / "manifest.csv"
        fingerprint: dict[str, Any] | None = None
        skipped: list[str] = []
        problems: list[str] = []
    else:
        cohort, labels_file, fingerprint, skipped, problems = _ingest_raw(data, bundle.ingest, labels, work, progress,
                                                                          skip_bad)
    if labels is not None and (ingested or data.is_file()):
        cohort = _listed_only(cohort, Path(labels))
    if sites:  # the input fingerprint then covers the chosen patients' cached files only
        cohort, fingerprint = apply_subset(cohort, SubsetCfg(sites=tuple(sites))), None
    rows = _one_row_per_patient(cohort.manifest)
    m = cohort.manifest.iloc[rows].reset_index(drop=True)
    site_col = m["site"].astype(str) if "site" in m else pd.Series([""] * len(m))
    table = pd.DataFrame({"patient_id": m["patient_id"].astype(str), "site": site_col,
                          "label": m["grade"].astype(int), "roi_area_px": m["roi_area_px"].astype(float),
                          "dicom": [_is_dicom(s) for s in m["source_image"]]})
    if labels is not None and (ingested or data.is_file()):
        table = _apply_labels(table, Path(labels))
    sources = None
    if cases:
        found = case_sources(cohort)
        sources = [found[p] for p in table["patient_id"]]
    return ValidationCohort(table=table, images=cohort.images[rows], masks=cohort.masks[rows],
                            labels_file=Path(labels_file),
                            fingerprint=fingerprint or fingerprint_files(cohort.files(), root=cohort.root),
                            skipped=skipped, problems=problems, sources=sources)
