"""ROI masks and representative-slice choice: the domain checks of ingestion.

>>> choose_slices({10: 5, 11: 40, 12: 30, 13: 0}, k=1)
[11]
>>> choose_slices({10: 5, 11: 40, 12: 30, 13: 0}, k=3)
[10, 11, 12]
>>> is_segmentation_name(Path("Brats18_TCIA10_628_1_seg.nii.gz")), is_segmentation_name(Path("P1_mask.nii.gz"))
(True, False)
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from gliograde.errors import InputError, MaskMismatchError

#: File-name endings (after the last ``_`` or ``-``) of multi-label segmentations such as BraTS ``_seg``; every
#: finder (NIfTI folders, DICOM folders, manifest rows) names segmentations by this one rule.
SEGMENTATION_KEYS = ("seg", "segmentation", "label", "labels")

#: ``k`` for :func:`choose_slices` meaning "every slice that shows the tumour" (the viewer shows them all); any
#: smaller ``k`` is a count that must be met.
ALL_SLICES = 1_000_000


def is_segmentation_name(path: Path) -> bool:
    """True when the file's name says it is a multi-label segmentation (``<case>_seg.nii.gz``)."""
    name = Path(path).name.lower()
    for suffix in (".nii.gz", ".nii", ".png", ".tif", ".tiff"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return name.replace("-", "_").rsplit("_", 1)[-1] in SEGMENTATION_KEYS


def to_roi(
    mask: npt.NDArray[np.generic], path: Path, labels: Sequence[int] = (), is_segmentation: bool = False
) -> npt.NDArray[np.bool_]:
    """Turn a stored mask or segmentation into a bool ROI.

    Args:
        mask: (H, W), (H, W, C) with identical channels, or (X, Y, Z) values as stored.
        path: the file, for messages.
        labels: labels of a multi-label segmentation that form the ROI (``--roi-labels``); empty = every non-zero
            label. A binary mask (one non-zero value, e.g. 0/255) is read as binary whatever ``labels`` says, so
            one cohort can mix 0/255 masks and 1/2/4 segmentations under one setting.
        is_segmentation: a multi-label segmentation such as BraTS ``_seg`` (labels 1, 2, 4); a mask that is not
            one must be binary unless ``labels`` are given.

    Raises:
        MaskMismatchError: labels absent, or a non-binary mask with no labels given. Emptiness is checked
            per patient by :func:`choose_slices` (edge slices of a stack may legitimately be empty).
    """
    if mask.ndim == 3 and mask.shape[2] in (3, 4) and path.suffix.lower() in (".png", ".tif", ".tiff"):
        if not (mask[..., :3] == mask[..., :1]).all():
            raise MaskMismatchError(f"{path}: colour mask with differing channels; "
                                    "save the mask as a single-channel 0/255 image")
        mask = mask[..., 0]
    if not np.isfinite(np.asarray(mask, dtype=np.float64)).all():
        raise InputError(f"{path}: NaN or inf values in the mask; fix the export")
    values = np.unique(mask)
    nonzero = values[values != 0]
    if labels and not is_segmentation and len(nonzero) <= 1:  # a binary mask: its one value is the ROI
        return np.asarray(mask != 0, dtype=bool)
    if labels:
        present = [lab for lab in labels if lab in set(values.tolist())]
        if not present:
            raise MaskMismatchError(f"{path}: label(s) {list(labels)} not present in mask "
                                    f"(found {nonzero.tolist()}); check --roi-labels")
        roi = np.isin(mask, list(labels))
    else:
        if len(nonzero) > 1 and not is_segmentation:
            raise MaskMismatchError(
                f"{path}: mask is not binary (values {_short(nonzero)}); "
                "give --roi-labels to choose the ROI labels or save a 0/255 mask"
            )
        roi = mask != 0
    return np.asarray(roi, dtype=bool)


def _short(values: npt.NDArray[np.generic]) -> str:
    vals = values.tolist()
    return str(vals) if len(vals) <= 6 else f"{vals[:3]} ... {vals[-2:]} ({len(vals)} distinct)"


def choose_slices(
    areas: Mapping[int, int], k: int = 1, fixed: int | None = None, *, where: Path | None = None
) -> list[int]:
    """Pick the representative slice (largest ROI area, first on ties) or ``k`` neighbours centred on it.

    Args:
        areas: {slice index: ROI area in pixels}.
        k: number of contiguous slices (among those with ROI) centred on the representative one;
            :data:`ALL_SLICES` for every slice with ROI.
        fixed: use this slice as the centre instead of the largest.

    Returns:
        Sorted slice indices, all with a non-empty ROI: exactly ``k`` of them.

    Raises:
        MaskMismatchError: no slice shows the tumour. InputError: fewer than ``k`` slices do (never fewer
            slices than asked, silently).

    >>> choose_slices({0: 9, 1: 0}, k=2, where=Path("P1"))
    Traceback (most recent call last):
    ...
    gliograde.errors.InputError: P1: 1 slice(s) show the tumour, fewer than --slices 2; use --slices 1, or leave \
the patient out (--skip-bad)
    """
    present = sorted(i for i, a in areas.items() if a > 0)
    if not present:
        raise MaskMismatchError(f"{where}: empty mask (no tumour pixel on any slice); "
                                "outline the tumour or remove the patient")
    if fixed is not None:
        if fixed not in areas:
            raise InputError(f"{where}: slice {fixed} does not exist (have {min(areas)}..{max(areas)}); "
                             "check --slice-index")
        if areas[fixed] == 0:
            raise MaskMismatchError(f"{where}: empty mask on slice {fixed}; choose a slice that shows the tumour")
        centre = fixed
    else:
        centre = max(present, key=lambda i: (areas[i], -i))
    if k <= 1:
        return [centre]
    if k >= ALL_SLICES:
        return present
    if len(present) < k:
        raise InputError(f"{where}: {len(present)} slice(s) show the tumour, fewer than --slices {k}; use --slices "
                         f"{len(present)}, or leave the patient out (--skip-bad)")
    p = present.index(centre)
    start = int(np.clip(p - k // 2, 0, max(0, len(present) - k)))
    return present[start : start + k]
