"""Multi-sequence DICOM (issue 15 item 6): a patient folder's series read as channels, matched by SeriesDescription
with a mapping the user can override, grouped by SeriesInstanceUID and never interleaved."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fakedata import write_dicom_series
from PIL import Image

from gliograde.config import IngestCfg, PreprocessCfg
from gliograde.data.ingest import ingest, load_case
from gliograde.data.io import match_sequence, parse_series_map, read_dicom_channels
from gliograde.data.layouts import find_cases
from gliograde.errors import CohortError, InputError

SHAPE = (20, 20, 6)


def _write_series(folder: Path, vol: np.ndarray, description: str, *, prefix: str, z0: float = 0.0,
                  uid: str | None = None) -> list[Path]:
    """(rows, cols, n) ``vol`` as n MR files of one series, slice k at z = z0 + 2k mm, 0.9 mm pixels, values as
    stored (no rescale), files named ``<prefix><n-k>.dcm`` (opposite to anatomy)."""
    return write_dicom_series(folder, vol, slope=1.0, intercept=0.0, description=description, prefix=prefix, z0=z0,
                              uid=uid, pixel_spacing=(0.9, 0.9))


def _volumes() -> tuple[np.ndarray, dict[str, np.ndarray]]:
    seg = np.zeros(SHAPE, np.uint8)
    seg[5:12, 6:14, 1:5] = 1
    seg[5:12, 6:14, 3] = 1
    seg[4:13, 5:15, 3] = 1  # slice 3 is the largest
    rng = np.random.default_rng(0)
    base = {"t1ce": 300.0, "flair": 700.0, "t2": 1100.0}  # each series its own level: a mix-up shows
    return seg, {s: (b + 50 * seg + rng.normal(0, 2, SHAPE)).astype(np.float32) for s, b in base.items()}


def _patient(root: Path, *, subfolders: bool, descriptions: dict[str, str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    seg, vols = _volumes()
    for i, (seq, desc) in enumerate(descriptions.items()):
        folder = root / "PX" / (seq.upper() if subfolders else "")
        _write_series(folder, vols[seq], desc, prefix=f"S{i}_")  # one flat folder: the files of 3 series side by side
    (root / "PX" / "mask").mkdir(parents=True, exist_ok=True)
    import nibabel as nib

    # the series' own (rows, cols, slices) order, no geometry: paired with the series by its grid
    nib.save(nib.Nifti1Image(seg, None), root / "PX" / "mask.nii.gz")
    (root / "PX" / "mask").rmdir()
    (root / "labels.csv").write_text("patient_id,grade\nPX,3\n")
    return seg, vols


DESCRIPTIONS = {"t1ce": "AX T1 POST GD", "flair": "AX T2 FLAIR", "t2": "AX T2 FSE"}


def test_sequence_patterns_and_user_map() -> None:
    assert [match_sequence(d) for d in ("AX T2 FLAIR", "Ax T1 SE +C", "T1 MPRAGE POST", "AX T2 FSE", "sag T1",
                                        "DWI b1000")] == ["flair", "t1ce", "t1ce", "t2", "t1", None]
    user = parse_series_map("t1ce=*BRAVO*|*3D T1*,flair=*DARK FLUID*")
    assert match_sequence("sag 3d t1 bravo", user) == "t1ce" and match_sequence("dark fluid", user) == "flair"
    with pytest.raises(InputError, match="SEQUENCE=PATTERN"):
        parse_series_map("adc=*ADC*")


@pytest.mark.parametrize("subfolders", [False, True])
def test_series_of_one_patient_folder_are_read_as_channels(tmp_path: Path, subfolders: bool) -> None:
    seg, vols = _patient(tmp_path / "c", subfolders=subfolders, descriptions=DESCRIPTIONS)
    multi = read_dicom_channels(tmp_path / "c" / "PX", ("flair", "t1ce"))
    assert multi.channels == ("flair", "t1ce") and multi.descriptions == ("AX T2 FLAIR", "AX T1 POST GD")
    assert multi.data.shape == (*SHAPE, 2)
    for c, seq in enumerate(("flair", "t1ce")):  # each channel is its own series, slices sorted by position
        np.testing.assert_allclose(multi.data[..., c], np.rint(vols[seq]))

    cfg = IngestCfg(layout="dicom", channels=("flair", "t1ce"), preprocess=PreprocessCfg(size=32))
    (case,), _ = find_cases(tmp_path / "c")
    slices, files = load_case(case, cfg)
    assert slices[0].index == 3 and slices[0].image.shape == (20, 20, 2)
    np.testing.assert_allclose(slices[0].image[..., 1], np.rint(vols["t1ce"][..., 3]))
    assert len(files) == 2 * SHAPE[2] + 1  # both series' slices and the mask; not the T2 series
    res = ingest(tmp_path / "c", tmp_path / "out", cfg, progress=False)
    m = pd.read_csv(tmp_path / "out" / "manifest.csv")
    assert res.manifest["channels"].iloc[0] == "flair+t1ce" and m["slice_index"].iloc[0] == 3
    crop = np.asarray(Image.open(tmp_path / "out" / m["cache_path"].iloc[0]))
    assert crop.ndim == 3 and crop.shape[2] >= 2


def test_ambiguous_or_missing_series_are_refused_and_a_user_map_resolves_them(tmp_path: Path) -> None:
    _patient(tmp_path / "c", subfolders=False, descriptions={"t1ce": "AX T1 POST", "flair": "AX T1 POST GD"})
    with pytest.raises(InputError, match=r"2 series matched to t1ce .*'AX T1 POST': 6 files.*--series-map"):
        read_dicom_channels(tmp_path / "c" / "PX", ("t1ce",))
    with pytest.raises(InputError, match="no series matched to flair"):
        read_dicom_channels(tmp_path / "c" / "PX", ("flair",))
    # the user says which is which: the map is tried before the built-in patterns
    multi = read_dicom_channels(tmp_path / "c" / "PX", ("t1ce", "flair"),
                                parse_series_map(["flair=AX T1 POST GD", "t1ce=AX T1 POST"]))
    assert multi.descriptions == ("AX T1 POST", "AX T1 POST GD")
    # through ingest: a mapping file, YAML
    (tmp_path / "map.yaml").write_text("flair: AX T1 POST GD\nt1ce: [AX T1 POST]\n")
    cfg = IngestCfg(layout="dicom", channels=("t1ce", "flair"), series_map=(str(tmp_path / "map.yaml"),),
                    preprocess=PreprocessCfg(size=32))
    assert ingest(tmp_path / "c", tmp_path / "out", cfg, progress=False).manifest["channels"].iloc[0] == "t1ce+flair"
    with pytest.raises(CohortError, match="matched to t1ce"):
        ingest(tmp_path / "c", tmp_path / "out2", IngestCfg(layout="dicom", channels=("t1ce", "flair")),
               progress=False)


def test_series_sharing_positions_are_never_interleaved_and_other_grids_refused(tmp_path: Path) -> None:
    seg, vols = _volumes()
    folder = tmp_path / "PX"
    _write_series(folder, vols["t1ce"], "AX T1 POST", prefix="A")
    _write_series(folder, vols["flair"], "AX FLAIR", prefix="B")  # the same positions: grouped by UID, not mixed
    multi = read_dicom_channels(folder, ("t1ce", "flair"))
    np.testing.assert_allclose(multi.data[..., 0], np.rint(vols["t1ce"]))
    np.testing.assert_allclose(multi.data[..., 1], np.rint(vols["flair"]))
    _write_series(tmp_path / "PY", vols["t1ce"], "AX T1 POST", prefix="A")
    _write_series(tmp_path / "PY", vols["flair"], "AX FLAIR", prefix="B", z0=5.0)  # 5 mm higher: another grid
    with pytest.raises(InputError, match=r"'AX FLAIR' \(flair\) is not on the grid of 'AX T1 POST'.*co-register"):
        read_dicom_channels(tmp_path / "PY", ("t1ce", "flair"))


def test_native_features_of_a_dicom_case_use_the_header_spacing(tmp_path: Path) -> None:
    """Item 5 on DICOM: the tumour-bearing slices of each matched series, in mm from PixelSpacing and the step
    between slices (0.9 x 0.9 x 2 mm here), named by sequence."""
    pytest.importorskip("radiomics")
    from gliograde.baselines.native import NativeSettings, case_features
    from gliograde.signs.read import read_planes

    seg, vols = _patient(tmp_path / "c", subfolders=True, descriptions=DESCRIPTIONS)
    (case,), _ = find_cases(tmp_path / "c")
    planes = read_planes(case, channels=("flair", "t1ce"))
    assert planes.spacing == pytest.approx((0.9, 0.9, 2.0)) and sorted(planes.sequences) == ["flair", "t1ce"]
    assert planes.indices == tuple(k for k in range(SHAPE[2]) if seg[..., k].any())
    np.testing.assert_allclose(planes.sequences["t1ce"][0], np.rint(vols["t1ce"][..., planes.indices[0]]))
    (tmp_path / "shape.yaml").write_text("featureClass:\n  shape:\n  firstorder:\n")
    row = case_features(planes, ("flair", "t1ce"), NativeSettings(params=tmp_path / "shape.yaml"))
    assert row["roi_original_shape_VoxelVolume"] == pytest.approx(int(seg.sum()) * 0.9 * 0.9 * 2.0)
    assert row["flair_original_firstorder_Median"] > 700 and row["t1ce_original_firstorder_Median"] < 400


def test_the_prior_signs_read_a_multi_series_folder_as_ingest_read_it(tmp_path: Path) -> None:
    """The prior model measures its signs on the series ingest took as channels (here by a user's series map, which
    the built-in patterns could not resolve), not on whichever series comes first."""
    from gliograde.cli import main
    from gliograde.data.cohort import read_ingest_cfg
    from gliograde.data.dataset import load_cohort
    from gliograde.signs.cohort import cohort_signs

    _patient(tmp_path / "c", subfolders=False, descriptions={"t1ce": "AX T1 POST", "flair": "AX T1 POST GD"})
    assert main(["-q", "ingest", str(tmp_path / "c"), "--out", str(tmp_path / "out"), "--layout", "dicom",
                 "--channels", "t1ce,flair", "--series-map", "flair=AX T1 POST GD,t1ce=AX T1 POST",
                 "--size", "32"]) == 0
    table = cohort_signs(load_cohort(tmp_path / "out"), read_ingest_cfg(tmp_path / "out"))
    assert set(str(table.loc["PX", "sequences"]).split("+")) == {"t1ce", "flair"}


def test_a_dicom_file_edited_after_ingest_is_found_by_its_place_in_the_series(tmp_path: Path) -> None:
    """Ingest records a DICOM file by its place in the sorted series, not by its name (names can carry PHI); the
    check that the original files are unchanged reads the series again and compares each file with its record."""
    import pydicom

    from gliograde.cli import main
    from gliograde.data.dataset import load_cohort
    from gliograde.data.origin import case_sources

    _patient(tmp_path / "c", subfolders=True, descriptions={"t1ce": "AX T1 POST GD"})
    assert main(["-q", "ingest", str(tmp_path / "c"), "--out", str(tmp_path / "out"), "--size", "32"]) == 0
    cohort = load_cohort(tmp_path / "out")
    assert list(case_sources(cohort)) == ["PX"]  # unchanged: found, every recorded file checked
    first = sorted((tmp_path / "c" / "PX" / "T1CE").iterdir())[0]
    ds = pydicom.dcmread(first)
    arr = ds.pixel_array.copy()
    arr[0, 0] += 1
    ds.PixelData = arr.tobytes()
    ds.save_as(first)
    with pytest.raises(InputError, match=rf"{first.name}: changed since the cohort was ingested"):
        case_sources(cohort)
