"""`gliograde ingest` through the CLI: bad input is one line naming the file and the fix, exit 2, nothing
written; --skip-bad; the provenance and figures a run writes. The layouts themselves: tests/unit/test_ingest.py."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fakedata import volume, write_dicom_series, write_slice_cohort
from PIL import Image

from gliograde.cli import main
from gliograde.config import IngestCfg
from gliograde.data.ingest import ingest
from gliograde.errors import CohortError

PATIENTS = [("P-01", 2), ("P-02", 3), ("P-03", 4)]


# ---- bad input: one line naming the file and the fix, exit 2, nothing written ----------------------

def _corrupt(root):
    (sorted(root.glob("P_01*/*_1.png"))[0]).write_bytes(b"\x89PNG not really")


def _shape(root):
    p = next(root.glob("*/*_1_mask.png"))
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(p)


def _empty(root):
    for p in sorted(root.glob("P_01*/*_mask.png")):
        Image.fromarray(np.zeros((32, 32), np.uint8)).save(p)


def _nonbinary(root):
    p = sorted(root.glob("P_02*/*_1_mask.png"))[0]
    arr = np.asarray(Image.open(p)).copy()
    arr[arr > 0] = 128
    arr[:2, :2] = 255
    Image.fromarray(arr).save(p)


def _labels(root, text):
    (root / "labels.csv").write_text(text)


def _nan_tiff(root):
    import tifffile

    p = next(root.glob("*/*_1.tif"))
    arr = tifffile.imread(p).astype(np.float32)
    arr[3, 3] = np.nan
    tifffile.imwrite(p, arr)


HEADER = "patient_id,who_grade,folder\n"


BAD = {
    "missing mask": (lambda r: next(r.glob("*/*_1_mask.png")).unlink(), "no mask file"),
    "corrupt": (_corrupt, "cannot read image"),
    "shape": (_shape, "mask shape"),
    "empty": (_empty, "empty mask"),
    "nonbinary": (_nonbinary, "not binary"),
    "grade": (lambda r: _labels(r, HEADER + "P-01,5,P_01_2000\nP-02,3,P_02_2000\nP-03,4,P_03_2000\n"),
              "unknown grade '5'"),
    "duplicate": (lambda r: _labels(r, HEADER + "P-01,2,P_01_2000\nP-01,2,P_01_2000\nP-02,3,P_02_2000\n"
                                             "P-03,4,P_03_2000\n"), "duplicate patient id P-01"),
    "no images": (lambda r: _labels(r, HEADER + "P-01,2,P_01_2000\nP-02,3,P_02_2000\nP-03,4,P_03_2000\n"
                                             "P-09,2,P_09_2000\n"), "has no image folder"),
    "no label": (lambda r: _labels(r, HEADER + "P-01,2,P_01_2000\nP-02,3,P_02_2000\n"), "images with no label"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_exit_2_one_line_nothing_written(tmp_path, capsys, case):
    root = write_slice_cohort(tmp_path / "c", PATIENTS)
    damage, expected = BAD[case]
    damage(root)
    out = tmp_path / "out"
    assert main(["ingest", str(root), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert any(expected in line for line in err), err
    assert all(line.startswith("gliograde ingest: error:") for line in err)
    assert not out.exists() and not list(tmp_path.glob(".out*"))


def test_nan_voxels(tmp_path, capsys):
    root = write_slice_cohort(tmp_path / "c", PATIENTS, ext=".tif", dtype=np.uint16, channels=1)
    _nan_tiff(root)
    assert main(["ingest", str(root), "--out", str(tmp_path / "o")]) == 2
    assert "NaN or inf" in capsys.readouterr().err


def test_dicom_without_pixel_data(tmp_path, capsys):
    root = tmp_path / "d"
    vol, seg = volume(shape=(16, 16, 4), centre=2)
    write_dicom_series(root / "PX", vol, pixel_data=False)
    (root / "PX" / "mask.nii.gz").write_bytes(b"")
    (root / "labels.csv").write_text("patient_id,grade\nPX,2\n")
    assert main(["ingest", str(root), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "no pixel data" in err and "file 1 of 4" in err and "IM000" not in err  # DICOM names can carry PHI


def test_all_problems_reported_and_skip_bad(tmp_path, capsys):
    root = write_slice_cohort(tmp_path / "c", PATIENTS)
    _corrupt(root)
    BAD["nonbinary"][0](root)
    with pytest.raises(CohortError) as exc:
        ingest(root, tmp_path / "o", IngestCfg(), progress=False)
    assert len(exc.value.problems) == 2
    assert main(["-q", "ingest", str(root), "--out", str(tmp_path / "o"), "--skip-bad"]) == 0
    out = capsys.readouterr().out
    assert "ingested 1 patients" in out and "left out (2)" in out
    assert pd.read_csv(tmp_path / "o" / "manifest.csv")["patient_id"].tolist() == ["P-03"]


def test_out_folder_with_other_content_is_refused(tmp_path, capsys):
    root = write_slice_cohort(tmp_path / "c", PATIENTS)
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "notes.txt").write_text("mine")
    assert main(["ingest", str(root), "--out", str(tmp_path / "o")]) == 2
    assert (tmp_path / "o" / "notes.txt").read_text() == "mine"


def test_cli_writes_provenance_and_figures(tmp_path):
    root = write_slice_cohort(tmp_path / "c", PATIENTS)
    assert main(["-q", "ingest", str(root), "--out", str(tmp_path / "o"), "--size", "64"]) == 0
    import json

    import yaml

    run = json.loads((tmp_path / "o" / "run.json").read_text())
    assert len(run["input_fingerprint"]["sha256"]) == 64 and "torch" in run["versions"]
    written = yaml.safe_load((tmp_path / "o" / "config.yaml").read_text())
    assert written.get("ingest", written)["preprocess"]["size"] == 64  # IngestCfg's keys, in an ingest: section
    assert (tmp_path / "o" / "figures" / "examples_per_grade.png").stat().st_size > 1000
    assert (tmp_path / "o" / "figures" / "tumour_areas.png").stat().st_size > 1000
