"""`gliograde predict` through the CLI: a PNG case, a DICOM case that must leak no PHI, a batch that goes on
after bad cases, one bad case's exit status; and the real-data acceptance run (train, bundle, predict)."""
from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from fakedata import BUNDLE_SIZE as SIZE
from fakedata import check_case_output, cnn_bundle, volume, write_dicom_series, write_nifti_cohort
from PIL import Image

from gliograde.bundles import load_bundle
from gliograde.bundles.cnn import CnnBundle
from gliograde.cli import main
from gliograde.config import AugmentCfg, IngestCfg, PreprocessCfg, RunConfig, TrainCfg
from gliograde.data.dataset import load_cohort
from gliograde.data.ingest_run import run_ingest
from gliograde.prediction.run import predict

PHI = (b"Doe", b"Jane", b"PHI-12345", b"19700101")


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return cnn_bundle(tmp_path_factory.mktemp("b"))


def test_predict_png_case_cli(tmp_path: Path, bundle_dir: Path) -> None:
    img, mask = np.zeros((40, 40), np.uint8), np.zeros((40, 40), np.uint8)
    img[8:30, 10:28], mask[10:26, 12:26] = 120, 255
    img[10:26, 12:26] = 200
    Image.fromarray(img).save(tmp_path / "scan.png")
    Image.fromarray(mask).save(tmp_path / "scan_mask.png")
    out = str(tmp_path / "o")
    assert main(["predict", str(bundle_dir), str(tmp_path / "scan.png"), "--out", out, "--keep-ids"]) == 0
    doc = check_case_output(tmp_path / "o", "scan")
    assert doc["slice_index"] == 0 and doc["case"] == "scan"
    summary = pd.read_csv(tmp_path / "o" / "summary.csv")
    assert summary["status"].tolist() == ["ok"]


def _dicom_case(folder: Path, empty: bool = False) -> Path:
    vol, seg = volume((24, 24, 8), centre=3)
    write_dicom_series(folder / "dicom", vol, patient_name="Doe^Jane", patient_id="PHI-12345")
    mask = np.zeros_like(seg, np.uint8) if empty else (seg > 0).astype(np.uint8)
    nib.save(nib.Nifti1Image(mask, np.eye(4)), folder / "mask.nii.gz")
    return folder


def test_dicom_case_leaks_no_phi(tmp_path: Path, bundle_dir: Path) -> None:
    case = _dicom_case(tmp_path / "in" / "Doe_Jane_19700101")
    out = tmp_path / "out"
    assert main(["predict", str(bundle_dir), str(case), "--out", str(out)]) == 0
    files = [p for p in out.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"prediction.json", "overlay.png", "summary.csv", "run.json", "config.yaml"}
    run = json.loads((out / "run.json").read_text())
    fp = run["input_fingerprint"]
    assert run["command"] == "predict" and len(fp["sha256"]) == 64
    assert fp["n_files"] == len(list(case.rglob("*.*"))) and all(k.startswith("case-") for k in fp["files"])
    for p in files:
        data = p.read_bytes()
        assert not any(s in data for s in PHI), p
        assert not any(s.decode() in str(p.relative_to(out)) for s in PHI), p
    doc = json.loads(next(out.rglob("prediction.json")).read_text())
    assert doc["slice_index"] == 3


def test_batch_continues_after_bad_cases(tmp_path: Path, bundle_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    batch = tmp_path / "batch"
    write_nifti_cohort(batch, [("good_1", 2), ("good_2", 3)])
    _dicom_case(batch / "empty_mask", empty=True)
    (batch / "broken").mkdir()
    (batch / "broken" / "x.png").write_bytes(b"not a png")
    (batch / "broken" / "x_mask.png").write_bytes(b"not a png")
    out = tmp_path / "o"
    assert main(["predict", str(bundle_dir), str(batch), "--out", str(out), "--keep-ids"]) == 1  # 2 cases failed
    assert "2 of 4 case(s) failed" in capsys.readouterr().err
    s = pd.read_csv(out / "summary.csv", keep_default_na=False).set_index("case")
    assert s.loc["good_1", "status"] == "ok" and s.loc["good_2", "status"] == "ok"
    assert s.loc["empty_mask", "status"] == "error" and "empty mask" in s.loc["empty_mask", "message"]
    assert s.loc["broken", "status"] == "error" and "cannot read image" in s.loc["broken", "message"]
    assert "labels" not in " ".join(s.index)
    assert (out / "good_1" / "prediction.json").is_file() and not (out / "broken").exists()


def test_single_bad_case_exits_2(tmp_path: Path, bundle_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = _dicom_case(tmp_path / "Doe_case", empty=True)
    assert main(["predict", str(bundle_dir), str(case), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "empty mask" in err[0] and "Doe" not in err[0]


def test_real_data_train_bundle_predict(tmp_path: Path, shared_data: Path) -> None:
    """Acceptance: train on 20 TCGA-LGG patients (size 64, 1 epoch, random start), predict a BraTS case and a PNG
    case."""
    import time

    from gliograde.data.layouts import read_labels
    from gliograde.training.cnn import train_on_cohort

    t0 = time.perf_counter()
    src = shared_data / "tcga-lgg"
    labels, _ = read_labels(src / "labels.csv")
    sub = tmp_path / "tcga20"
    sub.mkdir()
    keep = labels.groupby("grade", group_keys=False).head(7).head(20)
    for folder in keep["folder"]:
        (sub / folder).symlink_to(src / folder)
    chosen = pd.read_csv(src / "labels.csv").set_index("folder").loc[keep["folder"]].reset_index()
    chosen.to_csv(sub / "labels.csv", index=False)
    run_ingest(sub, tmp_path / "cohort", IngestCfg(preprocess=PreprocessCfg(size=SIZE)), figures=False, progress=False)
    cohort = load_cohort(tmp_path / "cohort")
    cfg = TrainCfg(model="efficientnet_lite0", weights="none", image_size=SIZE, epochs=1, batch_size=16,
                   val_fraction=0.0, patience=0, device="cpu")
    fit = train_on_cohort(cohort, cfg, AugmentCfg(mode="none"), tmp_path / "bundle", progress=False)
    CnnBundle.write(tmp_path / "bundle", cohort, fit, RunConfig(kind="cnn", train=cfg, augment=AugmentCfg(mode="none")))
    b = load_bundle(tmp_path / "bundle")
    png_folder = src / labels["folder"].iloc[-1]
    cases = [shared_data / "brats-volumes" / "Brats18_TCIA10_628_1", png_folder]
    res = predict(b, cases, out=tmp_path / "pred", keep_ids=True)
    for r in res:
        assert r.status == "ok", r.message
        check_case_output(tmp_path / "pred", r.case, b.classes)
        print(f"{r.case}: grade {r.grade}, slice {r.slice_index}, heat in ROI {r.heat_in_roi:.2f}, "
              f"ROI share of crop {r.mask.mean():.2f}")  # type: ignore[union-attr]
    assert time.perf_counter() - t0 < 60
