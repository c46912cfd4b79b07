"""Write one synthetic patient in the TCGA-LGG slice layout (PNG) or the BraTS layout (NIfTI).

Both writers are deterministic: PIL writes no timestamp into PNGs, and nibabel's gzip writer sets
mtime = 0, so the same patient always gives the same bytes.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from PIL import Image

from gliograde.synth.anatomy import SLICE_MM, SLICES_IN_SCAN

if TYPE_CHECKING:
    from gliograde.synth.cohort import Patient

PNG_LEVEL = 1
"""zlib level of the slice PNGs: level 1 is 2.5x faster than the default 6 for 15 % larger files."""
NIFTI_SIZE = 240
"""In-plane size of the NIfTI volumes (BraTS: 240 x 240)."""
NIFTI_SCALE = 4
"""int16 NIfTI intensity = 8-bit value x NIFTI_SCALE (BraTS-like range, 0..1020)."""


def write_png_case(root: Path, name: str, patient: Patient) -> dict[str, object]:
    """Write ``root/name/name_<n>.png`` (RGB) and ``name_<n>_mask.png`` (L, 0/255) per slice.

    Returns:
        The patient's labels.csv row (TCGA-LGG columns).
    """
    folder = root / name
    folder.mkdir()
    for i, n in enumerate(patient.slice_numbers):
        Image.fromarray(patient.images[i], mode="RGB").save(folder / f"{name}_{n}.png", compress_level=PNG_LEVEL)
        Image.fromarray(patient.mask[i].astype(np.uint8) * 255, mode="L").save(folder / f"{name}_{n}_mask.png")
    numbers = patient.slice_numbers
    return {
        "patient_id": name.replace("_", "-"),
        "who_grade": patient.grade,
        "institution": patient.site,
        "folder": name,
        "largest_tumour_slice": int(numbers[len(numbers) // 2]),
        "slices_kept": f"{numbers[0]}-{numbers[-1]}",
        "slices_in_scan": SLICES_IN_SCAN,
    }


def _nifti_affine() -> npt.NDArray[np.float64]:
    # BraTS convention: i -> patient left, j -> posterior (x = -i, y = 239 - j), k -> superior
    affine = np.diag([-1.0, -1.0, float(SLICE_MM), 1.0])
    affine[1, 3] = NIFTI_SIZE - 1
    return affine


def write_nifti_case(root: Path, name: str, patient: Patient) -> dict[str, object]:
    """Write ``root/name/name_{t1,flair,t1ce,seg}.nii.gz``: (240, 240, S), skull-stripped like BraTS.

    Volumes are indexed [i, j, k] = [column, row, slice] of the PNG view (BraTS orientation);
    images are int16, the segmentation uint8 with labels 1, 2, 4.

    Returns:
        The case's labels.csv row (BraTS columns).
    """
    import nibabel as nib  # slow to import: only for the NIfTI format

    folder = root / name
    folder.mkdir()
    lo = (patient.images.shape[1] - NIFTI_SIZE) // 2
    crop = np.s_[:, lo : lo + NIFTI_SIZE, lo : lo + NIFTI_SIZE]
    brain = patient.brain[crop]
    volumes = {
        seq: (patient.images[..., c][crop].astype(np.int16) * NIFTI_SCALE * brain).astype(np.int16)
        for c, seq in enumerate(("t1", "flair", "t1ce"))
    }
    volumes["seg"] = patient.seg[crop].astype(np.uint8)
    for seq, vol in volumes.items():
        img = nib.Nifti1Image(np.ascontiguousarray(vol.transpose(2, 1, 0)), _nifti_affine())
        img.header["descrip"] = b"gliograde synth"
        img.header.set_xyzt_units("mm")
        nib.save(img, folder / f"{name}_{seq}.nii.gz")
    return {
        "case_id": name,
        "tcga_id": name.replace("_", "-"),
        "brats_grade": "HGG" if patient.grade == 4 else "LGG",
        "who_grade": patient.grade,
        "institution": patient.site,
    }
