"""Latency per case of ``gliograde predict`` on CPU: read, preprocessing, forward pass, evidence map.

Model: efficientnet_lite0 with ImageNet weights and a 3-grade head (random head: latency does not depend
on training), input 224 (the model's default) and 128 (the ``quick`` preset), preprocessing as ingest's
defaults (crop 227). Evidence: LayerCAM at ``blocks.4`` (explain.EVIDENCE_LAYERS), as ``gliograde predict``.
Case: one 256x256 slice + mask PNG (the TCGA-LGG format), read from disk each run. Threads: 1, as
``gliograde predict``'s default, and the torch default for comparison. Median of ``repeats``
runs after the bundle's ``warm_up()`` and 2 more runs. The 1-minute load average is recorded: on a
shared box, other processes inflate every figure. Targets: <= 150 ms per case with the evidence map,
<= 60 ms without.
"""
from __future__ import annotations

import dataclasses
import os
import statistics
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from gliograde.bundles.cnn import CnnBundle
from gliograde.config import IngestCfg
from gliograde.data.source import CaseSource
from gliograde.models import create_model
from gliograde.prediction.run import predict_case, warm_up

TARGET_CAM_MS, TARGET_NO_CAM_MS = 150.0, 60.0


def _bundle(input_size: int = 224) -> CnnBundle:
    try:
        model = create_model("efficientnet_lite0", 3, weights="imagenet").eval()
        weights = "imagenet"
    except Exception:  # noqa: BLE001 - no ImageNet file on this machine: same architecture, same cost
        model, weights = create_model("efficientnet_lite0", 3, weights="none").eval(), "none"
    return CnnBundle(path=Path("."), model=model, spec=model.spec, classes=(2, 3, 4), input_size=input_size, in_chans=1,
                  ingest=IngestCfg(), fingerprint="", meta={"backbone": "efficientnet_lite0", "weights": weights})


def _case(folder: Path) -> CaseSource:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:256, :256]
    brain = (yy - 128) ** 2 + (xx - 128) ** 2 < 110**2
    mask = (yy - 110) ** 2 / 30**2 + (xx - 140) ** 2 / 22**2 < 1
    img = np.clip(brain * 90 + mask * 80 + rng.normal(0, 10, brain.shape), 0, 255).astype(np.uint8)
    Image.fromarray(np.stack([img // 2, img, img], -1)).save(folder / "case_14.png")
    Image.fromarray(mask.astype(np.uint8) * 255).save(folder / "case_14_mask.png")
    return CaseSource(patient_id="case", grade=0, kind="slices",
                      slices={14: (folder / "case_14.png", folder / "case_14_mask.png")})


def _median_ms(bundle: CnnBundle, case: CaseSource, cam: bool, repeats: int) -> dict[str, float]:
    warm_up(bundle, cam)
    for _ in range(2):
        predict_case(bundle, case, cam=cam)
    runs = [predict_case(bundle, case, cam=cam).timings_ms for _ in range(repeats)]
    return {k: round(statistics.median(r[k] for r in runs), 1) for k in runs[0]}


def main(repeats: int = 20, threads: int = 1) -> dict[str, object]:
    """``threads`` as ``gliograde predict --threads`` (default 1); the torch default is measured too."""
    bundle = _bundle()
    load_before = os.getloadavg()[0]
    default_threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory() as tmp:
        case = _case(Path(tmp))
        cam_default = _median_ms(bundle, case, True, repeats)
        torch.set_num_threads(threads)
        try:
            cam = _median_ms(bundle, case, True, repeats)
            no_cam = _median_ms(bundle, case, False, repeats)
            cam_128 = _median_ms(dataclasses.replace(bundle, input_size=128), case, True, repeats)
        finally:
            torch.set_num_threads(default_threads)
    res = {"model": "efficientnet_lite0", "weights": bundle.meta["weights"], "threads": threads,
           f"with_cam_ms_{default_threads}_threads": cam_default,
           "evidence": "layercam @ blocks.4", "repeats": repeats, "with_cam_ms": cam, "without_cam_ms": no_cam,
           "with_cam_input128_ms": cam_128, "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
           "target_cam_ms": TARGET_CAM_MS, "target_no_cam_ms": TARGET_NO_CAM_MS,
           "target_met": cam["total"] <= TARGET_CAM_MS and no_cam["total"] <= TARGET_NO_CAM_MS}
    print(res)
    return res


if __name__ == "__main__":
    main()
