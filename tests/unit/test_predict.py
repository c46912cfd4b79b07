"""Bundle round-trip, predict on NIfTI cases and per-case errors, Grad-CAM localisation, evidence panels.
Through the CLI (PNG and DICOM cases, PHI, batches): tests/integration/test_predict_cli.py."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from fakedata import BUNDLE_SIZE as SIZE
from fakedata import CHANNELS, check_case_output, cnn_bundle, write_nifti_cohort
from PIL import Image
from torch import nn

from gliograde.bundles import MODEL_CARD, MODEL_JSON, load_bundle
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
from gliograde.training.engine import predict_proba


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return cnn_bundle(tmp_path_factory.mktemp("b"))


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
    torch.manual_seed(0)  # the same random start as cnn_bundle: the saved weights are exactly those
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


def test_predict_nifti_case_uses_largest_section(tmp_path: Path, bundle_dir: Path) -> None:
    root = write_nifti_cohort(tmp_path / "brats", [("Brats_X_1", 4)], centre=5)
    res = predict(load_bundle(bundle_dir), [root / "Brats_X_1"], out=tmp_path / "o")
    assert res[0].status == "ok", res[0].message
    assert res[0].slice_index == 5 and res[0].case == case_alias("Brats_X_1", keep_ids=False)
    check_case_output(tmp_path / "o", res[0].case)
    one_file = predict(load_bundle(bundle_dir), [root / "Brats_X_1" / "Brats_X_1_t1ce.nii.gz"], cam=False,
                       keep_ids=True)[0]
    assert one_file.status == "ok" and one_file.slice_index == 5  # its _seg found beside it
    flair = predict(load_bundle(bundle_dir), [root / "Brats_X_1" / "Brats_X_1_flair.nii.gz"], cam=False)[0]
    assert flair.status == "error" and "has sequences ['flair']" in flair.message and "trained on t1ce" in flair.message
    fixed = predict(load_bundle(bundle_dir), [root / "Brats_X_1"], cam=False, slice_index=4)[0]
    assert fixed.slice_index == 4 and fixed.overlay is None and fixed.heat is None


def test_wrong_channels_are_a_per_case_error_with_the_fix(tmp_path: Path) -> None:
    rgb_bundle = load_bundle(cnn_bundle(tmp_path / "rgb", channels=CHANNELS[3]))
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
