"""Read MRI slices, volumes, DICOM series and masks into numpy arrays; nothing else.

Every reader raises :class:`gliograde.errors.InputError` (or ``FileNotFoundError``) whose message
names the file, the problem and the fix. 8-bit, 16-bit and float inputs are all accepted.

Shapes:
    2D slice:  (H, W) or (H, W, C), dtype as stored.
    Volume:    (X, Y, Z) float32, ``axial_axis`` tells which axis runs inferior-superior.
    DICOM:     (rows, cols, n_slices) float32 sorted by ImagePositionPatient, slope/intercept applied.

>>> # img = read_image(Path("TCGA_CS_4941_19960909_14.png"))  # (256, 256, 3) uint8
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from gliograde.errors import InputError

IMAGE_SUFFIXES = (".png", ".tif", ".tiff")
NIFTI_SUFFIXES = (".nii", ".nii.gz")


@dataclass(frozen=True)
class Volume:
    """A 3D image with the index of its axial (inferior-superior) axis.

    Attributes:
        data: (X, Y, Z) float32 voxels.
        axial_axis: axis of ``data`` along which axial slices are taken.
        path: where it was read from.
    """

    data: npt.NDArray[np.float32]
    axial_axis: int
    path: Path
    codes: tuple[str, ...] = ("L", "P", "S")

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


def read_image(path: Path) -> npt.NDArray[np.generic]:
    """Read a 2D PNG or TIFF slice as stored: (H, W) or (H, W, C); 8/16-bit integer or float.

    Raises:
        FileNotFoundError: no such file.
        InputError: unreadable or corrupt, or not 2D.
    """
    path = Path(path)
    _require_file(path)
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
        raise InputError(f"{path}: cannot read image ({type(err).__name__}: {err}); "
                         "re-export the file as PNG or TIFF") from err
    if arr.ndim == 3 and arr.shape[0] in (1, 3, 4) and arr.shape[-1] not in (1, 3, 4):
        arr = np.moveaxis(arr, 0, -1)  # channels-first TIFF
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3):
        raise InputError(f"{path}: expected a 2D slice (H, W) or (H, W, C), got shape {arr.shape}; "
                         "save one slice per file")
    return arr


def read_volume(path: Path) -> Volume:
    """Read a NIfTI volume (or a 2D NIfTI, treated as one axial slice) as float32.

    The axial axis is found from the affine (the voxel axis closest to superior-inferior),
    and slices are indexed in the file's own voxel order (no reorientation), so slice k here is
    slice k in any other viewer that shows voxel indices.
    """
    import nibabel as nib  # slow to import: only for NIfTI files
    from nibabel.spatialimages import SpatialImage

    path = Path(path)
    _require_file(path)
    try:
        img = nib.load(str(path))
        if not isinstance(img, SpatialImage):  # e.g. a GIFTI surface or a CIFTI file
            raise TypeError(f"{type(img).__name__} is not a volume image")
        data = np.asarray(img.dataobj, dtype=np.float32)
        codes = nib.aff2axcodes(img.affine)
    except Exception as err:
        raise InputError(f"{path}: cannot read NIfTI ({type(err).__name__}: {err}); "
                         "check the file is a complete .nii/.nii.gz") from err
    data = np.squeeze(data) if data.ndim > 3 else data
    if data.ndim == 2:
        data = data[..., None]
        codes = ("", "", "S")
    if data.ndim != 3:
        raise InputError(f"{path}: expected a 3D volume, got shape {data.shape}; give one 3D image per file")
    axial = next((i for i, c in enumerate(codes) if c in ("S", "I")), 2)
    return Volume(data=data, axial_axis=axial, path=path, codes=tuple(codes))


def read_dicom_series(folder: Path) -> tuple[npt.NDArray[np.float32], list[Path]]:
    """Read one DICOM series folder into a (rows, cols, n) float32 volume.

    Slices are sorted by their position along the slice normal (ImagePositionPatient projected on
    the cross product of ImageOrientationPatient), falling back to InstanceNumber. RescaleSlope and
    RescaleIntercept are applied. Patient tags are never read into the result.

    Returns:
        (volume, files in sorted order), so that slice k of the volume came from files[k].
    """
    import pydicom  # slow to import: only for DICOM files

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: DICOM series folder not found; give the folder that holds the .dcm files")
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    slices: list[tuple[float, npt.NDArray[np.float32], Path]] = []
    for f in files:
        if f.suffix.lower() not in ("", ".dcm", ".ima"):
            continue
        try:
            ds = pydicom.dcmread(f)
        except Exception as err:
            raise InputError(f"{f}: cannot read DICOM ({type(err).__name__}: {err}); "
                             "remove it from the series folder or re-export the series") from err
        if "PixelData" not in ds:
            raise InputError(f"{f}: DICOM file has no pixel data; "
                             "remove non-image objects (reports, SR) from the series folder")
        try:
            pix = ds.pixel_array.astype(np.float32)
        except Exception as err:
            raise InputError(f"{f}: cannot decode DICOM pixels ({err}); "
                             "install the codec or decompress the series") from err
        slope = float(getattr(ds, "RescaleSlope", 1.0) or 1.0)
        intercept = float(getattr(ds, "RescaleIntercept", 0.0) or 0.0)
        slices.append((_slice_position(ds), pix * slope + intercept, f))
    if not slices:
        raise InputError(f"{folder}: no DICOM files found; give the folder that holds one series of .dcm files")
    shapes = {s[1].shape for s in slices}
    if len(shapes) != 1:
        raise InputError(f"{folder}: slices have different sizes {sorted(shapes)}; "
                         "the folder must hold a single series")
    slices.sort(key=lambda s: s[0])
    return np.stack([s[1] for s in slices], axis=-1), [s[2] for s in slices]


def _slice_position(ds: object) -> float:
    ipp = getattr(ds, "ImagePositionPatient", None)
    iop = getattr(ds, "ImageOrientationPatient", None)
    if ipp is not None and iop is not None and len(iop) == 6:
        normal = np.cross(np.asarray(iop[:3], float), np.asarray(iop[3:], float))
        return float(np.dot(normal, np.asarray(ipp, float)))
    if ipp is not None:
        return float(ipp[2])
    return float(getattr(ds, "InstanceNumber", 0) or 0)


def check_finite(arr: npt.NDArray[np.generic], path: Path) -> None:
    """Raise when an image holds NaN or inf voxels."""
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        n = int((~np.isfinite(arr)).sum())
        raise InputError(f"{path}: {n} NaN or inf voxel(s); fix the export (or replace them with 0) and ingest again")
