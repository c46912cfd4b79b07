"""The volumes the browser's viewer (NiiVue) shows for one graded case, written as NIfTI next to its prediction.

For every case the viewer gets, in one voxel grid: each sequence (``image_<name>.nii.gz``), the ROI the model
used (``roi.nii.gz``: the bundle's ROI labels applied to the case's mask, 0/1) and, when the kind has a map,
the evidence heat (``heat.nii.gz``: float32 in [0, 1] on the chosen slice, zero elsewhere), plus where the chosen
slice is. Nothing is re-implemented: the case is read by the same :func:`gliograde.data.ingest.load_case` as
prediction, the heat is put back on the native slice with the same :func:`~gliograde.preprocess.crop_box`
that cut the model's crop, and a volume's planes are oriented by the same :meth:`Volume.slice`.

Grids:
    * NIfTI case: the files' own grid and affine (the uploaded volumes are shown as they are); the ROI and heat
      are written into that grid by mapping the chosen plane's pixels back to voxel indices through
      :meth:`Volume.slice` applied to an index volume, so they sit where the model looked.
    * DICOM series and 2D slices: the planes as gliograde read them, stacked along z, with an identity affine
      laid out so that NiiVue's radiological display shows them as gliograde shows them (anterior up, the
      patient's left on the right). No DICOM header field is read or written (only pixels).

>>> plane = np.arange(6, dtype=np.float32).reshape(2, 3)
>>> np.array_equal(_from_display(_to_display(plane)), plane)
True
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from PIL import Image
from scipy import ndimage

from gliograde.bundles import Bundle, CasePrediction
from gliograde.data.ingest import RawSlice, load_case
from gliograde.data.io import Volume, read_dicom_series, read_volume
from gliograde.data.roi import ALL_SLICES, to_roi
from gliograde.data.source import CaseSource
from gliograde.preprocess import crop_box, dilate

VIEWER_JSON = "viewer.json"
ROI_FILE = "roi.nii.gz"
OUTLINE_FILE = "outline.nii.gz"
HEAT_FILE = "heat.nii.gz"


def _to_display(data_plane: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """(X, Y) voxel plane of the identity grid -> (rows, cols) as shown (inverse of :func:`_from_display`)."""
    return np.ascontiguousarray(data_plane.T[::-1, ::-1])


def _from_display(plane: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """(rows, cols) as gliograde shows a slice -> (X, Y) voxels of an identity-affine (RAS) grid: NiiVue's
    radiological display puts +x (the patient's right) on the left and +y (anterior) at the top."""
    return np.ascontiguousarray(plane[::-1, ::-1].T)


def heat_on_slice(pred: CasePrediction, bundle: Bundle) -> npt.NDArray[np.float32] | None:
    """The evidence map on the native slice: (H, W) float32 in [0, 1], zero outside the crop (and outside the
    ROI when the case is shown masked, as overlay.png is); None when the kind gave no map.

    The crop box is recomputed exactly as :class:`~gliograde.preprocess.Preprocess` cut it (the ROI grown by
    ``rim``, ``margin``, ``square``), and the map is resized onto it.
    """
    if pred.heat is None or pred.slice_mask is None:
        return None
    cfg = bundle.ingest.preprocess
    roi = dilate(pred.slice_mask.astype(bool), cfg.rim)
    r0, r1, c0, c1 = crop_box(roi, cfg.margin, cfg.square)
    heat = np.asarray(Image.fromarray(np.asarray(pred.heat, np.float32), mode="F")
                      .resize((c1 - c0, r1 - r0), Image.Resampling.BILINEAR), dtype=np.float32)
    h, w = roi.shape
    out = np.zeros((h, w), np.float32)
    rr0, cc0, rr1, cc1 = max(r0, 0), max(c0, 0), min(r1, h), min(c1, w)
    out[rr0:rr1, cc0:cc1] = heat[rr0 - r0: rr1 - r0, cc0 - c0: cc1 - c0]
    if pred.display_masked:
        out[~roi] = 0.0
    return np.clip(out, 0.0, 1.0)


def outline(roi: npt.NDArray[np.bool_], axis: int) -> npt.NDArray[np.uint8]:
    """The ROI's edge in each slice across ``axis`` (pixels of the ROI with a 4-neighbour outside it), 0/1 uint8.

    >>> m = np.zeros((5, 5, 1), bool); m[1:4, 1:4] = True
    >>> int(outline(m, 2).sum())  # the 3x3 square's 8 edge pixels
    8
    """
    cross = np.zeros((3, 3, 3), bool)
    index: list[int | slice] = [slice(None)] * 3
    index[axis] = 1
    cross[tuple(index)] = ndimage.generate_binary_structure(2, 1)
    eroded = np.asarray(ndimage.binary_erosion(roi, structure=cross, border_value=0), dtype=bool)
    edge: npt.NDArray[np.bool_] = np.logical_and(roi, ~eroded)
    return edge.astype(np.uint8)


def _save(data: npt.NDArray[Any], affine: npt.NDArray[np.float64], path: Path) -> None:
    import nibabel as nib  # slow to import: only where NIfTI files are written

    nib.save(nib.Nifti1Image(data, affine), str(path))


def _volume_case(source: CaseSource, bundle: Bundle, pred: CasePrediction,
                 out: Path) -> tuple[dict[str, str], list[int], int, npt.NDArray[np.float64]]:
    import nibabel as nib  # slow to import: only for NIfTI cases

    assert source.mask is not None and pred.slice_index is not None  # a graded volume case has both
    seg = read_volume(source.mask)
    affine = np.asarray(cast(Any, nib.load(str(source.mask))).affine, dtype=np.float64)
    roi = to_roi(seg.data, source.mask, bundle.ingest.roi_labels, source.is_segmentation)
    _save(roi.astype(np.uint8), affine, out / ROI_FILE)
    _save(outline(roi, seg.axial_axis), affine, out / OUTLINE_FILE)
    # Which voxel each pixel of the chosen plane (as gliograde shows it) comes from.
    index = np.asarray(Volume(cast(npt.NDArray[np.float32], np.arange(roi.size, dtype=np.int64).reshape(roi.shape)),
                              seg.axial_axis, seg.path, seg.codes).slice(pred.slice_index), dtype=np.int64)
    heat = heat_on_slice(pred, bundle)
    if heat is not None and heat.shape == index.shape:
        vol = np.zeros(roi.shape, np.float32)
        vol.flat[index.ravel()] = heat.ravel()
        _save(vol, affine, out / HEAT_FILE)
    images = {k: str(p) for k, p in source.images.items()}  # shown as uploaded: the files' own grid
    plane_roi = pred.slice_mask if pred.slice_mask is not None and pred.slice_mask.shape == index.shape else None
    picked = index[plane_roi] if plane_roi is not None and plane_roi.any() else index.ravel()
    coords = np.unravel_index(picked, roi.shape)  # all on the chosen plane: its ROI's centre
    return images, [int(np.round(np.mean(c))) for c in coords], seg.axial_axis, affine


def _stacked_case(source: CaseSource, bundle: Bundle, pred: CasePrediction,
                  out: Path) -> tuple[dict[str, str], list[int], int, npt.NDArray[np.float64]]:
    """DICOM series and slice stacks: every plane as read, stacked on z of an identity grid."""
    cfg = dataclasses.replace(bundle.ingest, slices=ALL_SLICES, slice_index=None)
    raw: list[RawSlice] = load_case(source, cfg)[0]
    channels = bundle.ingest.channels
    if source.kind == "dicom":
        series, _ = read_dicom_series(source.images["series"])
        planes: dict[str, list[npt.NDArray[Any]]] = {
            channels[0] if len(channels) == 1 else "series": [series[..., k] for k in range(series.shape[2])]}
        z_of = {s.index: s.index for s in raw}
        masks: list[npt.NDArray[np.bool_]] = [np.zeros(series.shape[:2], bool) for _ in range(series.shape[2])]
    else:  # slices: those with a tumour pixel, in slice-number order
        z_of = {s.index: z for z, s in enumerate(sorted(raw, key=lambda s: s.index))}
        ordered = sorted(raw, key=lambda s: s.index)
        planes = {c: [s.image if s.image.ndim == 2 else s.image[..., i] for s in ordered]
                  for i, c in enumerate(channels)}
        masks = [np.zeros(ordered[0].mask.shape, bool) for _ in ordered]
    for s in raw:
        masks[z_of[s.index]] = s.mask
    affine = np.eye(4)
    images: dict[str, str] = {}
    for name, stack in planes.items():
        path = out / f"image_{name}.nii.gz"
        _save(np.stack([_from_display(np.asarray(p, np.float32)) for p in stack], axis=-1), affine, path)
        images[name] = str(path)
    roi = np.stack([_from_display(m.astype(bool)) for m in masks], axis=-1)
    _save(roi.astype(np.uint8), affine, out / ROI_FILE)
    _save(outline(roi, 2), affine, out / OUTLINE_FILE)
    z = z_of[int(pred.slice_index or 0)]
    heat = heat_on_slice(pred, bundle)
    if heat is not None:
        vol = np.zeros((*_from_display(masks[0]).shape, len(masks)), np.float32)
        vol[..., z] = _from_display(heat)
        _save(vol, affine, out / HEAT_FILE)
    plane = masks[z] if masks[z].any() else np.ones_like(masks[z])
    rows, cols = np.nonzero(plane)
    h, w = int(plane.shape[0]), int(plane.shape[1])
    return images, [int(w - 1 - np.round(cols.mean())), int(h - 1 - np.round(rows.mean())), z], 2, affine


def write_viewer_files(source: CaseSource, bundle: Bundle, pred: CasePrediction, out: Path) -> dict[str, Any]:
    """Write the case's viewer volumes into ``out`` and ``out/viewer.json``; returns that document.

    Returns:
        ``{"images": {sequence: file}, "default": the sequence shown first (the bundle's first channel when the
        case has it), "roi": file (0/1 ROI), "outline": file (its in-plane edge), "heat": file or None,
        "slice_voxel": [i, j, k] the chosen slice's ROI centre (file voxel order), "slice_mm": the same point
        in scanner mm (what the viewer moves to), "axial_axis": voxel axis of the slices}``. File values are
        absolute server paths (never sent to a browser: the API serves them by name).
    """
    out.mkdir(parents=True, exist_ok=True)
    if source.kind == "volume":
        images, voxel, axis, affine = _volume_case(source, bundle, pred, out)
    else:
        images, voxel, axis, affine = _stacked_case(source, bundle, pred, out)
    first = next((c for c in bundle.ingest.channels if c in images), next(iter(images)))
    doc = {"images": images, "default": first, "roi": str(out / ROI_FILE), "outline": str(out / OUTLINE_FILE),
           "heat": str(out / HEAT_FILE) if (out / HEAT_FILE).is_file() else None,
           "slice_voxel": voxel, "slice_mm": [round(float(v), 3) for v in (affine @ [*voxel, 1.0])[:3]],
           "axial_axis": axis}
    (out / VIEWER_JSON).write_text(json.dumps(doc, indent=2))
    return doc
