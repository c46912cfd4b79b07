"""How long CNN training will take: measured image rates and the work of each cross-validation unit.

:func:`measure_rates` times the recipe's own network on a few random uint8 images on the training
device (random initial weights: the time does not depend on them), and the expansion on two; the global
RNG is left as it was, so a run that measures first gives the same results. :func:`unit_work` counts the
images one (configuration, fold) unit expands, trains on and predicts, under either protocol, and
:func:`unit_seconds` turns counts and rates into seconds. ``gliograde cv`` logs the sum at the start of a
run (:mod:`gliograde.experiment.estimate`), and ``benchmarks/study_protocol.py`` uses the same model with
rates measured on more images.

    >>> w = unit_work(rows=130, folds=10, val_fraction=0.2, transforms=57, epochs=20, paper=False)
    >>> w.train_images, w.val_images, w.test_images
    (5358, 23, 13)
    >>> round(unit_seconds(w, Rates(train=100.0, infer=1000.0, expand=10000.0, source="example")), 1)
    1072.6
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from gliograde.augment.policy import build_transforms, expand
from gliograde.config import AugmentCfg, TrainCfg
from gliograde.models import create_model, model_spec
from gliograde.training.device import resolve_device
from gliograde.training.engine import _autocast, make_optimizer
from gliograde.training.inputs import normalise_batch


@dataclass(frozen=True)
class Rates:
    """Images per second of one recipe on one device.

    Attributes:
        train: forward + backward + optimiser step, from uint8 input (whole network trained).
        infer: forward in inference mode, from uint8 input (evaluation, prediction, frozen-backbone features).
        expand: output images of the fixed expansion.
        source: how they were obtained, for the printed line (e.g. ``measured now on cpu, 8 images``).
    """

    train: float
    infer: float
    expand: float
    source: str


@dataclass(frozen=True)
class UnitWork:
    """The images one CNN unit (one configuration on one fold) handles.

    Attributes:
        expanded: images the expansion writes (0 when nothing is expanded).
        train_images: training images per epoch (after expansion).
        val_images: images evaluated after each epoch (the inner split; the test fold under ``paper``).
        test_images: images predicted once at the end.
        epochs: the most epochs trained (early stopping may end sooner: the estimate counts every one).
        frozen: only the head trains, on backbone features computed once (each image is forwarded once).
    """

    expanded: int
    train_images: int
    val_images: int
    test_images: int
    epochs: int
    frozen: bool = False


def unit_work(*, rows: int, folds: int, val_fraction: float, transforms: int, epochs: int, paper: bool,
              frozen: bool = False) -> UnitWork:
    """The work of one unit on a cohort of ``rows`` images (one per patient, or the patient's slices).

    Honest: a fold trains on ``(folds-1)/folds`` of the rows, holds ``val_fraction`` of them out and expands the
    rest ``transforms`` times. Paper: the whole cohort is expanded, a fold trains on ``(folds-1)/folds`` of the
    pool and validates (and predicts) on the rest.
    """
    if paper:
        pool = rows * transforms
        test = round(pool / folds)
        return UnitWork(pool if transforms > 1 else 0, pool - test, test, test, epochs, frozen)
    test = round(rows / folds)
    val = round((rows - test) * val_fraction)
    train = (rows - test - val) * transforms
    return UnitWork(train if transforms > 1 else 0, train, val, test, epochs, frozen)


def unit_seconds(w: UnitWork, r: Rates) -> float:
    """Seconds for one unit at rates ``r`` (every epoch run; the frozen head's epochs count 0; fixed costs not)."""
    expand_s = w.expanded / r.expand
    if w.frozen:  # features of every image once, then milliseconds of head training per epoch
        return expand_s + (w.train_images + w.val_images + w.test_images) / r.infer
    return expand_s + w.epochs * (w.train_images / r.train + w.val_images / r.infer) + w.test_images / r.infer


def _median_seconds(fn: Callable[[], object], repeats: int, device: torch.device) -> float:
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def measure_rates(cfg: TrainCfg, image_shape: tuple[int, int, int], aug: AugmentCfg | None = None, *,
                  batch: int = 8, repeats: int = 3, expand_images: int = 8) -> Rates:
    """Time ``cfg``'s network on ``batch`` random (C, H, W) uint8 images after one warm-up step, on its device.

    Args:
        cfg: the recipe (model, image size, optimiser, device, amp); its weights are not loaded. With
            ``cfg.freeze_backbone`` no training step is timed: the forward pass is the cost (``train = infer``).
        image_shape: (C, H, W) of the cohort's cached images.
        aug: the expansion timed (default: the study's 57 transforms) on ``expand_images`` images.
        batch: images per timed step; repeats: timed steps (the median is used: one step of 4 images, timed
            while other work loaded the CPUs, made the demo's estimate 8x too long, so the default takes 3 of 8).

    Returns:
        :class:`Rates` (``source`` says how many images were timed, where).
    """
    device = resolve_device(cfg.device)
    c = image_shape[0]
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):  # leave every generator as it was: results do not change
        torch.manual_seed(0)
        model = create_model(cfg.model, 3, "none", in_chans=c if c not in (1, 3) else 3)
        model.to(device, memory_format=torch.channels_last)  # type: ignore[call-overload]  # stubs lack it
        spec = model_spec(model)
        size = cfg.image_size or spec.input_size
        x = torch.randint(0, 256, (max(batch, expand_images), *image_shape), dtype=torch.uint8, device=device)
        y = torch.arange(batch, device=device) % 3
        opt = make_optimizer(model, TrainCfg(**{**cfg.__dict__, "freeze_backbone": False}))

        def step() -> None:
            model.train()
            with _autocast(device, cfg):
                loss = F.cross_entropy(model(normalise_batch(x[:batch], spec, size)).float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        def infer() -> None:
            model.eval()
            with torch.inference_mode(), _autocast(device, cfg):
                model(normalise_batch(x[:batch], spec, size))

        transforms = build_transforms(aug)
        few = x[:expand_images]
        timed: list[tuple[Callable[[], object], int]] = [
            (infer, batch), (lambda: expand(few, None, transforms), expand_images * len(transforms))]
        if not cfg.freeze_backbone:
            timed.append((step, batch))
        rates: list[float] = []
        for fn, n in timed:
            fn()  # warm-up: allocator, kernel choice, warp plans
            rates.append(n / _median_seconds(fn, repeats, device))
    what = "forward only: frozen backbone" if cfg.freeze_backbone else "training step and forward"
    return Rates(train=rates[2] if len(rates) > 2 else rates[0], infer=rates[0], expand=rates[1],
                 source=f"measured now on {device.type}: {what}, {batch} images of {cfg.model}, "
                        f"{expand_images} expanded")
