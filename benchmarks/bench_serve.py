"""Upload-to-grade latency of ``gliograde serve``: one NIfTI case at a time, and 20 uploaded at once.

Server: uvicorn on 127.0.0.1 in this process, ``--workers 2`` (the default), a CNN bundle (efficientnet_lite0,
random weights: latency does not depend on training; one input channel t1ce; crop 128) whose evidence is LayerCAM,
as ``gliograde predict``. Case: a synthetic NIfTI volume 160x160x80 (t1ce + segmentation, ~2.5 MB gzipped),
uploaded with httpx as the page does (multipart), then ``GET /api/cases/{id}`` polled every 20 ms until graded.
Latency = POST sent -> graded seen: upload, the case folder's checks, ``run_predict`` (read, warm-up, grade,
evidence, prediction.json, overlay.png) and the viewer volumes. Sequential: median and p95 of ``repeats`` uploads
after one discarded; concurrent: median and p95 over 20 uploads started together, and the wall time of all 20.
The 1-minute load average is recorded: on a shared box, other processes inflate every figure.
Target: a single case graded within 5 s (median), 20 at once all finished within 60 s.
"""
from __future__ import annotations

import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

TARGET_SINGLE_S, TARGET_20_WALL_S = 5.0, 60.0
SHAPE = (160, 160, 80)


def _nifti_case(root: Path, name: str, seed: int) -> Path:
    import nibabel as nib

    rng = np.random.default_rng(seed)
    x, y, z = np.mgrid[: SHAPE[0], : SHAPE[1], : SHAPE[2]]
    brain = ((x - 80) / 70) ** 2 + ((y - 80) / 60) ** 2 + ((z - 40) / 38) ** 2 < 1
    tumour = ((x - 95) / 18) ** 2 + ((y - 70) / 14) ** 2 + ((z - 42) / 10) ** 2 < 1
    vol = (brain * 100 + tumour * (60 + 5 * seed) + rng.normal(0, 8, SHAPE)).astype(np.float32)
    folder = root / name
    folder.mkdir(parents=True)
    aff = np.diag([-1.0, -1.0, 1.0, 1.0])
    nib.save(nib.Nifti1Image(vol, aff), folder / f"{name}_t1ce.nii.gz")
    nib.save(nib.Nifti1Image(tumour.astype(np.uint8) * 2, aff), folder / f"{name}_seg.nii.gz")
    return folder


def _bundle(root: Path) -> Path:
    """A CNN bundle written as `gliograde train` writes one (random weights), from a 4-patient NIfTI cohort."""
    import torch

    from gliograde.bundles.cnn import CnnBundle
    from gliograde.config import AugmentCfg, IngestCfg, PreprocessCfg, RunConfig, TrainCfg
    from gliograde.data.dataset import load_cohort
    from gliograde.data.ingest_run import run_ingest
    from gliograde.models import create_model

    raw = root / "raw"
    for i in range(4):
        _nifti_case(raw, f"P{i}", seed=i)
    (raw / "labels.csv").write_text("case_id,who_grade\n" + "".join(f"P{i},{(2, 3, 4, 2)[i]}\n" for i in range(4)))
    run_ingest(raw, root / "cohort", IngestCfg(channels=("t1ce",), preprocess=PreprocessCfg(size=128)),
               figures=False, progress=False)
    from gliograde.training.engine import FitResult

    torch.manual_seed(0)
    cohort = load_cohort(root / "cohort")
    net = create_model("efficientnet_lite0", len(cohort.classes), weights="none").eval()
    run = RunConfig(kind="cnn", train=TrainCfg(model="efficientnet_lite0", weights="none", image_size=128, epochs=1),
                    augment=AugmentCfg(mode="none"))
    return CnnBundle.write(root / "bundle", cohort,
                           FitResult(history=[], best_epoch=1, stopped_epoch=1, model=net), run)


def _stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(np.ceil(0.95 * len(ordered))) - 1)]
    return {"median_s": round(statistics.median(values), 3), "p95_s": round(p95, 3), "n": len(values)}


def main(argv: list[str] | None = None) -> dict[str, object]:
    """``python -m benchmarks serve [--repeats N] [--concurrent N]`` (defaults 10 and 20)."""
    import argparse

    import httpx

    parser = argparse.ArgumentParser(prog="bench_serve")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--concurrent", type=int, default=20)
    args = parser.parse_args(argv or [])
    repeats, concurrent = args.repeats, args.concurrent

    from gliograde.serve.app import create_app
    from gliograde.serve.background import free_port, serve_in_thread
    from gliograde.serve.settings import ServeCfg

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        root = Path(tmp)
        bundle = _bundle(root)
        cases = [_nifti_case(root / "cases", f"Case{i:02d}", seed=i) for i in range(max(repeats + 1, concurrent))]
        port = free_port()
        cfg = ServeCfg(bundle=bundle, port=port, workers=2, max_pending=concurrent, workdir=root / "work")
        with serve_in_thread(create_app(cfg), port) as url, httpx.Client(base_url=url, timeout=300) as client:
            time.sleep(1.0)  # let the two workers finish loading the bundle (done once, at start)

            def timed(case: Path) -> tuple[float, float]:
                t0 = time.perf_counter()
                files = [("files", (p.name, p.read_bytes(), "application/octet-stream"))
                         for p in sorted(case.iterdir())]
                case_id = client.post("/api/cases", files=files).json()["id"]
                while (doc := client.get(f"/api/cases/{case_id}").json())["status"] == "grading":
                    time.sleep(0.02)
                assert doc["status"] == "ok", doc["message"]
                return time.perf_counter() - t0, float(doc["seconds"])

            timed(cases[0])  # discarded: first-use costs in the worker
            single = [timed(c) for c in cases[1: repeats + 1]]
            t0 = time.perf_counter()
            with ThreadPoolExecutor(concurrent) as pool:
                together = list(pool.map(timed, cases[:concurrent]))
            wall = time.perf_counter() - t0
    res: dict[str, object] = {
        "case": f"NIfTI {SHAPE[0]}x{SHAPE[1]}x{SHAPE[2]} t1ce + seg", "bundle": "cnn efficientnet_lite0, crop 128",
        "workers": 2, "single": _stats([s for s, _ in single]),
        "single_server_side": _stats([g for _, g in single]),
        f"concurrent_{concurrent}": _stats([s for s, _ in together]), f"concurrent_{concurrent}_wall_s": round(wall, 2),
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "target_single_median_s": TARGET_SINGLE_S, "target_concurrent_wall_s": TARGET_20_WALL_S}
    res["target_met"] = bool(res["single"]["median_s"] <= TARGET_SINGLE_S  # type: ignore[index]
                             and wall <= TARGET_20_WALL_S)
    print(res)
    return res


if __name__ == "__main__":
    main()
