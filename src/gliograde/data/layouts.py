"""Find the patients of a cohort on disk: four layouts, detected automatically.

``slices``   (TCGA-LGG style) ``labels.csv`` + per patient folder ``<name>_<n>.png|tif`` and
             ``<name>_<n>_mask.png|tif``.
``nifti``    (BraTS style)    ``labels.csv`` + per case folder ``<case>_<seq>.nii.gz`` and ``<case>_seg.nii.gz``.
``dicom``    ``labels.csv`` + per patient folder with a DICOM series (directly, in ``dicom/`` or in any one
             sub-folder, e.g. ``series/``) and a mask:
             ``mask.nii.gz`` / ``*_seg.nii.gz`` / ``*_mask.nii.gz`` placed by its affine (as dcm2niix writes it;
             an identity affine = the series' own rows, cols, slices order), or ``mask/`` holding one PNG per
             DICOM file named after it (``<dicom stem>.png``; missing = empty).
``manifest`` a CSV with columns patient_id, grade, image, mask[, slice][, site][, group]; paths relative to the
             CSV. An ingested cohort's own ``manifest.csv`` is a manifest too: its patients, found again in the
             data that cohort was ingested from (its ``config.yaml``), so ``gliograde ingest runs/tcga/manifest.csv
             --out runs/tcga-3`` ingests the same patients again from their original files with new settings.

``labels.csv`` needs a patient column (``patient_id`` or ``case_id``) and a grade column (``who_grade`` or
``grade``); ``folder`` defaults to the patient id, ``institution``/``site`` names the acquisition site, and
``series`` (or ``series_description``) picks, by its SeriesDescription, the DICOM series to read from a folder
that holds several; ``group`` (else ``tcga_id``, as BraTS labels give it) names the person, so that one patient's
cases in two cohorts stay on one side of every split. It is read
as people write it (:func:`gliograde.data.source.read_table`: delimiter sniffed, empty rows ignored, UTF-8), and
every problem names its row. Two files with one slice number (``_14.png`` and ``_14.tif``, or ``_014.png``) are a
problem, never settled by sort order.
Discovery only looks at names; reading happens in :mod:`gliograde.data.ingest`. ``gliograde predict`` finds
its cases with the same finders (:func:`find_case`), so a folder ingest reads as one patient is one case there.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from gliograde.data.dataset import MANIFEST
from gliograde.data.io import IMAGE_SUFFIXES, NIFTI_SUFFIXES, is_nifti
from gliograde.data.manifest_layout import find_manifest_cases
from gliograde.data.roi import SEGMENTATION_KEYS
from gliograde.data.source import ROW, CaseSource, delimiter_note, parse_grade, read_table
from gliograde.errors import InputError

#: A slice file name: ``<stem>_<n>.png|tif[f]`` (image) or ``<stem>_<n>_mask.png|tif[f]`` (its mask).
SLICE_NAME_RE = re.compile(r"^(?P<stem>.+)_(?P<n>\d+)(?P<mask>_mask)?\.(?:png|tif|tiff)$", re.IGNORECASE)
_PATIENT_COLS = ("patient_id", "case_id")
_GRADE_COLS = ("who_grade", "grade")
_SITE_COLS = ("institution", "site")
_SERIES_COLS = ("series", "series_description")
#: The person a patient row is (``group``), else a BraTS case's TCGA patient (``tcga_id``): kept on one side of a split.
_GROUP_COLS = ("group", "tcga_id")


def detect_layout(root: Path) -> str:
    """Name the layout of ``root``: ``manifest``, ``slices``, ``nifti`` or ``dicom``."""
    root = Path(root)
    if root.is_file() and root.suffix.lower() == ".csv":
        return "manifest"
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such cohort folder or manifest CSV; check the path")
    if not (root / "labels.csv").is_file():
        raise FileNotFoundError(
            f"{root / 'labels.csv'}: missing; a cohort folder needs labels.csv (patient_id, who_grade[, folder]) "
            "or give a manifest CSV (patient_id, grade, image, mask) instead of the folder"
        )
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        layout = folder_layout(sub)
        if layout is not None:
            return layout
    raise FileNotFoundError(f"{root}: no patient folders with PNG/TIFF, NIfTI or DICOM files found; "
                            "check the cohort path")


def folder_layout(folder: Path) -> str | None:
    """The layout of one patient folder, from the names of the files in it and below it.

    ``dicom`` when any ``*.dcm`` file is there, else ``nifti`` when a NIfTI volume other than a mask or
    segmentation is, else ``slices`` when a PNG/TIFF is; None when none of these is.
    """
    names = [p.name.lower() for p in Path(folder).rglob("*") if p.is_file()]
    if any(n.endswith(".dcm") for n in names):
        return "dicom"
    if any(n.endswith(NIFTI_SUFFIXES) and not n.startswith("mask") and "_seg" not in n for n in names):
        return "nifti"
    if any(n.endswith(IMAGE_SUFFIXES) for n in names):
        return "slices"
    return None


def read_labels(path: Path) -> tuple[pd.DataFrame, list[str]]:
    """Read labels.csv into columns patient_id, grade (int), folder, site, series, row; plus one problem per bad row.

    The table is read by :func:`gliograde.data.source.read_table` (delimiter sniffed, empty rows ignored, UTF-8);
    every problem names its row (the header is row 1).
    """
    df = read_table(path)
    # "Patient ID", " who_grade " and "WHO-Grade" all name the same column
    df.columns = [c if c == ROW else re.sub(r"[\s\-]+", "_", str(c).strip().lower()) for c in df.columns]
    pcol = next((c for c in _PATIENT_COLS if c in df.columns), None)
    gcol = next((c for c in _GRADE_COLS if c in df.columns), None)
    if pcol is None or gcol is None:
        raise FileNotFoundError(
            f"{path}: needs a patient column ({' or '.join(_PATIENT_COLS)}) and a grade column "
            f"({' or '.join(_GRADE_COLS)}); found {[c for c in df.columns if c != ROW]}{delimiter_note(df)}"
        )
    problems: list[str] = []
    no_id = df[pcol].str.strip() == ""
    problems += [f"{path} row {r}: no patient id; fill it in or delete the row" for r in df[ROW][no_id]]
    df = df[~no_id].reset_index(drop=True)
    out = pd.DataFrame({"patient_id": df[pcol].str.strip()})
    out["grade_raw"] = df[gcol]
    out["grade"] = pd.Series([parse_grade(g) for g in df[gcol]], dtype=object)
    out["folder"] = df["folder"].str.strip() if "folder" in df.columns else ""  # "" = find it by patient id
    scol = next((c for c in _SITE_COLS if c in df.columns), None)
    out["site"] = (df[scol].str.strip() if scol
                   else [_site_from_id(p, df, i) for i, p in enumerate(out["patient_id"])])
    out["largest_tumour_slice"] = df.get("largest_tumour_slice", pd.Series([""] * len(df)))
    dcol = next((c for c in _SERIES_COLS if c in df.columns), None)  # which DICOM series, when a folder holds several
    out["series"] = df[dcol].str.strip() if dcol else ""
    gcol = next((c for c in _GROUP_COLS if c in df.columns), None)  # the person: a BraTS case's TCGA patient
    out["group"] = df[gcol].str.strip() if gcol else ""
    out[ROW] = df[ROW]
    for pid, g, graw, r in zip(out["patient_id"], out["grade"], out["grade_raw"], out[ROW], strict=True):
        if g is None:
            problems.append(f"{path} row {r}: unknown grade {graw!r} for patient {pid}; "
                            "grades must be 2, 3 or 4 (or II, III, IV)")
    for pid, rows in out.groupby("patient_id", sort=True)[ROW]:
        if len(rows) > 1:
            problems.append(f"{path} rows {', '.join(map(str, rows))}: duplicate patient id {pid!s}; "
                            "keep one row per patient")
    return out, problems


def _site_from_id(pid: str, df: pd.DataFrame, i: int) -> str:
    """TCGA ids carry the tissue source site: TCGA-CS-4941 -> CS."""
    tid = df["tcga_id"].iloc[i] if "tcga_id" in df.columns else pid
    m = re.match(r"TCGA[-_](\w\w)[-_]", str(tid))
    return m.group(1) if m else ""


def find_cases(root: Path, layout: str = "auto") -> tuple[list[CaseSource], list[str]]:
    """Discover every patient of a cohort; returns (cases, problems), one message per problem."""
    root = Path(root)
    layout = detect_layout(root) if layout == "auto" else layout
    if layout == "manifest" and is_ingested_manifest(root):
        return _ingested_manifest_cases(root)
    if layout == "manifest":
        return find_manifest_cases(root)
    labels, problems = read_labels(root / "labels.csv")
    cases: list[CaseSource] = []
    labelled = set()
    finder = CASE_FINDERS[layout]
    subdirs = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    folders = [sub or patient_folder(str(pid), subdirs) for pid, sub in zip(labels["patient_id"], labels["folder"],
                                                                            strict=True)]
    shared = _shared_folders(root / "labels.csv", labels, folders)
    problems += [m for m in shared.values() if m]
    columns = (labels["patient_id"], labels["grade"], labels["site"], folders, labels[ROW], labels["series"],
               labels["group"])
    for pid, grade, site, sub, row, series, group in zip(*columns, strict=True):
        labelled.add(sub)
        if grade is None or row in shared:
            continue
        case, errs = finder(root / str(sub), str(pid), int(grade), site=str(site), listed_in=f"labels.csv row {row}")
        problems += errs
        if case is not None:
            case.series_description, case.group = str(series), str(group)
            cases.append(case)
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if sub.name not in labelled:
            problems.append(f"{sub}: images with no label; add patient {sub.name} to {root / 'labels.csv'} "
                            "or move the folder out")
    return cases, problems


def is_ingested_manifest(csv: Path) -> bool:
    """True for the ``manifest.csv`` that ``gliograde ingest`` wrote (its header names the cached crops)."""
    csv = Path(csv)
    if csv.name != MANIFEST or not csv.is_file():
        return False
    with open(csv, encoding="utf-8-sig") as fh:
        header = fh.readline()
    return {"cache_path", "source_image"} <= {c.strip() for c in header.split(",")}


def _ingested_manifest_cases(csv: Path) -> tuple[list[CaseSource], list[str]]:
    """The patients of an ingested cohort's manifest, found again in the data it was ingested from.

    Raises:
        InputError: the cohort's ``config.yaml`` does not say what it was ingested from, or that data is gone.
    """
    folder = csv.parent
    try:
        loaded = yaml.safe_load((folder / "config.yaml").read_text())
    except (OSError, yaml.YAMLError):
        loaded = None
    config: dict[str, Any] = loaded if isinstance(loaded, dict) else {}
    section = config["ingest"] if isinstance(config.get("ingest"), dict) else config
    data = config.get("data")
    if not data:
        raise InputError(f"{csv}: the manifest of an ingested cohort whose source is not recorded (no `data` in "
                         f"{folder / 'config.yaml'}); give {folder} itself to train, cv or validate, or ingest the "
                         "original data")
    source = Path(str(data))
    if not source.exists() or source.resolve() == csv.resolve():
        raise InputError(f"{source}: the data {csv} was ingested from is not found; run from the folder it was "
                         "ingested from, or ingest the original data")
    cases, problems = find_cases(source, str(section.get("layout") or "auto"))
    listed = list(dict.fromkeys(pd.read_csv(csv, dtype={"patient_id": str}, keep_default_na=False)["patient_id"]))
    found = {c.patient_id: c for c in cases}
    problems += [f"{csv}: patient {p} is no longer found in {source}; restore its files or ingest {source} anew"
                 for p in listed if p not in found]
    return [found[p] for p in listed if p in found], problems


def _shared_folders(path: Path, labels: pd.DataFrame, folders: list[str]) -> dict[int, str]:
    """{row: problem} for rows whose patients share one folder: the same images under two ids (and two CV folds)."""
    rows: dict[str, list[tuple[int, str]]] = {}
    for sub, row, pid in zip(folders, labels[ROW], labels["patient_id"], strict=True):
        rows.setdefault(str(sub), []).append((int(row), str(pid)))
    out: dict[int, str] = {}
    for sub, hits in rows.items():
        if len({p for _, p in hits}) > 1:  # one id twice is reported as a duplicate id
            msg = (f"{path} rows {', '.join(str(r) for r, _ in hits)}: patients {', '.join(p for _, p in hits)} "
                   f"share the folder {sub}; give each patient its own folder")
            out[hits[0][0]] = msg
            out.update({r: "" for r, _ in hits[1:]})
    return out


def patient_folder(patient_id: str, subdirs: list[str]) -> str:
    """The folder of a patient when labels.csv has no ``folder`` column.

    The folder named exactly like the id wins; otherwise the one folder whose name starts with the id
    once ``-`` and ``_`` are treated alike and case is ignored (``TCGA-CS-4941`` -> ``TCGA_CS_4941_19960909``).
    With none or several candidates the id itself is returned, and the caller reports the folder as missing.

    >>> patient_folder("TCGA-CS-4941", ["TCGA_CS_4941_19960909", "TCGA_CS_4942_19970222"])
    'TCGA_CS_4941_19960909'
    """
    if patient_id in subdirs:
        return patient_id
    key = patient_id.replace("-", "_").lower()
    norm = {d: d.replace("-", "_").lower() for d in subdirs}
    hits = [d for d, n in norm.items() if n == key or n.startswith(key + "_")]
    return hits[0] if len(hits) == 1 else patient_id


def _no_images(folder: Path, patient_id: str, what: str, listed_in: str | None) -> list[str]:
    if listed_in is None:
        return [f"{folder}: case {patient_id} has no {what}; add the files or give another folder"]
    return [f"{folder}: patient {patient_id} is in {listed_in} but has no {what}; add the files or remove the row"]


def find_slice_case(folder: Path, patient_id: str, grade: int, *, site: str = "",
                    listed_in: str | None = "labels.csv") -> tuple[CaseSource | None, list[str]]:
    """One patient folder of 2D slices: ``<name>_<n>.png|tif`` images, each with ``<name>_<n>_mask.png|tif``.

    Args:
        folder: the patient's folder.
        patient_id, grade, site: copied into the :class:`CaseSource` (grade 0 = unknown, for prediction).
        listed_in: where the patient was listed (named in error messages), or None for a case given directly.

    Returns:
        (case, problems): ``case`` is None when anything is missing (an image without a mask included).

    >>> find_slice_case(Path("/nonexistent"), "P1", 2, listed_in=None)[1]
    ['/nonexistent: case P1 has no image folder; add the files or give another folder']
    """
    if not folder.is_dir():
        return None, _no_images(folder, patient_id, "image folder", listed_in)
    images: dict[int, Path] = {}
    masks: dict[int, Path] = {}
    problems: list[str] = []
    for p in sorted(folder.iterdir()):
        m = SLICE_NAME_RE.match(p.name)
        if m:
            found, n = (masks if m.group("mask") else images), int(m.group("n"))
            if n in found:  # _14.png and _14.tif, or _14 and _014: which one is meant is not for sort order to say
                role = "mask" if m.group("mask") else "slice"
                problems.append(f"{folder}: {found[n].name} and {p.name} are both {role} {n}; "
                                "keep one file per slice number")
            found[n] = p
    if not images:
        return None, _no_images(folder, patient_id, "slice images (<name>_<n>.png|tif)", listed_in)
    problems += [f"{images[n]}: no mask file (expected {images[n].stem}_mask{images[n].suffix}); "
                 "add the mask or remove the slice" for n in sorted(set(images) - set(masks))]
    pairs = {n: (images[n], masks[n]) for n in sorted(set(images) & set(masks))}
    case = CaseSource(patient_id=patient_id, grade=grade, site=site, kind="slices", slices=pairs)
    return (case if not problems else None), problems


# Other spellings of the sequences (BraTS 2023 uses t1n / t1c / t2w / t2f; others T1Gd, FLAIR).
SEQUENCE_ALIASES = {"t1c": "t1ce", "t1gd": "t1ce", "t1post": "t1ce", "t1n": "t1", "t1pre": "t1", "t2w": "t2",
                    "t2f": "flair", "t2flair": "flair"}


def sequence_key(stem: str) -> str:
    """The sequence a volume's file name ends with, in gliograde's names.

    >>> sequence_key("Brats18_TCIA10_628_1_t1ce"), sequence_key("BraTS-GLI-00000-000-t1c"), sequence_key("case_FLAIR")
    ('t1ce', 't1ce', 'flair')
    """
    last = re.split(r"[_\-]", stem)[-1].lower()
    return SEQUENCE_ALIASES.get(last, last)


def find_nifti_case(folder: Path, patient_id: str, grade: int, *, site: str = "",
                    listed_in: str | None = "labels.csv") -> tuple[CaseSource | None, list[str]]:
    """One BraTS-style case folder: ``<case>_<seq>.nii.gz`` volumes and ``<case>_seg.nii.gz`` (or ``_mask``).

    Sequences are keyed by the name's last ``_`` part (``t1ce``, ``flair``, ...). Arguments and return
    value as :func:`find_slice_case`.
    """
    if not folder.is_dir():
        return None, _no_images(folder, patient_id, "case folder", listed_in)
    seqs: dict[str, Path] = {}
    mask: Path | None = None
    is_seg = False
    for p in (p for p in sorted(folder.iterdir()) if is_nifti(p)):
        stem = p.name[: -len(".nii.gz")] if p.name.lower().endswith(".gz") else p.stem
        key = sequence_key(stem)
        if key in SEGMENTATION_KEYS:
            mask, is_seg = p, True
        elif key in ("mask", "roi"):
            mask = p
        else:
            seqs[key] = p
    if not seqs:
        return None, _no_images(folder, patient_id, "NIfTI image (<case>_t1ce.nii.gz)", listed_in)
    if mask is None:
        return None, [f"{folder}: no segmentation (expected <case>_seg.nii.gz or <case>_mask.nii.gz); add it"]
    return CaseSource(patient_id=patient_id, grade=grade, site=site, kind="volume",
                      images=seqs, mask=mask, is_segmentation=is_seg), []


def find_dicom_case(folder: Path, patient_id: str, grade: int, *, site: str = "",
                    listed_in: str | None = "labels.csv") -> tuple[CaseSource | None, list[str]]:
    """One DICOM case folder: a series and ``mask.nii.gz`` (any NIfTI file beside it) or a ``mask/`` folder.

    The series is the folder itself when it holds ``*.dcm`` files, else ``dicom/``, else the one sub-folder
    (at any depth, ``mask/`` aside) that holds them; several such sub-folders: the patient folder, whose series
    ``ingest --channels`` reads as channels (:func:`gliograde.data.io.read_dicom_channels`). Only names are
    looked at: no DICOM header is read here.
    Arguments and return value as :func:`find_slice_case`.
    """
    if not folder.is_dir():
        return None, _no_images(folder, patient_id, "DICOM folder", listed_in)
    series = dicom_series(folder)
    if not series:
        return None, _no_images(folder, patient_id, "DICOM series (*.dcm)", listed_in)
    if len(series) > 1:  # a folder per series: the patient folder is read, its series told apart by header
        series = [folder]  # (SeriesInstanceUID, SeriesDescription: gliograde.data.io.read_dicom_channels)
    mask = next((p for p in sorted(folder.iterdir()) if is_nifti(p)), None)
    if mask is None and (folder / "mask").is_dir():
        mask = folder / "mask"
    if mask is None:
        return None, [f"{folder}: no mask (expected mask.nii.gz or a mask/ folder of PNGs named after the "
                      "DICOM files); add it"]
    is_seg = "_seg" in mask.name.lower()
    return CaseSource(patient_id=patient_id, grade=grade, site=site, kind="dicom",
                      images={"series": series[0]}, mask=mask, is_segmentation=is_seg), []


def _has_dicom(folder: Path) -> bool:
    return any(p.is_file() and p.suffix.lower() == ".dcm" for p in folder.iterdir())


def dicom_series(folder: Path) -> list[Path]:
    """The folders that may be a patient's DICOM series (see :func:`find_dicom_case`); more than one is ambiguous."""
    if _has_dicom(folder):
        return [folder]
    if (folder / "dicom").is_dir() and _has_dicom(folder / "dicom"):
        return [folder / "dicom"]
    found = {p.parent for p in folder.rglob("*") if p.is_file() and p.suffix.lower() == ".dcm"}
    return sorted(d for d in found if (folder / "mask") not in (d, *d.parents))


#: Layout name -> case finder (``find_*_case``), for :func:`find_cases` and :func:`find_case`.
CASE_FINDERS = {"slices": find_slice_case, "nifti": find_nifti_case, "dicom": find_dicom_case}


def find_case(folder: Path, name: str) -> tuple[CaseSource | None, list[str]]:
    """One case folder given on its own (``gliograde predict``): the finder of its own :func:`folder_layout`.

    The case is named ``name`` and has no grade (0); problems are worded for a folder no labels list.
    """
    layout = folder_layout(folder) or "slices"
    return CASE_FINDERS[layout](folder, name, 0, listed_in=None)
