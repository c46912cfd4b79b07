"""The study's whole protocol, timed on one device, and projected to the full recipe.

    python -m benchmarks study_protocol --device cpu --preset quick        # a laptop: minutes
    python -m benchmarks study_protocol --device cuda --preset paper --run-all   # one GPU: the whole protocol, run

The cohort is the demo's size and grades: 130 patients (30 / 43 / 57 of grades 2 / 3 / 4), one 227x227
grey uint8 ROI crop each (synthetic disk tumours: the time does not depend on the pixels), or ``--cohort DIR``
(an ingested cohort, e.g. ``demo-out/cohort``). The protocol is the study's comparison: the CNN
configurations ``full``, ``no-pretrain`` and ``no-aug`` on 10 folds under both protocols (honest and paper),
60 CNN units; the fourth configuration, ``handcrafted``, runs on the CPU and is timed by ``bench_cv``.

What is measured (medians of ``--repeats``), on ``--device``:

1. the fixed 57x expansion of one honest fold on the device (img/s);
2. per network (AlexNet at 227 px and EfficientNet-Lite0 at 224 px, random initial weights, and the preset's
   recipe): training img/s of our loop (``train_one_epoch``, uint8 batches normalised on the device,
   channels_last, bf16 autocast on CUDA) and of a plain torchvision loop (per-image normalisation in a
   ``Dataset``, a ``DataLoader``, NCHW), their ratio, and inference img/s;
3. one whole unit of the preset's ``full`` configuration (expansion, fit, prediction), for real, against its
   projection (the check that the projection is right);
4. with ``--run-all``: every CNN unit of the protocol, for real (wall time of the whole protocol);
5. with ``--concurrent 1,2,4`` (and then only this): for each K, K units of 3. at once as K processes
   sharing the device, through gliograde's Ray executor (``ExecutorCfg(name="ray", unit_gpus=1/K)`` on CUDA,
   ``unit_cpus`` = cores / K on a CPU), the route of ``gliograde cv --executor ray --unit-gpus 0.25``: wall
   time, aggregate training img/s, speed-up over K=1, peak GPU memory per process, and ``concurrent_choice``,
   the smallest K within 5 % of the best aggregate rate (whether folds in parallel pay, and how many):

    python -m benchmarks study_protocol --device cuda --preset paper --epochs 5 --concurrent 1,2,4,8

Projected: the whole protocol for the preset and for the full recipe (``paper``: ImageNet AlexNet fine-tuned
with SGD for at most 20 epochs on the 57x expansion) with :mod:`gliograde.training.estimate`'s unit model at
the measured rates, every epoch counted (early stopping ends sooner; fixed costs per unit are not counted).
On CUDA it also reports the peak GPU memory and the fraction of the dense bf16 roofline reached: training
FLOP/s (3x the forward FLOPs, counted by ``torch.utils.flop_counter``, per image, times img/s) over the GPU's peak
(:func:`gliograde.training.device.bf16_roofline_tflops`).
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.bench_augment import _cohort
from benchmarks.bench_train_throughput import bench_case
from gliograde.augment.policy import build_transforms, expand_training
from gliograde.config import AugmentCfg, ExecutorCfg, TrainCfg
from gliograde.errors import GliogradeError, InputError
from gliograde.executor import INSTALL, run_tasks
from gliograde.models import create_model, get_spec
from gliograde.presets import get_preset
from gliograde.splits import inner_split, make_folds, paper_folds
from gliograde.training.device import bf16_roofline_tflops, expansion_device, resolve_device, stochastic_augmenter
from gliograde.training.engine import fit, predict_proba
from gliograde.training.estimate import Rates, measure_rates, unit_seconds, unit_work

GRADES = (30, 43, 57)  # the demo cohort: patients of grades 2, 3, 4
CONFIGS = {"full": {}, "no-pretrain": {"weights": "none"}, "no-aug": {"mode": "none"}}
NETWORKS = (("alexnet", 227), ("efficientnet_lite0", 224))
#: ``concurrent_choice``: the smallest K whose aggregate rate is within this fraction of the best K's.
WITHIN = 0.05


def _ks(text: str) -> tuple[int, ...]:
    """``--concurrent 2,4`` -> (1, 2, 4): distinct positive integers, ascending, with the baseline K=1."""
    try:
        ks = {int(k) for k in text.split(",")}
    except ValueError:
        ks = {0}
    if min(ks) < 1:
        raise argparse.ArgumentTypeError(f"got {text!r}; expected positive integers separated by commas, e.g. 1,2,4")
    return tuple(sorted(ks | {1}))


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"got {text!r}; expected a positive integer")
    return int(text)


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks study_protocol", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default: auto)")
    p.add_argument("--preset", default="quick", help="the recipe run for real (default: quick)")
    p.add_argument("--patients", type=int, default=sum(GRADES), help="synthetic patients (default: 130)")
    p.add_argument("--folds", type=int, default=10, help="folds (default: 10)")
    p.add_argument("--cohort", type=Path, default=None, help="an ingested cohort instead of the synthetic one")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats per rate (default: 3)")
    p.add_argument("--batch-images", type=int, default=None,
                   help="images per timed training run (default: one batch of 8 on CPU, 8 recipe batches on CUDA)")
    p.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs for the real runs")
    p.add_argument("--run-all", action="store_true", help="run every CNN unit of the protocol for real")
    p.add_argument("--networks", default=",".join(n for n, _ in NETWORKS),
                   help="networks whose loop is timed against the plain torchvision loop "
                        "(default: alexnet,efficientnet_lite0)")
    p.add_argument("--concurrent", type=_ks, default=None, metavar="K1,K2,...",
                   help="for each K, run K units of the preset's full configuration at once as K Ray processes "
                        "sharing the device; K=1, the baseline, is always run (keep units short with --epochs; "
                        "default: off)")
    p.add_argument("--concurrent-units", type=_positive, default=None, metavar="N",
                   help="units run per K with --concurrent (default: K, one wave)")
    return p.parse_args(argv)


def _data(args: argparse.Namespace) -> tuple[torch.Tensor, torch.Tensor, np.ndarray, np.ndarray]:
    """(images (N, C, 227, 227) uint8, masks (N, 227, 227) bool, labels (N,), patient ids (N,))."""
    if args.cohort is not None:
        from gliograde.data.dataset import load_cohort  # only with --cohort: reads the cache

        c = load_cohort(args.cohort)
        return torch.from_numpy(c.images), torch.from_numpy(c.masks), c.labels, c.patient_ids
    n = args.patients
    images, masks = _cohort(n, 227, seed=0)
    counts = np.round(np.array(GRADES) / sum(GRADES) * n).astype(int)
    labels = np.repeat(np.arange(3), counts)[:n]
    labels = np.r_[labels, np.full(n - len(labels), 2)]
    return images, masks, labels, np.array([f"p{i:03d}" for i in range(n)])


@lru_cache(maxsize=8)
def _weights(model: str, wanted: str) -> str:
    """``wanted``, or ``none`` when the ImageNet weights are not installed (timing does not depend on them)."""
    if wanted != "imagenet":
        return wanted
    try:
        create_model(model, 3, "imagenet")
    except (GliogradeError, FileNotFoundError):
        return "none"
    return "imagenet"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _run_unit(data: tuple[torch.Tensor, torch.Tensor, np.ndarray, np.ndarray], train: TrainCfg, aug: AugmentCfg,
              fold_rows: tuple[np.ndarray, np.ndarray], paper: bool) -> dict[str, float]:
    """One CNN unit as the experiment runs it (expand where the resident path says, fit, predict); seconds."""
    images, masks, labels, pids = data
    device = resolve_device(train.device)
    tr, te = fold_rows
    _sync(device)
    t0 = time.perf_counter()
    where = expansion_device(train)
    if paper:
        if aug.mode == "fixed":
            pool, y, _ = expand_training(images, masks, labels, np.arange(len(labels)), aug, device=where)
        else:
            pool, y = images.to(device), torch.as_tensor(labels, device=device)
        x_tr, y_tr, x_va, y_va = pool[tr], y[tr], pool[te], y[te]
        x_te = x_va
    else:
        itr, iva = inner_split(pids[tr], labels[tr], train.val_fraction, train.seed)
        x_tr, y_tr, _ = expand_training(images, masks, labels, tr[itr], aug, test_idx=tr[iva], device=where)
        x_va, y_va, x_te = images[tr[iva]], labels[tr[iva]], images[te]
    _sync(device)
    t1 = time.perf_counter()
    torch.manual_seed(train.seed)
    model = create_model(train.model, 3, _weights(train.model, train.weights))
    stochastic = stochastic_augmenter(train) if aug.mode == "stochastic" else None
    res = fit(model, x_tr, y_tr, x_va, y_va, train, progress=False, stochastic_aug=stochastic)
    predict_proba(res.model, x_te, get_spec(train.model), train.image_size or get_spec(train.model).input_size,
                  batch_size=train.batch_size)
    _sync(device)
    return {"expand_s": t1 - t0, "fit_predict_s": time.perf_counter() - t1, "unit_s": time.perf_counter() - t0,
            "epochs": float(res.stopped_epoch), "train_images": float(len(x_tr))}


def _settings(preset: str, config: str, device: str, epochs: int | None) -> tuple[TrainCfg, AugmentCfg]:
    p = get_preset(preset)
    change = CONFIGS[config]
    train = replace(p.train, device=device, weights=change.get("weights", p.train.weights))
    if epochs is not None:
        train = replace(train, epochs=epochs)
    return train, replace(p.augment, mode=change.get("mode", p.augment.mode))  # type: ignore[arg-type]


def _protocol_seconds(preset: str, n: int, folds: int, rates: Rates, device: str) -> dict[str, float]:
    """Projected seconds per configuration and protocol, and in all, for ``preset`` at ``rates``."""
    out: dict[str, float] = {}
    for config in CONFIGS:
        train, aug = _settings(preset, config, device, None)
        t = len(build_transforms(aug)) if aug.mode == "fixed" else 1
        for proto in ("honest", "paper"):
            w = unit_work(rows=n, folds=folds, val_fraction=train.val_fraction, transforms=t, epochs=train.epochs,
                          paper=proto == "paper", frozen=train.freeze_backbone and aug.mode != "stochastic")
            out[f"{config}/{proto}"] = round(folds * unit_seconds(w, rates), 1)
    out["total"] = round(sum(out.values()), 1)
    return out


def _forward_flops(model_name: str, size: int) -> float:
    """FLOPs of one forward pass of one image (multiply-add = 2), counted by torch's flop counter."""
    from torch.utils.flop_counter import FlopCounterMode  # only here: counts the ops of one forward

    model = create_model(model_name, 3, "none").eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    return float(counter.get_total_flops())


def _networks(device: torch.device, args: argparse.Namespace) -> dict[str, Any]:
    """Training img/s of our loop and of the plain torchvision loop, per network, with FLOPs and roofline."""
    out: dict[str, Any] = {}
    peak = bf16_roofline_tflops(device)
    for name, size in (n for n in NETWORKS if n[0] in args.networks.split(",")):
        batch = 8 if device.type == "cpu" else get_preset("paper" if name == "alexnet" else "modern").train.batch_size
        n = args.batch_images or (batch if device.type == "cpu" else 8 * batch)
        batch = min(batch, n)
        res: dict[str, Any] = dict(bench_case(name, size, batch, n, device))
        flops = _forward_flops(name, size)
        res["forward_gflop_per_image"] = round(flops / 1e9, 3)
        res["train_tflop_s"] = round(3 * flops * res["ours_img_s"] / 1e12, 3)
        res["roofline_fraction"] = None if peak is None else round(res["train_tflop_s"] / peak, 4)
        res["batch"], res["images_timed"] = batch, n
        out[f"{name}@{size}"] = res
        print(f"  {name}@{size}: ours {res['ours_img_s']} img/s, plain torchvision loop {res['reference_img_s']} "
              f"img/s (x{res['ratio']}), {res['forward_gflop_per_image']} GFLOP/forward, roofline fraction "
              f"{res['roofline_fraction'] if peak else 'n/a (no known bf16 peak for this device)'}", flush=True)
    return out


def _all_units(data: tuple[torch.Tensor, torch.Tensor, np.ndarray, np.ndarray], args: argparse.Namespace,
               device: str) -> dict[str, float]:
    """Every CNN unit of the protocol for real: wall seconds per configuration/protocol and in all."""
    _, _, labels, pids = data
    honest = [(np.asarray(rows_of(pids, f.train)), np.asarray(rows_of(pids, f.test)))
              for f in make_folds(pids, labels, args.folds, seed=0)]
    out: dict[str, float] = {}
    t_all = time.perf_counter()
    for config in CONFIGS:
        train, aug = _settings(args.preset, config, device, args.epochs)
        t = len(build_transforms(aug)) if aug.mode == "fixed" else 1
        pooled = np.repeat(labels, t)
        paper = [(np.asarray(f.train_rows), np.asarray(f.test_rows))
                 for f in paper_folds(len(pooled), pooled, args.folds, seed=0)]
        for proto, folds in (("honest", honest), ("paper", paper)):
            t0 = time.perf_counter()
            for k, rows in enumerate(folds):
                _run_unit(data, replace(train, seed=k), aug, rows, proto == "paper")
            out[f"{config}/{proto}"] = round(time.perf_counter() - t0, 1)
            print(f"  ran {config}/{proto}: {out[f'{config}/{proto}']} s", flush=True)
    out["total"] = round(time.perf_counter() - t_all, 1)
    return out


def rows_of(pids: np.ndarray, patients: tuple[str, ...]) -> list[int]:
    keep = set(patients)
    return [i for i, p in enumerate(pids) if p in keep]


@dataclass(frozen=True)
class _Unit:
    """One unit of a ``--concurrent`` wave: the recipe, the fold's rows, its share of the cores, and the
    wave's barrier (a folder where each unit of the wave, once warm, leaves a file and waits for the others)."""

    train: TrainCfg
    aug: AugmentCfg
    rows: tuple[np.ndarray, np.ndarray]
    threads: int
    barrier: Path
    wave_size: int


def _wait_for_wave(unit: _Unit, timeout_s: float = 300.0) -> None:
    """Return when every unit of the wave is warm (or after ``timeout_s``, if one failed), so that they start at
    once: a file per unit in a folder, as the units run on this machine (hand-written: Ray has no barrier)."""
    unit.barrier.mkdir(parents=True, exist_ok=True)
    (unit.barrier / str(os.getpid())).touch()
    end = time.monotonic() + timeout_s
    while sum(1 for _ in unit.barrier.iterdir()) < unit.wave_size and time.monotonic() < end:
        time.sleep(0.02)


def _timed_unit(unit: _Unit, data: tuple[torch.Tensor, torch.Tensor, np.ndarray, np.ndarray]) -> dict[str, float]:
    """:func:`_run_unit` (honest) in a Ray worker, timed from the moment its whole wave is ready.

    What a process pays once (building the network, CUDA's context) is paid before the wave starts: the
    figures are those of K units sharing the device, however Ray starts or reuses its workers. Returns
    :func:`_run_unit`'s figures with the start and end (epoch seconds: one clock on one machine), the torch
    threads, and on CUDA this process's peak GPU memory (GiB).
    """
    device = resolve_device(unit.train.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # as main() sets it in the driver
        torch.zeros(1, device=device)
        torch.cuda.reset_peak_memory_stats(device)
    else:
        torch.set_num_threads(unit.threads)  # the unit's share of the cores, whatever OMP_NUM_THREADS says
    create_model(unit.train.model, 3, _weights(unit.train.model, unit.train.weights))
    _wait_for_wave(unit)
    start = time.time()
    out = _run_unit(data, unit.train, unit.aug, unit.rows, paper=False)
    out.update(start=start, end=time.time(), torch_threads=float(torch.get_num_threads()))
    if device.type == "cuda":
        out["gpu_max_allocated_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
        out["gpu_max_reserved_gib"] = torch.cuda.max_memory_reserved(device) / 2**30
    return out


def _wave(k: int, units: list[_Unit], cfg: ExecutorCfg,
          data: tuple[torch.Tensor, torch.Tensor, np.ndarray, np.ndarray]) -> dict[str, Any]:
    """``units`` through :func:`gliograde.executor.run_tasks` with ``cfg`` (``k`` at once): the wall time, and the
    training images of the units over their span (first start to last end), the aggregate rate."""
    done: dict[int, dict[str, float]] = {}
    t0 = time.perf_counter()
    failures = run_tasks(_timed_unit, units, cfg, on_done=done.__setitem__, desc=f"K={k}", progress=False,
                         shared=data, unit="unit")
    wall = time.perf_counter() - t0
    out: dict[str, Any] = {"units": len(units), "unit_cpus": round(cfg.unit_cpus, 4),
                           "unit_gpus": round(cfg.unit_gpus, 4), "wall_s": round(wall, 2)}
    if failures:  # e.g. out of memory at a large K: a finding, not a crash; that K is left out of the choice
        return {**out, "failed": len(failures), "error": failures[0].error}
    runs = list(done.values())
    images = sum(u["epochs"] * u["train_images"] for u in runs)  # training images processed, every epoch
    span = max(u["end"] for u in runs) - min(u["start"] for u in runs)
    first = [u for i, u in done.items() if i < k]  # the first wave: k units that should run side by side
    overlap = max(0.0, min(u["end"] for u in first) - max(u["start"] for u in first))
    out.update(span_s=round(span, 2), unit_s_median=round(statistics.median(u["unit_s"] for u in runs), 2),
               train_images=int(images), img_s=round(images / span, 2), img_s_wall=round(images / wall, 2),
               overlap=round(overlap / (max(u["end"] for u in first) - min(u["start"] for u in first)), 2),
               torch_threads=int(runs[0]["torch_threads"]))
    if "gpu_max_allocated_gib" in runs[0]:
        out["gpu_peak_allocated_gib_per_process"] = round(max(u["gpu_max_allocated_gib"] for u in runs), 2)
        out["gpu_peak_reserved_gib_per_process"] = round(max(u["gpu_max_reserved_gib"] for u in runs), 2)
    return out


def _concurrent(data: tuple[torch.Tensor, torch.Tensor, np.ndarray, np.ndarray], args: argparse.Namespace,
                device: torch.device) -> dict[str, Any]:
    """For each K of ``--concurrent``: K units of the preset's ``full`` configuration (honest folds) at once, as K
    Ray processes sharing ``device``, by gliograde's own executor (the route of ``gliograde cv --executor ray``).

    Ray is started here (``ray.init(num_cpus=cores, num_gpus=1 on CUDA)``) and shut down afterwards, unless it
    runs already. Returns ``concurrent`` (per K) and ``concurrent_choice`` (the smallest K within :data:`WITHIN`
    of the best aggregate rate).
    """
    try:
        import ray  # optional extra (gliograde[ray]), heavy: only with --concurrent
    except ImportError as err:
        raise InputError(f"--concurrent needs the ray package, which is not installed; {INSTALL}") from err
    cuda = device.type == "cuda"
    if cuda and device.index not in (None, 0):
        raise InputError(f"--concurrent with --device {device}: Ray gives its tasks the first visible GPU; run with "
                         f"CUDA_VISIBLE_DEVICES={device.index} and --device cuda")
    _, _, labels, pids = data
    folds = [(np.asarray(rows_of(pids, f.train)), np.asarray(rows_of(pids, f.test)))
             for f in make_folds(pids, labels, args.folds, seed=0)]
    train, aug = _settings(args.preset, "full", device.type, args.epochs)
    if cuda:
        torch.cuda.empty_cache()
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=os.cpu_count() or 1, num_gpus=1 if cuda else 0, include_dashboard=False)
    per_k: dict[str, dict[str, Any]] = {}
    try:
        cpus = float(ray.cluster_resources().get("CPU", 1))  # type: ignore[no-untyped-call]
        with tempfile.TemporaryDirectory(prefix="gg-waves-") as tmp:
            for k in args.concurrent:
                n = args.concurrent_units or k
                units = [_Unit(replace(train, seed=i), aug, folds[i % len(folds)], max(1, math.floor(cpus / k)),
                               Path(tmp, f"k{k}-wave{i // k}"), min(k, n - i // k * k)) for i in range(n)]
                cfg = ExecutorCfg(name="ray", unit_cpus=cpus / k, unit_gpus=1 / k if cuda else 0.0, retries=0)
                per_k[str(k)] = v = _wave(k, units, cfg, data)
                if "img_s" not in per_k["1"]:  # no baseline, nothing to compare with
                    raise GliogradeError(f"--concurrent: the K=1 unit failed ({per_k['1']['error']}); run the "
                                         "benchmark without --concurrent to see it, or give more --patients")
                if "img_s" in v:
                    v["speedup"] = round(v["img_s"] / per_k["1"]["img_s"], 2)
                _show_wave(k, v)
    finally:
        if started:
            ray.shutdown()
    rates = {int(k): v["img_s"] for k, v in per_k.items() if "img_s" in v}
    choice = min(k for k, r in rates.items() if r >= (1 - WITHIN) * max(rates.values())) if rates else None
    if cuda:
        note = "K processes on one GPU (unit_gpus 1/K); peak memory is torch's, without each process's CUDA context"
    else:
        note = (f"measured on a CPU ({int(cpus)} cores shared by the K processes): it says whether processes in "
                "parallel pay on this CPU, nothing about a GPU")
        if max(args.concurrent) > cpus:
            note += "; a K above the cores only oversubscribes them"
    print(f"  concurrent choice: K={choice} (the smallest K within {WITHIN:.0%} of the best aggregate rate); {note}")
    return {"concurrent": {"preset": args.preset, "model": train.model, "epochs": train.epochs, "per_k": per_k,
                           "note": note}, "concurrent_choice": choice}


def _show_wave(k: int, v: dict[str, Any]) -> None:
    """Print K's figures (a record of :func:`_wave`, with its ``speedup``)."""
    if "img_s" not in v:
        print(f"  concurrent K={k}: {v['failed']} of {v['units']} units failed ({v['error']})", flush=True)
        return
    mem = (f", peak GPU memory {v['gpu_peak_allocated_gib_per_process']} GiB per process"
           if "gpu_peak_allocated_gib_per_process" in v else "")
    print(f"  concurrent K={k}: {v['units']} units in {v['wall_s']} s wall, {v['span_s']} s from the first unit's "
          f"start to the last's end (the first {min(k, v['units'])} side by side for {v['overlap']:.0%} of theirs; "
          f"{v['unit_s_median']} s per unit): {v['img_s']} training img/s in all (x{v.get('speedup', 'n/a')} over "
          f"K=1; {v['img_s_wall']} img/s over the wall time, start-up included){mem}", flush=True)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    t_start = time.perf_counter()
    args = _args(argv)
    device = resolve_device(args.device)
    dev = str(device)
    torch.backends.cudnn.benchmark = device.type == "cuda"
    data = _data(args)
    n, shape = len(data[2]), (int(data[0].shape[1]), int(data[0].shape[2]), int(data[0].shape[3]))
    res: dict[str, Any] = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else
                           f"cpu ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads)",
                           "load_avg_1min": round(os.getloadavg()[0], 2), "patients": n, "folds": args.folds,
                           "preset": args.preset, "cnn_units": len(CONFIGS) * 2 * args.folds}
    print(f"  {res['device']}, load {res['load_avg_1min']}; {n} patients, {args.folds} folds, preset {args.preset}")
    if args.concurrent:  # 5. only: folds in parallel (1-4 are the runs without --concurrent)
        res.update(_concurrent(data, args, device))
        res["load_avg_1min_end"] = round(os.getloadavg()[0], 2)
        res["wall_s"] = round(time.perf_counter() - t_start, 1)
        return res
    # 1. the expansion of one honest fold, on the device
    fold_rows = np.arange(round(n * (args.folds - 1) / args.folds * 0.8))
    times = []
    for _ in range(args.repeats):
        _sync(device)
        t0 = time.perf_counter()
        out, _, _ = expand_training(data[0], data[1], data[2], fold_rows, AugmentCfg(), device=device)
        _sync(device)
        times.append(time.perf_counter() - t0)
        del out
    expand_img_s = len(fold_rows) * len(build_transforms()) / statistics.median(times)
    res["expansion"] = {"rows": len(fold_rows), "images": len(fold_rows) * 57,
                        "seconds": round(statistics.median(times), 3), "img_s": round(expand_img_s)}
    print(f"  expansion: {len(fold_rows)} rows x 57 in {res['expansion']['seconds']} s ({round(expand_img_s)} img/s)")
    # 2. the networks, our loop against the plain torchvision loop
    res["networks"] = _networks(device, args)
    # 3. one whole unit of the preset's `full` configuration, for real, against its projection
    train, aug = _settings(args.preset, "full", dev, args.epochs)
    batch = 8 if device.type == "cpu" else train.batch_size
    measured = replace(measure_rates(replace(train, weights="none"), shape, batch=min(batch, train.batch_size),
                                     repeats=args.repeats), expand=expand_img_s)
    pids, labels = data[3], data[2]
    f0 = make_folds(pids, labels, args.folds, seed=0)[0]
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    unit = _run_unit(data, train, aug, (np.asarray(rows_of(pids, f0.train)), np.asarray(rows_of(pids, f0.test))),
                     paper=False)
    t = len(build_transforms(aug)) if aug.mode == "fixed" else 1
    frozen = train.freeze_backbone and aug.mode != "stochastic"
    w = unit_work(rows=n, folds=args.folds, val_fraction=train.val_fraction, transforms=t, epochs=int(unit["epochs"]),
                  paper=False, frozen=frozen)
    # the unit's own rate (all its overheads in): what this preset's projection uses
    passes = w.train_images + w.val_images + w.test_images if frozen else w.epochs * w.train_images
    eff = passes / unit["fit_predict_s"]
    calibrated = Rates(train=eff, infer=eff if frozen else measured.infer, expand=expand_img_s,
                       source="one real unit")
    res["one_unit"] = {**{k: round(v, 2) for k, v in unit.items()},
                       "projected_s_at_quick_measured_rates": round(unit_seconds(w, measured), 2),
                       "effective_img_s": round(eff, 2)}
    if device.type == "cuda":
        res["gpu_max_memory_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
    print(f"  one unit ({args.preset}, full, honest fold 0): {res['one_unit']['unit_s']} s measured "
          f"({int(unit['epochs'])} epochs, {round(eff, 1)} img/s); the rates `gliograde cv` measures at its start "
          f"project {res['one_unit']['projected_s_at_quick_measured_rates']} s", flush=True)
    # 4. projections: this preset (at the real unit's rate) and the full recipe (paper, at the measured loop rate)
    rates = {args.preset: calibrated}
    if args.preset != "paper":
        paper = get_preset("paper").train
        infer = measure_rates(replace(paper, device=dev, weights="none", freeze_backbone=True), shape,
                              batch=min(batch, paper.batch_size), repeats=args.repeats).infer
        paper_train = res["networks"]["alexnet@227"]["ours_img_s"] if "alexnet@227" in res["networks"] else \
            measure_rates(replace(paper, device=dev, weights="none"), shape, batch=min(batch, paper.batch_size),
                          repeats=args.repeats).train
        rates["paper"] = Rates(train=paper_train, infer=infer, expand=expand_img_s, source="measured loop rate")
    res["rates"] = {k: {"train_img_s": round(v.train, 2), "infer_img_s": round(v.infer, 2),
                        "expand_img_s": round(v.expand), "source": v.source} for k, v in rates.items()}
    res["projection_s"] = {k: _protocol_seconds(k, n, args.folds, v, dev) for k, v in rates.items()}
    for k, v in res["projection_s"].items():
        print(f"  projection, whole protocol ({res['cnn_units']} CNN units), preset {k}: about "
              f"{v['total'] / 60:.1f} min ({v['total'] / 3600:.2f} h) on this device if every epoch runs", flush=True)
    if args.run_all:
        res["run_all_s"] = _all_units(data, args, dev)
        print(f"  whole protocol run for real: {res['run_all_s']['total']} s")
    alex = res["networks"].get("alexnet@227", {"ratio": 0.0})
    res["load_avg_1min_end"] = round(os.getloadavg()[0], 2)
    res["wall_s"] = round(time.perf_counter() - t_start, 1)
    res["target"] = "GPU: whole protocol <= 10 min and training >= 3x the plain torchvision loop; CPU: report"
    if device.type == "cuda":
        total = res.get("run_all_s", res["projection_s"]["paper"])["total"]
        res["target_met"] = bool(total <= 600 and alex["ratio"] >= 3)
    return res


if __name__ == "__main__":
    main()
