"""Read every tumour-bearing plane of one case on its native grid, each sequence the case has, for the signs.

Unlike ingest (one chosen slice, the bundle's channels, a resized crop), the signs of
:mod:`gliograde.signs.measure` are measured on *all* planes that carry tumour, on the grid the files were
saved on, and on whatever sequences the case has: a missing sequence only removes the signs that need it.

* slice folders (TCGA-LGG): every ``<name>_<n>.png`` whose mask is not empty; a 3-channel slice is
  [pre-contrast T1, FLAIR, post-contrast T1] (:data:`gliograde.config.SLICE_CHANNEL_ORDER`), a grey slice is
  the one sequence ``grey_as`` names;
* NIfTI cases (BraTS): every axial plane of the segmentation that carries tumour, for each ``<case>_<seq>``
  volume found (``t1``, ``t1ce``, ``t2``, ``flair``); a multi-label segmentation's labels are kept for the
  BraTS label shares.

* DICOM cases: every slice of the series that carries tumour, rows and columns as stored, spacing from
  PixelSpacing and the step between slices; a single series is the sequence ``grey_as`` names, several series of a
  patient folder are matched to sequences by SeriesDescription (``channels``, ``series_map``), as ingest reads them.

>>> import numpy as np
>>> p = CasePlanes({"t1ce": np.ones((2, 4, 4), np.float32)}, np.zeros((2, 4, 4), bool), None, (3, 4))
>>> p.n_planes, sorted(p.sequences)
(2, ['t1ce'])
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from gliograde.config import SLICE_CHANNEL_ORDER
from gliograde.data.geometry import describe_offset, place_on_grid, voxel_sizes
from gliograde.data.io import (
    Volume,
    check_finite,
    parse_series_map,
    read_dicom,
    read_dicom_channels,
    read_image,
    read_volume,
)
from gliograde.data.roi import to_roi
from gliograde.data.source import CaseSource
from gliograde.errors import InputError, MaskMismatchError

#: Segmentation labels of BraTS: necrotic / non-enhancing core, oedema, enhancing tumour.
BRATS_LABELS = frozenset({1, 2, 4})


@dataclass(frozen=True)
class CasePlanes:
    """The tumour-bearing planes of one case.

    Attributes:
        sequences: {sequence name: (P, H, W) float32 intensities as stored}; 0 = background.
        roi: (P, H, W) bool tumour mask (every plane has some tumour).
        labels: (P, H, W) int16 BraTS labels (0, 1, 2, 4) of a multi-label segmentation, or None.
        indices: the P plane numbers (slice number / axial index), in order.
        spacing: (between rows, between columns, between planes) in mm, from the NIfTI affine or the DICOM
            series' geometry, as the planes are shown (:meth:`gliograde.data.io.Volume.slice` may swap the in-plane
            axes); None for 2D slice files, whose pixel size no file records.
    """

    sequences: dict[str, npt.NDArray[np.float32]]
    roi: npt.NDArray[np.bool_]
    labels: npt.NDArray[np.int16] | None
    indices: tuple[int, ...]
    spacing: tuple[float, float, float] | None = None

    @property
    def n_planes(self) -> int:
        return int(self.roi.shape[0])

    def largest(self) -> int:
        """Position (0..P-1) of the plane with the most tumour pixels."""
        return int(np.argmax(self.roi.reshape(self.n_planes, -1).sum(axis=1)))


def read_planes(source: CaseSource, *, roi_labels: tuple[int, ...] = (), grey_as: str = "t1ce",
                channels: Sequence[str] = (), series_map: Sequence[str] = ()) -> CasePlanes:
    """Every tumour-bearing plane of ``source`` (see the module docstring).

    Args:
        source: a case found by :mod:`gliograde.data.layouts` (slices, volume or DICOM).
        roi_labels: segmentation labels forming the ROI (empty = every non-zero label), as at ingest.
        grey_as: the sequence a grey slice, an unnamed single volume or a single DICOM series holds.
        channels, series_map: DICOM: read these sequences from the folder's series, matched by SeriesDescription
            (:func:`gliograde.data.io.read_dicom_channels`), as ingest does with several channels or a map.

    Raises:
        InputError: unreadable files, or no plane with tumour. MaskMismatchError: image and mask grids differ.
    """
    if source.kind == "slices":
        return _slice_planes(source, roi_labels, grey_as)
    if source.kind == "volume":
        return _volume_planes(source, roi_labels, grey_as)
    return _dicom_planes(source, roi_labels, grey_as, tuple(channels), tuple(series_map))


def _dicom_planes(source: CaseSource, roi_labels: tuple[int, ...], grey_as: str, channels: tuple[str, ...],
                  series_map: tuple[str, ...]) -> CasePlanes:
    """A DICOM case's tumour-bearing slices as stored (rows, columns), spacing from the series' affine (PixelSpacing
    and the measured step between slices)."""
    from gliograde.data.ingest import dicom_mask  # the mask placed exactly as ingest places it

    if source.mask is None:
        raise InputError(f"{source.images.get('series')}: no mask; the signs need a tumour outline")
    folder = source.images["series"]
    if len(channels) > 1 or series_map:
        multi = read_dicom_channels(folder, channels, parse_series_map(series_map))
        ref, vols = multi.series[0], {c: multi.data[..., i] for i, c in enumerate(multi.channels)}
    else:
        ref = read_dicom(folder, source.series_description)
        vols = {channels[0] if channels else grey_as: ref.data}
    for v in vols.values():
        check_finite(v, ref.folder)
    seg = np.asarray(dicom_mask(source.mask, ref), dtype=np.float32)
    roi3 = to_roi(seg, source.mask, roi_labels, source.is_segmentation)
    ks = [k for k in range(roi3.shape[2]) if roi3[..., k].any()]
    if not ks:
        raise InputError(f"{source.mask}: the mask is empty; the signs need a tumour outline")
    labels = None
    values = set(np.unique(seg).astype(int).tolist()) - {0}
    if source.is_segmentation and not roi_labels and values and values <= BRATS_LABELS:
        labels = np.stack([seg[..., k] for k in ks]).round().astype(np.int16)
    sizes = voxel_sizes(ref.affine)  # affine columns: rows, columns, slices of the stored series
    return CasePlanes({c: np.stack([np.asarray(v[..., k], np.float32) for k in ks]) for c, v in vols.items()},
                      np.stack([roi3[..., k] for k in ks]), labels, tuple(ks),
                      (float(sizes[0]), float(sizes[1]), float(sizes[2])))


def _slice_planes(source: CaseSource, roi_labels: tuple[int, ...], grey_as: str) -> CasePlanes:
    planes: list[tuple[int, npt.NDArray[np.generic], npt.NDArray[np.bool_]]] = []
    for n, (img_path, mask_path) in sorted(source.slices.items()):
        roi = to_roi(read_image(mask_path), mask_path, roi_labels, source.is_segmentation)
        if not roi.any():
            continue
        image = read_image(img_path)
        check_finite(image, img_path)
        if image.shape[:2] != roi.shape:
            raise MaskMismatchError(f"{mask_path}: mask shape {roi.shape} != image shape {image.shape[:2]}; "
                                    "resample the mask or check pairing")
        planes.append((n, image, roi))
    if not planes:
        raise InputError(f"{_where(source)}: no slice with tumour in its mask; the signs need a tumour outline")
    first = planes[0][1]
    names = (grey_as,) if first.ndim == 2 else SLICE_CHANNEL_ORDER
    if first.ndim == 3 and first.shape[2] < len(SLICE_CHANNEL_ORDER):
        raise InputError(f"{_where(source)}: {first.shape[2]} channels per slice, expected grey or "
                         f"{len(SLICE_CHANNEL_ORDER)} ({', '.join(SLICE_CHANNEL_ORDER)})")
    stack = np.stack([np.asarray(im, dtype=np.float32) for _, im, _ in planes])
    seqs = {names[0]: stack} if first.ndim == 2 else {s: stack[..., i] for i, s in enumerate(names)}
    return CasePlanes(seqs, np.stack([r for _, _, r in planes]), None, tuple(n for n, _, _ in planes))


def _volume_planes(source: CaseSource, roi_labels: tuple[int, ...], grey_as: str) -> CasePlanes:
    if source.mask is None:
        raise InputError(f"{next(iter(source.images.values()))}: no segmentation; the signs need a tumour outline")
    vols = {grey_as if key == "image" else key: _c_order(read_volume(path))
            for key, path in sorted(source.images.items())}
    for v in vols.values():
        check_finite(v.data, v.path)
    ref = next(iter(vols.values()))
    seg = read_volume(source.mask)
    check_finite(seg.data, source.mask)
    seg_data = _on_grid(seg, ref, "segmentation", "resample the segmentation onto the image grid (or check pairing)")
    roi3 = to_roi(seg_data, source.mask, roi_labels, source.is_segmentation)
    axis = ref.axial_axis
    ks = [int(k) for k in np.flatnonzero(roi3.sum(axis=tuple(i for i in range(3) if i != axis)))]
    if not ks:
        raise InputError(f"{source.mask}: the segmentation is empty; the signs need a tumour outline")

    def planes(data: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        vol = Volume(np.ascontiguousarray(data, dtype=np.float32), axis, ref.path, ref.codes)
        return np.stack([vol.slice(k) for k in ks])

    roi = planes(roi3.astype(np.float32)) > 0.5
    labels = None
    values = set(np.unique(seg_data).astype(int).tolist()) - {0}
    if source.is_segmentation and not roi_labels and values and values <= BRATS_LABELS:
        labels = planes(seg_data).round().astype(np.int16)
    seqs = {name: planes(v.data if v is ref else _on_grid(v, ref, "image", "co-register the sequences (resample "
                                                           "each onto one grid)"))
            for name, v in vols.items()}
    return CasePlanes(seqs, roi, labels, tuple(ks), _plane_spacing(ref))  # NIfTI pixdim: always recorded


def _plane_spacing(vol: Volume) -> tuple[float, float, float] | None:
    """(row, column, plane) voxel sizes in mm of ``vol``'s axial planes as :meth:`Volume.slice` shows them."""
    if vol.affine is None:
        return None
    sizes = voxel_sizes(vol.affine)
    inplane = [i for i in range(3) if i != vol.axial_axis]
    if vol.codes[inplane[1]] in ("A", "P"):  # Volume.slice transposes such a plane: rows and columns swap
        inplane = inplane[::-1]
    return float(sizes[inplane[0]]), float(sizes[inplane[1]]), float(sizes[vol.axial_axis])


def _on_grid(vol: Volume, ref: Volume, what: str, fix: str) -> npt.NDArray[np.float32]:
    """``vol``'s voxels on ``ref``'s grid, placed by the two affines (:func:`gliograde.data.geometry.place_on_grid`:
    axes permuted / flipped where the affines say so), never paired by shape alone.

    Raises:
        MaskMismatchError: naming both files, when the grids differ.
    """
    if vol.affine is None or ref.affine is None:
        if vol.data.shape == ref.data.shape:
            return np.asarray(vol.data, dtype=np.float32)
        raise MaskMismatchError(f"{vol.path}: {what} shape {vol.data.shape} != image shape {ref.data.shape}; {fix}")
    placed = place_on_grid(vol.data, vol.affine, ref.affine, ref.data.shape)
    if placed is None:
        raise MaskMismatchError(f"{vol.path}: {what} is not on the grid of {ref.path.name} "
                                f"({describe_offset(vol.affine, ref.affine, ref.data.shape)}); {fix}")
    return np.asarray(placed, dtype=np.float32)


def _c_order(vol: Volume) -> Volume:
    # NIfTI data arrive Fortran-ordered; taking ~100 axial planes from that is ~50x slower than from a C copy.
    return replace(vol, data=np.ascontiguousarray(vol.data))


def _where(source: CaseSource) -> object:
    pairs = list(source.slices.values())
    return pairs[0][0].parent if pairs else source.patient_id
