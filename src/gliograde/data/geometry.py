"""Where voxels are in the patient: the affine of a DICOM series, and placing a mask on an image's grid by geometry.

An image and its mask or segmentation are paired by their geometry, never by shape alone: a mask is accepted
when, after at most a permutation / flip of its axes (found by nibabel from the two affines), its voxel grid
lies on the image's within :data:`TOLERANCE` of a voxel. A NIfTI affine maps voxel indices to RAS+ millimetres;
DICOM's patient coordinates are LPS+, so the series affine is converted (:data:`LPS_TO_RAS`).

>>> import numpy as np
>>> a = np.diag([1.0, 1.0, 2.0, 1.0])
>>> mask = np.zeros((4, 5, 3)); mask[0, 1, 2] = 1
>>> flipped = mask[::-1]                      # the same mask stored with its first axis reversed ...
>>> faff = a.copy(); faff[0, 0] = -1; faff[0, 3] = 3   # ... and an affine that says so
>>> placed = place_on_grid(flipped, faff, a, (4, 5, 3))
>>> bool(placed is not None and (placed == mask).all())
True
>>> shifted = a.copy(); shifted[0, 3] = 40.0  # 40 mm away: not the same space
>>> place_on_grid(mask, shifted, a, (4, 5, 3)) is None
True
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

#: Largest distance between the two grids' corner voxels, as a fraction of the image's smallest voxel size, for a
#: mask to be taken as on the image's grid (float32 NIfTI headers carry ~1e-5 mm of rounding; a real
#: misregistration is millimetres).
TOLERANCE = 0.1
#: DICOM patient coordinates (LPS+) -> NIfTI world coordinates (RAS+).
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
Affine = npt.NDArray[np.float64]


def series_affine(first_position: Sequence[float], last_position: Sequence[float], orientation: Sequence[float],
                  spacing: Sequence[float], n_slices: int, slice_thickness: float = 1.0) -> Affine:
    """The RAS+ affine of a (rows, cols, n) DICOM volume whose slices are sorted along the slice normal.

    Hand-written because it is the DICOM standard's own equation (PS3.3 C.7.6.2.1.1) for one slice, plus the
    measured step between the first and last slice (as dcm2niix does); nibabel's DICOM module is marked
    experimental (it warns on import) and takes the step from SliceThickness, which is wrong for gapped series.

    Args:
        first_position, last_position: ImagePositionPatient of the first and last sorted slice (LPS mm).
        orientation: ImageOrientationPatient (row direction cosines, then column direction cosines).
        spacing: PixelSpacing (between rows, between columns) in mm.
        n_slices: number of slices.
        slice_thickness: the step used for a single-slice series.

    Returns:
        (4, 4) float64: voxel (row, col, slice) -> RAS+ mm.

    >>> aff = series_affine([0, 0, 0], [0, 0, 4], [1, 0, 0, 0, 1, 0], [0.5, 0.5], 3)
    >>> aff[:3, :3].tolist()
    [[0.0, -0.5, 0.0], [-0.5, 0.0, 0.0], [0.0, 0.0, 2.0]]
    """
    o = np.asarray(orientation, float)
    along_row, along_col = o[:3], o[3:]  # direction of increasing column index, of increasing row index
    first = np.asarray(first_position, float)
    if n_slices > 1:
        step = (np.asarray(last_position, float) - first) / (n_slices - 1)
    else:
        step = np.cross(along_row, along_col) * slice_thickness
    lps = np.eye(4)
    lps[:3, 0] = along_col * float(spacing[0])
    lps[:3, 1] = along_row * float(spacing[1])
    lps[:3, 2] = step
    lps[:3, 3] = first
    return np.asarray(LPS_TO_RAS @ lps, dtype=np.float64)


def corner_distance(a: Affine, b: Affine, shape: Sequence[int]) -> float:
    """Largest distance (mm) between where ``a`` and ``b`` put the corner voxels of a grid of ``shape``.

    >>> corner_distance(np.eye(4), np.eye(4), (3, 3, 3))
    0.0
    """
    ijk = np.array(np.meshgrid(*[[0, max(int(n) - 1, 0)] for n in shape[:3]], indexing="ij")).reshape(3, -1)
    pts = np.vstack([ijk, np.ones(ijk.shape[1])])
    return float(np.linalg.norm((a @ pts - b @ pts)[:3], axis=0).max())


def voxel_sizes(affine: Affine) -> npt.NDArray[np.float64]:
    """The voxel sizes (mm) of an affine's three axes."""
    return np.asarray(np.linalg.norm(affine[:3, :3], axis=0), dtype=np.float64)


def same_space(a: Affine, b: Affine, shape: Sequence[int]) -> bool:
    """True when grids of ``shape`` under affines ``a`` and ``b`` coincide within :data:`TOLERANCE` of a voxel."""
    tol = max(TOLERANCE * float(voxel_sizes(b).min()), 1e-3)
    return corner_distance(a, b, shape) <= tol


def place_on_grid(data: npt.NDArray[np.generic], affine: Affine, target_affine: Affine,
                  target_shape: Sequence[int]) -> npt.NDArray[np.generic] | None:
    """``data`` (a mask under ``affine``) resampled onto the target grid by axis permutation / flips only, or None.

    nibabel finds the axis permutation and flips that bring ``affine``'s voxel axes onto ``target_affine``'s
    (:func:`nibabel.orientations.ornt_transform`); the result is accepted only when its shape is ``target_shape``
    and its grid is the target's (:func:`same_space`). No interpolation: a mask on another grid (other voxel
    size, an oblique or shifted acquisition) is None, for the caller to refuse.
    """
    from nibabel.orientations import (  # slow to import (nibabel): only when a mask is placed
        apply_orientation,
        inv_ornt_aff,
        io_orientation,
        ornt_transform,
    )

    if data.ndim != 3 or len(target_shape) != 3:
        return None
    transform = ornt_transform(io_orientation(affine), io_orientation(target_affine))
    moved = np.asarray(apply_orientation(data, transform))
    moved_affine = affine @ inv_ornt_aff(transform, data.shape)
    if tuple(moved.shape) != tuple(target_shape) or not same_space(moved_affine, target_affine, moved.shape):
        return None
    return moved


def describe_offset(affine: Affine, target_affine: Affine, shape: Sequence[int]) -> str:
    """A short account of how far apart two grids are, for error messages (``"up to 40.0 mm apart"``)."""
    return f"corner voxels up to {corner_distance(affine, target_affine, shape):.1f} mm apart"
