"""Which WHO classification a cohort's grades follow: the labels' ``who_edition`` column, read at ingest.

WHO CNS5 (2021) grades within a molecularly defined tumour type (IDH-mutant astrocytoma 2-4, oligodendroglioma 2-3,
glioblastoma IDH-wildtype always 4); the 2007 and 2016 editions graded histologically. A grade 3 of one edition is
not a grade 3 of the other, so every output that shows a grade says which grading its labels follow.

A labels CSV (or a manifest CSV) may carry a ``who_edition`` column (``2007``, ``2016``, ``2021``, ``pre-2016``,
``pre-2021``; ``CNS5`` / ``WHO 2021`` read as ``2021``; empty = not stated). Ingest copies it into ``manifest.csv``
(:func:`add_who_edition`), the bundle's ``model.json`` states it (:func:`statement`) and the model card, ``predict``
and the CV report repeat it. Without the column the edition is unknown; TCGA-LGG and BraTS labels are histological
grades assigned before WHO CNS5, which the statement says.

>>> normalise("WHO CNS5"), normalise(" 2016 "), normalise(""), normalise("pre-2016")
('2021', '2016', None, 'pre-2016')
>>> statement(["2016", "2016"])
('2016', 'labels follow WHO 2016 (revised 4th edition, histological grades)')
>>> statement([None, None])[0] is None
True
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import yaml

from gliograde.data.source import ROW, read_table
from gliograde.errors import InputError

#: The manifest's (and the labels') column.
COLUMN = "who_edition"
#: Each accepted edition and what it means.
EDITIONS = {
    "2007": "WHO 2007 (4th edition, histological grades)",
    "2016": "WHO 2016 (revised 4th edition, histological grades)",
    "2021": "WHO CNS5 (2021, grades within molecularly defined tumour types)",
    "pre-2016": "a WHO edition before 2016 (histological grades)",
    "pre-2021": "a WHO edition before CNS5 (2021) (histological grades)",
}
#: Other spellings of an edition (lower case, spaces and dashes removed).
_ALIASES = {"cns5": "2021", "who2021": "2021", "who2016": "2016", "who2007": "2007", "pre2016": "pre-2016",
            "pre2021": "pre-2021", "precns5": "pre-2021", "4th": "2007", "revised4th": "2016",
            "whocns5": "2021", "cns52021": "2021", "whocns52021": "2021"}
#: What the outputs say when the labels do not state an edition.
UNSTATED = ("labels do not state a WHO edition (no who_edition column): unknown; TCGA-LGG and BraTS grades are "
            "histological WHO grades assigned before WHO CNS5 (2021), not CNS5 grades")


def normalise(value: object) -> str | None:
    """An edition code of :data:`EDITIONS` for a cell; None for an empty cell.

    Raises:
        ValueError: a value that names no known edition.
    """
    text = "" if value is None or (isinstance(value, float) and value != value) else str(value).strip()
    if not text:
        return None
    text = text.lower().removesuffix(".0")  # 2016.0: a column pandas read as numbers
    if text in EDITIONS:
        return text
    key = re.sub(r"[\s\-_.]+", "", text)
    if key in EDITIONS:
        return key
    if key in _ALIASES:
        return _ALIASES[key]
    raise ValueError(text)


def add_who_edition(manifest: pd.DataFrame, labels: Path) -> pd.DataFrame:
    """``manifest`` with a :data:`COLUMN` column from ``labels``' own (by patient id), when ``labels`` has one;
    otherwise ``manifest`` unchanged.

    Raises:
        InputError: a value that names no known edition (the file, the row, the value and the accepted ones).
    """
    labels = Path(labels)
    if not labels.is_file():
        return manifest
    df = read_table(labels)
    df.columns = [c if c == ROW else re.sub(r"[\s\-]+", "_", str(c).strip().lower()) for c in df.columns]
    pcol = next((c for c in ("patient_id", "case_id") if c in df.columns), None)
    if COLUMN not in df.columns or pcol is None:
        return manifest
    editions: dict[str, str | None] = {}
    for pid, value, row in zip(df[pcol], df[COLUMN], df[ROW], strict=True):
        try:
            editions[str(pid).strip()] = normalise(value)
        except ValueError:
            raise InputError(f"{labels} row {row}: who_edition {value!r} is not a WHO edition; use one of "
                             f"{', '.join(EDITIONS)} (or leave it empty when unknown)") from None
    out = manifest.copy()
    out[COLUMN] = pd.Series([editions.get(str(p)) for p in manifest["patient_id"]], index=manifest.index, dtype=object)
    return out


def statement(values: Iterable[object]) -> tuple[str | None, str]:
    """(the cohort's edition code, or None when no patient states one; the sentence the outputs print).

    Mixed editions are named with their patient counts; patients without one are counted as unstated.
    """
    codes = [normalise(v) for v in values]
    stated = Counter(c for c in codes if c is not None)
    if not stated:
        return None, UNSTATED
    if len(stated) == 1 and None not in codes:
        code = next(iter(stated))
        return code, f"labels follow {EDITIONS[code]}"
    parts = [f"{EDITIONS[c]}: {n} patients" for c, n in sorted(stated.items())]
    if n_none := sum(c is None for c in codes):
        parts.append(f"not stated: {n_none} patients")
    return "mixed", "labels follow mixed WHO editions (" + "; ".join(parts) + "): grades are not comparable across them"


def cohort_statement(manifest: pd.DataFrame) -> tuple[str | None, str]:
    """:func:`statement` of an ingested cohort's manifest (one row per slice; unstated without the column)."""
    if COLUMN not in manifest.columns:
        return None, UNSTATED
    by_patient = manifest.drop_duplicates("patient_id")[COLUMN] if "patient_id" in manifest else manifest[COLUMN]
    return statement(by_patient.tolist())


def run_statement(run_dir: Path) -> str:
    """The :func:`cohort_statement` sentence of a ``gliograde cv`` run: the cohort its ``config.yaml`` records,
    else the run's own ingest (``RUN/cohort``); :data:`UNSTATED` when neither manifest is found."""
    run_dir = Path(run_dir)
    try:
        doc = yaml.safe_load((run_dir / "config.yaml").read_text()) if (run_dir / "config.yaml").is_file() else {}
    except (OSError, yaml.YAMLError):
        doc = {}
    recorded = doc.get("cohort") if isinstance(doc, dict) else None
    for folder in [*([Path(str(recorded))] if recorded else []), run_dir / "cohort"]:
        manifest = folder / "manifest.csv"
        if manifest.is_file():
            try:
                return cohort_statement(pd.read_csv(manifest, dtype=str, keep_default_na=False))[1]
            except (OSError, ValueError, pd.errors.ParserError):
                break
    return UNSTATED
