"""Find the cases behind ``gliograde predict``'s CASE arguments, and name them without leaking identity.

Cases are found with ingest's own finders (:func:`gliograde.data.layouts.find_case`): a folder that
``gliograde ingest`` reads as one patient is one case here, whatever its layout:
    * a TCGA-LGG patient folder of ``<name>_<n>.png`` + ``<name>_<n>_mask.png`` slices, or one slice image
      with its mask: ``img.png`` + ``img_mask.png`` beside it (or ``mask=``);
    * a BraTS case folder ``<case>/<case>_t1ce.nii.gz`` + ``_seg.nii.gz``, or one ``.nii.gz`` file with ``mask=``;
    * a DICOM series (``*.dcm`` directly, in ``dicom/`` or in any one sub-folder such as ``series/``) with
      ``mask.nii.gz`` / ``<case>_mask.nii.gz`` or a ``mask/`` folder.
A folder that is none of these is a *batch* (a cohort folder, for instance): each sub-folder and each loose
image with its mask, or volume, in it is a case (a figure such as a cohort's ``montage.png`` is not).

>>> case_alias("TCGA_CS_4941_19960909", keep_ids=True)
'TCGA_CS_4941_19960909'
"""
from __future__ import annotations

import hashlib
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from gliograde.config import SEQUENCES
from gliograde.data.io import is_image, is_nifti
from gliograde.data.layouts import SLICE_NAME_RE, find_case, folder_layout
from gliograde.data.source import CaseSource

logger = logging.getLogger(__name__)


@dataclass
class CaseInput:
    """One case found on disk: its original name, path, alias used in outputs and how to read it."""

    name: str
    path: Path
    alias: str = ""
    source: CaseSource | None = None
    error: str | None = None


def case_alias(name: str, keep_ids: bool) -> str:
    """The case name written to outputs: ``name`` (made file-safe) with ``keep_ids``, else ``case-<sha256[:10]>``.

    >>> case_alias("TCGA_CS_4941_19960909", keep_ids=False)[:5]
    'case-'
    """
    if keep_ids:
        return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return "case-" + hashlib.sha256(name.encode()).hexdigest()[:10]


def _strip_suffix(p: Path) -> str:
    return p.name[: -len(".nii.gz")] if p.name.lower().endswith(".nii.gz") else p.stem


def _file_case(path: Path, mask: Path | None) -> CaseInput:
    name = _strip_suffix(path)
    ci = CaseInput(name=name, path=path)
    if is_image(path):
        m = mask or path.with_name(f"{path.stem}_mask{path.suffix}")
        if not m.is_file():
            ci.error = f"{path}: no mask beside it (expected {m.name}); add the mask or pass --mask"
            return ci
        hit = SLICE_NAME_RE.match(path.name)
        ci.source = CaseSource(patient_id=name, grade=0, kind="slices", slices={int(hit["n"]) if hit else 0: (path, m)})
    elif is_nifti(path):
        candidates = (path.with_name(path.name.replace(f"_{k}", "_seg")) for k in ("t1ce", "t1", "t2", "flair")
                      if f"_{k}." in path.name)
        seg = mask or next((c for c in candidates if c.is_file()), None)
        if seg is None:
            ci.error = f"{path}: NIfTI volume without a segmentation; pass --mask SEG.nii.gz"
            return ci
        # A name ending in a known sequence (BraTS style, e.g. _flair) says which one it is: checked against the bundle.
        seq = name.rsplit("_", 1)[-1].lower() if "_" in name else ""
        ci.source = CaseSource(patient_id=name, grade=0, kind="volume",
                               images={seq if seq in SEQUENCES else "image": path}, mask=seg,
                               is_segmentation="_seg" in seg.name.lower())
    else:
        ci.error = f"{path}: not a PNG/TIFF slice, NIfTI volume or DICOM folder; give one of those"
    return ci


def _is_scan(p: Path) -> bool:
    """A file a case can be read from: an image with its ``_mask`` beside it (a mask alone, or a figure such as a
    cohort's ``montage.png``, is not one: ingest does not read those either), a NIfTI volume or a DICOM file."""
    if is_image(p):
        return not p.stem.lower().endswith("_mask") and p.with_name(f"{p.stem}_mask{p.suffix}").is_file()
    return (is_nifti(p) and "_seg" not in p.name) or p.suffix.lower() == ".dcm"


def _is_case(folder: Path, mask: Path | None = None) -> bool:
    """One case (not a batch): it holds scans itself (any image when ``mask`` is given) or a ``dicom/`` folder, or
    ingest's finder finds one in it."""
    if folder_layout(folder) is None:
        return False
    own = [p for p in folder.iterdir() if p.is_file() and (_is_scan(p) or (mask is not None and is_image(p)))]
    if (folder / "dicom").is_dir() or own:
        return True
    return find_case(folder, folder.name)[0] is not None


def _folder_case(folder: Path, mask: Path | None) -> CaseInput:
    ci = CaseInput(name=folder.name, path=folder)
    images = [p for p in sorted(folder.iterdir()) if is_image(p) and not p.stem.endswith("_mask")]
    if len(images) == 1 and folder_layout(folder) == "slices":
        single = _file_case(images[0], mask)
        ci.source, ci.error = single.source, single.error
        return ci
    source, problems = find_case(folder, folder.name)
    if source is not None and mask is not None:
        source.mask = mask
    ci.source, ci.error = source, (problems[0] if problems else None)
    return ci


def find_cases(paths: list[Path], mask: Path | None = None) -> tuple[list[CaseInput], bool]:
    """Expand CASE arguments into cases (see the module docstring).

    Returns:
        (cases, batch): ``batch`` is True when any argument was a folder of several cases.
    """
    cases: list[CaseInput] = []
    batch = False
    for p in map(Path, paths):
        if p.is_file():
            cases.append(_file_case(p, mask))
        elif p.is_dir() and _is_case(p, mask):
            cases.append(_folder_case(p, mask))
        elif p.is_dir():
            batch = True
            for sub in sorted(q for q in p.iterdir() if not q.name.startswith(".")):
                if sub.is_dir():
                    cases.append(_folder_case(sub, None))
                elif _is_scan(sub) and sub.suffix.lower() != ".dcm":
                    cases.append(_file_case(sub, None))
                elif is_image(sub) and not sub.stem.endswith("_mask"):
                    logger.info("%s: not a case (no %s_mask beside it), as for ingest", sub.name, sub.stem)
        else:
            cases.append(CaseInput(name=_strip_suffix(p), path=p, error=f"{p}: no such file or folder; check the path"))
    return cases, batch


def assign_aliases(cases: list[CaseInput], keep_ids: bool) -> None:
    seen: Counter[str] = Counter()
    for c in cases:
        base = case_alias(c.name, keep_ids)
        seen[base] += 1
        c.alias = base if seen[base] == 1 else f"{base}-{seen[base]}"


def scrub(message: str, case: CaseInput, keep_ids: bool) -> str:
    """One line, with the case's path and name replaced by its alias unless ``keep_ids``."""
    line = " ".join(str(message).split())
    if keep_ids:
        return line
    for text in sorted({str(case.path), str(case.path.resolve()), case.path.name, case.name}, key=len, reverse=True):
        if text:
            line = line.replace(text, case.alias)
    return line


def case_files(source: CaseSource) -> list[Path]:
    """Every file a case may be read from (slice images and masks, volumes, DICOM series, mask), sorted."""
    paths = [p for pair in source.slices.values() for p in pair] + list(source.images.values())
    paths += [source.mask] if source.mask is not None else []
    found: set[Path] = set()
    for p in paths:
        if p.is_dir():
            found.update(q for q in p.rglob("*") if q.is_file())
        else:
            found.add(p)
    return sorted(found)
