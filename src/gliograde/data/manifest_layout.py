"""The ``manifest`` layout: a CSV naming each patient's image and mask explicitly.

Columns: ``patient_id, grade, image, mask`` and optionally ``slice`` (axial index for volumes, slice
number for 2D files) and ``site``. Paths are relative to the CSV's folder. ``image`` may be a PNG/TIFF
slice, a NIfTI volume or a DICOM series folder. Several 2D rows may share a patient (its candidate slices).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from gliograde.data.io import is_image, is_nifti
from gliograde.data.source import CaseSource, parse_grade

REQUIRED = ("patient_id", "grade", "image", "mask")


def find_manifest_cases(csv: Path) -> tuple[list[CaseSource], list[str]]:
    """Read a manifest CSV into cases; returns (cases, problems)."""
    df = pd.read_csv(csv, dtype=str, keep_default_na=False)
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise FileNotFoundError(f"{csv}: missing column(s) {missing}; "
                                f"a manifest needs {', '.join(REQUIRED)}[, slice, site]")
    base = csv.parent
    problems: list[str] = []
    cases: list[CaseSource] = []
    for pid, rows in df.groupby("patient_id", sort=False):
        case, errs = _case(csv, base, str(pid).strip(), rows)
        problems += errs
        if case is not None:
            cases.append(case)
    return cases, problems


def _case(csv: Path, base: Path, pid: str, rows: pd.DataFrame) -> tuple[CaseSource | None, list[str]]:
    parsed = [parse_grade(g) for g in rows["grade"]]
    bad = [g for g, p in zip(rows["grade"], parsed, strict=True) if p is None]
    if bad:
        return None, [f"{csv}: unknown grade {bad[0]!r} for patient {pid}; grades must be 2, 3 or 4"]
    grades = {p for p in parsed if p is not None}
    if len(grades) > 1:
        return None, [f"{csv}: duplicate patient id {pid} with different grades {sorted(grades)}; "
                      "one grade per patient"]
    grade = grades.pop()
    site = str(rows["site"].iloc[0]) if "site" in rows.columns else ""
    slice_col = rows.get("slice", [""] * len(rows))
    paths = [(base / i, base / m, s) for i, m, s in zip(rows["image"], rows["mask"], slice_col, strict=True)]
    if len({p[0] for p in paths}) != len(paths):
        return None, [f"{csv}: duplicate patient id {pid}: the same image is listed twice; remove the repeated row"]
    missing = [p for trio in paths for p in trio[:2] if not p.exists()]
    if missing:
        return None, [f"{missing[0]}: file not found (listed for patient {pid} in {csv}); fix the path"]
    first = paths[0][0]
    if all(is_image(p[0]) for p in paths):
        slices = {int(s) if s != "" else k: (i, m) for k, (i, m, s) in enumerate(paths)}
        return CaseSource(patient_id=pid, grade=grade, site=site, kind="slices", slices=slices), []
    if len(paths) > 1:
        return None, [f"{csv}: patient {pid} lists {len(paths)} volumes; give one volume or series per patient"]
    image, mask, s = paths[0]
    kind = "volume" if is_nifti(first) else "dicom" if first.is_dir() else ""
    if not kind:
        return None, [f"{first}: unsupported image type; use PNG/TIFF, NIfTI (.nii/.nii.gz) or a DICOM series folder"]
    images = {"image": image} if kind == "volume" else {"series": image}
    return CaseSource(patient_id=pid, grade=grade, site=site, kind=kind, images=images, mask=mask,
                      slice_index=int(s) if s != "" else None), []
