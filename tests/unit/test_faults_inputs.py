"""Fault corpus, input side (issue 17): one test per defect class, each input made in tmp_path.

Geometry (a segmentation in another space, a DICOM mask in dcm2niix order, several series in one folder, a slice
without position), naming (ids a sanitiser maps together, ``..``, two files for one slice number), pixel limits
read from the header, every reader error one line, PHI (keyed aliases, no DICOM file names in outputs or
messages), and labels as people write them (Excel's empty rows, ';', Latin-1, row numbers).
"""
from __future__ import annotations

import stat
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from fakedata import write_slice_cohort
from PIL import Image

from gliograde.config import IngestCfg, PreprocessCfg
from gliograde.data import io
from gliograde.data.dataset import load_cohort
from gliograde.data.ingest import ingest, load_case
from gliograde.data.layouts import find_cases, read_labels
from gliograde.data.source import CaseSource
from gliograde.errors import CohortError, InputError
from gliograde.prediction.cases import CaseInput, case_alias, scrub

CFG = IngestCfg(preprocess=PreprocessCfg(size=32))
PATIENTS = [("P-01", 2), ("P-02", 3)]


# ---------------------------------------------------------------- inputs

def _blob(shape: tuple[int, int, int], rows: slice, cols: slice, centre: int) -> np.ndarray:
    """An off-centre, asymmetric tumour: an L-shaped ROI whose area peaks at slice ``centre``."""
    seg = np.zeros(shape, np.uint8)
    for k in range(max(0, centre - 2), min(shape[2], centre + 3)):
        seg[rows, cols, k] = 1
        seg[rows.start: rows.start + 2, cols.stop: cols.stop + 4 - abs(k - centre), k] = 1
    return seg


def _image(seg: np.ndarray, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (100 + 60 * seg + rng.normal(0, 3, seg.shape)).astype(np.float32)


def _nifti_case(root: Path, case: str, seg_data: np.ndarray, seg_affine: np.ndarray, image: np.ndarray,
                affine: np.ndarray) -> Path:
    (root / case).mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(image, affine), root / case / f"{case}_t1ce.nii.gz")
    nib.save(nib.Nifti1Image(seg_data, seg_affine), root / case / f"{case}_seg.nii.gz")
    (root / "labels.csv").write_text(f"case_id,who_grade\n{case},4\n")
    return root


def _write_dicom(folder: Path, vol: np.ndarray, *, names: list[str] | None = None, spacing: float = 0.9,
                 orientation: tuple[float, ...] = (1, 0, 0, 0, 1, 0), positions: list[list[float]] | None = None,
                 series_uid: str | None = None, description: str = "AX T1 POST",
                 drop: dict[int, str] | None = None) -> list[Path]:
    """(rows, cols, n) ``vol`` as n MR DICOM files (pydicom), slice k at z = 2k mm; ``drop``: {k: tags} to remove."""
    import pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    uid, paths = series_uid or generate_uid(), []
    n = vol.shape[2]
    for k in range(n):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = MRImageStorage, generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        path = folder / (names[k] if names else f"IM{n - k:04d}.dcm")
        ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, meta.MediaStorageSOPInstanceUID
        ds.Modality, ds.SeriesInstanceUID, ds.SeriesDescription = "MR", uid, description
        ds.PatientName, ds.PatientID = "Doe^Jane", "MRN12345678"
        ds.ImagePositionPatient = positions[k] if positions else [0.0, 0.0, 2.0 * k]
        ds.ImageOrientationPatient = list(orientation)
        ds.PixelSpacing = [spacing, spacing]
        ds.InstanceNumber = n - k  # opposite to anatomy: sorting must use positions
        stored = np.rint(vol[..., k]).astype(np.uint16)
        ds.Rows, ds.Columns = stored.shape
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.PixelData = stored.tobytes()
        for tag in (drop or {}).get(k, "").split(","):
            if tag:
                delattr(ds, tag)
        pydicom.dcmwrite(path, ds, enforce_file_format=True)
        paths.append(path)
    return paths


def _dicom_cohort(root: Path, shape: tuple[int, int, int] = (24, 24, 8), **kw: object) -> tuple[Path, np.ndarray]:
    """One patient PX: ``PX/dicom/*.dcm`` and a ``PX/mask/`` folder of PNGs named after the DICOM files (the
    layout that pairs by name, the reference); returns (root, the (rows, cols, n) ROI)."""
    seg = _blob(shape, slice(3, 9), slice(12, 18), centre=4)
    files = _write_dicom(root / "PX" / "dicom", _image(seg), **kw)  # type: ignore[arg-type]
    (root / "PX" / "mask").mkdir(parents=True)
    for k, f in enumerate(files):
        Image.fromarray(seg[..., k] * 255).save(root / "PX" / "mask" / f"{f.stem}.png")
    (root / "labels.csv").write_text("patient_id,grade\nPX,3\n")
    return root, seg


def _cached_mask(out: Path) -> np.ndarray:
    m = pd.read_csv(out / "manifest.csv")
    return np.asarray(Image.open(out / m["cache_mask_path"].iloc[0]))


# ---------------------------------------------------------------- geometry

@pytest.mark.parametrize("change,distance", [("shift", "40.0 mm"), ("flip", "46.0 mm")])
def test_nifti_segmentation_in_another_space_is_refused_naming_both_files(tmp_path: Path, change: str,
                                                                          distance: str) -> None:
    seg = _blob((24, 24, 10), slice(3, 9), slice(12, 18), centre=5)
    aff = np.diag([-1.0, -1.0, 1.0, 1.0])
    other = aff.copy()
    if change == "shift":
        other[0, 3] += 40.0  # the same array, 40 mm to the side: the ROI would land on the healthy hemisphere
    else:
        other[0, 0] = 1.0  # x flipped about the origin: a mirror image of the grid, beside it
    root = _nifti_case(tmp_path / "c", "C1", seg, other, _image(seg), aff)
    with pytest.raises(CohortError) as exc:
        ingest(root, tmp_path / "out", CFG, progress=False)
    (line,) = exc.value.problems
    assert "C1_seg.nii.gz" in line and "C1_t1ce.nii.gz" in line and distance in line and "resample" in line


def test_nifti_segmentation_stored_flipped_is_placed_by_its_affine(tmp_path: Path) -> None:
    """A regression guard, not a defect of the old code (it oriented each file by its axis codes): a segmentation
    stored with its first axis reversed, and an affine that says so, lands where the image's tumour is."""
    seg = _blob((24, 24, 10), slice(3, 9), slice(12, 18), centre=5)
    aff = np.diag([-1.0, -1.0, 1.0, 1.0])
    img = _image(seg)
    ingest(_nifti_case(tmp_path / "a", "C1", seg, aff, img, aff), tmp_path / "ref", CFG, progress=False)
    flip = np.eye(4)
    flip[0, 0], flip[0, 3] = -1.0, seg.shape[0] - 1  # voxel i' of the stored array is voxel X-1-i of the image
    ingest(_nifti_case(tmp_path / "b", "C1", seg[::-1].copy(), aff @ flip, img, aff), tmp_path / "out", CFG,
           progress=False)
    np.testing.assert_array_equal(_cached_mask(tmp_path / "out"), _cached_mask(tmp_path / "ref"))


def test_dicom_mask_in_dcm2niix_order_is_placed_by_its_affine_on_square_images(tmp_path: Path) -> None:
    root, seg = _dicom_cohort(tmp_path / "c")  # 24 x 24: a shape check cannot tell rows from columns
    ingest(root, tmp_path / "ref", CFG, progress=False)  # mask/ PNGs, paired by DICOM file name
    import shutil

    shutil.rmtree(root / "PX" / "mask")
    rows, d = seg.shape[0], 0.9
    # dcm2niix: i runs along columns, j along rows from the bottom; LPS -> RAS flips x and y
    stored = seg.transpose(1, 0, 2)[:, ::-1, :].copy()
    affine = np.array([[-d, 0, 0, 0], [0, d, 0, -(rows - 1) * d], [0, 0, 2.0, 0], [0, 0, 0, 1]])
    nib.save(nib.Nifti1Image(stored, affine), root / "PX" / "mask.nii.gz")
    ingest(root, tmp_path / "out", CFG, progress=False)
    np.testing.assert_array_equal(_cached_mask(tmp_path / "out"), _cached_mask(tmp_path / "ref"))
    shifted = affine.copy()
    shifted[2, 3] += 6.0  # three slices off
    nib.save(nib.Nifti1Image(stored, shifted), root / "PX" / "mask.nii.gz")
    with pytest.raises(CohortError, match="not on the grid of the DICOM series"):
        ingest(root, tmp_path / "out2", CFG, progress=False)
    # no geometry at all (no qform/sform, as nib.Nifti1Image(array, None) writes): the series' own order
    nib.save(nib.Nifti1Image(seg, None), root / "PX" / "mask.nii.gz")
    ingest(root, tmp_path / "out3", CFG, progress=False)
    np.testing.assert_array_equal(_cached_mask(tmp_path / "out3"), _cached_mask(tmp_path / "ref"))


def test_two_series_in_one_folder_are_refused_or_chosen_by_description(tmp_path: Path) -> None:
    root, seg = _dicom_cohort(tmp_path / "c")
    _write_dicom(root / "PX" / "dicom", _image(seg, seed=1), names=[f"B{k:04d}.dcm" for k in range(seg.shape[2])],
                 description="AX FLAIR")
    with pytest.raises(CohortError) as exc:
        ingest(root, tmp_path / "out", CFG, progress=False)
    (line,) = exc.value.problems
    assert "2 DICOM series in one folder" in line and "'AX FLAIR': 8 files" in line and "'AX T1 POST'" in line
    # the choice by description: a series column in labels.csv names the one to read
    import shutil

    shutil.rmtree(root / "PX" / "mask")  # named after the T1 files; the FLAIR series gets a mask on its own grid
    nib.save(nib.Nifti1Image(seg, np.eye(4)), root / "PX" / "mask.nii.gz")
    (root / "labels.csv").write_text("patient_id,grade,series\nPX,3,ax flair\n")
    cases, _ = find_cases(root)
    slices, files = load_case(cases[0], CFG)
    np.testing.assert_allclose(slices[0].image, np.rint(_image(seg, seed=1))[..., slices[0].index])
    assert len(files) == 9  # the 8 FLAIR slices and the mask, not the T1 series
    (root / "labels.csv").write_text("patient_id,grade,series\nPX,3,AX T2\n")
    with pytest.raises(CohortError, match="no series described as 'AX T2' .*'AX T1 POST': 8 files"):
        ingest(root, tmp_path / "out", CFG, progress=False)


@pytest.mark.parametrize("tag", ["ImagePositionPatient", "ImageOrientationPatient"])
def test_a_slice_without_position_is_refused(tmp_path: Path, tag: str) -> None:
    root, _ = _dicom_cohort(tmp_path / "c", drop={3: tag})
    with pytest.raises(CohortError, match=f"no {tag}"):
        ingest(root, tmp_path / "out", CFG, progress=False)


def test_two_slices_at_one_position_are_refused(tmp_path: Path) -> None:
    pos = [[0.0, 0.0, 2.0 * k] for k in range(8)]
    pos[5] = pos[4]  # a repeat or a second echo in the same series
    root, _ = _dicom_cohort(tmp_path / "c", positions=pos)
    with pytest.raises(CohortError, match="same position"):
        ingest(root, tmp_path / "out", CFG, progress=False)


def test_a_slice_of_another_orientation_in_the_series_is_refused(tmp_path: Path) -> None:
    import pydicom

    root, _ = _dicom_cohort(tmp_path / "c")
    uid = str(pydicom.dcmread(next((root / "PX" / "dicom").iterdir())).SeriesInstanceUID)
    # a coronal localizer that shares the series' UID
    _write_dicom(root / "PX" / "dicom", np.zeros((24, 24, 1)), orientation=(1, 0, 0, 0, 0, 1), series_uid=uid,
                 names=["LOC.dcm"])
    with pytest.raises(CohortError, match="another ImageOrientationPatient"):
        ingest(root, tmp_path / "out", CFG, progress=False)


def test_a_nifti_mask_on_an_unevenly_spaced_series_is_refused(tmp_path: Path) -> None:
    pos = [[0.0, 0.0, z] for z in (0, 2, 4, 6, 10, 12, 14, 16)]  # slice z = 8 mm missing
    root, seg = _dicom_cohort(tmp_path / "c", positions=pos)
    import shutil

    shutil.rmtree(root / "PX" / "mask")
    affine = np.array([[0, -0.9, 0, 0], [-0.9, 0, 0, 0], [0, 0, 16 / 7, 0], [0, 0, 0, 1]])
    nib.save(nib.Nifti1Image(seg, affine), root / "PX" / "mask.nii.gz")
    with pytest.raises(CohortError, match="unevenly spaced"):
        ingest(root, tmp_path / "out", CFG, progress=False)


def test_a_multi_frame_file_is_refused_before_decoding(tmp_path: Path) -> None:
    import pydicom

    root, _ = _dicom_cohort(tmp_path / "c")
    f = sorted((root / "PX" / "dicom").iterdir())[2]
    ds = pydicom.dcmread(f)
    ds.NumberOfFrames = 40
    ds.save_as(f)
    with pytest.raises(CohortError, match="file 3 of 8 .*multi-frame"):
        ingest(root, tmp_path / "out", CFG, progress=False)


def test_slices_sort_along_the_normal_of_a_tilted_series(tmp_path: Path) -> None:
    """Rows along -y (a flipped in-plane axis): the slice normal points to -z, so z-descending is the order. A
    regression guard for the sort (the old reader sorted this right too) and a check of the series' affine."""
    seg = _blob((20, 24, 6), slice(3, 9), slice(12, 18), centre=2)
    vol = _image(seg)
    pos = [[0.0, 0.0, -2.0 * k] for k in range(6)]
    _write_dicom(tmp_path / "s", vol, orientation=(1, 0, 0, 0, -1, 0), positions=pos)
    series = io.read_dicom(tmp_path / "s")
    np.testing.assert_allclose(series.data, np.rint(vol))
    np.testing.assert_allclose(series.affine[:3, 2], [0.0, 0.0, -2.0])  # RAS: the measured step between slices


# ---------------------------------------------------------------- naming

def test_ids_the_sanitiser_maps_together_keep_their_own_cache(tmp_path: Path) -> None:
    root = write_slice_cohort(tmp_path / "c", [("CS 4941", 2), ("CS_4941", 3)], size=48)
    (root / "labels.csv").write_text("patient_id,who_grade,folder\nCS 4941,2,CS 4941_2000\nCS_4941,3,CS_4941_2000\n")
    m = ingest(root, tmp_path / "out", CFG, progress=False).manifest
    assert m["cache_path"].nunique() == 2
    cohort = load_cohort(tmp_path / "out")
    assert not np.array_equal(cohort.images[0], cohort.images[1])  # each patient's own crop, none overwritten


def test_an_id_of_dot_dot_stays_inside_the_cache(tmp_path: Path) -> None:
    root = write_slice_cohort(tmp_path / "c", [("P-01", 2)])
    (root / "labels.csv").write_text("patient_id,who_grade,folder\n..,2,P_01_2000\n")
    out = tmp_path / "out"
    m = ingest(root, out, CFG, progress=False).manifest
    cache = (out / "cache").resolve()
    assert all((out / p).resolve().is_relative_to(cache) for p in (*m["cache_path"], *m["cache_mask_path"]))
    assert sorted(p.name for p in out.iterdir()) == ["cache", "manifest.csv"]


@pytest.mark.parametrize("other", ["P_01_2000_1.tif", "P_01_2000_01.png"])
def test_two_files_for_one_slice_number_are_refused(tmp_path: Path, other: str) -> None:
    root = write_slice_cohort(tmp_path / "c", [("P-01", 2)])
    folder = root / "P_01_2000"
    Image.open(folder / "P_01_2000_0.png").save(folder / other)
    _, problems = find_cases(root)
    (line,) = problems
    assert "P_01_2000_1.png" in line and other in line and "both slice 1" in line and "keep one" in line


def test_two_patients_on_one_folder_or_image_are_refused(tmp_path: Path) -> None:
    """One scan under two ids would sit in two CV folds (train and test): refused in labels.csv and in a manifest."""
    root = write_slice_cohort(tmp_path / "c", PATIENTS)
    (root / "labels.csv").write_text("patient_id,who_grade,folder\nP-01,2,P_01_2000\nP-09,3,P_01_2000\n"
                                     "P-02,3,P_02_2000\n")
    cases, problems = find_cases(root)
    assert [c.patient_id for c in cases] == ["P-02"]
    assert problems == [f"{root / 'labels.csv'} rows 2, 3: patients P-01, P-09 share the folder P_01_2000; "
                        "give each patient its own folder"]
    csv = tmp_path / "m.csv"
    img, mask = "c/P_01_2000/P_01_2000_1.png", "c/P_01_2000/P_01_2000_1_mask.png"
    csv.write_text(f"patient_id,grade,image,mask\nA,2,{img},{mask}\nB,3,{img},{mask}\n")
    cases, problems = find_cases(csv)
    assert cases == [] and problems == [f"{csv} rows 2, 3: patients A, B list the same image P_01_2000_1.png; "
                                        "each image belongs to one patient"]


def test_a_very_long_id_gets_a_cache_folder(tmp_path: Path) -> None:
    root = write_slice_cohort(tmp_path / "c", [("P-01", 2)])
    (root / "labels.csv").write_text(f"patient_id,who_grade,folder\n{'X' * 300},2,P_01_2000\n")
    m = ingest(root, tmp_path / "out", CFG, progress=False).manifest
    assert len(m) == 1 and len(Path(m["cache_path"].iloc[0]).parent.name) < 100


def test_a_multi_page_tiff_is_not_read_as_colour_channels(tmp_path: Path) -> None:
    import tifffile

    tifffile.imwrite(tmp_path / "stack_1.tif", np.zeros((10, 16, 16), np.uint16))  # a z-stack of 10 pages
    with pytest.raises(InputError, match="a stack of 10 pages .*save one 2D slice per file"):
        io.read_image(tmp_path / "stack_1.tif")


# ---------------------------------------------------------------- pixel limits, from the header

def test_tiff_over_the_pixel_limit_is_refused_before_decoding(tmp_path: Path) -> None:
    import tifffile

    path = tmp_path / "bomb_1.tif"  # 9600 x 9600 zeros: 0.4 MB on disk, 92 M pixels
    tile = np.zeros((2400, 2400), np.uint8)
    tifffile.imwrite(path, (tile for _ in range(16)), shape=(9600, 9600), dtype="uint8", tile=(2400, 2400),
                     compression="zlib", compressionargs={"level": 1})
    with pytest.raises(InputError, match="over the limit of 89,478,485"):
        io.read_image(path)


def test_every_reader_checks_its_pixel_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(io, "MAX_PIXELS", 100)
    monkeypatch.setattr(io, "MAX_VOXELS", 1000)
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(tmp_path / "a.png")
    nib.save(nib.Nifti1Image(np.zeros((12, 12, 12), np.float32), np.eye(4)), tmp_path / "v.nii.gz")
    _write_dicom(tmp_path / "s", np.zeros((8, 8, 3), np.float32))
    _write_dicom(tmp_path / "big", np.zeros((12, 12, 2), np.float32))
    for read, path, what in ((io.read_image, tmp_path / "a.png", "image"),
                             (io.read_volume, tmp_path / "v.nii.gz", "volume"),
                             (io.read_dicom, tmp_path / "big", "DICOM slice")):
        with pytest.raises(InputError, match=f"{what} of shape .* over the limit"):
            read(path)
    assert io.read_dicom(tmp_path / "s").data.shape == (8, 8, 3)


# ---------------------------------------------------------------- one line for every reader error

def test_a_zero_byte_file_in_the_cache_is_one_line(tmp_path: Path) -> None:
    root = write_slice_cohort(tmp_path / "c", PATIENTS)
    out = tmp_path / "out"
    m = ingest(root, out, CFG, progress=False).manifest
    (out / m["cache_path"].iloc[1]).write_bytes(b"")
    with pytest.raises(InputError, match="cached image unreadable.*re-run `gliograde ingest`") as exc:
        load_cohort(out)
    assert "\n" not in str(exc.value)


def test_an_unforeseen_decoder_error_is_an_input_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = write_slice_cohort(tmp_path / "c", PATIENTS)
    cases, _ = find_cases(root)

    def broken(path: Path) -> np.ndarray:
        raise RuntimeError("codec crashed\nwith a second line")

    monkeypatch.setattr("gliograde.data.ingest.read_image", broken)
    with pytest.raises(InputError, match="cannot read this case .RuntimeError: codec crashed with a second line") as e:
        load_case(cases[0], CFG)
    assert "\n" not in str(e.value)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_a_bad_case_in_a_predict_batch_is_an_error_row(tmp_path: Path) -> None:
    """Two series in one folder, a 0-byte mask and a TIFF over the pixel limit: three error rows, the good case ok."""
    import tifffile
    from fakedata import cnn_bundle

    from gliograde.bundles import load_bundle
    from gliograde.prediction.run import predict

    bundle = load_bundle(cnn_bundle(tmp_path / "b"))
    batch = tmp_path / "batch"
    write_slice_cohort(batch, [("Good", 2), ("Empty", 2), ("Bomb", 2)], n_slices=1, largest=0, size=48)
    (batch / "labels.csv").unlink()
    (batch / "Empty_2000" / "Empty_2000_0_mask.png").write_bytes(b"")
    (batch / "Bomb_2000" / "Bomb_2000_0.png").unlink()
    (batch / "Bomb_2000" / "Bomb_2000_0_mask.png").unlink()
    tile = np.zeros((2400, 2400), np.uint8)
    for name in ("Bomb_2000_0.tif", "Bomb_2000_0_mask.tif"):
        tifffile.imwrite(batch / "Bomb_2000" / name, (tile for _ in range(16)), shape=(9600, 9600), dtype="uint8",
                         tile=(2400, 2400), compression="zlib", compressionargs={"level": 1})
    _dicom_cohort(batch / "dcm")
    _write_dicom(batch / "dcm" / "PX" / "dicom", np.zeros((24, 24, 8)), names=[f"B{k}.dcm" for k in range(8)])
    (batch / "dcm" / "labels.csv").unlink()
    res = predict(bundle, [batch / "Good_2000", batch / "Empty_2000", batch / "Bomb_2000", batch / "dcm" / "PX"],
                  cam=False)
    assert [r.status for r in res] == ["ok", "error", "error", "error"], [r.message for r in res]
    assert "cannot read image" in res[1].message and "over the limit" in res[2].message
    assert "2 DICOM series" in res[3].message
    assert all("\n" not in r.message for r in res[1:])


def test_an_unreadable_case_folder_is_one_error_case(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gliograde.prediction.cases as cases_mod

    batch = write_slice_cohort(tmp_path / "batch", PATIENTS)
    real = cases_mod.find_case

    def find_case(folder: Path, name: str):  # type: ignore[no-untyped-def]
        if folder.name == "P_02_2000":  # chmod 000 would not stop root, who runs the tests here
            raise PermissionError(13, "Permission denied", str(folder))
        return real(folder, name)

    monkeypatch.setattr(cases_mod, "find_case", find_case)
    found, batch_mode = cases_mod.find_cases([batch])
    assert batch_mode and [c.error is None for c in found] == [True, False]
    assert found[1].error == f"{batch / 'P_02_2000'}: cannot read (Permission denied); check permissions"


# ---------------------------------------------------------------- PHI

def test_aliases_are_keyed_and_the_key_is_created_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    from gliograde.prediction.cases import alias_key

    mrn = "12345678"
    assert case_alias(mrn, False) != "case-" + hashlib.sha256(mrn.encode()).hexdigest()[:10]  # not enumerable
    assert case_alias(mrn, False, key=b"k" * 32) != case_alias(mrn, False, key=b"j" * 32)
    monkeypatch.setenv("GLIOGRADE_ALIAS_KEY", "project one")
    one = case_alias(mrn, False)
    monkeypatch.delenv("GLIOGRADE_ALIAS_KEY")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    first = case_alias(mrn, False)
    key_file = tmp_path / "cfg" / "gliograde" / "alias.key"
    assert key_file.stat().st_size == 32 and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert case_alias(mrn, False) == first != one and alias_key() == key_file.read_bytes()


def test_dicom_file_names_reach_no_manifest_fingerprint_or_message(tmp_path: Path) -> None:
    names = [f"Doe_Jane_MRN12345678_{k:04d}.dcm" for k in range(8)]
    root, _ = _dicom_cohort(tmp_path / "c", names=names)
    res = ingest(root, tmp_path / "out", CFG, progress=False)
    assert "MRN" not in (tmp_path / "out" / "manifest.csv").read_text()
    assert not [k for k in res.fingerprint["files"] if "MRN" in k] and len(res.fingerprint["files"]) == 17
    assert res.manifest["source_image"].iloc[0].endswith("dicom slice 4 of 8")
    bad, _ = _dicom_cohort(tmp_path / "bad", names=names, drop={6: "ImagePositionPatient"})
    with pytest.raises(CohortError) as exc:
        ingest(bad, tmp_path / "out2", CFG, progress=False)
    assert "MRN" not in str(exc.value) and "file 7 of 8" in str(exc.value)


def test_predict_messages_name_a_file_by_its_place(tmp_path: Path) -> None:
    folder = tmp_path / "case_x"
    (folder / "mask").mkdir(parents=True)
    files = [folder / "dicom" / "A.dcm", folder / "mask" / "Doe_MRN999.png"]
    for f in files:
        f.parent.mkdir(exist_ok=True)
        f.write_bytes(b"x")
    src = CaseSource(patient_id="case_x", grade=0, kind="dicom", images={"series": folder / "dicom"},
                     mask=folder / "mask")
    ci = CaseInput(name="case_x", path=folder, alias="case-0123456789", source=src)
    line = scrub(f"{files[1]}: cannot read image (OSError: truncated)", ci, keep_ids=False)
    assert "MRN999" not in line and line.startswith("case-0123456789/file-0001: cannot read image")


# ---------------------------------------------------------------- labels as people write them

def test_excel_trailing_empty_rows_are_ignored(tmp_path: Path) -> None:
    root = write_slice_cohort(tmp_path / "c", PATIENTS)
    text = (root / "labels.csv").read_text()
    (root / "labels.csv").write_text(text + ",,,,\n,,,,\n")
    assert len(ingest(root, tmp_path / "out", CFG, progress=False).manifest) == 2


@pytest.mark.parametrize("sep", [";", "\t"])
def test_a_semicolon_or_tab_labels_file_is_read(tmp_path: Path, sep: str) -> None:
    root = write_slice_cohort(tmp_path / "c", PATIENTS)
    rows = [["patient_id", "who_grade", "folder"], ["P-01", "2", "P_01_2000"], ["P-02", "III", "P_02_2000"],
            ["", "", ""]]
    (root / "labels.csv").write_text("\n".join(sep.join(r) for r in rows) + "\n")
    labels, problems = read_labels(root / "labels.csv")
    assert problems == [] and list(labels["grade"]) == [2, 3]


def test_an_excel_workbook_as_labels_says_save_as_csv(tmp_path: Path) -> None:
    import zipfile

    with zipfile.ZipFile(tmp_path / "labels.csv", "w") as z:  # what an .xlsx is, renamed
        z.writestr("xl/workbook.xml", "<workbook/>")
    with pytest.raises(InputError, match="an Excel workbook, not a CSV table; save it as CSV UTF-8"):
        read_labels(tmp_path / "labels.csv")


def test_a_latin1_labels_file_says_save_as_utf8(tmp_path: Path) -> None:
    root = write_slice_cohort(tmp_path / "c", PATIENTS)
    (root / "labels.csv").write_bytes("patient_id,who_grade,site\nP-01,2,Hôpital\nP-02,3,X\n".encode("latin-1"))
    with pytest.raises(InputError, match="not UTF-8 .*row 2.*save it as UTF-8"):
        read_labels(root / "labels.csv")


def test_every_message_about_a_row_gives_its_row_number(tmp_path: Path) -> None:
    root = write_slice_cohort(tmp_path / "c", PATIENTS)
    (root / "labels.csv").write_text("patient_id,who_grade\nP-01,2\nP-02,5\n,3\nP-01,2\n")
    _, problems = read_labels(root / "labels.csv")
    assert sorted(problems) == sorted([
        f"{root / 'labels.csv'} row 3: unknown grade '5' for patient P-02; grades must be 2, 3 or 4 (or II, III, IV)",
        f"{root / 'labels.csv'} row 4: no patient id; fill it in or delete the row",
        f"{root / 'labels.csv'} rows 2, 5: duplicate patient id P-01; keep one row per patient"])
    (root / "labels.csv").write_text("patient_id,who_grade\nP-01,2\nP-02,3\nP-07,3\n")
    _, problems = find_cases(root)
    assert problems == [f"{root / 'P-07'}: patient P-07 is in labels.csv row 4 but has no image folder; "
                        "add the files or remove the row"]
    csv = tmp_path / "m.csv"
    csv.write_text("patient_id,grade,image,mask\nP-01,7,c/P_01_2000/P_01_2000_0.png,c/P_01_2000/P_01_2000_0_mask.png\n")
    _, problems = find_cases(csv)
    assert problems == [f"{csv} row 2: unknown grade '7' for patient P-01; grades must be 2, 3 or 4"]

