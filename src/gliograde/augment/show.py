"""Show the study's fixed augmentation on one case: ``montage.png`` (Figure 4) and the table of every transform.

:func:`show_transforms` reads one case (a patient of a cohort, opened as every command opens one, or a single
8-bit image file with an optional mask), builds the transforms of ``cfg.augment``
(:func:`gliograde.augment.policy.build_transforms`) and writes into ``out``:

- ``transforms.json``: ``{"case", "size", "transforms": [{"index", "name", "ops", "magnitudes", "bins",
  "sign"}, ...]}`` (magnitudes as torchvision applies them at the image size);
- ``transforms.csv``: the same table, one row per transform (lists joined by ``+`` and ``;``);
- ``montage.png``: every version of the case in a grid (:func:`gliograde.report.montage.montage`);
- ``config.yaml`` (the ``preset``, ``ingest`` and ``augment`` settings: ``--config`` replays them) and ``run.json``.

>>> # res = show_transforms(Path("runs/ingested"), Path("runs/augment"), resolve("augment"), patient="P007")
>>> # res.summary -> '57 versions of P007 (identity, positive) -> runs/augment/montage.png, ...'
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from PIL import Image, UnidentifiedImageError

from gliograde.augment.ops import AugTransform
from gliograde.augment.policy import build_transforms
from gliograde.config import IngestCfg, RunConfig
from gliograde.data.cohort import open_cohort
from gliograde.errors import InputError, MaskMismatchError
from gliograde.report.montage import montage
from gliograde.runinfo import fingerprint_files, write_run_info
from gliograde.settings import as_dict

__all__ = ["ShowCase", "ShowResult", "load_case", "show_transforms", "transform_rows", "write_table"]

MONTAGE_PNG = "montage.png"
TRANSFORMS_CSV = "transforms.csv"
TRANSFORMS_JSON = "transforms.json"


@dataclass(frozen=True)
class ShowCase:
    """One case to augment.

    Attributes:
        image: (C, H, W) uint8, C-contiguous.
        mask: (H, W) bool ROI, or None (a single image without ``mask``).
        files: the input files read (image first), fingerprinted in ``run.json``.
        label: the case's name: the cohort's ``patient_id`` or the image file's stem.
    """

    image: npt.NDArray[np.uint8]
    mask: npt.NDArray[np.bool_] | None
    files: tuple[Path, ...]
    label: str


@dataclass(frozen=True)
class ShowResult:
    """What :func:`show_transforms` wrote.

    Attributes:
        out: the output folder.
        case: the case's name (see :attr:`ShowCase.label`).
        transforms: the transforms shown, identity first.
        rows: one dict per transform, as in ``transforms.json``.
        montage: ``out/montage.png``. table: ``out/transforms.csv``. json: ``out/transforms.json``.
        settings: ``(dedupe, sign, roi_only)`` of the augmentation, for the summary line.
    """

    out: Path
    case: str
    transforms: tuple[AugTransform, ...]
    rows: tuple[dict[str, Any], ...]
    montage: Path
    table: Path
    json: Path
    settings: tuple[str, str, bool]

    @property
    def summary(self) -> str:
        """The line ``gliograde augment`` prints: how many versions of which case, and the files written."""
        dedupe, sign, roi_only = self.settings
        return (f"{len(self.transforms)} versions of {self.case} ({dedupe}, {sign}{', roi-only' if roi_only else ''})"
                f" -> {self.montage}, {self.table}")


def show_transforms(source: Path, out: Path, cfg: RunConfig, *, patient: str | None = None, mask: Path | None = None,
                    progress: bool = True) -> ShowResult:
    """Write the montage and the transform table of one case (see the module docstring).

    Args:
        source: a cohort folder (raw, in any layout ingest reads: ingested into ``out/cohort`` with ``cfg.ingest``;
            or ingested), a manifest CSV, or one 8-bit grey or multi-channel image file (PNG).
        out: the output folder (created).
        cfg: the resolved settings (:func:`gliograde.settings.resolve` of ``augment``): ``cfg.augment`` chooses
            the transforms, ``cfg.ingest`` reads a raw cohort.
        patient: the ``patient_id`` to show from a cohort (default: the manifest's first row).
        mask: the ROI mask image of a single image file (default: none).
        progress: show the ingest progress bar of a raw cohort.

    Returns:
        A :class:`ShowResult`.

    Raises:
        InputError: a missing or unreadable file, an unknown patient, an image that is not 8-bit, or
            ``roi_only`` without a mask. MaskMismatchError: the mask's shape is not the image's.
    """
    aug = cfg.augment
    case = load_case(source, out, cfg.ingest, patient=patient, mask=mask, progress=progress)
    if aug.roi_only and case.mask is None:
        raise InputError(f"{source}: --roi-only needs a mask; give --mask ROI.png or a cohort folder")
    transforms = build_transforms(aug)
    out.mkdir(parents=True, exist_ok=True)
    rows = transform_rows(transforms, (case.image.shape[1], case.image.shape[2]))
    write_table(rows, case.label, (case.image.shape[1], case.image.shape[2]), out)
    montage(torch.from_numpy(case.image), transforms, out / MONTAGE_PNG,
            masks=None if case.mask is None else torch.from_numpy(case.mask), roi_only=aug.roi_only)
    write_run_info(out, command="augment", config={**as_dict(cfg, "augment"), "case": case.label}, seed=None,
                   fingerprint=fingerprint_files(case.files))
    return ShowResult(out=out, case=case.label, transforms=tuple(transforms), rows=tuple(rows),
                      montage=out / MONTAGE_PNG, table=out / TRANSFORMS_CSV, json=out / TRANSFORMS_JSON,
                      settings=(aug.dedupe, aug.sign, aug.roi_only))


def transform_rows(transforms: list[AugTransform], size: tuple[int, int]) -> list[dict[str, Any]]:
    """One dict per transform: ``index`` plus :meth:`AugTransform.describe` at the image ``size`` (H, W)."""
    return [{"index": k, **t.describe(size)} for k, t in enumerate(transforms)]


def write_table(rows: list[dict[str, Any]], label: str, size: tuple[int, int], out: Path) -> tuple[Path, Path]:
    """Write ``transforms.json`` and ``transforms.csv`` (index, name, ops, magnitudes, bins, sign) into ``out``.

    Args:
        rows: :func:`transform_rows`. label: the case's name. size: the image's (H, W), recorded in the JSON.
        out: an existing folder.

    Returns:
        (the JSON path, the CSV path).
    """
    doc = {"case": label, "size": size, "transforms": rows}
    (out / TRANSFORMS_JSON).write_text(json.dumps(doc, indent=2))
    with open(out / TRANSFORMS_CSV, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["index", "name", "ops", "magnitudes", "bins", "sign"])
        for r in rows:
            mags = ["" if v is None else f"{v:.4g}" for v in r["magnitudes"]]
            bins = ["" if b is None else str(b) for b in r["bins"]]
            w.writerow([r["index"], r["name"], "+".join(r["ops"]), ";".join(mags), ";".join(bins), r["sign"]])
    return out / TRANSFORMS_JSON, out / TRANSFORMS_CSV


def load_case(source: Path, out: Path, ingest: IngestCfg, *, patient: str | None = None, mask: Path | None = None,
              progress: bool = True) -> ShowCase:
    """One case of ``source``: a patient of a cohort (folder or manifest CSV) or a single image file.

    Args:
        source, out, patient, mask, progress: as :func:`show_transforms`. ingest: how a raw cohort is read.

    Returns:
        A :class:`ShowCase`: image (C, H, W) uint8, mask (H, W) bool or None.
    """
    if source.is_dir() or source.suffix.lower() == ".csv":  # a cohort: a folder, or a manifest CSV
        files, label = _cohort_case(source, out, ingest, patient, progress)
    else:
        files = [source] + ([mask] if mask is not None else [])
        label = source.stem
    img = _read(files[0], "image")
    roi = _read(files[1], "mask") > 0 if len(files) > 1 else None
    if img.dtype != np.uint8 or img.ndim not in (2, 3):
        raise InputError(f"{files[0]}: expected an 8-bit grey or multi-channel image, got {img.dtype} {img.shape}; "
                         "give its cohort folder instead (it is ingested first)")
    img = img[None] if img.ndim == 2 else img.transpose(2, 0, 1)
    if roi is not None:
        roi = np.asarray(roi.any(axis=-1) if roi.ndim == 3 else roi, dtype=np.bool_)
        if roi.shape != img.shape[1:]:
            raise MaskMismatchError(f"{files[1]}: mask shape {roi.shape} != image shape {img.shape[1:]}; "
                                    "give the mask of this image")
    return ShowCase(image=np.ascontiguousarray(img), mask=roi, files=tuple(files), label=label)


def _cohort_case(source: Path, out: Path, ingest: IngestCfg, patient: str | None,
                 progress: bool) -> tuple[list[Path], str]:
    """The cached image and mask of ``patient`` (default: the first row) of the cohort ``source``, opened as every
    command opens a cohort (a raw one is ingested with ``ingest`` into ``out/cohort``)."""
    cohort = open_cohort(source, out, ingest, progress=progress)
    df = cohort.manifest
    rows = df if patient is None else df[df["patient_id"] == str(patient)]
    if len(rows) == 0:
        raise InputError(f"{cohort.root / 'manifest.csv'}: no patient {patient!r}; "
                         f"choose one of {df['patient_id'].head(5).tolist()}...")
    row = rows.iloc[0]
    return [cohort.root / row["cache_path"], cohort.root / row["cache_mask_path"]], str(row["patient_id"])


def _read(path: Path, what: str) -> npt.NDArray[Any]:
    """The pixels of an image file, as PIL decodes them ((H, W) or (H, W, C), any dtype)."""
    if not path.is_file():
        raise InputError(f"{path}: {what} not found; check the path")
    try:
        with Image.open(path) as im:
            return np.array(im)
    except UnidentifiedImageError as err:
        raise InputError(f"{path}: not an image file ({err}); give a PNG or a cohort folder") from err
