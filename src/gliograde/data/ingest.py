"""Ingest a cohort: files on disk -> one preprocessed tumour image per patient (or k slices) + manifest.csv.

Commands::

    gliograde ingest ../shared/data/tcga-lgg --out runs/tcga          # 2D slices + masks
    gliograde ingest ../shared/data/brats-volumes --out runs/brats    # NIfTI volumes + segmentations
    gliograde ingest cohort.csv --out runs/mine --slices 3            # explicit manifest, 3 slices per patient

The whole cohort is checked before anything is written: every problem is reported (one line each) and
the output folder is left untouched unless ``skip_bad`` is set, in which case bad patients are left out
and listed. The cache is built in a staging folder and moved into place only when complete.
"""
from __future__ import annotations

import hashlib
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd
from PIL import Image

from gliograde.config import SLICE_CHANNEL_ORDER, IngestCfg
from gliograde.data.dataset import MANIFEST, is_ingested
from gliograde.data.geometry import describe_offset, place_on_grid
from gliograde.data.io import (
    DicomSeries,
    Volume,
    check_finite,
    parse_series_map,
    read_dicom,
    read_dicom_channels,
    read_image,
    read_volume,
)
from gliograde.data.layouts import find_cases
from gliograde.data.roi import choose_slices, to_roi
from gliograde.data.source import CaseSource
from gliograde.data.who_edition import add_who_edition
from gliograde.errors import CohortError, GliogradeError, InputError, MaskMismatchError
from gliograde.preprocess import Preprocess, to_uint8
from gliograde.progress import task_progress
from gliograde.runinfo import fingerprint_named

logger = logging.getLogger(__name__)
_DEFAULT_CFG = IngestCfg()
#: An example for the ingest figure: (grade, (H, W) uint8 slice, (H, W) bool mask, label).
Preview = tuple[int, npt.NDArray[np.uint8], npt.NDArray[np.bool_], str]


@dataclass
class RawSlice:
    """One chosen slice before preprocessing: image (H, W) or (H, W, C) as read, mask (H, W) bool."""

    index: int
    image: npt.NDArray[np.generic]
    mask: npt.NDArray[np.bool_]
    source_image: Path
    source_mask: Path
    where: str = ""  # how the manifest names the source ("" = source_image); a DICOM slice by its place


@dataclass
class IngestResult:
    """What an ingest produced: the manifest, patients left out, every problem found and the input fingerprint."""

    manifest: pd.DataFrame
    skipped: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    fingerprint: dict[str, object] = field(default_factory=dict)
    previews: list[Preview] = field(default_factory=list)


class _Processed(NamedTuple):
    """What :func:`_process` gathered: manifest rows, files read, patients left out, figure examples."""

    rows: list[dict[str, object]]
    read_files: dict[str, Path]
    skipped: list[str]
    previews: list[Preview]


def load_case(case: CaseSource, cfg: IngestCfg) -> tuple[list[RawSlice], dict[str, Path]]:
    """Read one patient's chosen slice(s). Returns the slices and every file that was read, by the name it is
    recorded under (its path; for a DICOM file, its place in the sorted series: file names can name patients).

    Raises:
        InputError (or a subclass), FileNotFoundError: one line naming the file and the fix, whatever went wrong
            inside a reader or decoder.
    """
    load = {"slices": _load_slices, "volume": _load_volume}.get(case.kind, _load_dicom)
    try:
        return load(case, cfg)
    except (GliogradeError, FileNotFoundError):
        raise
    except Exception as err:  # a decoder's own error the readers did not foresee: one line, never a traceback
        where = case.mask if case.mask is not None else next(iter(case.images.values()), _where(case))
        detail = " ".join(str(err).split())[:300]
        raise InputError(f"{where}: cannot read this case ({type(err).__name__}: {detail}); check that its files "
                         "are complete and re-export them") from err


def _pick_channels(image: npt.NDArray[np.generic], path: Path,
                   channels: tuple[str, ...]) -> npt.NDArray[np.generic]:
    if image.ndim == 2:
        if len(channels) != 1:
            raise InputError(f"{path}: grey image has 1 channel but {len(channels)} were asked ({channels}); "
                             "use --channels with one name")
        return image
    if image.shape[2] < len(SLICE_CHANNEL_ORDER):
        raise InputError(f"{path}: {image.shape[2]} channels, expected {len(SLICE_CHANNEL_ORDER)} "
                         f"({', '.join(SLICE_CHANNEL_ORDER)}); save grey or 3-channel slices")
    unknown = [c for c in channels if c not in SLICE_CHANNEL_ORDER]
    if unknown:
        raise InputError(f"{path}: channel(s) {unknown} not in this layout; "
                         f"choose from {list(SLICE_CHANNEL_ORDER)}")
    idx = [SLICE_CHANNEL_ORDER.index(c) for c in channels]
    return image[..., idx[0]] if len(idx) == 1 else image[..., idx]


def _load_slices(case: CaseSource, cfg: IngestCfg) -> tuple[list[RawSlice], dict[str, Path]]:
    # Every slice is read and checked, not only the chosen one: a bad file in a patient's stack is reported.
    masks, images = {}, {}
    for n, (img_path, mask_path) in case.slices.items():
        masks[n] = to_roi(read_image(mask_path), mask_path, cfg.roi_labels, case.is_segmentation)
        images[n] = _pick_channels(read_image(img_path), img_path, cfg.channels)
        check_finite(images[n], img_path)
        if images[n].shape[:2] != masks[n].shape:
            raise MaskMismatchError(f"{mask_path}: mask shape {masks[n].shape} != image shape {images[n].shape[:2]}; "
                                    "resample the mask or check pairing")
    areas = {n: int(m.sum()) for n, m in masks.items()}
    fixed = cfg.slice_index if case.slice_index is None else case.slice_index
    chosen = choose_slices(areas, cfg.slices, fixed, where=_where(case))
    out = [RawSlice(n, images[n], masks[n], *case.slices[n]) for n in chosen]
    return out, {str(p): p for pair in case.slices.values() for p in pair}


def _where(case: CaseSource) -> Path:
    pairs = list(case.slices.values())
    return pairs[0][1] if len(pairs) == 1 else pairs[0][0].parent


def _volume_channels(case: CaseSource, cfg: IngestCfg) -> list[Path]:
    if set(case.images) == {"image"}:
        if len(cfg.channels) != 1:
            raise InputError(f"{case.images['image']}: one image given but {len(cfg.channels)} channels asked; "
                             "use --channels with one name")
        return [case.images["image"]]
    missing = [c for c in cfg.channels if c not in case.images]
    if missing:
        folder = next(iter(case.images.values())).parent
        raise InputError(f"{folder}: no <case>_{missing[0]}.nii.gz for channel {missing[0]!r}; "
                         f"add it or choose --channels from {sorted(case.images)}")
    return [case.images[c] for c in cfg.channels]


def _load_volume(case: CaseSource, cfg: IngestCfg) -> tuple[list[RawSlice], dict[str, Path]]:
    assert case.mask is not None  # guaranteed by discovery
    paths = _volume_channels(case, cfg)
    vols = [read_volume(p) for p in paths]
    ref = vols[0]
    for v in vols:
        check_finite(v.data, v.path)
    chans = [ref.data] + [_on_grid(v, ref, "image", "co-register the sequences (resample each onto one grid)")
                          for v in vols[1:]]
    seg = read_volume(case.mask)
    check_finite(seg.data, case.mask)
    placed = _on_grid(seg, ref, "segmentation", "resample the segmentation onto the image grid (or check pairing)")
    roi = to_roi(placed, case.mask, cfg.roi_labels, case.is_segmentation)
    axis = ref.axial_axis
    areas = {k: int(a) for k, a in enumerate(roi.sum(axis=tuple(i for i in range(3) if i != axis)))}
    fixed = cfg.slice_index if case.slice_index is None else case.slice_index
    chosen = choose_slices(areas, cfg.slices, fixed, where=case.mask)
    # Volume.slice orients a plane as the images are shown; every channel and the 0/1 ROI are on ref's grid now.
    on_ref = [Volume(c, axis, v.path, ref.codes) for c, v in zip(chans, vols, strict=True)]
    roi_vol = Volume(roi.astype(np.float32), axis, case.mask, ref.codes)
    out = []
    for k in chosen:
        planes = [v.slice(k) for v in on_ref]
        image = planes[0] if len(planes) == 1 else np.stack(planes, axis=-1)
        out.append(RawSlice(k, image, roi_vol.slice(k).astype(bool), paths[0], case.mask))
    return out, {str(p): p for p in [*paths, case.mask]}


def _on_grid(vol: Volume, ref: Volume, what: str, fix: str) -> npt.NDArray[np.float32]:
    """``vol``'s voxels on ``ref``'s grid, placed by the two affines (axes permuted / flipped where they say so).

    Raises:
        MaskMismatchError: naming both files, when the grids differ (shape, voxel size, position, rotation).
    """
    assert vol.affine is not None and ref.affine is not None  # read_volume always sets it
    placed = place_on_grid(vol.data, vol.affine, ref.affine, ref.data.shape)
    if placed is not None:
        return np.asarray(placed, dtype=np.float32)
    if vol.data.shape == ref.data.shape:
        offset = describe_offset(vol.affine, ref.affine, ref.data.shape)
        raise MaskMismatchError(f"{vol.path}: {what} is not in the space of {ref.path} (same shape "
                                f"{ref.data.shape} but another affine: {offset}); {fix}")
    raise MaskMismatchError(f"{vol.path}: {what} shape {vol.data.shape} != image shape {ref.data.shape} "
                            f"({ref.path.name}) and not a reorientation of it; {fix}")


def _load_dicom(case: CaseSource, cfg: IngestCfg) -> tuple[list[RawSlice], dict[str, Path]]:
    assert case.mask is not None
    others: tuple[tuple[str, DicomSeries], ...] = ()
    if len(cfg.channels) > 1 or cfg.series_map:  # several series of the folder as channels, by SeriesDescription
        multi = read_dicom_channels(case.images["series"], cfg.channels, parse_series_map(cfg.series_map))
        series, vol, others = multi.series[0], multi.data, tuple(zip(multi.channels[1:], multi.series[1:], strict=True))
    else:
        series = read_dicom(case.images["series"], case.series_description)
        vol = series.data
    files = series.files
    check_finite(vol, series.folder)
    mask_vol = _dicom_mask(case.mask, series)
    roi = to_roi(mask_vol, case.mask, cfg.roi_labels, case.is_segmentation)
    areas = {k: int(roi[..., k].sum()) for k in range(roi.shape[2])}
    fixed = cfg.slice_index if case.slice_index is None else case.slice_index
    chosen = choose_slices(areas, cfg.slices, fixed, where=case.mask)
    n = len(files)
    out = [RawSlice(k, vol[:, :, k], roi[..., k], files[k], case.mask, where=f"{series.folder} slice {k} of {n}")
           for k in chosen]
    # DICOM file names can carry a patient's name or MRN: recorded by their place in the sorted series
    named = {f"{series.folder}/slice-{k:04d}": f for k, f in enumerate(files)}
    named.update({f"{s.folder}/{c}/slice-{k:04d}": f for c, s in others for k, f in enumerate(s.files)})
    masks = [case.mask] if case.mask.is_file() else sorted(case.mask.iterdir())
    named.update({f"{case.mask}/{k:04d}" if case.mask.is_dir() else str(m): m for k, m in enumerate(masks)})
    return out, named


def _dicom_mask(mask: Path, series: DicomSeries) -> npt.NDArray[np.generic]:
    """The mask of a DICOM series on the series' grid: a ``mask/`` folder of PNGs named after the DICOM files, or a
    NIfTI placed by its own affine (as dcm2niix writes it: columns, rows, slices, rows flipped). A NIfTI without
    geometry (identity affine, or no qform/sform) must be in the series' own (rows, cols, slices) order."""
    shape, files = series.data.shape, series.files
    if mask.is_dir():
        planes = []
        for f in files:
            candidates = (mask / f"{f.stem}{s}" for s in ("_mask.png", ".png"))
            png = next((p for p in candidates if p.is_file()), None)
            planes.append(read_image(png) if png is not None else np.zeros(shape[:2], np.uint8))
        bad = [p.shape for p in planes if p.shape != shape[:2]]
        if bad:
            raise MaskMismatchError(f"{mask}: mask PNG shape {bad[0]} != DICOM image shape {shape[:2]}; "
                                    "export masks on the image grid")
        return np.stack(planes, axis=-1)
    vol = read_volume(mask)
    data, affine = vol.data, vol.affine
    assert affine is not None  # read_volume always sets it
    if not vol.has_geometry:
        if data.shape == shape:
            return data
        raise MaskMismatchError(f"{mask}: mask shape {data.shape} != DICOM series shape {shape} (rows, cols, slices) "
                                "and its header gives no geometry to place it by (identity affine, or no qform/sform); "
                                "save the mask with the series' geometry (e.g. convert with dcm2niix) or in "
                                "(rows, cols, slices) order")
    if not series.uniform:
        raise MaskMismatchError(f"{mask}: the slices of the DICOM series in {series.folder} are unevenly spaced "
                                "(a missing slice?), so no affine describes its grid and a NIfTI mask cannot be "
                                "placed on it; complete the series, or give a mask/ folder of PNGs named after the "
                                "DICOM files")
    placed = place_on_grid(data, affine, series.affine, shape)
    if placed is None:
        offset = describe_offset(affine, series.affine, shape)
        raise MaskMismatchError(f"{mask}: mask is not on the grid of the DICOM series in {series.folder} "
                                f"(mask shape {data.shape}, series {shape}; {offset}); "
                                "resample the mask onto the series, or check pairing")
    return placed


#: The same placement for the readers of every tumour-bearing plane (:mod:`gliograde.signs.read`).
dicom_mask = _dicom_mask


def ingest(root: Path, out: Path, cfg: IngestCfg = _DEFAULT_CFG, *, progress: bool = True) -> IngestResult:
    """Check, read and preprocess a whole cohort; write ``out/manifest.csv`` and ``out/cache/``.

    Args:
        root: cohort folder (slices / nifti / dicom layout) or a manifest CSV.
        out: output folder; replaced only if it is empty or a previous ingest output.
        cfg: ingestion and preprocessing options.

    Returns:
        An :class:`IngestResult`.

    Raises:
        CohortError: one line per problem, when any patient is bad and ``cfg.skip_bad`` is False.
    """
    root, out = Path(root), Path(out)
    _check_out(out)
    cases, problems = find_cases(root, cfg.layout)
    staging = out.parent / f".{out.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "cache").mkdir(parents=True)
    try:
        rows, read_files, skipped, previews = _process(cases, staging, cfg, problems, progress)
        if problems and not cfg.skip_bad:
            raise CohortError(problems)
        if not rows:
            raise CohortError(problems or [f"{root}: no patient could be ingested"])
        manifest = add_who_edition(pd.DataFrame(rows), root / "labels.csv" if root.is_dir() else root)  # G: issue 15
        manifest.to_csv(staging / MANIFEST, index=False)
        labels = [root / "labels.csv"] if root.is_dir() else [root]
        base = root if root.is_dir() else root.parent
        fingerprint = fingerprint_named({_relative(name, base): p
                                         for name, p in {**read_files, **{str(p): p for p in labels}}.items()})
        _replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return IngestResult(manifest=manifest, skipped=skipped, problems=problems, fingerprint=fingerprint,
                        previews=previews)


def _process(cases: list[CaseSource], staging: Path, cfg: IngestCfg, problems: list[str],
             progress: bool) -> _Processed:
    """Read, preprocess and write every case into ``staging``; a bad case's problem is appended to ``problems``."""
    pre = Preprocess(cfg=cfg.preprocess)
    rows: list[dict[str, object]] = []
    read_files: dict[str, Path] = {}
    skipped: list[str] = []
    previews: list[Preview] = []
    # the run's one progress line (gliograde.progress); it names no patient: an id can identify one
    with task_progress(len(cases), "ingest", unit="patient", enabled=progress) as bar:
        for case in cases:
            try:
                slices, files = load_case(case, cfg)
                processed = [(s, *pre(s.image, s.mask)) for s in slices]
            except (GliogradeError, FileNotFoundError) as err:
                problems.append(str(err))
                skipped.append(case.patient_id)
            else:
                read_files.update(files)
                for rank, (s, img, mask) in enumerate(processed):
                    rows.append(_write_slice(staging, case, s, img, mask, cfg, rank == len(processed) // 2))
                if sum(p[3] == str(case.grade) for p in previews) < 4:
                    s = slices[len(slices) // 2]
                    first = s.image if s.image.ndim == 2 else s.image[..., 0]
                    previews.append((case.grade, to_uint8(first, region=first != 0), s.mask, str(case.grade)))
            bar.update()
    return _Processed(rows, read_files, skipped, previews)


def _relative(name: str, base: Path) -> str:
    """A recorded file name relative to the cohort folder, as :func:`gliograde.runinfo.fingerprint_files` does."""
    p = Path(name)
    return str(p.relative_to(base)) if p.is_relative_to(base) else name


def cache_name(patient_id: str) -> str:
    """The cache folder of a patient: the id made file-safe, plus a digest of the exact id, so ids that differ only by
    a replaced character ("CS 4941" and "CS_4941") or by case never share a folder, and ``..`` stays inside cache/.

    >>> cache_name("CS 4941") != cache_name("CS_4941"), cache_name("..").startswith(".")
    (True, False)
    """
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in patient_id).lstrip(".")[:80] or "patient"
    return f"{safe}-{hashlib.sha256(patient_id.encode()).hexdigest()[:8]}"  # [:80]: file names stop at 255 bytes


def _write_slice(staging: Path, case: CaseSource, s: RawSlice, img: npt.NDArray[np.uint8],
                 mask: npt.NDArray[np.bool_], cfg: IngestCfg, representative: bool) -> dict[str, object]:
    rel = Path("cache") / cache_name(case.patient_id)
    (staging / rel).mkdir(parents=True, exist_ok=True)
    img_rel, mask_rel = rel / f"{s.index}.png", rel / f"{s.index}_mask.png"
    Image.fromarray(img).save(staging / img_rel)
    Image.fromarray(mask.astype(np.uint8) * 255).save(staging / mask_rel)
    # the person, only where the labels name one other than the patient: a cohort without it keeps its manifest
    group = {"group": case.group} if case.group and case.group != case.patient_id else {}
    return {
        "patient_id": case.patient_id, "grade": case.grade, "site": case.site, **group,
        "source_image": s.where or str(s.source_image), "source_mask": str(s.source_mask),
        "slice_index": s.index, "roi_area_px": int(s.mask.sum()), "representative": representative,
        "channels": "+".join(cfg.channels), "cache_path": str(img_rel), "cache_mask_path": str(mask_rel),
    }


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is a file; choose another --out folder")
    if out.is_dir() and any(out.iterdir()) and not is_ingested(out):
        raise InputError(f"{out}: folder exists, is not empty and holds no previous ingest; "
                         "choose another --out folder")


def _replace(staging: Path, out: Path) -> None:
    """Swap the finished staging folder in; keep other files a user put in ``out`` (figures, notes)."""
    if out.is_dir():
        shutil.rmtree(out / "cache", ignore_errors=True)
        for item in staging.iterdir():
            target = out / item.name
            if target.is_dir():
                shutil.rmtree(target)
            item.replace(target)
        staging.rmdir()
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging.replace(out)
