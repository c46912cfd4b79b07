"""Ingest of every layout (slices, NIfTI, DICOM, manifest CSV): representative slices, channels by name,
labels, reruns, figures. Through the CLI (bad input, exit 2, provenance): tests/integration/test_ingest_cli.py."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fakedata import volume, write_dicom_series, write_nifti_cohort, write_slice_cohort
from PIL import Image

from gliograde.config import IngestCfg
from gliograde.data.dataset import load_cohort
from gliograde.data.ingest import ingest
from gliograde.data.layouts import detect_layout

PATIENTS = [("P-01", 2), ("P-02", 3), ("P-03", 4)]


@pytest.mark.parametrize("ext,dtype,channels", [(".png", np.uint8, 3), (".tif", np.uint16, 1), (".png", np.uint16, 1)])
def test_slice_layout_picks_largest_slice(tmp_path, ext, dtype, channels):
    root = write_slice_cohort(tmp_path / "c", PATIENTS, ext=ext, dtype=dtype, channels=channels)
    assert detect_layout(root) == "slices"
    res = ingest(root, tmp_path / "out", IngestCfg(), progress=False)
    m = res.manifest
    assert list(m["patient_id"]) == ["P-01", "P-02", "P-03"] and list(m["grade"]) == [2, 3, 4]
    assert (m["slice_index"] == 1).all()
    assert (m["roi_area_px"] > 0).all()
    for col in ("patient_id", "grade", "source_image", "source_mask", "slice_index", "roi_area_px", "cache_path"):
        assert col in m.columns
    cohort = load_cohort(tmp_path / "out")
    assert cohort.images.shape == (3, 1, 227, 227) and cohort.images.dtype == np.uint8
    assert cohort.classes == (2, 3, 4) and list(cohort.labels) == [0, 1, 2]
    assert (cohort.images[:, 0][~cohort.masks] == 0).all()
    assert len(res.fingerprint["sha256"]) == 64


def test_k_slices_stay_with_their_patient_and_channels_by_name(tmp_path):
    root = write_slice_cohort(tmp_path / "c", PATIENTS, n_slices=5, largest=2)
    cfg = IngestCfg(slices=3, channels=("flair", "t1ce"))
    m = ingest(root, tmp_path / "out", cfg, progress=False).manifest
    assert len(m) == 9
    assert m.groupby("patient_id")["slice_index"].apply(list).tolist() == [[1, 2, 3]] * 3
    assert m["representative"].sum() == 3 and (m[m["representative"]]["slice_index"] == 2).all()
    assert load_cohort(tmp_path / "out").images.shape[1] == 2


def test_fixed_slice_index(tmp_path):
    root = write_slice_cohort(tmp_path / "c", PATIENTS)
    m = ingest(root, tmp_path / "out", IngestCfg(slice_index=2), progress=False).manifest
    assert (m["slice_index"] == 2).all()


def test_nifti_layout_argmax_and_labels(tmp_path):
    root = write_nifti_cohort(tmp_path / "b", [("C1", 4), ("C2", 2)], centre=6)
    assert detect_layout(root) == "nifti"
    m = ingest(root, tmp_path / "out", IngestCfg(), progress=False).manifest
    assert list(m["slice_index"]) == [6, 6] and list(m["grade"]) == [4, 2]
    _, seg = volume(centre=6)
    assert int(m["roi_area_px"].iloc[0]) == int((seg[..., 6] > 0).sum())
    enh = ingest(root, tmp_path / "out2", IngestCfg(roi_labels=(4,)), progress=False).manifest
    assert int(enh["roi_area_px"].iloc[0]) == int((seg[..., 6] == 4).sum())
    two = ingest(root, tmp_path / "out3", IngestCfg(channels=("t1ce", "flair")), progress=False)
    assert load_cohort(tmp_path / "out3").images.shape[1] == 2 and len(two.manifest) == 2


@pytest.mark.parametrize("mask_kind", ["nifti", "png"])
def test_dicom_layout_sorted_rescaled(tmp_path, mask_kind):
    import nibabel as nib

    root = tmp_path / "d"
    vol, seg = volume(shape=(20, 24, 8), centre=5)
    paths = write_dicom_series(root / "PX" / "dicom", vol)
    if mask_kind == "nifti":
        nib.save(nib.Nifti1Image((seg > 0).astype(np.uint8), np.eye(4)), root / "PX" / "mask.nii.gz")
    else:
        (root / "PX" / "mask").mkdir()
        for p, k in zip(paths, range(8), strict=False):  # paths[k] holds anatomical slice k
            Image.fromarray(((seg[..., k] > 0) * 255).astype(np.uint8)).save(root / "PX" / "mask" / f"{p.stem}.png")
    (root / "labels.csv").write_text("patient_id,grade\nPX,III\n")
    assert detect_layout(root) == "dicom"
    m = ingest(root, tmp_path / "out", IngestCfg(), progress=False).manifest
    assert int(m["slice_index"].iloc[0]) == 5 and int(m["grade"].iloc[0]) == 3
    from gliograde.data.io import read_dicom_series

    arr, files = read_dicom_series(root / "PX" / "dicom")
    np.testing.assert_allclose(arr, np.rint((vol + 10) / 2) * 2 - 10)  # slope 2, intercept -10 applied, sorted
    assert "Doe" not in (tmp_path / "out" / "manifest.csv").read_text()


def test_manifest_layout(tmp_path):
    root = write_slice_cohort(tmp_path / "c", PATIENTS)
    lines = ["patient_id,grade,image,mask,site"]
    for folder, (pid, g) in zip(sorted(p.name for p in root.iterdir() if p.is_dir()), PATIENTS, strict=False):
        for n in range(3):
            lines.append(f"{pid},{g},c/{folder}/{folder}_{n}.png,c/{folder}/{folder}_{n}_mask.png,S{g}")
    csv = tmp_path / "cohort.csv"
    csv.write_text("\n".join(lines) + "\n")
    m = ingest(csv, tmp_path / "out", IngestCfg(), progress=False).manifest
    assert list(m["slice_index"]) == [1, 1, 1] and list(m["site"]) == ["S2", "S3", "S4"]




def test_rerun_replaces_previous_ingest(tmp_path):
    root = write_slice_cohort(tmp_path / "c", PATIENTS)
    ingest(root, tmp_path / "o", IngestCfg(), progress=False)
    ingest(root, tmp_path / "o", IngestCfg(slice_index=0), progress=False)
    assert (pd.read_csv(tmp_path / "o" / "manifest.csv")["slice_index"] == 0).all()
    assert len(list((tmp_path / "o" / "cache").rglob("*.png"))) == 6


def test_two_channel_cohort_draws_its_figures(tmp_path):
    from gliograde.data.ingest_run import run_ingest

    root = write_slice_cohort(tmp_path / "c", PATIENTS)
    run_ingest(root, tmp_path / "o", IngestCfg(channels=("flair", "t1ce")), progress=False)
    assert load_cohort(tmp_path / "o").images.shape[1] == 2
    assert (tmp_path / "o" / "figures" / "tumour_areas.png").stat().st_size > 1000


def test_labels_without_folder_column_bom_and_odd_headers(tmp_path):
    root = write_slice_cohort(tmp_path / "c", PATIENTS)
    # like the public lgg-mri-segmentation data: folders carry a date suffix, labels only the patient id
    (root / "labels.csv").write_text("\ufeffPatient ID,WHO Grade\nP-01,2\nP-02,III\nP-03,4\n", encoding="utf-8")
    m = ingest(root, tmp_path / "out", IngestCfg(), progress=False).manifest
    assert list(m["patient_id"]) == ["P-01", "P-02", "P-03"] and list(m["grade"]) == [2, 3, 4]


def test_nifti_sequence_spellings(tmp_path):
    import nibabel as nib

    root = tmp_path / "b"
    (root / "BraTS-GLI-00001-000").mkdir(parents=True)
    vol, seg = volume(centre=4)
    for suffix, data in (("t1c", vol), ("t2f", vol), ("seg", seg)):
        case = root / "BraTS-GLI-00001-000"
        nib.save(nib.Nifti1Image(data, np.eye(4)), case / f"BraTS-GLI-00001-000-{suffix}.nii.gz")
    (root / "labels.csv").write_text("case_id,who_grade\nBraTS-GLI-00001-000,4\n")
    m = ingest(root, tmp_path / "out", IngestCfg(channels=("flair", "t1ce")), progress=False).manifest
    assert list(m["slice_index"]) == [4]
