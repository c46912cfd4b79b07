"""Folds for the cross-validated experiment: by patient (honest), by site, or the study's leaky split.

>>> import numpy as np
>>> pids = np.array([f"p{i}" for i in range(20)]); y = np.array([0, 1] * 10)
>>> folds = make_folds(pids, y, n_splits=5, seed=0)
>>> len(folds), sorted(p for f in folds for p in f["test"]) == sorted(pids)
(5, True)
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from sklearn.model_selection import (
    LeaveOneGroupOut,
    StratifiedGroupKFold,
    StratifiedKFold,
)

from gliograde.errors import InputError

if TYPE_CHECKING:  # a type only: importing data.dataset at run time would pull torch into the fold maker
    from gliograde.data.dataset import StrArray

#: One fold as written to ``folds.json``: ``{"fold", "train", "test"[, "site"]}`` (patient ids) or
#: ``{"fold", "train_rows", "test_rows"}`` (row indices, paper protocol).
Fold = dict[str, Any]


def _patients(patient_ids: npt.NDArray[np.str_],
              labels: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.str_], npt.NDArray[np.int64]]:
    uniq, first = np.unique(patient_ids, return_index=True)
    by_patient: dict[str, set[int]] = {}
    for p, y in zip(patient_ids, labels, strict=True):
        by_patient.setdefault(str(p), set()).add(int(y))
    mixed = [p for p, ys in by_patient.items() if len(ys) > 1]
    if mixed:
        raise InputError(f"patient(s) {mixed[:3]} carry more than one grade; fix the labels")
    return uniq, labels[first]


def make_folds(patient_ids: npt.ArrayLike, labels: npt.ArrayLike, n_splits: int = 10, seed: int = 0,
               sites: npt.ArrayLike | None = None) -> list[Fold]:
    """Patient-level folds: StratifiedGroupKFold by patient, or leave-one-site-out when ``sites`` is given.

    Args:
        patient_ids: (N,) one per row (rows of one patient share the id).
        labels: (N,) class indices.
        sites: (N,) acquisition site per row; one fold per site.

    Returns:
        [{"fold": k, "train": [patient ids], "test": [patient ids]}, ...]; every patient is tested once.
    """
    pids, y = _patients(np.asarray(patient_ids).astype(str), np.asarray(labels))
    if sites is not None:
        site_of = dict(zip(np.asarray(patient_ids).astype(str), np.asarray(sites).astype(str), strict=True))
        groups = np.array([site_of[p] for p in pids])
        if len(set(groups)) < 2:
            raise InputError(f"site protocol needs at least 2 sites, found {sorted(set(groups))}; "
                             "check the site/institution column")
        splits = LeaveOneGroupOut().split(pids, y, groups)
    else:
        counts = np.bincount(y)
        if n_splits < 2 or n_splits > len(pids):
            raise InputError(f"--folds {n_splits}: need 2 <= folds <= number of patients ({len(pids)})")
        if counts[counts > 0].min() < n_splits:
            raise InputError(f"--folds {n_splits}: the smallest grade has only {counts[counts > 0].min()} patients; "
                             "use fewer folds")
        splits = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed).split(pids, y, pids)
    return [{"fold": k, "train": sorted(pids[tr].tolist()), "test": sorted(pids[te].tolist()),
             **({"site": str(groups[te][0])} if sites is not None else {})}
            for k, (tr, te) in enumerate(splits)]


def paper_folds(n_rows: int, labels: npt.ArrayLike, n_splits: int = 10, seed: int = 0) -> list[Fold]:
    """The study's split: augmented images (rows) assigned to folds at random, ignoring patients.

    Augmented copies of one image land in different folds: the leak this protocol reproduces.
    """
    skf = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return [{"fold": k, "train_rows": tr.tolist(), "test_rows": te.tolist()}
            for k, (tr, te) in enumerate(skf.split(np.zeros(n_rows), np.asarray(labels)))]


def rows_of(patient_ids: StrArray, patients: list[str]) -> npt.NDArray[np.int64]:
    """(M,) int64 indices of the rows of ``patient_ids`` (N,) whose patient is in ``patients``."""
    return np.flatnonzero(np.isin(patient_ids, patients)).astype(np.int64)


def save_folds(path: Path, folds: list[Fold], *, n_splits: int, seed: int, protocol: str) -> None:
    """Write ``folds.json``; a different file already there means another experiment: refuse to mix."""
    doc = {"n_splits": n_splits, "seed": seed, "protocol": protocol, "folds": folds}
    if path.is_file():
        old = json.loads(path.read_text())
        if old != json.loads(json.dumps(doc)):
            raise InputError(f"{path}: this run folder holds other folds (different cohort, seed, protocol or "
                             "fold count); use a new --out or delete the folder")
    path.write_text(json.dumps(doc, indent=1))
