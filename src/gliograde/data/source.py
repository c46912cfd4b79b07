"""Where one patient's files are, before anything is read: :class:`CaseSource`, and the grades a label may spell.

Every layout's finder (:mod:`gliograde.data.layouts`, :mod:`gliograde.data.manifest_layout`) returns
``CaseSource`` s; :mod:`gliograde.data.ingest` and ``gliograde predict`` read them.

>>> parse_grade("III"), parse_grade("G4"), parse_grade("low")
(3, 4, None)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

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


def parse_grade(value: object) -> int | None:
    """'2', 2, 'III', 'G4' -> 2, 3, 4; anything else -> None."""
    return GRADES.get(str(value).strip().lower())
