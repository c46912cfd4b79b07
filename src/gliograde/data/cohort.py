"""Open a cohort for any command that takes one: an ingested folder as is, any other cohort ingested once.

``gliograde augment``, ``train``, ``cv`` and ``validate`` all accept either a folder written by
``gliograde ingest`` (:func:`is_ingested`) or a raw cohort in any layout ingest reads
(:mod:`gliograde.data.layouts`: slices, NIfTI, DICOM, a manifest CSV). A raw cohort is ingested into
``OUT/cohort`` (never into the data folder) and reused when the command runs again into the same ``OUT`` with the
same data; ``OUT/cohort`` ingested from another folder is refused, never silently reused. An ingested cohort's own
``manifest.csv`` stands for that cohort (``gliograde cv runs/tcga/manifest.csv`` = ``gliograde cv runs/tcga``), and
``subset`` (``--labels``, ``--sites``: :mod:`gliograde.data.subset`) picks the patients the command uses.
``train`` keeps the ingested copy *beside* its bundle, in ``OUT.cohort`` (:func:`bundle_cohort_dir`): a bundle holds
no patient id, file name or image.

>>> # cohort = open_cohort(Path("../shared/data/tcga-lgg"), Path("runs/cv"), settings.resolve("cv").ingest)
>>> # cohort.root -> runs/cv/cohort; cohort.images.shape -> (N, C, S, S) uint8
"""
from __future__ import annotations

import logging
from pathlib import Path

import yaml

from gliograde.config import IngestCfg, SubsetCfg, from_dict
from gliograde.data.dataset import MANIFEST, Cohort, is_ingested, load_cohort
from gliograde.data.ingest_run import run_ingest
from gliograde.data.subset import apply_subset
from gliograde.errors import InputError
from gliograde.runinfo import to_plain

__all__ = ["COHORT_DIR", "SHAPING_FIELDS", "Cohort", "bundle_cohort_dir", "ingested_root", "is_ingested",
           "open_cohort", "read_ingest_cfg"]

logger = logging.getLogger(__name__)
#: Where a command's ``--out`` folder keeps the cohort it ingested.
COHORT_DIR = "cohort"
#: IngestCfg fields that change the ingested images; an ingested cohort keeps its own values of them.
SHAPING_FIELDS = ("channels", "roi_labels", "slice_index", "slices", "preprocess")


def bundle_cohort_dir(out: Path) -> Path:
    """Where ``gliograde train --out OUT`` ingests a raw cohort: ``OUT.cohort``, beside the bundle folder, not in it
    (the ingested cohort names patients and holds their crops; a bundle is shared, so it must hold neither).

    >>> bundle_cohort_dir(Path("runs/model")).as_posix()
    'runs/model.cohort'
    """
    out = Path(out)
    if not out.name:  # "." or "/": name the folder by its real name
        out = out.resolve()
    return out.with_name(f"{out.name}.cohort")


def ingested_root(path: Path) -> Path:
    """The ingested cohort a path names: the folder itself, or the folder of an ingested cohort's own
    ``manifest.csv``; any other path as it is.

    >>> ingested_root(Path("/nonexistent/manifest.csv")).as_posix()
    '/nonexistent/manifest.csv'
    """
    path = Path(path)
    if path.name == MANIFEST and path.is_file() and is_ingested(path.parent):
        return path.parent
    return path


def open_cohort(path: Path, out: Path, ingest: IngestCfg, *, progress: bool = True, figures: bool = True,
                into: Path | None = None, subset: SubsetCfg | None = None) -> Cohort:
    """The cohort at ``path``, loaded; a raw one is ingested with ``ingest`` into ``out/cohort`` first (once).

    Args:
        path: an ingested cohort folder (or its ``manifest.csv``), or a raw cohort folder / manifest CSV in any
            layout ingest reads.
        out: the command's output folder; a raw cohort is ingested into ``out/cohort``.
        ingest: how to ingest a raw cohort. An ingested cohort keeps the settings it was ingested with;
            a difference is logged.
        progress: show the ingest progress bar.
        figures: write ingest's figures into ``out/cohort/figures``.
        into: ingest a raw cohort into this folder instead of ``out/cohort`` (``train``: :func:`bundle_cohort_dir`).
        subset: the patients to use (:func:`gliograde.data.subset.apply_subset`; None: all). A raw cohort is
            ingested whole, so runs on several subsets of it share one ingested copy.

    Raises:
        InputError, CohortError, FileNotFoundError: the cohort cannot be found or ingested (the message
            names the file and the fix); the folder holds a cohort ingested from another folder.
    """
    path, out = ingested_root(Path(path)), Path(out)
    return apply_subset(_open(path, out, ingest, progress, figures, into), subset or SubsetCfg())


def _open(path: Path, out: Path, ingest: IngestCfg, progress: bool, figures: bool, into: Path | None) -> Cohort:
    if is_ingested(path):
        _note_own_settings(path, ingest)
        return load_cohort(path)
    target = Path(into) if into is not None else out / COHORT_DIR
    if into is not None and is_ingested(out / COHORT_DIR):  # written by a gliograde before bundles held no ids
        logger.warning("%s: a cohort ingested by an earlier gliograde (patient ids, file names, crops) is inside "
                       "the bundle folder; move it out before sharing the bundle (now ingested into %s)",
                       out / COHORT_DIR, target)
    if is_ingested(target):
        _check_same_source(target, path)
        logger.info("%s: using the cohort ingested before in %s", path, target)
        _note_own_settings(target, ingest, reused=True)
    else:
        logger.info("%s is not an ingested cohort: ingesting it into %s", path, target)
        run_ingest(path, target, ingest, figures=figures, progress=progress)
    return load_cohort(target)


def _check_same_source(target: Path, path: Path) -> None:
    """Refuse to reuse ``target`` for ``path`` when ``target/config.yaml`` records another source folder (``data``).

    Raises:
        InputError: names both folders and the fix.
    """
    try:
        recorded = (yaml.safe_load((target / "config.yaml").read_text()) or {}).get("data")
    except (OSError, yaml.YAMLError, AttributeError):
        recorded = None
    if not recorded:  # ingested by hand or by an old version: what it came from is unknown
        return
    if Path(recorded) != path and Path(recorded).resolve() != path.resolve():
        raise InputError(f"{target}: holds the cohort ingested from {recorded}, not from {path}; remove {target} to "
                         f"ingest {path} there, or choose another --out")


def read_ingest_cfg(cohort_root: Path) -> IngestCfg:
    """The :class:`IngestCfg` a cohort was ingested with, from ``cohort_root/config.yaml``.

    The file may hold IngestCfg's keys at the top (beside ``data``, the cohort's source) or in an
    ``ingest:`` section.

    Raises:
        InputError: no config.yaml (the cohort was not written by ``gliograde ingest``) or unknown keys.
    """
    path = Path(cohort_root) / "config.yaml"
    if not path.is_file():
        raise InputError(f"{path}: missing; the settings the cohort was ingested with are unknown. "
                         f"Ingest it again with `gliograde ingest DATA --out {cohort_root}`")
    data = dict(yaml.safe_load(path.read_text()) or {})
    section = dict(data["ingest"]) if isinstance(data.get("ingest"), dict) else data
    section.pop("data", None)
    return from_dict(IngestCfg, section)


def _note_own_settings(root: Path, asked: IngestCfg, *, reused: bool = False) -> None:
    """Log where the ingest settings asked for differ from those ``root`` was ingested with (those apply).

    ``reused``: ``root`` is a command's own ``OUT/cohort`` from an earlier run, which a user can remove to
    ingest again (a warning); otherwise it is a cohort the user gave (information).
    """
    try:
        have = read_ingest_cfg(root)
    except InputError:  # ingested by hand or by an old version: what it was ingested with is unknown
        if asked != IngestCfg():
            logger.info("%s is already ingested: the ingest settings given do not apply to it", root)
        return
    diff = [f for f in SHAPING_FIELDS if getattr(have, f) != getattr(asked, f)]
    if diff:
        detail = "; ".join(f"{f}: {to_plain(getattr(have, f))} (asked {to_plain(getattr(asked, f))})" for f in diff)
        if reused:
            logger.warning("%s was ingested by an earlier run with other settings (%s); it is used as it is: "
                           "remove it to ingest the cohort again with the settings given", root, detail)
        else:
            logger.info("%s is already ingested: its own ingest settings apply, not the ones given (%s)", root, detail)
