"""The ``manifest`` layout: a CSV naming each patient's image and mask explicitly.

Columns: ``patient_id, grade, image, mask`` and optionally ``slice`` (axial index for volumes, slice
number for 2D files), ``site``, ``group`` (else ``tcga_id``: the person a row's patient is; cases of one person in
two cohorts share a group, a patient without one is its own group, named by its id, and every split keeps a group
on one side) and ``series`` (for a DICOM folder holding several series: the SeriesDescription of the one to read).
Paths are relative to the CSV's folder. ``image`` may be a PNG/TIFF slice, a NIfTI volume or a DICOM series
folder. Several 2D rows may share a patient (its candidate slices).
A mask named as a segmentation (``<case>_seg.nii.gz``) is read by its labels (every non-zero label, or
``--roi-labels``), any other mask as binary, so one manifest can mix 0/255 PNG masks and BraTS 1/2/4 segmentations.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from gliograde.data.io import is_image, is_nifti
from gliograde.data.roi import is_segmentation_name
from gliograde.data.source import ROW, CaseSource, delimiter_note, parse_grade, read_table

REQUIRED = ("patient_id", "grade", "image", "mask")


def find_manifest_cases(csv: Path) -> tuple[list[CaseSource], list[str]]:
    """Read a manifest CSV into cases; returns (cases, problems)."""
    df = read_table(csv)
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise FileNotFoundError(f"{csv}: missing column(s) {missing}; "
                                f"a manifest needs {', '.join(REQUIRED)}[, slice, site]{delimiter_note(df)}")
    no_id = df["patient_id"].str.strip() == ""
    problems = [f"{csv} row {r}: no patient id; fill it in or delete the row" for r in df[ROW][no_id]]
    df = df[~no_id].assign(patient_id=lambda d: d["patient_id"].str.strip())
    base = csv.parent
    shared = _shared_images(csv, base, df)
    problems += [m for m in shared.values() if m]
    cases: list[CaseSource] = []
    for pid, rows in df.groupby("patient_id", sort=False):
        if str(pid) in shared:
            continue
        case, errs = _case(csv, base, str(pid), rows)
        problems += errs
        if case is not None:
            cases.append(case)
    return cases, problems


def _shared_images(csv: Path, base: Path, df: pd.DataFrame) -> dict[str, str]:
    """{patient: problem} for patients listing an image another patient lists too (one scan under two ids would sit
    in two CV folds)."""
    owners: dict[Path, list[tuple[str, int]]] = {}
    for pid, image, row in zip(df["patient_id"], df["image"], df[ROW], strict=True):
        owners.setdefault((base / image).resolve(), []).append((str(pid), int(row)))
    out: dict[str, str] = {}
    for image, hits in owners.items():
        pids = sorted({p for p, _ in hits})
        if len(pids) > 1:
            msg = (f"{csv} rows {', '.join(str(r) for _, r in hits)}: patients {', '.join(pids)} list the same image "
                   f"{image.name}; each image belongs to one patient")
            out[pids[0]] = out.get(pids[0]) or msg  # one line per image, naming every patient that lists it
            out.update({p: out.get(p, "") for p in pids[1:]})
    return out


def _case(csv: Path, base: Path, pid: str, rows: pd.DataFrame) -> tuple[CaseSource | None, list[str]]:
    parsed = [parse_grade(g) for g in rows["grade"]]
    where = f"{csv} row{'s' if len(rows) > 1 else ''} {', '.join(map(str, rows[ROW]))}"
    bad = [(g, r) for g, p, r in zip(rows["grade"], parsed, rows[ROW], strict=True) if p is None]
    if bad:
        return None, [f"{csv} row {bad[0][1]}: unknown grade {bad[0][0]!r} for patient {pid}; "
                      "grades must be 2, 3 or 4"]
    grades = {p for p in parsed if p is not None}
    if len(grades) > 1:
        return None, [f"{where}: duplicate patient id {pid} with different grades {sorted(grades)}; "
                      "one grade per patient"]
    grade = grades.pop()
    site = str(rows["site"].iloc[0]) if "site" in rows.columns else ""
    gcol = next((c for c in ("group", "tcga_id") if c in rows.columns), None)  # as labels.csv names the person
    group = str(rows[gcol].iloc[0]).strip() if gcol else ""
    slice_col = rows.get("slice", [""] * len(rows))
    paths = [(base / i, base / m, s) for i, m, s in zip(rows["image"], rows["mask"], slice_col, strict=True)]
    if len({p[0] for p in paths}) != len(paths):
        return None, [f"{where}: duplicate patient id {pid}: the same image is listed twice; remove the repeated row"]
    missing = [(p, r) for trio, r in zip(paths, rows[ROW], strict=True) for p in trio[:2] if not p.exists()]
    if missing:
        return None, [f"{missing[0][0]}: file not found (listed for patient {pid} in {csv} row {missing[0][1]}); "
                      "fix the path"]
    first = paths[0][0]
    odd = [(s, r) for (_, _, s), r in zip(paths, rows[ROW], strict=True) if s.strip() and not s.strip().isdigit()]
    if odd:
        return None, [f"{csv} row {odd[0][1]}: slice {odd[0][0]!r} is not a whole number; give the slice number "
                      "(or leave it empty)"]
    if all(is_image(p[0]) for p in paths):
        numbers = [int(s) if s.strip() else k for k, (_, _, s) in enumerate(paths)]
        if len(set(numbers)) != len(numbers):
            return None, [f"{where}: patient {pid} lists slice number(s) "
                          f"{sorted({n for n in numbers if numbers.count(n) > 1})} twice; one row per slice number"]
        slices = {n: (i, m) for n, (i, m, _) in zip(numbers, paths, strict=True)}
        seg = all(is_segmentation_name(m) for _, m, _ in paths)
        return CaseSource(patient_id=pid, grade=grade, site=site, kind="slices", slices=slices, group=group,
                          is_segmentation=seg), []
    if len(paths) > 1:
        return None, [f"{csv}: patient {pid} lists {len(paths)} volumes; give one volume or series per patient"]
    image, mask, s = paths[0]
    kind = "volume" if is_nifti(first) else "dicom" if first.is_dir() else ""
    if not kind:
        return None, [f"{first}: unsupported image type; use PNG/TIFF, NIfTI (.nii/.nii.gz) or a DICOM series folder"]
    images = {"image": image} if kind == "volume" else {"series": image}
    series = str(rows["series"].iloc[0]).strip() if "series" in rows.columns else ""
    return CaseSource(patient_id=pid, grade=grade, site=site, kind=kind, images=images, mask=mask,
                      slice_index=int(s) if s.strip() else None, series_description=series, group=group,
                      is_segmentation=is_segmentation_name(mask)), []
