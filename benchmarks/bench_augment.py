"""Fixed AutoAugment-SVHN expansion vs torchvision's AutoAugment per image per epoch in a DataLoader.

Targets: 117 cases x 57 versions at 227x227, grey, expanded in under 5 s on 2 CPU cores (issue 4), and
at least 10x faster than the baseline with the same images bit for bit (issue 16; checked here on a sample).
The baseline produces the same number of images (117 x 57) with ``v2.AutoAugment(SVHN)`` applied
one image at a time through a ``DataLoader`` (``num_workers=0``: the box has 2 cores), i.e. what
57 epochs of on-the-fly augmentation cost. Times are the median of 3 runs, with 1 and with 2 torch threads (ours
runs its chunks in that many threads; torchvision's ops use them inside each op); ours includes building the warp
plans, lookup tables and magnitudes (their caches are cleared before every run). The box may be shared with other
processes: ``load_avg_1min`` is recorded with the figures.

    python -m benchmarks augment
"""
from __future__ import annotations

import os
import statistics
import time

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

from gliograde.augment.ops import _gather_index, _lut, _src_on, _warp_plan, magnitude
from gliograde.augment.policy import (
    build_transforms,
    expand,
    expanded_nbytes,
)

N_CASES, SIZE, TARGET_S, TARGET_SPEEDUP, RUNS = 117, 227, 5.0, 10.0, 3


def _cohort(n: int, size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, 1, size, size) uint8 ROI-masked 'tumours' (background 0) and their (n, size, size) masks."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    r = rng.uniform(0.25, 0.45, n)[:, None, None] * size
    masks = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 <= r**2
    imgs = rng.integers(60, 230, (n, size, size)) * masks
    return torch.from_numpy(imgs.astype(np.uint8))[:, None], torch.from_numpy(masks)


class _Repeat(Dataset[torch.Tensor]):
    def __init__(self, images: torch.Tensor, times: int) -> None:
        self.images, self.times, self.aug = images, times, v2.AutoAugment(v2.AutoAugmentPolicy.SVHN, fill=0)

    def __len__(self) -> int:
        return len(self.images) * self.times

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.aug(self.images[i % len(self.images)])  # type: ignore[no-any-return]


def _time(fn: object) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one call."""
    c0, t0 = time.process_time(), time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - t0, time.process_time() - c0


def _ours(images: torch.Tensor, masks: torch.Tensor | None, roi_only: bool) -> tuple[float, float]:
    transforms = build_transforms()
    for cache in (_gather_index, _warp_plan, _src_on, _lut, magnitude):
        cache.cache_clear()
    return _time(lambda: expand(images, masks, transforms, roi_only=roi_only))


def _baseline(images: torch.Tensor, times: int) -> tuple[float, float]:
    torch.manual_seed(0)
    loader = DataLoader(_Repeat(images, times), batch_size=64, num_workers=0)
    return _time(lambda: [b.shape for b in loader])


def same_as_torchvision(images: torch.Tensor, n_check: int = 4) -> bool:
    """Our expansion of ``n_check`` images equals torchvision's ops applied image by image, op by op."""
    transforms = build_transforms()
    ours = expand(images[:n_check], None, transforms)
    aa = v2.AutoAugment(v2.AutoAugmentPolicy.SVHN, fill=0)
    size = (images.shape[-2], images.shape[-1])
    for i in range(n_check):
        for k, t in enumerate(transforms):
            ref = images[i:i + 1]
            for op, b in t.ops:
                m = magnitude(op, b, t.sign, size) or 0.0
                ref = aa._apply_image_or_video_transform(ref, op, m, interpolation=aa.interpolation, fill=aa._fill)
            if not torch.equal(ours[i * len(transforms) + k], ref[0]):
                return False
    return True


def _measure(images: torch.Tensor, masks: torch.Tensor, n_t: int, threads: int) -> dict[str, object]:
    """Ours and the baseline alternate, so that load from other processes hits both alike."""
    torch.set_num_threads(threads)
    ours, ours_roi, base = [], [], []
    for _ in range(RUNS):
        ours.append(_ours(images, None, False))
        ours_roi.append(_ours(images, masks, True))
        base.append(_baseline(images, n_t))
    wall = {k: statistics.median(t[0] for t in v) for k, v in (("o", ours), ("r", ours_roi), ("b", base))}
    cpu = {k: statistics.median(t[1] for t in v) for k, v in (("o", ours), ("b", base))}
    return {
        "ours_s": round(wall["o"], 3), "ours_runs_s": [round(t[0], 3) for t in ours],
        "ours_roi_only_s": round(wall["r"], 3),
        "torchvision_dataloader_s": round(wall["b"], 3),
        "torchvision_runs_s": [round(t[0], 3) for t in base],
        "speedup": round(wall["b"] / wall["o"], 1),
        "ours_cpu_s": round(cpu["o"], 3), "torchvision_cpu_s": round(cpu["b"], 3),
        "speedup_cpu_time": round(cpu["b"] / cpu["o"], 1),
    }


def main() -> dict[str, object]:
    """Both torch thread settings are measured: on a shared 2-core box, 2 OpenMP threads can be several times
    slower than 1 when another process holds a core. ``ours_s`` is our faster setting (the 5 s target); ``speedup``
    is the smaller of the two settings' speed-ups (each against torchvision with the same threads), so that
    torchvision's collapse with 2 threads on a busy box cannot make the headline."""
    images, masks = _cohort(N_CASES, SIZE)
    n_t = len(build_transforms())
    threads_before = torch.get_num_threads()
    try:
        by_threads = {f"threads_{k}": _measure(images, masks, n_t, k) for k in (1, 2)}
    finally:
        torch.set_num_threads(threads_before)
    best = min(by_threads.values(), key=lambda r: r["ours_s"])  # type: ignore[arg-type,return-value]
    res: dict[str, object] = {
        "cases": N_CASES, "transforms": n_t, "size": SIZE, "output_images": N_CASES * n_t,
        "cpu_count": os.cpu_count(), "load_avg_1min": round(os.getloadavg()[0], 2),
        **by_threads,
        "ours_s": best["ours_s"], "torchvision_dataloader_s": best["torchvision_dataloader_s"],
        "speedup": min(r["speedup"] for r in by_threads.values()),  # type: ignore[type-var]
        "speedup_cpu_time": min(r["speedup_cpu_time"] for r in by_threads.values()),  # type: ignore[type-var]
        "memory_bytes_117": expanded_nbytes(N_CASES, n_t, 1, (SIZE, SIZE)),
        "memory_bytes_130": expanded_nbytes(130, n_t, 1, (SIZE, SIZE)),
        "target_s": TARGET_S, "target_speedup": TARGET_SPEEDUP,
        "same_images_as_torchvision": same_as_torchvision(images),
    }
    res["target_met"] = bool(best["ours_s"] < TARGET_S and res["speedup"] >= TARGET_SPEEDUP  # type: ignore[operator]
                             and res["same_images_as_torchvision"])
    for k, v in res.items():
        print(f"  {k}: {v}")
    return res


if __name__ == "__main__":
    main()
