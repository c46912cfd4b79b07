"""Normal anatomy for the synthetic cohort: MNI152 tissue maps, per-patient warps, MR contrasts, artefacts.

Everything works on the output grid of the 2D-slice layout: (S, H, W) stacks of ``S`` axial slices of
``SIZE`` x ``SIZE`` pixels, rows anterior -> posterior, columns patient right -> left (radiological view).
The anatomy comes from the MNI152 2009 templates that ship inside the nilearn wheel (T1, grey and white
matter probabilities, brain mask); nothing is downloaded.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> warp = draw_warp(rng)
>>> tissue = warp_tissue(np.array([88]), warp, mass_effect=None)
>>> tissue.t1.shape, tissue.t1.dtype.name
((1, 256, 256), 'float32')
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from scipy import ndimage

if TYPE_CHECKING:
    from nibabel.spatialimages import SpatialImage

logger = logging.getLogger(__name__)

Array = npt.NDArray[np.float32]

SIZE = 256
"""Side of the output slices in pixels (like the TCGA-LGG PNGs)."""
SLICE_MM = 4
"""Distance between consecutive kept slices, in template millimetres (clinical 2D axial spacing)."""
SCAN_Z0 = 10
"""Template z index of slice number 1 of the virtual scan."""
SLICES_IN_SCAN = (189 - SCAN_Z0) // SLICE_MM
"""Number of slices of the virtual scan (reported in labels.csv as ``slices_in_scan``)."""
CENTRE_Z = (78, 98)
"""Template z range (1 mm, MNI z = -72 + index) of the central slice: the lateral ventricles' level."""
PIXEL_ZOOM = 1.15
"""Output pixels per template millimetre: the head then fills the 256 px frame as in the real data."""


@dataclass(frozen=True)
class Tissue:
    """Warped tissue maps of one patient, each (S, SIZE, SIZE) float32.

    Attributes:
        t1: template T1 intensity normalised so that white matter is about 1.
        gm, wm, csf: tissue probabilities in [0, 1].
        brain: brain mask as a soft map in [0, 1].
    """

    t1: Array
    gm: Array
    wm: Array
    csf: Array
    brain: Array


@dataclass(frozen=True)
class Warp:
    """Per-patient spatial transform from output pixels to template pixels.

    Attributes:
        matrix: (2, 2) linear part (rotation, scale, shear) applied to centred output coordinates.
        offset: (2,) template (row, col) of the output centre.
        field: (2, SIZE, SIZE) smooth elastic displacement in template pixels.
    """

    matrix: npt.NDArray[np.float64]
    offset: npt.NDArray[np.float64]
    field: Array


_WARPED = ("t1", "gm", "wm", "brain")


@lru_cache(maxsize=1)
def _templates() -> dict[str, Array]:
    """MNI152 maps as (Z, rows, cols) float32, rows anterior->posterior, cols right->left (radiological)."""
    from nilearn import datasets  # heavy import, bundled data: no network

    def axial(img: SpatialImage) -> Array:
        data = np.asarray(img.get_fdata(dtype=np.float32))
        # RAS voxels (x: towards the right, y: towards anterior, z) -> (z, anterior->posterior, right->left)
        return np.ascontiguousarray(data.transpose(2, 1, 0)[:, ::-1, ::-1])

    t1 = axial(datasets.load_mni152_template(resolution=1))
    gm = axial(datasets.load_mni152_gm_template(resolution=1))
    wm = axial(datasets.load_mni152_wm_template(resolution=1))
    brain = axial(datasets.load_mni152_brain_mask(resolution=1))
    wm_level = float(np.median(t1[wm > 0.9]))
    logger.debug("loaded MNI152 templates %s, WM level %.3f", t1.shape, wm_level)
    return {"t1": t1 / wm_level, "gm": gm, "wm": wm, "brain": brain}


def smooth_stack(rng: np.random.Generator, shape: tuple[int, int, int], scale: float) -> Array:
    """(S, H, W) stack of distinct smooth fields from one draw: slice i is the field rolled by 61 * i columns.

    Fine textures (scale << 61 px) of different slices are then practically independent, at the cost of one field.
    """
    field = smooth_field(rng, shape[1:], scale)
    return np.stack([np.roll(field, 61 * i, axis=1) for i in range(shape[0])])


def smooth_field(rng: np.random.Generator, shape: tuple[int, int], scale: float) -> Array:
    """Smooth zero-mean, unit-SD random field.

    Args:
        rng: random generator (consumed).
        shape: (H, W) output shape.
        scale: correlation length in pixels (Gaussian sigma).

    Returns:
        (H, W) float32 field, mean 0 and SD 1.
    """
    step = max(1, int(scale // 3))  # draw coarse noise and upsample: same look, far less work
    coarse = (shape[0] // step + 2, shape[1] // step + 2)
    noise: npt.NDArray[np.float64] = ndimage.gaussian_filter(rng.standard_normal(coarse), scale / step, mode="wrap")
    fine: npt.NDArray[np.float64] = ndimage.zoom(noise, step, order=1) if step > 1 else noise
    field = fine[: shape[0], : shape[1]]
    field = field - float(field.mean())
    return (field / (float(field.std()) + 1e-8)).astype(np.float32)


def draw_warp(rng: np.random.Generator, *, elastic_px: float = 3.0) -> Warp:
    """Random head pose and shape: rotation +-8 deg, scale 0.92-1.08, shift +-6 px, smooth elastic field.

    Args:
        rng: random generator (consumed).
        elastic_px: SD of the elastic displacement in template pixels.
    """
    angle = np.deg2rad(rng.uniform(-8, 8))
    scale = rng.uniform(0.92, 1.08, size=2) / PIXEL_ZOOM
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    matrix = rot @ np.diag(scale)
    t = _templates()["t1"]
    offset = np.array([t.shape[1] / 2 + 4, t.shape[2] / 2]) + rng.uniform(-6, 6, size=2)
    field = np.stack([smooth_field(rng, (SIZE, SIZE), 24.0) for _ in range(2)]) * elastic_px
    return Warp(matrix=matrix, offset=offset, field=field)


def sample_coords(warp: Warp, push: Array | None = None) -> npt.NDArray[np.float64]:
    """Template (row, col) coordinates of every output pixel: (2, SIZE, SIZE).

    ``push`` (2, SIZE, SIZE) is a displacement in output pixels subtracted before the warp (mass effect:
    tissue now at ``p`` came from ``p - push``).
    """
    grid = np.mgrid[:SIZE, :SIZE].astype(np.float64) - (SIZE - 1) / 2
    if push is not None:
        grid = grid - push
    coords: npt.NDArray[np.float64] = np.einsum("ij,jhw->ihw", warp.matrix, grid)
    return coords + warp.offset[:, None, None] + warp.field


def warp_tissue(
    z_indices: npt.NDArray[np.int64], warp: Warp, mass_effect: Array | None, *, keys: tuple[str, ...] = _WARPED
) -> Tissue:
    """Resample template slices ``z_indices`` onto the output grid.

    Args:
        z_indices: (S,) template z index of each output slice.
        warp: the patient's transform (:func:`draw_warp`).
        mass_effect: (S, 2, SIZE, SIZE) per-slice push in output pixels, or None.
        keys: maps to resample (the others are returned as zeros); CSF is derived, not resampled.

    Returns:
        :class:`Tissue` with (S, SIZE, SIZE) float32 maps.
    """
    tpl = _templates()
    out = {k: np.zeros((len(z_indices), SIZE, SIZE), np.float32) for k in _WARPED}
    base = sample_coords(warp)
    for i, z in enumerate(z_indices):
        coords = base if mass_effect is None else sample_coords(warp, mass_effect[i])
        for key in keys:
            ndimage.map_coordinates(tpl[key][int(z)], coords, output=out[key][i], order=1, mode="constant")
    csf = np.clip(out["brain"] - out["gm"] - out["wm"], 0.0, 1.0)  # linear interpolation commutes with sums
    return Tissue(csf=csf, **out)


def head_layers(brain: Array, rng: np.random.Generator) -> tuple[Array, Array, Array]:
    """Meninges, skull and scalp around the brain (the real slices are not skull-stripped).

    Args:
        brain: (S, H, W) soft brain mask in [0, 1].
        rng: random generator (consumed): layer thickness.

    Returns:
        (dura, skull, scalp): (S, H, W) float32 masks in {0, 1}: a 2 px CSF/dura layer, bone, scalp.
    """
    skull_w, scalp_w = rng.uniform(5, 8), rng.uniform(5, 9)
    outside = np.stack([ndimage.distance_transform_edt(b < 0.5) for b in brain]).astype(np.float32)
    dura = ((outside > 0) & (outside <= 2)).astype(np.float32)
    skull = ((outside > 2) & (outside <= skull_w)).astype(np.float32)
    scalp = ((outside > skull_w) & (outside <= skull_w + scalp_w)).astype(np.float32)
    return dura, skull, scalp


def bias_field(rng: np.random.Generator, shape: tuple[int, int, int], strength: float) -> Array:
    """Smooth multiplicative coil-sensitivity field exp(strength * f), shared by all slices: (S, H, W) float32."""
    f = smooth_field(rng, shape[1:], 70.0)
    return np.broadcast_to(np.exp(strength * f), shape).astype(np.float32)


def rician(signal: Array, sigma: float, rng: np.random.Generator) -> Array:
    """Magnitude of complex Gaussian noise added to ``signal`` (Rician, like magnitude MR images)."""
    re = signal + sigma * rng.standard_normal(signal.shape, dtype=np.float32)
    im = sigma * rng.standard_normal(signal.shape, dtype=np.float32)
    magnitude: Array = np.sqrt(re * re + im * im)
    return magnitude


def make_anatomy(rng: np.random.Generator, z_indices: npt.NDArray[np.int64]) -> Tissue:
    """Normal anatomy of one random patient (pose + elastic warp of MNI152), no tumour.

    Args:
        rng: random generator (consumed).
        z_indices: (S,) template z indices (1 mm; :data:`CENTRE_Z` is the ventricles' level).

    Returns:
        :class:`Tissue` with (S, SIZE, SIZE) float32 maps.

    >>> make_anatomy(np.random.default_rng(0), np.array([84, 88])).brain.shape
    (2, 256, 256)
    """
    return warp_tissue(np.asarray(z_indices), draw_warp(rng), None)
