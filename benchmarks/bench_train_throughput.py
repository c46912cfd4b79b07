"""Training throughput (images/s): our loop against a plain torchvision-style reference loop.

Same model, weights, batch size and uint8 data for both. The reference normalises every image
in a ``Dataset.__getitem__`` (like ``ToTensor`` + ``Normalize``), batches with a ``DataLoader``
and keeps NCHW; ours (:func:`gliograde.training.engine.train_one_epoch`) normalises whole uint8 batches
on the fly in channels_last. Each figure is the median of 3 short runs after one warm-up batch;
ours and the reference alternate so that load from other processes hits both alike.

    python -m benchmarks train_throughput
    GLIOGRADE_BENCH_DEVICE=cuda python -m benchmarks train_throughput
"""
from __future__ import annotations

import copy
import os
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from gliograde.config import TrainCfg
from gliograde.models import ModelSpec, create_model
from gliograde.training.engine import (
    _autocast,
    normalise_batch,
    resolve_device,
    train_one_epoch,
)

# (model, input size, batch size, images per timed run on CPU; x8 on CUDA)
CASES = (("alexnet", 227, 32, 64), ("efficientnet_lite0", 224, 16, 32))
REPEATS = 3


class _PerImageNormalise(torch.utils.data.Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """torchvision-style: one float image at a time, NCHW, normalised in __getitem__."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, spec: ModelSpec) -> None:
        self.images, self.labels = images, labels
        self.mean = torch.tensor(spec.mean).view(3, 1, 1)
        self.std = torch.tensor(spec.std).view(3, 1, 1)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.images[i].float().div(255).expand(3, -1, -1)
        return (x - self.mean) / self.std, self.labels[i]


def _reference_epoch(model: nn.Module, data: torch.utils.data.Dataset, opt: torch.optim.Optimizer,  # type: ignore[type-arg]
                     device: torch.device, cfg: TrainCfg) -> None:
    model.train()
    loader = torch.utils.data.DataLoader(data, batch_size=cfg.batch_size, shuffle=True, num_workers=0)
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        with _autocast(device, cfg):
            loss = F.cross_entropy(model(x).float(), y)
        opt.zero_grad()
        loss.backward()
        opt.step()


def _our_epoch(model: nn.Module, x: torch.Tensor, y: torch.Tensor, opt: torch.optim.Optimizer,
               spec: ModelSpec, size: int, device: torch.device, cfg: TrainCfg) -> None:
    model.train()
    train_one_epoch(model, x, y, opt, cfg, prepare=lambda b: normalise_batch(b.to(device), spec, size),
                    generator=torch.Generator().manual_seed(0), scaler=torch.amp.GradScaler(enabled=False))


def _timed(fn: object, n: int, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()  # type: ignore[operator]
    if device.type == "cuda":
        torch.cuda.synchronize()
    return n / (time.perf_counter() - t0)


def bench_case(name: str, size: int, batch: int, n_images: int, device: torch.device) -> dict[str, float]:
    """images/s (median of ``REPEATS``) for our loop and the reference loop on one model."""
    torch.manual_seed(0)
    base = create_model(name, num_classes=3, weights="none")
    spec: ModelSpec = base.spec  # type: ignore[assignment]
    x = torch.randint(0, 256, (n_images, 1, size, size), dtype=torch.uint8)
    y = torch.arange(n_images) % 3
    cfg = TrainCfg(batch_size=batch, amp=True, device=str(device))
    ours = copy.deepcopy(base).to(device, memory_format=torch.channels_last)
    ref = copy.deepcopy(base).to(device)
    opt_ours = torch.optim.SGD(ours.parameters(), lr=1e-3, momentum=0.9)
    opt_ref = torch.optim.SGD(ref.parameters(), lr=1e-3, momentum=0.9)
    x_dev, y_dev = (x.to(device), y.to(device)) if device.type == "cuda" else (x, y)
    data = _PerImageNormalise(x, y, spec)
    run_ours = lambda k=n_images: _our_epoch(ours, x_dev[:k], y_dev[:k], opt_ours, spec, size, device, cfg)  # noqa: E731
    run_ref = lambda: _reference_epoch(ref, data, opt_ref, device, cfg)  # noqa: E731
    run_ours(batch)  # warm-up: allocator, oneDNN/cuDNN kernel choice
    _reference_epoch(ref, torch.utils.data.Subset(data, range(batch)), opt_ref, device, cfg)
    o, r = [], []
    for _ in range(REPEATS):
        o.append(_timed(run_ours, n_images, device))
        r.append(_timed(run_ref, n_images, device))
    ours_ips, ref_ips = statistics.median(o), statistics.median(r)
    return {"ours_img_s": round(ours_ips, 2), "reference_img_s": round(ref_ips, 2),
            "ratio": round(ours_ips / ref_ips, 3)}


def main() -> dict[str, object]:
    device = resolve_device(os.environ.get("GLIOGRADE_BENCH_DEVICE", "cpu"))
    torch.backends.cudnn.benchmark = device.type == "cuda"
    scale = 8 if device.type == "cuda" else 1
    results: dict[str, object] = {"device": str(device), "threads": torch.get_num_threads()}
    for name, size, batch, n in CASES:
        res = bench_case(name, size, batch, n * scale, device)
        results[f"{name}@{size}"] = {"batch": batch, "images_per_run": n * scale, **res}
        print(f"{name}@{size} on {device}: ours {res['ours_img_s']} img/s, reference {res['reference_img_s']} img/s, "
              f"ratio {res['ratio']}", flush=True)
    results["target"] = "ratio >= 1.0 for every model"
    results["target_met"] = all(results[f"{c[0]}@{c[1]}"]["ratio"] >= 1.0 for c in CASES)  # type: ignore[index]
    return results


if __name__ == "__main__":
    main()
