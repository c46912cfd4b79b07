"""Every splitter of gliograde, by patient unless said otherwise: the outer CV folds and the inner split.

* :func:`make_folds`: the cross-validation's folds, StratifiedGroupKFold by patient (honest) or one fold
  per acquisition site (``site``);
* :func:`paper_folds`: the study's leaky folds of augmented images, ignoring patients (``paper``);
* :func:`inner_split`: the validation patients held out of a training fold (CNN early stopping);
* :func:`inner_splits`: the inner splits of a training fold that :mod:`gliograde.selection` scores its
  candidates on (nested CV by patient, or one :func:`inner_split`).

Every patient-level splitter takes ``groups`` too (:attr:`gliograde.data.dataset.Cohort.groups`: the labels'
``group`` column, or a BraTS case's ``tcga_id``): patients of one group (one person in two cohorts) always land
on the same side. Without groups, each patient is its own group and the folds are those of earlier versions;
:func:`paper_folds` ignores patients, and so groups, by design (it reproduces the study's leak).

A fold is a :class:`Fold`; :func:`save_folds` writes them as ``folds.json``. This module sits below
training, selection and the experiment, which all split with it.

>>> import numpy as np
>>> pids = np.array([f"p{i}" for i in range(20)]); y = np.array([0, 1] * 10)
>>> folds = make_folds(pids, y, n_splits=5, seed=0)
>>> len(folds), sorted(p for f in folds for p in f.test) == sorted(pids)
(5, True)
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.model_selection import (
    LeaveOneGroupOut,
    StratifiedGroupKFold,
    StratifiedKFold,
)

from gliograde.errors import InputError
from gliograde.fsio import atomic_write_json


@dataclass(frozen=True)
class Fold:
    """One outer fold of the cross-validation.

    Attributes:
        index: the fold's number k in 0..K-1 (``fold`` in ``folds.json`` and ``predictions.csv``).
        train, test: sorted patient ids on each side (empty for a paper-protocol fold).
        site: the held-out site of a ``site``-protocol fold, else None.
        train_rows, test_rows: row indices into the augmented pool of a paper-protocol fold, else None.
        repeat: the repeat r of repeated CV (0: the single run); not written to ``folds.json``.
    """

    index: int
    train: tuple[str, ...] = ()
    test: tuple[str, ...] = ()
    site: str | None = None
    train_rows: tuple[int, ...] | None = None
    test_rows: tuple[int, ...] | None = None
    repeat: int = 0

    @property
    def by_rows(self) -> bool:
        """True for a paper-protocol fold (rows of the augmented pool, not patients)."""
        return self.train_rows is not None

    def to_json(self) -> dict[str, Any]:
        """The fold as written to ``folds.json``: ``{"fold", "train", "test"[, "site"]}`` (patient ids)
        or ``{"fold", "train_rows", "test_rows"}`` (paper protocol)."""
        if self.train_rows is not None:
            return {"fold": self.index, "train_rows": list(self.train_rows), "test_rows": list(self.test_rows or ())}
        doc: dict[str, Any] = {"fold": self.index, "train": list(self.train), "test": list(self.test)}
        if self.site is not None:
            doc["site"] = self.site
        return doc


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


def group_keys(patient_ids: npt.ArrayLike, groups: npt.ArrayLike | None = None) -> npt.NDArray[np.str_]:
    """(N,) the group of each row, named by its first patient id (sorted): rows of one group share the key.

    Naming a group by a patient id keeps the splitters' order, and so the folds, exactly those of a split by
    patient when every group holds one patient.

    Raises:
        InputError: a patient's rows name two groups.

    >>> group_keys(["b", "a", "c"], ["TCGA-1", "TCGA-1", "c"]).tolist()
    ['a', 'a', 'c']
    """
    pids = np.asarray(patient_ids).astype(str)
    if groups is None:
        return pids
    grp = np.asarray(groups).astype(str)
    group_of: dict[str, str] = {}
    for p, g in zip(pids, grp, strict=True):
        if group_of.setdefault(p, g) != g:
            raise InputError(f"patient {p} is in two groups ({group_of[p]}, {g}); give each patient one group in "
                             "the labels' group column")
    first: dict[str, str] = {}
    for p in sorted(group_of):
        first.setdefault(group_of[p], p)
    return np.array([first[g] for g in grp], dtype=pids.dtype if len(pids) else str)


def make_folds(patient_ids: npt.ArrayLike, labels: npt.ArrayLike, n_splits: int = 10, seed: int = 0,
               sites: npt.ArrayLike | None = None, groups: npt.ArrayLike | None = None) -> list[Fold]:
    """Patient-level folds: StratifiedGroupKFold by patient (by group), or leave-one-site-out when ``sites`` is given.

    Args:
        patient_ids: (N,) one per row (rows of one patient share the id).
        labels: (N,) class indices.
        sites: (N,) acquisition site per row; one fold per site. A patient whose group also has a patient at the
            held-out site is left out of that fold's training patients.
        groups: (N,) the person of each row (None: each patient alone); a group never straddles a fold.

    Returns:
        One :class:`Fold` per split, with sorted patient ids; every patient is tested once.

    >>> folds = make_folds(["a", "b", "c", "d"], [0, 0, 1, 1], 2, groups=["x", "y", "x", "y"])
    >>> sorted(f.test for f in folds)
    [('a', 'c'), ('b', 'd')]
    """
    rows_pids = np.asarray(patient_ids).astype(str)
    pids, y = _patients(rows_pids, np.asarray(labels))
    key_of = dict(zip(rows_pids, group_keys(rows_pids, groups), strict=True))
    keys = np.array([key_of[p] for p in pids])
    if sites is not None:
        return _site_folds(rows_pids, pids, y, np.asarray(sites).astype(str), keys)
    counts = np.bincount(np.unique(np.c_[keys, y], axis=0)[:, 1].astype(np.int64)) if len(keys) else np.zeros(1)
    n_groups, what = len(set(keys.tolist())), "patients" if groups is None else "patient groups"
    if n_splits < 2 or n_splits > n_groups:
        raise InputError(f"--folds {n_splits}: need 2 <= folds <= number of {what} ({n_groups})")
    if counts[counts > 0].min() < n_splits:
        raise InputError(f"--folds {n_splits}: the smallest grade has only {counts[counts > 0].min()} {what}; "
                         "use fewer folds")
    splits = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed).split(pids, y, keys)
    return [Fold(k, tuple(sorted(pids[tr].tolist())), tuple(sorted(pids[te].tolist())))
            for k, (tr, te) in enumerate(splits)]


def _site_folds(rows_pids: npt.NDArray[np.str_], pids: npt.NDArray[np.str_], y: npt.NDArray[np.int64],
                sites: npt.NDArray[np.str_], keys: npt.NDArray[np.str_]) -> list[Fold]:
    """Leave one site out; training patients whose group has a patient at the held-out site are left out too."""
    site_of = dict(zip(rows_pids, sites, strict=True))
    by_site = np.array([site_of[p] for p in pids])
    if len(set(by_site)) < 2:
        raise InputError(f"site protocol needs at least 2 sites, found {sorted(set(by_site))}; "
                         "check the site/institution column")
    folds = []
    for k, (tr, te) in enumerate(LeaveOneGroupOut().split(pids, y, by_site)):
        tested = set(keys[te].tolist())
        tr = tr[~np.isin(keys[tr], list(tested))]
        folds.append(Fold(k, tuple(sorted(pids[tr].tolist())), tuple(sorted(pids[te].tolist())),
                          site=str(by_site[te][0])))
    return folds


def paper_folds(n_rows: int, labels: npt.ArrayLike, n_splits: int = 10, seed: int = 0) -> list[Fold]:
    """The study's split: augmented images (rows) assigned to folds at random, ignoring patients.

    Augmented copies of one image land in different folds: the leak this protocol reproduces.
    """
    skf = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return [Fold(k, train_rows=tuple(tr.tolist()), test_rows=tuple(te.tolist()))
            for k, (tr, te) in enumerate(skf.split(np.zeros(n_rows), np.asarray(labels)))]


def inner_split(patient_ids: npt.ArrayLike, labels: npt.ArrayLike, val_fraction: float,
                seed: int, groups: npt.ArrayLike | None = None) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Hold out about ``val_fraction`` of the patients, stratified by label, never splitting a patient.

    Uses one fold of ``StratifiedGroupKFold(n_splits=round(1 / val_fraction))`` grouped by patient.

    Args:
        patient_ids: (N,) patient of each row (rows of one patient share a label).
        labels: (N,) class index of each row.
        val_fraction: in [0, 0.5]; 0 gives an empty validation set.
        seed: shuffling seed.
        groups: (N,) the person of each row (None: each patient alone); a group stays on one side.

    Returns:
        (train_rows, val_rows): sorted int64 row indices, disjoint, covering all rows.

    Raises:
        InputError: a patient has rows with different labels, or too few patients to split.

    >>> tr, va = inner_split(["a", "a", "b", "c", "d", "e"], [0, 0, 0, 1, 1, 0], 0.5, seed=0)
    >>> sorted(set(tr) | set(va)) == list(range(6))
    True
    """
    pids, y = np.asarray(patient_ids).astype(str), np.asarray(labels)
    rows = np.arange(len(y), dtype=np.int64)
    if not 0 <= val_fraction <= 0.5:
        raise InputError(f"val_fraction must be in [0, 0.5], got {val_fraction}")
    if val_fraction == 0:
        return rows, rows[:0]
    for pid in np.unique(pids):
        if len(np.unique(y[pids == pid])) > 1:
            raise InputError(f"patient {pid} has rows with different grades; fix the manifest")
    keys = group_keys(pids, groups)
    n_patients = len(np.unique(keys))
    n_splits = min(max(2, round(1 / val_fraction)), n_patients)
    if n_splits < 2:
        raise InputError(f"{n_patients} patient(s): need at least 2 to hold out validation patients; "
                         "add patients or set val_fraction to 0")
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    train_rows, val_rows = next(splitter.split(rows, y, keys))
    return np.sort(train_rows).astype(np.int64), np.sort(val_rows).astype(np.int64)


#: How :func:`inner_splits` splits a training fold for model selection (``SelectionCfg.method``; ``none``: no split).
SELECTION_METHODS = ("none", "inner_cv", "inner_split")


def capped_folds(unit_labels: npt.ArrayLike, wanted: int) -> int:
    """The folds of an inner CV: ``wanted``, capped by the number of units (patients, or groups) of the smallest
    grade, since each fold needs one of each.

    Args:
        unit_labels: the grade of each unit of the training fold.

    Raises:
        InputError: a grade with fewer than 2 units (one line, naming the fix).

    >>> capped_folds([0, 0, 1, 1, 1], 5)
    2
    """
    counts = pd.Series(np.asarray(unit_labels)).value_counts()
    k = int(min(wanted, counts.min()))
    if k < 2:
        raise InputError(f"inner CV needs >= 2 patients of each grade in a training fold, but one grade has "
                         f"{int(counts.min())} of {int(counts.sum())}; use more patients or fewer outer folds "
                         "(--folds)")
    return k


def inner_splits(
    patient_ids: npt.ArrayLike, labels: npt.ArrayLike, method: str, inner_folds: int = 5,
    seed: int = 0, val_fraction: float = 0.25, groups: npt.ArrayLike | None = None,
) -> list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]]:
    """Inner (train, validation) row indices within the rows given; patients never straddle a split.

    Args:
        patient_ids: (n,) patient of each training row.
        labels: (n,) class index of each row.
        method: ``inner_cv`` (StratifiedGroupKFold, ``inner_folds`` capped by the smallest class) or
            ``inner_split`` (one stratified split holding out ``val_fraction`` of the patients).
        groups: (n,) the person of each row (None: each patient alone); a group stays on one side.

    Returns:
        [(train_idx, val_idx), ...] indices into the given rows.

    >>> len(inner_splits([f"p{i}" for i in range(8)], [0, 1] * 4, "inner_cv", inner_folds=3))
    3
    """
    pids, y = np.asarray(patient_ids).astype(str), np.asarray(labels)
    if method == "inner_split":
        tr, va = inner_split(pids, y, val_fraction, seed, groups=groups)
        return [(np.asarray(tr, np.int64), np.asarray(va, np.int64))]
    if method != "inner_cv":
        raise InputError(f"selection method {method!r}: choose one of {SELECTION_METHODS}")
    pids = group_keys(pids, groups)
    k = capped_folds(pd.Series(y).groupby(pids).first(), inner_folds)
    cv = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    return [(tr.astype(np.int64), va.astype(np.int64)) for tr, va in cv.split(np.zeros(len(y)), y, pids)]


def rows_of(patient_ids: npt.NDArray[np.object_] | npt.NDArray[np.str_],
            patients: tuple[str, ...] | list[str]) -> npt.NDArray[np.int64]:
    """(M,) int64 indices of the rows of ``patient_ids`` (N,) whose patient is in ``patients``."""
    return np.flatnonzero(np.isin(patient_ids, list(patients))).astype(np.int64)


def save_folds(path: Path, folds: list[Fold], *, n_splits: int, seed: int, protocol: str) -> None:
    """Write ``folds.json``; a different file already there means another experiment: refuse to mix."""
    doc = {"n_splits": n_splits, "seed": seed, "protocol": protocol, "folds": [f.to_json() for f in folds]}
    if path.is_file():
        old = json.loads(path.read_text())
        if old != json.loads(json.dumps(doc)):
            raise InputError(f"{path}: this run folder holds other folds (different cohort, seed, protocol or "
                             "fold count); use a new --out or delete the folder")
    atomic_write_json(path, doc, indent=1)
