"""Bundle round-trip, predict on PNG / NIfTI / DICOM cases, batch errors, PHI, Grad-CAM localisation."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import torch
from fakedata import volume, write_dicom_series, write_nifti_cohort, write_slice_cohort
from PIL import Image
from torch import nn

from gliograde.bundles import MODEL_CARD, MODEL_JSON, load_bundle
from gliograde.bundles.cnn import CnnBundle
from gliograde.cli import main
from gliograde.config import AugmentCfg, IngestCfg, PreprocessCfg, RunConfig, TrainCfg
from gliograde.data.dataset import load_cohort
from gliograde.data.ingest_run import run_ingest
from gliograde.explain import (
    class_activation_map,
    evidence_panel,
    grad_cam,
    heat_inside,
)
from gliograde.models import ModelSpec, create_model
from gliograde.prediction.run import (
    CaseInput,
    case_alias,
    find_cases,
    predict,
    predict_case,
    warm_up,
)
from gliograde.training.engine import FitResult, predict_proba

SIZE = 64
PATIENTS = [("P-01", 2), ("P-02", 3), ("P-03", 4), ("P-04", 2)]
PHI = (b"Doe", b"Jane", b"PHI-12345", b"19700101")


def make_bundle(tmp: Path, model: str = "efficientnet_lite0", channels: int = 1, seed: int = 0) -> Path:
    """A bundle built without training: ingest a tiny cohort, random-start weights, CnnBundle.write."""
    raw = write_slice_cohort(tmp / "raw", PATIENTS, size=48, channels=3)
    chans = ("t1ce",) if channels == 1 else ("t1", "flair", "t1ce")
    run_ingest(raw, tmp / "cohort", IngestCfg(channels=chans, preprocess=PreprocessCfg(size=SIZE)),
               figures=False, progress=False)
    cohort = load_cohort(tmp / "cohort")
    torch.manual_seed(seed)
    net = create_model(model, len(cohort.classes), weights="none").eval()
    cfg = TrainCfg(model=model, weights="none", image_size=SIZE, epochs=1)
    fit = FitResult(history=[], best_epoch=1, stopped_epoch=1, model=net)
    run_cfg = RunConfig(kind="cnn", train=cfg, augment=AugmentCfg(mode="none"))
    return CnnBundle.write(tmp / "bundle", cohort, fit, run_cfg)


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_bundle(tmp_path_factory.mktemp("b"))


def test_bundle_round_trip(bundle_dir: Path) -> None:
    meta = json.loads((bundle_dir / MODEL_JSON).read_text())
    assert meta["backbone"] == "efficientnet_lite0" and meta["classes"] == [2, 3, 4]
    assert meta["input_size"] == SIZE and meta["in_chans"] == 1
    assert meta["preprocessing"]["channels"] == ["t1ce"] and meta["preprocessing"]["preprocess"]["size"] == SIZE
    assert len(meta["data_fingerprint"]["cohort_input_sha256"]) == 64
    card = (bundle_dir / MODEL_CARD).read_text()
    assert "not a medical device" in card and "Site shift" in card and "Single slice" in card
    b1, b2 = load_bundle(bundle_dir), load_bundle(bundle_dir)
    x = torch.randint(0, 256, (3, 1, SIZE, SIZE), dtype=torch.uint8)
    p1, p2 = (predict_proba(b.model, x, b.spec, b.input_size) for b in (b1, b2))
    np.testing.assert_array_equal(p1, p2)
    torch.manual_seed(0)  # the same random start as make_bundle: the saved weights are exactly those
    ref = create_model("efficientnet_lite0", 3, weights="none").eval()
    np.testing.assert_allclose(p1, predict_proba(ref, x, ref.spec, SIZE), atol=1e-6)
    assert b1.fingerprint == meta["weights_sha256"]


def test_load_bundle_errors(tmp_path: Path, bundle_dir: Path) -> None:
    from gliograde.errors import InputError

    with pytest.raises(InputError, match="model.json: missing"):
        load_bundle(tmp_path)
    bad = tmp_path / "bad"
    shutil.copytree(bundle_dir, bad)
    meta = json.loads((bad / MODEL_JSON).read_text())
    meta["classes"] = [2, 3]
    (bad / MODEL_JSON).write_text(json.dumps(meta))
    with pytest.raises(InputError, match="do not fit"):
        load_bundle(bad)


def _check_case_output(out: Path, case: str, classes: tuple[int, ...] = (2, 3, 4)) -> dict:
    doc = json.loads((out / case / "prediction.json").read_text())
    for key in ("grade", "probabilities", "slice_index", "overlay", "model", "bundle_fingerprint", "timings_ms"):
        assert key in doc
    assert set(doc["probabilities"]) == {str(c) for c in classes}
    assert sum(doc["probabilities"].values()) == pytest.approx(1.0, abs=1e-6)
    assert doc["grade"] == int(max(doc["probabilities"], key=doc["probabilities"].get))
    png = np.asarray(Image.open(doc["overlay"]))
    assert png.shape == (256 + 36, 2 * 256, 3) and png.dtype == np.uint8  # two panels + title and captions
    ev = doc["evidence"]
    assert ev["method"] == "layercam" and ev["layers"] == ["blocks.4"] and ev["display"] == "masked to ROI"
    assert ev["heat_in_roi"] == doc["heat_in_roi"] and 0.0 < ev["roi_share_of_crop"] < 1.0
    assert set(doc["timings_ms"]) == {"read", "preprocess", "inference", "total"}
    timings = json.loads((out / "timings.json").read_text())
    assert timings["warmup_ms"] > 0 and timings["cases_ok"] >= 1
    return doc


def test_predict_png_case_cli(tmp_path: Path, bundle_dir: Path) -> None:
    img, mask = np.zeros((40, 40), np.uint8), np.zeros((40, 40), np.uint8)
    img[8:30, 10:28], mask[10:26, 12:26] = 120, 255
    img[10:26, 12:26] = 200
    Image.fromarray(img).save(tmp_path / "scan.png")
    Image.fromarray(mask).save(tmp_path / "scan_mask.png")
    out = str(tmp_path / "o")
    assert main(["predict", str(bundle_dir), str(tmp_path / "scan.png"), "--out", out, "--keep-ids"]) == 0
    doc = _check_case_output(tmp_path / "o", "scan")
    assert doc["slice_index"] == 0 and doc["case"] == "scan"
    summary = pd.read_csv(tmp_path / "o" / "summary.csv")
    assert summary["status"].tolist() == ["ok"]


def test_predict_nifti_case_uses_largest_section(tmp_path: Path, bundle_dir: Path) -> None:
    root = write_nifti_cohort(tmp_path / "brats", [("Brats_X_1", 4)], centre=5)
    res = predict(load_bundle(bundle_dir), [root / "Brats_X_1"], out=tmp_path / "o")
    assert res[0].status == "ok", res[0].message
    assert res[0].slice_index == 5 and res[0].case == case_alias("Brats_X_1", keep_ids=False)
    _check_case_output(tmp_path / "o", res[0].case)
    one_file = predict(load_bundle(bundle_dir), [root / "Brats_X_1" / "Brats_X_1_t1ce.nii.gz"], cam=False,
                       keep_ids=True)[0]
    assert one_file.status == "ok" and one_file.slice_index == 5  # its _seg found beside it
    flair = predict(load_bundle(bundle_dir), [root / "Brats_X_1" / "Brats_X_1_flair.nii.gz"], cam=False)[0]
    assert flair.status == "error" and "has sequences ['flair']" in flair.message and "trained on t1ce" in flair.message
    fixed = predict(load_bundle(bundle_dir), [root / "Brats_X_1"], cam=False, slice_index=4)[0]
    assert fixed.slice_index == 4 and fixed.overlay is None and fixed.heat is None


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


def test_batch_continues_after_bad_cases(tmp_path: Path, bundle_dir: Path) -> None:
    batch = tmp_path / "batch"
    write_nifti_cohort(batch, [("good_1", 2), ("good_2", 3)])
    _dicom_case(batch / "empty_mask", empty=True)
    (batch / "broken").mkdir()
    (batch / "broken" / "x.png").write_bytes(b"not a png")
    (batch / "broken" / "x_mask.png").write_bytes(b"not a png")
    out = tmp_path / "o"
    assert main(["predict", str(bundle_dir), str(batch), "--out", str(out), "--keep-ids"]) == 0
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


def test_wrong_channels_are_a_per_case_error_with_the_fix(tmp_path: Path) -> None:
    rgb_bundle = load_bundle(make_bundle(tmp_path / "rgb", channels=3))
    root = write_nifti_cohort(tmp_path / "n", [("c1", 2)])  # t1ce + flair, no t1
    grey = tmp_path / "grey"
    grey.mkdir()
    Image.fromarray(np.full((40, 40), 90, np.uint8)).save(grey / "g_3.png")
    Image.fromarray(np.pad(np.full((10, 10), 255, np.uint8), 15)).save(grey / "g_3_mask.png")
    res = predict(rgb_bundle, [root / "c1", grey / "g_3.png"], out=tmp_path / "o", cam=False, keep_ids=True)
    vol, png = res
    assert vol.status == "error" and "['flair', 't1ce']" in vol.message and "t1+flair+t1ce" in vol.message
    assert "c1_t1.nii.gz" in vol.message and "gliograde ingest DATA --out C --channels" in vol.message
    assert png.status == "error" and "1 channel(s) per slice" in png.message and "t1+flair+t1ce" in png.message
    summary = pd.read_csv(tmp_path / "o" / "summary.csv")
    assert summary["status"].tolist() == ["error", "error"]


def test_predict_context_messages_do_not_mention_labels(tmp_path: Path, bundle_dir: Path) -> None:
    (tmp_path / "batch" / "empty_case").mkdir(parents=True)
    (tmp_path / "batch" / "empty_case" / "notes.txt").write_text("x")
    res = predict(load_bundle(bundle_dir), [tmp_path / "batch"], keep_ids=True, cam=False)
    assert [r.status for r in res] == ["error"]
    assert "has no slice images" in res[0].message and "labels.csv" not in res[0].message


class _BlobNet(nn.Module):
    """Logit 1 = mean of ReLU(bright pixels): evidence exists only where the (normalised) input is bright."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
        with torch.no_grad():
            self.features[0].weight.fill_(1.0 / 27)
            self.features[0].bias.fill_(0.5)  # background (-1 after normalisation) -> 0; tumour (> 0) -> > 0
        self.fc = nn.Linear(4, 2)
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor([[-1.0] * 4, [1.0] * 4]))
            self.fc.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean((2, 3)))


@pytest.mark.parametrize("method", ["gradcam", "layercam"])
def test_cam_heat_lies_in_roi(method: str) -> None:
    """The full explain path (crop -> normalise -> CAM -> resize -> heat_inside) keeps heat on the tumour,
    with an L-shaped ROI so a transposed or flipped map would fail."""
    from gliograde.training.engine import normalise_batch

    spec = ModelSpec("blob", SIZE, (0.5,) * 3, (0.5,) * 3, "fc", "features.1")
    mask = np.zeros((SIZE, SIZE), bool)
    mask[4:60, 4:20] = True
    mask[44:60, 4:60] = True
    crop = np.where(mask, 180, 0).astype(np.uint8)
    x = normalise_batch(torch.from_numpy(crop)[None, None], spec, SIZE)
    net = _BlobNet().eval()
    heat = class_activation_map(net, [net.features[1]], x, [1], method)[0]
    assert heat.shape == (SIZE, SIZE) and heat.dtype == np.float32 and heat.max() == pytest.approx(1.0)
    assert heat_inside(heat, mask) >= 0.95
    assert heat_inside(heat, mask.T) < 0.8


def test_evidence_panel_masks_heat_outside_the_roi() -> None:
    crop = np.full((SIZE, SIZE), 100, np.uint8)
    mask = np.zeros((SIZE, SIZE), bool)
    mask[16:48, 16:48] = True
    heat = np.ones((8, 8), np.float32)  # heat everywhere
    image = np.random.default_rng(0).normal(500, 50, (40, 50))  # raw slice: float, not square
    smask = np.zeros((40, 50), bool)
    smask[10:20, 10:30] = True
    side = 64
    for masked in (True, False):
        pic = evidence_panel(image, smask, crop, mask, heat, "grade 3", side=side, mask_heat=masked)
        assert pic.shape == (side + 36, 2 * side, 3) and pic.dtype == np.uint8
        right = pic[20:20 + side, side:].astype(int)
        corner, centre = right[4, 4], right[side // 2, side // 2]
        assert bool(corner[0] == corner[1] == corner[2]) is masked  # grey outside the ROI only when masked
        assert not centre[0] == centre[1] == centre[2]  # coloured heat inside
        assert (right[side // 4, side // 2] == (0, 255, 0)).all()  # ROI outline drawn (top edge, row 16)


def test_case_alias_and_discovery(tmp_path: Path) -> None:
    assert case_alias("TCGA_CS_4941_19960909", keep_ids=True) == "TCGA_CS_4941_19960909"
    a = case_alias("TCGA_CS_4941_19960909", keep_ids=False)
    assert a.startswith("case-") and len(a) == 15 and "4941" not in a
    cases, batch = find_cases([tmp_path / "missing.png"])
    assert not batch and isinstance(cases[0], CaseInput) and "no such file" in (cases[0].error or "")


def test_predict_case_returns_arrays(bundle_dir: Path) -> None:
    b = load_bundle(bundle_dir)
    raw = bundle_dir.parent / "raw"
    ci, _ = find_cases([raw / "P_01_2000"])
    assert warm_up(b) > 0
    pred = predict_case(b, ci[0].source, cam=True)
    plain = predict_case(b, ci[0].source, cam=False)  # one pass gives logits + evidence: same probabilities
    np.testing.assert_allclose(list(pred.probabilities.values()), list(plain.probabilities.values()), atol=1e-6)
    assert pred.slice_image is not None and pred.slice_mask is not None and pred.slice_mask.shape == (48, 48)
    assert pred.crop is not None and pred.crop.shape == (SIZE, SIZE) and pred.slice_index == 1
    assert pred.mask is not None and pred.mask.dtype == bool and 0.0 <= (pred.heat_in_roi or 0.0) <= 1.0


@pytest.mark.parametrize("name,layer_name,method", [("efficientnet_lite0", "bn2", "gradcam"),
                                                     ("efficientnet_lite0", "blocks.4", "layercam"),
                                                     ("resnet18", "layer4", "gradcam")])
def test_cam_equals_library_full_backward(name: str, layer_name: str, method: str) -> None:
    """Starting autograd at the CAM layer (the speed-up in explain._grad_from) leaves the map unchanged."""
    import pytorch_grad_cam as pgc
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    torch.manual_seed(0)
    net = create_model(name, 3, weights="none").eval()
    layer = net.get_submodule(layer_name)
    x = torch.randn(2, 3, SIZE, SIZE)
    with {"gradcam": pgc.GradCAM, "layercam": pgc.LayerCAM}[method](model=net, target_layers=[layer]) as cam:
        ref = cam(input_tensor=x, targets=[ClassifierOutputTarget(1), ClassifierOutputTarget(2)])
    got = class_activation_map(net, [layer], x, [1, 2], method)  # type: ignore[arg-type]
    if method == "gradcam":
        np.testing.assert_array_equal(got, grad_cam(net, layer, x, [1, 2]))
    np.testing.assert_allclose(got, np.nan_to_num(ref).clip(0, 1), atol=1e-5)
    assert all(p.requires_grad for p in net.parameters())  # restored


@pytest.mark.slow
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
        _check_case_output(tmp_path / "pred", r.case, b.classes)
        print(f"{r.case}: grade {r.grade}, slice {r.slice_index}, heat in ROI {r.heat_in_roi:.2f}, "
              f"ROI share of crop {r.mask.mean():.2f}")  # type: ignore[union-attr]
    assert time.perf_counter() - t0 < 60
