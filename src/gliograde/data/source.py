"""Where one patient's files are, before anything is read: :class:`CaseSource`, the grades a label may spell, and
the CSV tables (labels.csv, a manifest) read as people write them.

Every layout's finder (:mod:`gliograde.data.layouts`, :mod:`gliograde.data.manifest_layout`) returns
``CaseSource`` s; :mod:`gliograde.data.ingest` and ``gliograde predict`` read them.

>>> parse_grade("III"), parse_grade("G4"), parse_grade("low")
(3, 4, None)
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from gliograde.errors import InputError

#: Delimiters a table may use (sniffed from its first lines): Excel writes ';' where ',' is the decimal mark.
DELIMITERS = ",;\t|"
#: The column :func:`read_table` adds: each row's line number in the file (the header is row 1).
ROW = "row"

GRADES = {"2": 2, "3": 3, "4": 4, "ii": 2, "iii": 3, "iv": 4, "g2": 2, "g3": 3, "g4": 4, "2.0": 2, "3.0": 3, "4.0": 4}


@dataclass
class CaseSource:
    """Where one patient's data lives, before anything is read.

    Attributes:
        patient_id: the labels' patient_id (or case_id); for ``gliograde predict``, the case's name.
        grade: WHO grade 2, 3 or 4 (0 = unknown, for prediction).
        site: acquisition site ("" when unknown).
        kind: ``slices`` (2D files), ``volume`` (NIfTI) or ``dicom``.
        slices: for ``slices``: {n: (image path, mask path)}.
        images: for ``volume``: {sequence: path}; for ``dicom``: {"series": folder}.
        mask: the segmentation/mask path (volume, dicom).
        is_segmentation: True for multi-label segmentations (BraTS ``_seg``), where every non-zero label is ROI
            by default; False for masks, which must be binary unless ROI labels are given.
        slice_index: fixed slice from a manifest, or None.
        series_description: for ``dicom``: the SeriesDescription of the series to read when the folder holds
            several ("" = the folder must hold one series).
        group: the person this patient is, when the labels say (a ``group`` column, or a BraTS case's
            ``tcga_id``): cases sharing a group stay on one side of every split ("" = the patient alone).
    """

    patient_id: str
    grade: int
    site: str = ""
    kind: str = "slices"
    slices: dict[int, tuple[Path, Path]] = field(default_factory=dict)
    images: dict[str, Path] = field(default_factory=dict)
    mask: Path | None = None
    is_segmentation: bool = False
    slice_index: int | None = None
    series_description: str = ""
    group: str = ""


def parse_grade(value: object) -> int | None:
    """'2', 2, 'III', 'G4' -> 2, 3, 4; anything else -> None."""
    return GRADES.get(str(value).strip().lower())


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV table as people write them, every cell as a string.

    UTF-8 with or without a BOM; the delimiter sniffed among ``, ; tab |`` (:class:`csv.Sniffer`); fully empty rows
    (Excel's trailing ``,,,``) dropped. Column :data:`ROW` holds each row's line number in the file, for messages.

    Raises:
        FileNotFoundError: no such file.
        InputError: not UTF-8 (the message says to save it as UTF-8), or rows that cannot be parsed.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = Path(d) / "labels.csv"
    ...     _ = p.write_text("patient_id;who_grade\\nP-01;2\\n;\\n")
    ...     read_table(p).to_dict("records")
    [{'patient_id': 'P-01', 'who_grade': '2', 'row': 2}]
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found; check the path")
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise InputError(f"{path}: cannot read the file ({err.strerror or err}); check its permissions") from err
    if raw[:4] == b"PK\x03\x04":  # a zip: an Excel workbook (.xlsx) renamed or given as is
        raise InputError(f"{path}: an Excel workbook, not a CSV table; save it as CSV UTF-8 (Excel: Save As > "
                         "CSV UTF-8) and give that file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        row = raw[: err.start].count(b"\n") + 1
        raise InputError(f"{path}: not UTF-8 text (byte 0x{raw[err.start]:02x} on row {row}; Latin-1 or Excel's "
                         "plain CSV?); save it as UTF-8 (Excel: Save As > CSV UTF-8)") from err
    sep = _delimiter(text)
    try:
        df = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, skip_blank_lines=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as err:
        raise InputError(f"{path}: cannot read the table as {_name(sep)}-separated ({' '.join(str(err).split())}); "
                         "save it as a CSV with one header row and the same number of cells on every row") from err
    df[ROW] = range(2, len(df) + 2)
    cells = df.drop(columns=[ROW])
    empty = cells.apply(lambda col: col.str.strip() == "").all(axis=1) if len(cells.columns) else df[ROW] > 0
    return df[~empty].reset_index(drop=True)


def _delimiter(text: str) -> str:
    sample = "\n".join(line for line in text.splitlines()[:20] if line.strip())
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:  # one column, or too little to tell: the CSV default
        return ","


def _name(sep: str) -> str:
    return {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}.get(sep, repr(sep))


def delimiter_note(df: pd.DataFrame) -> str:
    """For a missing-column message: how the table was split, when that may be the cause (one column only)."""
    cols = [c for c in df.columns if c != ROW]
    return " (read as one column: separate the cells with commas)" if len(cols) == 1 else ""
