"""Read MRI slices, volumes, DICOM series and masks into numpy arrays; nothing else.

Every reader raises :class:`gliograde.errors.InputError` (or ``FileNotFoundError``) whose message
names the file, the problem and the fix. 8-bit, 16-bit and float inputs are all accepted.

Shapes:
    2D slice:  (H, W) or (H, W, C), dtype as stored.
    Volume:    (X, Y, Z) float32, ``axial_axis`` tells which axis runs inferior-superior.
    DICOM:     (rows, cols, n_slices) float32 sorted along the slice normal, slope/intercept applied.

Sizes are checked from the header before decoding (:data:`MAX_PIXELS` per slice, :data:`MAX_VOXELS` per volume).

>>> # img = read_image(Path("TCGA_CS_4941_19960909_14.png"))  # (256, 256, 3) uint8
"""
from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from gliograde.data.geometry import describe_offset, place_on_grid, series_affine
from gliograde.errors import InputError

IMAGE_SUFFIXES = (".png", ".tif", ".tiff")
NIFTI_SUFFIXES = (".nii", ".nii.gz")
#: Largest 2D image (or DICOM frame) read, in pixels: PIL's own ``MAX_IMAGE_PIXELS`` (about 9459 x 9459), checked
#: from the header for every format (PIL only warns below twice this, and tifffile has no limit).
MAX_PIXELS = 89_478_485
#: Largest volume or DICOM series read, in voxels (1 GiB as float32; a 512 x 512 x 1024 series fits).
MAX_VOXELS = 2**28
_IMAGE_FIX = "check the export (one 2D slice per file), or crop/downsample it below the limit"


@dataclass(frozen=True)
class Volume:
    """A 3D image with the index of its axial (inferior-superior) axis.

    Attributes:
        data: (X, Y, Z) float32 voxels.
        axial_axis: axis of ``data`` along which axial slices are taken.
        path: where it was read from.
        codes: nibabel's axis codes of the affine (``("L", "P", "S")`` for an unknown one).
        affine: the file's (4, 4) voxel -> RAS+ mm affine; None when not read from a file.
        has_geometry: False when the file places its voxels nowhere: an identity affine, or a NIfTI header whose
            qform and sform codes are both 0 (``nib.Nifti1Image(array, None)``); ``affine`` is then nibabel's guess.
    """

    data: npt.NDArray[np.float32]
    axial_axis: int
    path: Path
    codes: tuple[str, ...] = ("L", "P", "S")
    affine: npt.NDArray[np.float64] | None = None
    has_geometry: bool = True

    def n_slices(self) -> int:
        return int(self.data.shape[self.axial_axis])

    def slice(self, k: int) -> npt.NDArray[np.float32]:
        """The k-th axial slice (0-based, voxel order), (H, W) float32, shown the radiological way:
        anterior at the top, the patient's left on the image's right (as in the 2D slice datasets)."""
        plane = np.take(self.data, k, axis=self.axial_axis)
        inplane = [c for i, c in enumerate(self.codes) if i != self.axial_axis]
        if inplane[1] in ("A", "P"):  # rows must run anterior -> posterior
            plane, inplane = plane.T, inplane[::-1]
        if inplane[0] == "A":
            plane = plane[::-1, :]
        if inplane[1] == "R":
            plane = plane[:, ::-1]
        return np.ascontiguousarray(plane)


def is_nifti(path: Path) -> bool:
    return path.name.lower().endswith(NIFTI_SUFFIXES)


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def _require_file(path: Path) -> None:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found; check the path or the labels/manifest entry that names it")


def _limit(where: Path | str, shape: tuple[int, ...], limit: int, what: str, fix: str) -> None:
    """Refuse, from the header's shape and before any decoding, an image with more than ``limit`` pixels."""
    n = int(np.prod([int(d) for d in shape], dtype=np.int64)) if shape else 0
    if n > limit:
        raise InputError(f"{where}: {what} of shape {tuple(int(d) for d in shape)} has {n:,} pixels, over the "
                         f"limit of {limit:,} (a decompression bomb or a wrong export); {fix}")


def image_shape(path: Path) -> tuple[int, ...]:
    """The stored shape of a PNG or TIFF slice, read from its header only (nothing is decoded): (H, W, bands) for a
    PNG, tifffile's shape of the first series for a TIFF.

    Raises:
        FileNotFoundError: no such file.
        InputError: not a readable image, or more than :data:`MAX_PIXELS` pixels.
    """
    path = Path(path)
    _require_file(path)
    axes = ""
    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            import tifffile  # only for .tif files

            with tifffile.TiffFile(path) as tif:
                shape = tuple(int(d) for d in tif.series[0].shape)
                axes = str(tif.series[0].axes)
        else:
            from PIL import Image  # only for PNG/JPEG files

            with Image.open(path) as im:
                shape = (im.size[1], im.size[0], len(im.getbands()))
    except Exception as err:  # PIL's DecompressionBombError, tifffile's TiffFileError, OSError ...: all one line
        if type(err).__name__ == "DecompressionBombError":
            raise InputError(f"{path}: image over the pixel limit ({err}); {_IMAGE_FIX}") from err
        raise InputError(f"{path}: cannot read image ({type(err).__name__}: {_first_line(err)}); "
                         "re-export the file as PNG or TIFF") from err
    plane = tuple(n for a, n in zip(axes, shape, strict=False) if a in "YX") if axes else shape[:2]
    _limit(path, plane, MAX_PIXELS, "image", _IMAGE_FIX)
    stacked = [(a, n) for a, n in zip(axes, shape, strict=False) if a not in "YXSC" and n > 1]
    if stacked:  # pages of a z-stack or a time series (tifffile's Q, Z, I, T axes): read as channels otherwise
        raise InputError(f"{path}: a stack of {stacked[0][1]} pages (TIFF axes {axes}, shape {shape}), not one slice; "
                         "save one 2D slice per file")
    return shape


def read_image(path: Path) -> npt.NDArray[np.generic]:
    """Read a 2D PNG or TIFF slice as stored: (H, W) or (H, W, C); 8/16-bit integer or float.

    The pixel count is checked from the header first (:data:`MAX_PIXELS`, as PIL's ``MAX_IMAGE_PIXELS``).

    Raises:
        FileNotFoundError: no such file.
        InputError: unreadable, corrupt, truncated or empty, too large, or not 2D.
    """
    path = Path(path)
    image_shape(path)
    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            import tifffile  # only for .tif files

            arr = np.asarray(tifffile.imread(path))
        else:
            from PIL import Image  # only for PNG/JPEG files

            with Image.open(path) as im:
                im.load()
                arr = np.asarray(im)
    except Exception as err:  # PIL/tifffile raise many types for corrupt files
        raise InputError(f"{path}: cannot read image ({type(err).__name__}: {_first_line(err)}); "
                         "re-export the file as PNG or TIFF") from err
    if arr.ndim == 3 and arr.shape[0] in (1, 3, 4) and arr.shape[-1] not in (1, 3, 4):
        arr = np.moveaxis(arr, 0, -1)  # channels-first TIFF
    if arr.ndim == 3 and arr.shape[-1] not in (1, 2, 3, 4):  # not channels: a stack of pages, read as colours
        raise InputError(f"{path}: shape {arr.shape} is a stack of {arr.shape[0]} pages or frames, not one slice; "
                         "save one 2D slice per file")
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3):
        raise InputError(f"{path}: expected a 2D slice (H, W) or (H, W, C), got shape {arr.shape}; "
                         "save one slice per file")
    return arr


def read_volume(path: Path) -> Volume:
    """Read a NIfTI volume (or a 2D NIfTI, treated as one axial slice) as float32, with its affine.

    The axial axis is found from the affine (the voxel axis closest to superior-inferior),
    and slices are indexed in the file's own voxel order (no reorientation), so slice k here is
    slice k in any other viewer that shows voxel indices. The voxel count is checked from the header
    (:data:`MAX_VOXELS`) before the data is decompressed.
    """
    import nibabel as nib  # slow to import: only for NIfTI files
    from nibabel.spatialimages import SpatialImage

    path = Path(path)
    _require_file(path)
    try:
        img = nib.load(str(path))
        if not isinstance(img, SpatialImage):  # e.g. a GIFTI surface or a CIFTI file
            raise TypeError(f"{type(img).__name__} is not a volume image")
        shape = tuple(int(d) for d in img.shape)
    except Exception as err:
        raise InputError(f"{path}: cannot read NIfTI ({type(err).__name__}: {_first_line(err)}); "
                         "check the file is a complete .nii/.nii.gz") from err
    _limit(path, shape, MAX_VOXELS, "volume", "crop or downsample the volume, or give one 3D image per file")
    try:
        data = np.asarray(img.dataobj, dtype=np.float32)
        affine = np.asarray(img.affine, dtype=np.float64)
        codes = nib.aff2axcodes(affine)
        header: Any = img.header  # a NIfTI header holds the codes; other formats' headers have none
        coded = [int(header[k]) for k in ("sform_code", "qform_code") if k in header]
        has_geometry = not np.array_equal(affine, np.eye(4)) and not (coded and not any(coded))
    except Exception as err:
        raise InputError(f"{path}: cannot read NIfTI ({type(err).__name__}: {_first_line(err)}); "
                         "check the file is a complete .nii/.nii.gz") from err
    data = np.squeeze(data) if data.ndim > 3 else data
    if data.ndim == 2:
        data = data[..., None]
        codes = ("", "", "S")
    if data.ndim != 3:
        raise InputError(f"{path}: expected a 3D volume, got shape {data.shape}; give one 3D image per file")
    axial = next((i for i, c in enumerate(codes) if c in ("S", "I")), 2)
    return Volume(data=data, axial_axis=axial, path=path, codes=tuple(codes), affine=affine, has_geometry=has_geometry)


@dataclass(frozen=True)
class DicomSeries:
    """One DICOM series read into a volume.

    Attributes:
        data: (rows, cols, n) float32, slices sorted along the slice normal, slope/intercept applied.
        files: ``files[k]`` holds slice k.
        affine: (4, 4) RAS+ affine of ``data``'s voxel grid (:func:`gliograde.data.geometry.series_affine`).
        folder: the series folder.
        uniform: slices are evenly spaced (within 5%), so ``affine`` places every slice, not only the first and last.
    """

    data: npt.NDArray[np.float32]
    files: list[Path]
    affine: npt.NDArray[np.float64]
    folder: Path
    uniform: bool = True


_Header = tuple[str, Any, Path]  # (how messages name the file, its dataset, the file)


def read_dicom_series(folder: Path) -> tuple[npt.NDArray[np.float32], list[Path]]:
    """:func:`read_dicom`'s (volume, files in sorted order): slice k of the volume came from files[k]."""
    series = read_dicom(folder)
    return series.data, series.files


def read_dicom(folder: Path, description: str = "") -> DicomSeries:
    """Read one DICOM series folder into a (rows, cols, n) float32 volume with its affine.

    Files are grouped by SeriesInstanceUID, never interleaved: a folder holding several series is refused (naming
    each by its SeriesDescription and file count) unless ``description`` names one of them (its SeriesDescription,
    case and surrounding spaces ignored). Every slice needs ImagePositionPatient and
    ImageOrientationPatient (one without is refused: sorting it by InstanceNumber among millimetre positions
    would put image and mask a slice apart); slices are sorted by position along the slice normal
    (ImagePositionPatient projected on the cross product of ImageOrientationPatient's two directions), and two
    slices at one position are refused. Rows x Columns is checked from each header before pixels are decoded.
    RescaleSlope and RescaleIntercept are applied. Patient tags are never read, and messages name a file by
    its place in the series (``file 3 of 40``, ``slice 12 of 40``), not by its name, which can carry a
    patient's name or MRN.
    """
    folder = Path(folder)
    return _build_series(folder, _one_series(folder, _headers(folder), description))


def _dicom_files(folder: Path, recursive: bool) -> list[Path]:
    """The folder's DICOM files (``*.dcm``, ``*.ima`` or no suffix; a CD's DICOMDIR index aside); ``recursive``:
    also those of its sub-folders, a ``mask/`` folder aside."""
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in found if p.is_file() and not p.name.startswith(".")
                  and p.suffix.lower() in ("", ".dcm", ".ima") and p.name.upper() != "DICOMDIR"
                  and "mask" not in p.relative_to(folder).parts[:-1])


def _headers(folder: Path) -> list[_Header]:
    """Every DICOM file of the folder, read (a folder without any directly: those of its sub-folders)."""
    import pydicom  # slow to import: only for DICOM files

    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: DICOM series folder not found; give the folder that holds the .dcm files")
    files = _dicom_files(folder, recursive=False) or _dicom_files(folder, recursive=True)
    headers = []
    for i, f in enumerate(files):
        where = f"{folder}: file {i + 1} of {len(files)} (in file-name order)"
        try:
            ds = pydicom.dcmread(f)
        except Exception as err:
            raise InputError(f"{where}: cannot read DICOM ({type(err).__name__}: {_first_line(err)}); "
                             "remove it from the series folder or re-export the series") from err
        if "PixelData" not in ds:
            raise InputError(f"{where}: DICOM file has no pixel data; "
                             "remove non-image objects (reports, SR) from the series folder")
        headers.append((where, ds, f))
    if not headers:
        raise InputError(f"{folder}: no DICOM files found; give the folder that holds one series of .dcm files")
    return headers


def _build_series(folder: Path, headers: list[_Header]) -> DicomSeries:
    """One series' files (already grouped by SeriesInstanceUID), sorted along the slice normal, read."""
    for where, ds, _ in headers:
        frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
        if frames > 1:
            raise InputError(f"{where}: a multi-frame (enhanced) DICOM file of {frames} frames; convert the series "
                             "to one file per slice, or to NIfTI (dcm2niix) and use the nifti layout")
    placed = [(_position(where, ds), where, ds, f) for where, ds, f in headers]
    placed.sort(key=lambda s: s[0])
    _check_orientations(folder, [p[2] for p in placed])
    _check_positions(folder, [p[0] for p in placed])
    n = len(placed)
    _limit(folder, (n, *_frame_shape(placed[0][1], placed[0][2])), MAX_VOXELS, "DICOM series",
           "give one series of reasonable size per folder")
    planes = [_pixels(f"{folder}: slice {k} of {n}", ds) for k, (_, _, ds, _) in enumerate(placed)]
    shapes = {p.shape for p in planes}
    if len(shapes) != 1:
        raise InputError(f"{folder}: slices have different sizes {sorted(shapes)}; "
                         "the folder must hold a single series")
    first, last = placed[0][2], placed[-1][2]
    spacing = [float(v) for v in getattr(first, "PixelSpacing", None) or (1.0, 1.0)]  # absent: 1 mm, as ITK does
    affine = series_affine(first.ImagePositionPatient, last.ImagePositionPatient, first.ImageOrientationPatient,
                           spacing, n, float(getattr(first, "SliceThickness", 1.0) or 1.0))
    gaps = np.diff([p[0] for p in placed])
    uniform = bool(len(gaps) == 0 or np.ptp(gaps) <= 0.05 * float(np.median(gaps)))
    return DicomSeries(data=np.stack(planes, axis=-1), files=[p[3] for p in placed], affine=affine, folder=folder,
                       uniform=uniform)




def _groups(headers: list[_Header]) -> dict[str, list[_Header]]:
    """The files by SeriesInstanceUID (never interleaved: two series at one position stay two series)."""
    groups: dict[str, list[_Header]] = {}
    for h in headers:
        groups.setdefault(str(getattr(h[1], "SeriesInstanceUID", "") or ""), []).append(h)
    return groups


def described(group: list[_Header]) -> str:
    """A series' SeriesDescription (stripped; "" when absent)."""
    return str(getattr(group[0][1], "SeriesDescription", "") or "").strip()


def _found(groups: dict[str, list[_Header]]) -> str:
    return "; ".join(f"{described(g) or 'no description'!r}: {len(g)} files" for g in groups.values())


def _one_series(folder: Path, headers: list[_Header], description: str) -> list[_Header]:
    """The files of the folder's one series (by SeriesInstanceUID), or of the one ``description`` names."""
    groups = _groups(headers)
    found = _found(groups)
    if description:
        hits = [g for g in groups.values() if described(g).lower() == description.strip().lower()]
        if len(hits) != 1:
            what = "no series" if not hits else f"{len(hits)} series"
            raise InputError(f"{folder}: {what} described as {description!r} ({found}); give the SeriesDescription "
                             "of exactly one series (the labels' or manifest's series column), or move the others out")
        return hits[0]
    if len(groups) > 1:
        raise InputError(f"{folder}: {len(groups)} DICOM series in one folder ({found}); keep one series per folder "
                         "(move the others out, e.g. into a folder per series), or name the one to read by its "
                         "SeriesDescription in a series column of labels.csv or the manifest")
    return headers


#: SeriesDescription patterns (``fnmatch``, case ignored) of each sequence, tried in this order: FLAIR before T2
#: (a "T2 FLAIR" is FLAIR), post-contrast T1 before T1. A user's ``series_map`` entry is tried before these.
SERIES_PATTERNS: dict[str, tuple[str, ...]] = {
    "flair": ("*FLAIR*",),
    "t1ce": ("*T1*POST*", "*T1*GD*", "*T1*GAD*", "*T1*+C*", "*T1*C+*", "*T1*CONTRAST*", "*T1C*", "*MPRAGE*POST*"),
    "t2": ("*T2*",),
    "t1": ("*T1*", "*MPRAGE*"),
}


@dataclass(frozen=True)
class DicomChannels:
    """Several series of one patient folder, matched to sequences and on one grid.

    Attributes:
        data: (rows, cols, n, C) float32, channel c = ``channels[c]``, every series on the first one's grid.
        channels: the sequence of each channel.
        series: each channel's series as read (``series[0]`` gives the grid, the affine and the files).
        descriptions: each channel's SeriesDescription.
    """

    data: npt.NDArray[np.float32]
    channels: tuple[str, ...]
    series: tuple[DicomSeries, ...]
    descriptions: tuple[str, ...]


def parse_series_map(entries: Sequence[str] | str) -> dict[str, tuple[str, ...]]:
    """``("t1ce=*T1*POST*", "flair=*FLAIR*|*DARK FLUID*")`` -> {sequence: patterns}; an entry may also be a YAML
    (``t1ce: "*T1*POST*"`` or a list) or CSV (``sequence,pattern`` rows) file of such entries.

    >>> parse_series_map("t1ce=*T1*POST*,flair=*FLAIR*|*DARK*")
    {'t1ce': ('*T1*POST*',), 'flair': ('*FLAIR*', '*DARK*')}

    Raises:
        InputError: an entry that is not ``SEQUENCE=PATTERN`` or names an unknown sequence.
    """
    items = [e for e in (entries.split(",") if isinstance(entries, str) else entries) if str(e).strip()]
    out: dict[str, tuple[str, ...]] = {}
    for item in items:
        item = str(item).strip()
        path = Path(item)
        if path.suffix.lower() in (".yaml", ".yml", ".csv") and "=" not in item:
            out.update(_series_map_file(path))
            continue
        seq, eq, pattern = item.partition("=")
        seq = seq.strip().lower()
        if not eq or not pattern.strip() or seq not in SERIES_PATTERNS:
            raise InputError(f"--series-map {item!r}: give SEQUENCE=PATTERN with SEQUENCE one of "
                             f"{list(SERIES_PATTERNS)} and PATTERN a SeriesDescription pattern (* any text, | or), "
                             "e.g. --series-map 't1ce=*T1*POST*'")
        out[seq] = tuple(p.strip() for p in pattern.split("|") if p.strip())
    return out


def _series_map_file(path: Path) -> dict[str, tuple[str, ...]]:
    import yaml  # only for a mapping file

    if not path.is_file():
        raise InputError(f"{path}: series map file not found; give a YAML or CSV file of sequence -> pattern")
    if path.suffix.lower() == ".csv":
        rows = [line.split(",", 1) for line in path.read_text().splitlines()[1:] if line.strip()]
        return parse_series_map([f"{r[0]}={r[1]}" for r in rows if len(r) == 2])
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise InputError(f"{path}: not readable YAML ({_first_line(err)}); write one `sequence: pattern` per "
                         "line") from err
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a mapping `sequence: pattern` (or a list of patterns)")
    return parse_series_map([f"{k}={'|'.join(v) if isinstance(v, list) else v}" for k, v in data.items()])


def match_sequence(description: str, series_map: Mapping[str, Sequence[str]] | None = None) -> str | None:
    """The sequence a SeriesDescription names: the user's ``series_map`` first, then :data:`SERIES_PATTERNS`.

    >>> match_sequence("AX T2 FLAIR"), match_sequence("Ax T1 SE +C"), match_sequence("sag t1"), match_sequence("DWI")
    ('flair', 't1ce', 't1', None)
    >>> match_sequence("AX T1 POST", {"t1": ("*T1*POST*",)})
    't1'
    """
    text = description.strip().upper()
    for table in (series_map or {}), SERIES_PATTERNS:
        for seq, patterns in table.items():
            if any(fnmatch.fnmatchcase(text, p.strip().upper()) for p in patterns):
                return seq
    return None


def read_dicom_channels(folder: Path, channels: Sequence[str],
                        series_map: Mapping[str, Sequence[str]] | None = None) -> DicomChannels:
    """Read the series of a patient folder (directly in it, or one sub-folder each) as channels.

    Files are grouped by SeriesInstanceUID, never interleaved; each group is matched to a sequence by its
    SeriesDescription (:func:`match_sequence`); each of ``channels`` must match exactly one series, and every
    series is placed on the first channel's grid by the two affines (axes permuted / flipped at most,
    :func:`gliograde.data.geometry.place_on_grid`), never by shape alone.

    Raises:
        InputError: a sequence no series or several series match (naming every series found and the fix:
            ``--series-map``), or series that are not on one grid.
    """
    folder = Path(folder)
    groups = _groups(_headers(folder))
    found = _found(groups)
    chosen: list[list[_Header]] = []
    for seq in channels:
        hits = [g for g in groups.values() if match_sequence(described(g), series_map) == seq]
        if len(hits) != 1:
            what = "no series" if not hits else f"{len(hits)} series"
            raise InputError(f"{folder}: {what} matched to {seq} by SeriesDescription ({found}); name it with "
                             f"--series-map '{seq}=PATTERN' (e.g. '{seq}=*{described(hits[0]) if hits else 'AX'}*'; "
                             "* any text), or ingest fewer --channels")
        chosen.append(hits[0])
    series = [_build_series(folder, g) for g in chosen]
    ref = series[0]
    planes = [ref.data]
    for seq, s, g in zip(channels[1:], series[1:], chosen[1:], strict=True):
        placed = place_on_grid(s.data, s.affine, ref.affine, ref.data.shape) if s.uniform and ref.uniform else None
        if placed is None:
            raise InputError(f"{folder}: series {described(g)!r} ({seq}) is not on the grid of "
                             f"{described(chosen[0])!r} ({channels[0]}; shapes {s.data.shape} and {ref.data.shape}, "
                             f"{describe_offset(s.affine, ref.affine, ref.data.shape)}); co-register the series "
                             "(resample each onto one grid, e.g. dcm2niix then a registration tool) and give NIfTI "
                             "files")
        planes.append(np.asarray(placed, dtype=np.float32))
    return DicomChannels(np.stack(planes, axis=-1), tuple(channels), tuple(series), tuple(described(g) for g in chosen))


def _position(where: str, ds: Any) -> float:
    """The slice's position along its slice normal (mm); a slice without position or orientation is refused."""
    ipp = getattr(ds, "ImagePositionPatient", None)
    iop = getattr(ds, "ImageOrientationPatient", None)
    if ipp is None or iop is None or len(ipp) != 3 or len(iop) != 6:
        missing = "ImagePositionPatient" if ipp is None or len(ipp) != 3 else "ImageOrientationPatient"
        raise InputError(f"{where}: no {missing}, so the slice cannot be placed in the volume; "
                         "re-export the series with its geometry (or remove the file, e.g. a localizer)")
    try:
        normal = np.cross(np.asarray(iop[:3], float), np.asarray(iop[3:], float))
        return float(np.dot(normal, np.asarray(ipp, float)))
    except (TypeError, ValueError) as err:
        raise InputError(f"{where}: unreadable ImagePositionPatient/ImageOrientationPatient ({err}); "
                         "re-export the series") from err


def _check_positions(folder: Path, positions: list[float]) -> None:
    gaps = np.diff(positions)
    if len(gaps) and float(np.abs(gaps).min()) < 1e-3:
        k = int(np.argmin(np.abs(gaps)))
        raise InputError(f"{folder}: slices {k} and {k + 1} of {len(positions)} lie at the same position "
                         f"({positions[k]:.2f} mm): the folder mixes acquisitions (echoes, repeats); "
                         "keep one acquisition per folder")


def _check_orientations(folder: Path, datasets: list[Any]) -> None:
    first = np.asarray(datasets[0].ImageOrientationPatient, float)
    for k, ds in enumerate(datasets[1:], start=1):
        if not np.allclose(np.asarray(ds.ImageOrientationPatient, float), first, atol=1e-4):
            raise InputError(f"{folder}: slice {k} of {len(datasets)} has another ImageOrientationPatient than slice 0 "
                             "(a localizer, or several acquisitions in one series); keep one acquisition per folder")


def _frame_shape(where: str, ds: Any) -> tuple[int, ...]:
    try:
        shape = (int(ds.Rows), int(ds.Columns), int(getattr(ds, "NumberOfFrames", 1) or 1))
    except (AttributeError, TypeError, ValueError) as err:
        raise InputError(f"{where}: no readable Rows/Columns ({err}); re-export the series") from err
    return shape


def _pixels(where: str, ds: Any) -> npt.NDArray[np.float32]:
    _limit(where, _frame_shape(where, ds), MAX_PIXELS, "DICOM slice",
           "give one series of reasonable size per folder")
    try:
        pix = np.asarray(ds.pixel_array, dtype=np.float32)
        slope = float(getattr(ds, "RescaleSlope", 1.0) or 1.0)
        intercept = float(getattr(ds, "RescaleIntercept", 0.0) or 0.0)
    except Exception as err:  # pydicom's codecs raise many types (missing plugin, truncated fragments, ...)
        raise InputError(f"{where}: cannot decode DICOM pixels ({type(err).__name__}: {_first_line(err)}); "
                         "install the codec or decompress the series") from err
    return np.asarray(pix * slope + intercept, dtype=np.float32)


def _first_line(err: BaseException) -> str:
    """An exception's message on one line (decoders' messages can span several)."""
    return " ".join(str(err).split())[:300]


def check_finite(arr: npt.NDArray[np.generic], path: Path) -> None:
    """Raise when an image holds NaN or inf voxels."""
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        n = int((~np.isfinite(arr)).sum())
        raise InputError(f"{path}: {n} NaN or inf voxel(s); fix the export (or replace them with 0) and ingest again")
