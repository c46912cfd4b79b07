"""Latency per case of ``gliograde predict`` on CPU: preprocessing, forward pass, Grad-CAM.

Model: efficientnet_lite0 with ImageNet weights and a 3-grade head (random head: latency does not depend
on training), input 224, preprocessing as ingest's defaults (crop 227). Case: one 256x256 slice + mask
PNG (the TCGA-LGG format), read from disk each run. Median of ``repeats`` runs after 3 warm-up runs.
Targets: <= 150 ms per case with Grad-CAM, <= 60 ms without.
"""
from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from gliograde.bundle import Bundle
from gliograde.config import IngestCfg
from gliograde.data.layouts import CaseSource
from gliograde.models import create_model
from gliograde.predict import predict_case

TARGET_CAM_MS, TARGET_NO_CAM_MS = 150.0, 60.0


def _bundle() -> Bundle:
    try:
        model = create_model("efficientnet_lite0", 3, weights="imagenet").eval()
        weights = "imagenet"
    except Exception:  # noqa: BLE001 - no ImageNet file on this machine: same architecture, same cost
        model, weights = create_model("efficientnet_lite0", 3, weights="none").eval(), "none"
    return Bundle(path=Path("."), model=model, spec=model.spec, classes=(2, 3, 4), input_size=224, in_chans=1,
                  ingest=IngestCfg(), fingerprint="", meta={"backbone": "efficientnet_lite0", "weights": weights})


def _case(folder: Path) -> CaseSource:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:256, :256]
    brain = (yy - 128) ** 2 + (xx - 128) ** 2 < 110**2
    mask = (yy - 110) ** 2 / 30**2 + (xx - 140) ** 2 / 22**2 < 1
    img = np.clip(brain * 90 + mask * 80 + rng.normal(0, 10, brain.shape), 0, 255).astype(np.uint8)
    Image.fromarray(np.stack([img // 2, img, img], -1)).save(folder / "case_14.png")
    Image.fromarray(mask.astype(np.uint8) * 255).save(folder / "case_14_mask.png")
    return CaseSource(patient_id="case", grade=0, kind="slices", slices={14: (folder / "case_14.png", folder / "case_14_mask.png")})


def _median_ms(bundle: Bundle, case: CaseSource, cam: bool, repeats: int) -> dict[str, float]:
    for _ in range(3):
        predict_case(bundle, case, cam=cam)
    runs = [predict_case(bundle, case, cam=cam).timings_ms for _ in range(repeats)]
    return {k: round(statistics.median(r[k] for r in runs), 1) for k in runs[0]}


def main(repeats: int = 20) -> dict[str, object]:
    bundle = _bundle()
    with tempfile.TemporaryDirectory() as tmp:
        case = _case(Path(tmp))
        cam = _median_ms(bundle, case, True, repeats)
        no_cam = _median_ms(bundle, case, False, repeats)
    res = {"model": "efficientnet_lite0", "weights": bundle.meta["weights"], "threads": torch.get_num_threads(),
           "repeats": repeats, "with_cam_ms": cam, "without_cam_ms": no_cam,
           "target_cam_ms": TARGET_CAM_MS, "target_no_cam_ms": TARGET_NO_CAM_MS,
           "target_met": cam["total"] <= TARGET_CAM_MS and no_cam["total"] <= TARGET_NO_CAM_MS}
    print(res)
    return res


if __name__ == "__main__":
    main()
