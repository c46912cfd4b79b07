"""Writers of small but real cohort files (PNG/TIFF, NIfTI, DICOM) into tmp_path,
like torchvision's inject_fake_data."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from conftest import disk_slice
from PIL import Image


def write_slice_cohort(root: Path, patients: list[tuple[str, int]], *, n_slices: int = 3, size: int = 32,
                       largest: int = 1, channels: int = 3, dtype: type = np.uint8, ext: str = ".png") -> Path:
    """TCGA-LGG layout: labels.csv + <folder>/<folder>_<n>.png and _mask.png; slice ``largest`` has the biggest ROI."""
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (pid, grade) in enumerate(patients):
        folder = pid.replace("-", "_") + "_2000"
        (root / folder).mkdir()
        for n in range(n_slices):
            img, mask = disk_slice(size, radius=8 if n == largest else 5, seed=i * 10 + n)
            arr = np.stack([img // 2, img, img], axis=-1)[..., :channels] if channels > 1 else img
            arr = (arr.astype(np.float64) * (257 if dtype == np.uint16 else 1)).astype(dtype)
            _save(root / folder / f"{folder}_{n}{ext}", arr)
            _save(root / folder / f"{folder}_{n}_mask{ext}", mask.astype(np.uint8) * 255)
        rows.append({"patient_id": pid, "who_grade": grade, "institution": "XX", "folder": folder,
                     "largest_tumour_slice": largest})
    with open(root / "labels.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return root


def _save(path: Path, arr: np.ndarray) -> None:
    if path.suffix in (".tif", ".tiff"):
        import tifffile

        tifffile.imwrite(path, arr)
    else:
        Image.fromarray(arr).save(path)


def volume(shape: tuple[int, int, int] = (24, 24, 10), centre: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A float32 volume and an int16 BraTS-like segmentation (labels 1, 2, 4) whose area peaks at slice ``centre``."""
    rng = np.random.default_rng(seed)
    x, y, z = np.mgrid[: shape[0], : shape[1], : shape[2]]
    r = np.sqrt((x - shape[0] / 2) ** 2 + (y - shape[1] / 2) ** 2)
    radius = np.maximum(0, 7 - 1.5 * np.abs(z - centre))
    seg = np.zeros(shape, np.int16)
    seg[r <= radius] = 2
    seg[r <= radius * 0.6] = 4
    seg[r <= radius * 0.3] = 1
    vol = (100 + 50 * (seg > 0) + rng.normal(0, 5, shape)).astype(np.float32)
    return vol, seg


def write_nifti_cohort(root: Path, cases: list[tuple[str, int]], *, centre: int = 6) -> Path:
    """BraTS layout: labels.csv (case_id, who_grade) + <case>/<case>_t1ce.nii.gz, _flair.nii.gz, _seg.nii.gz."""
    import nibabel as nib

    root.mkdir(parents=True, exist_ok=True)
    aff = np.diag([-1.0, -1.0, 1.0, 1.0])
    for i, (case, _) in enumerate(cases):
        (root / case).mkdir()
        vol, seg = volume(centre=centre, seed=i)
        nib.save(nib.Nifti1Image(vol, aff), root / case / f"{case}_t1ce.nii.gz")
        nib.save(nib.Nifti1Image(vol * 0.5, aff), root / case / f"{case}_flair.nii.gz")
        nib.save(nib.Nifti1Image(seg, aff), root / case / f"{case}_seg.nii.gz")
    (root / "labels.csv").write_text("case_id,who_grade\n" + "".join(f"{c},{g}\n" for c, g in cases))
    return root


def write_dicom_series(folder: Path, vol: np.ndarray, *, patient_name: str = "Doe^Jane", patient_id: str = "PHI-12345",
                       slope: float = 2.0, intercept: float = -10.0, pixel_data: bool = True) -> list[Path]:
    """Write (rows, cols, n) ``vol`` as n CT-like MR DICOM files in reversed file order; values stored as
    (vol - intercept) / slope so that slope/intercept must be applied to get ``vol`` back."""
    import pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    series_uid, paths = generate_uid(), []
    n = vol.shape[2]
    for k in range(n):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MRImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        path = folder / f"IM{n - k:04d}.dcm"  # file names sort opposite to anatomy: sorting must use positions
        ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, meta.MediaStorageSOPInstanceUID
        ds.Modality, ds.SeriesInstanceUID = "MR", series_uid
        ds.PatientName, ds.PatientID, ds.PatientBirthDate = patient_name, patient_id, "19700101"
        ds.ImagePositionPatient = [0.0, 0.0, float(k) * 2.0]
        ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        ds.InstanceNumber = k + 1
        ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
        if pixel_data:
            stored = np.rint((vol[..., k] - intercept) / slope).astype(np.uint16)
            ds.Rows, ds.Columns = stored.shape
            ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
            ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
            ds.PixelData = stored.tobytes()
        pydicom.dcmwrite(path, ds, enforce_file_format=True)
        paths.append(path)
    return paths


def recommended_cohort(tmp: Path, patients: list[tuple[str, int]], *, raw_size: int, crop_size: int,
                       selection: dict[str, object]) -> tuple[Path, Path, list[str]]:
    """A 3-channel slice cohort in ``tmp/raw``, ingested with the ``recommended`` preset at ``crop_size`` into
    ``tmp/cohort``, and the ``gliograde train`` argv that fits its radiomics bundle into ``tmp/b`` with the
    given ``cv: selection:`` grid (a small grid keeps tests fast)."""
    import dataclasses

    import yaml

    from gliograde.data.ingest_run import run_ingest
    from gliograde.presets import get_preset

    raw = write_slice_cohort(tmp / "raw", patients, size=raw_size, channels=3)
    rec = get_preset("recommended").ingest
    run_ingest(raw, tmp / "cohort", dataclasses.replace(rec, preprocess=dataclasses.replace(rec.preprocess,
                                                                                              size=crop_size)),
               figures=False, progress=False)
    (tmp / "selection.yaml").write_text(yaml.safe_dump({"cv": {"selection": selection}}))
    return raw, tmp / "cohort", ["-q", "train", str(tmp / "cohort"), "--out", str(tmp / "b"),
                                 "--config", str(tmp / "selection.yaml")]
