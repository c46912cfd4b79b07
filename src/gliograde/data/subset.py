"""Which patients of a cohort a command uses: ``--labels CSV`` (a list of patients) and ``--sites A,B``.

One mechanism for every command that takes a cohort: :func:`gliograde.data.cohort.open_cohort` (``train``,
``cv``) and validate's cohort (:mod:`gliograde.validation.cohort`) apply :func:`apply_subset` to the cohort
they opened, so "train on three sites, validate on the fourth" needs no hand-edited manifest::

    gliograde train ../shared/data/tcga-lgg --out runs/m3 --sites CS,DU,FG
    gliograde validate runs/m3 ../shared/data/tcga-lgg --out runs/val-ez --sites EZ
    gliograde cv runs/tcga --out runs/cv-sub --labels train_patients.csv

The subset is part of the run's settings (``subset:`` in its ``config.yaml``, replayed by ``--config``) and its
input fingerprint covers exactly the subset's cached files. A patient or site the cohort does not have is an
error naming the flag and the fix, never an empty or silently smaller run.

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as d:
...     p = Path(d) / "keep.csv"
...     _ = p.write_text("case_id,who_grade\\nP-01,2\\nP-02,\\n")
...     read_patient_list(p)
{'P-01': (2, 2), 'P-02': (None, 3)}
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from gliograde.config import SubsetCfg
from gliograde.data.dataset import MANIFEST, Cohort
from gliograde.data.source import ROW, delimiter_note, parse_grade, read_table
from gliograde.errors import InputError

__all__ = ["apply_subset", "read_patient_list"]

logger = logging.getLogger(__name__)
_PATIENT_COLS = ("patient_id", "case_id")
_GRADE_COLS = ("who_grade", "grade")


def read_patient_list(path: Path) -> dict[str, tuple[int | None, int]]:
    """``{patient id: (grade or None, row)}`` of a ``--labels`` CSV: a patient column (``patient_id`` or
    ``case_id``) and optionally a grade column (``who_grade`` or ``grade``; an empty cell = no grade given).

    Raises:
        InputError: no such file, no patient column, or a grade that is not 2, 3 or 4 (naming the row).
    """
    path = Path(path)
    try:
        df = read_table(path)
    except FileNotFoundError as err:
        raise InputError(f"{path} (--labels): file not found; give a CSV with a patient_id column") from err
    df.columns = [c if c == ROW else re.sub(r"[\s\-]+", "_", str(c).strip().lower()) for c in df.columns]
    pcol = next((c for c in _PATIENT_COLS if c in df.columns), None)
    if pcol is None:
        raise InputError(f"{path} (--labels): needs a patient column ({' or '.join(_PATIENT_COLS)}); found "
                         f"{[c for c in df.columns if c != ROW]}{delimiter_note(df)}")
    gcol = next((c for c in _GRADE_COLS if c in df.columns), None)
    out: dict[str, tuple[int | None, int]] = {}
    for i, pid in enumerate(df[pcol].str.strip()):
        row, raw = int(df[ROW].iloc[i]), str(df[gcol].iloc[i]).strip() if gcol else ""
        grade = parse_grade(raw) if raw else None
        if raw and grade is None:
            raise InputError(f"{path} (--labels) row {row}: unknown grade {raw!r} for patient {pid}; grades must be "
                             "2, 3 or 4 (or leave the cell empty)")
        if pid:
            out.setdefault(pid, (grade, row))
    if not out:
        raise InputError(f"{path} (--labels): lists no patient; add one patient id per row")
    return out


def apply_subset(cohort: Cohort, subset: SubsetCfg) -> Cohort:
    """The rows of ``cohort`` whose patient ``subset.labels`` lists and whose site is one of ``subset.sites``
    (both when both are given); ``cohort`` itself when the subset is everything.

    Raises:
        InputError: a listed patient or a site the cohort does not have, a listed grade that differs from the
            cohort's, or no patient left (one line naming the flag and the fix).
    """
    if subset == SubsetCfg():
        return cohort
    where = cohort.root / MANIFEST
    keep = np.ones(len(cohort), dtype=bool)
    if subset.sites:
        have = sorted({str(s) for s in cohort.sites if str(s)})
        unknown = [s for s in subset.sites if s not in have]
        if unknown:
            raise InputError(f"--sites {','.join(subset.sites)}: no patient of site(s) {', '.join(unknown)} in {where} "
                             f"(its sites: {', '.join(have) or 'none recorded'}); choose from those, or give the "
                             "labels an institution/site column and ingest again")
        keep &= np.isin(cohort.sites.astype(str), list(subset.sites))
    if subset.labels:
        keep &= _listed(cohort, Path(subset.labels))
    if not keep.any():
        raise InputError(f"{where}: no patient is both listed in --labels {subset.labels} and at --sites "
                         f"{','.join(subset.sites)}; check the two")
    out = cohort.select(np.flatnonzero(keep))
    logger.info("subset: %d of %d patients (%s)", len(set(out.patient_ids.tolist())),
                len(set(cohort.patient_ids.tolist())),
                "; ".join(f"{k} {v}" for k, v in (("--labels", subset.labels),
                                                  ("--sites", ",".join(subset.sites))) if v))
    return out


def _listed(cohort: Cohort, path: Path) -> np.ndarray:
    """(N,) bool: the rows of the patients ``path`` lists, each checked against the cohort."""
    wanted = read_patient_list(path)
    pids = cohort.patient_ids.astype(str)
    grade_of = {str(p): cohort.classes[int(k)] for p, k in zip(pids, cohort.labels, strict=True)}
    unknown = [p for p in wanted if p not in grade_of]
    if unknown:
        more = f" and {len(unknown) - 3} more" if len(unknown) > 3 else ""
        raise InputError(f"{path} (--labels): {len(unknown)} patient(s) not in the cohort {cohort.root} "
                         f"({', '.join(unknown[:3])}{more}); remove them or correct the ids (as in its manifest.csv)")
    for pid, (grade, row) in wanted.items():
        if grade is not None and grade != grade_of[pid]:
            raise InputError(f"{path} (--labels) row {row}: patient {pid} has grade {grade} here but "
                             f"{grade_of[pid]} in the cohort; correct the grade, or leave the grade column out")
    return np.isin(pids, list(wanted))
