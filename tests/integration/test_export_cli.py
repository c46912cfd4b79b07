"""`gliograde export --onnx`: onnxruntime's probabilities match PyTorch's (max abs diff <= 1e-4), dynamic batch axis."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from fakedata import BUNDLE_SIZE as SIZE
from fakedata import CHANNELS, cnn_bundle

from gliograde.bundles import load_bundle
from gliograde.cli import main
from gliograde.training.engine import predict_proba


@pytest.mark.parametrize("model,channels", [("efficientnet_lite0", 1), ("efficientnet_lite0", 3), ("resnet18", 1)])
def test_onnx_matches_torch(tmp_path: Path, model: str, channels: int) -> None:
    ort = pytest.importorskip("onnxruntime")
    bundle_dir = cnn_bundle(tmp_path, model=model, channels=CHANNELS[channels])
    out = tmp_path / "m.onnx"
    assert main(["export", str(bundle_dir), "--onnx", "--out", str(out)]) == 0
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["input"]["dtype"] == "uint8" and side["output"]["classes"] == [2, 3, 4]
    b = load_bundle(bundle_dir)
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    for n in (1, 3):  # dynamic batch axis
        x = rng.integers(0, 256, (n, channels, SIZE, SIZE), dtype=np.uint8)
        got = sess.run(["probabilities"], {"image": x})[0]
        ref = predict_proba(b.model, torch.from_numpy(x), b.spec, b.input_size)
        assert got.shape == (n, 3)
        assert np.abs(got - ref).max() <= 1e-4
