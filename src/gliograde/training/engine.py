"""The training engine: one readable loop, early stopping, checkpoints, resume.

Batches are read from uint8 tensors and normalised on the fly (:func:`normalise_batch`, in
:mod:`gliograde.training.inputs` with the frozen-backbone feature cache), in channels_last; evaluation
runs under ``torch.inference_mode``; CUDA adds AMP (bf16 where supported) and cudnn.benchmark, and the
GPU-resident path (:mod:`gliograde.training.device`) keeps the uint8 cache and its augmentation there.
Randomness is reseeded at every epoch from ``(seed, epoch)``, so a run resumed from its last checkpoint
ends with the same weights as an uninterrupted one (bit-exact on CPU). Checkpoints are :mod:`gliograde.weights`'.

>>> # import torch; from gliograde.models import create_model; from gliograde.presets import get_preset
>>> # torch.manual_seed(0); model = create_model("efficientnet_lite0", num_classes=3)
>>> # res = fit(model, x_train, y_train, x_val, y_val, get_preset("quick"), out_dir=Path("run"))
>>> # from gliograde.report.plots import plot_history; plot_history(res.history, Path("run/history.png"))
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import nn

from gliograde import weights as ckpt
from gliograde.config import TrainCfg
from gliograde.errors import InputError
from gliograde.models import ModelSpec
from gliograde.progress import task_progress
from gliograde.training.device import resolve_device
from gliograde.training.inputs import (
    Prepare,
    StochasticAug,
    TrainingInputs,
    backbone_features,
    image_prepare,
    normalise_batch,
    training_inputs,
)

__all__ = [
    "FitResult", "Prepare", "StochasticAug", "backbone_features", "evaluate", "fit", "lr_at",
    "make_optimizer", "normalise_batch", "predict_proba", "resolve_device", "train_one_epoch",
]

logger = logging.getLogger(__name__)


@dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes:
        history: one dict per epoch: epoch (1-based), train_loss, train_acc, val_loss, val_acc, lr, seconds.
        best_epoch: epoch whose weights the model holds (lowest validation loss; the last one without validation).
        stopped_epoch: last epoch trained (< cfg.epochs when early stopping fired).
        model: the trained model, best-epoch weights restored, in eval mode.
    """

    history: list[dict[str, float]]
    best_epoch: int
    stopped_epoch: int
    model: nn.Module


def lr_at(epoch: int, cfg: TrainCfg) -> float:
    """Learning rate of 0-based ``epoch``: constant, or cosine from ``cfg.lr`` towards 0 at ``cfg.epochs``."""
    if cfg.scheduler == "cosine":
        return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * epoch / max(cfg.epochs, 1)))
    return cfg.lr


def _autocast(device: torch.device, cfg: TrainCfg) -> torch.autocast:
    dtype = torch.bfloat16 if device.type != "cuda" or torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast(device.type, dtype=dtype, enabled=cfg.amp and device.type == "cuda")


def train_one_epoch(
    net: nn.Module,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    cfg: TrainCfg,
    *,
    prepare: Prepare,
    generator: torch.Generator,
    scaler: torch.amp.GradScaler,
) -> tuple[float, float]:
    """One pass over ``inputs`` in a shuffled order drawn from ``generator``.

    Args:
        net: the module trained (whole model, or the head on cached features).
        inputs: (N, ...) uint8 images or float features, on any device.
        labels: (N,) int64 class indices.
        prepare: turns one batch of ``inputs`` into ``net``'s float input on its device.

    Returns:
        (mean training loss, training accuracy) over the epoch.
    """
    device = labels.device
    total_loss, correct = torch.zeros((), device=device), torch.zeros((), device=device)
    order = torch.randperm(len(labels), generator=generator).to(inputs.device)
    for idx in torch.split(order, cfg.batch_size):
        x, y = prepare(inputs[idx]), labels[idx.to(device)]
        with _autocast(device, cfg):
            logits = net(x)
            loss = F.cross_entropy(logits.float(), y, label_smoothing=cfg.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        total_loss += loss.detach() * len(y)
        correct += (logits.argmax(1) == y).sum()
    return float(total_loss) / len(labels), float(correct) / len(labels)


@torch.inference_mode()
def _evaluate(net: nn.Module, inputs: torch.Tensor, labels: torch.Tensor | None, cfg: TrainCfg,
              prepare: Prepare) -> tuple[float, float, npt.NDArray[np.float64]]:
    net.eval()
    device = next(net.parameters()).device
    chunks = []
    for batch in torch.split(inputs, cfg.batch_size):
        with _autocast(device, cfg):
            chunks.append(net(prepare(batch)).float())
    logits = torch.cat(chunks)
    probs = logits.softmax(1).double().cpu().numpy()
    if labels is None or len(labels) == 0:
        return float("nan"), float("nan"), probs
    y = labels.to(logits.device)
    loss = F.cross_entropy(logits, y, label_smoothing=cfg.label_smoothing)
    return float(loss), float((logits.argmax(1) == y).float().mean()), probs


def evaluate(model: nn.Module, images_uint8: torch.Tensor, labels: torch.Tensor | npt.ArrayLike,
             spec: ModelSpec, cfg: TrainCfg) -> tuple[float, float, npt.NDArray[np.float64]]:
    """Loss, accuracy and class probabilities of ``model`` on uint8 images (inference mode).

    Args:
        images_uint8: (N, C, H, W) uint8.
        labels: (N,) int class indices.

    Returns:
        (mean cross-entropy with ``cfg.label_smoothing``, accuracy, probabilities (N, K) float64).
    """
    device = next(model.parameters()).device
    size = cfg.image_size or spec.input_size
    return _evaluate(model, images_uint8, _as_labels(labels, device), cfg, image_prepare(spec, size, device))


def predict_proba(model: nn.Module, images_uint8: torch.Tensor, spec: ModelSpec, size: int,
                  batch_size: int = 64, device: str | torch.device | None = None) -> npt.NDArray[np.float64]:
    """Class probabilities (N, K) float64 (rows sum to 1) for (N, C, H, W) uint8 images.

    The model is moved to ``device`` (default: where its parameters are) and left in eval mode.
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    cfg = TrainCfg(batch_size=batch_size, amp=False)
    return _evaluate(model, torch.as_tensor(images_uint8), None, cfg, image_prepare(spec, size, device))[2]


def make_optimizer(net: nn.Module, cfg: TrainCfg) -> torch.optim.Optimizer:
    """SGD with momentum (the study) or AdamW, over the parameters that require gradients."""
    params = [p for p in net.parameters() if p.requires_grad]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    raise InputError(f"unknown optimizer {cfg.optimizer!r}; choose sgd or adamw")


def _set_train_mode(model: nn.Module, net: nn.Module, cfg: TrainCfg) -> None:
    # A frozen backbone keeps its BatchNorm statistics: only the head is in training mode.
    model.eval() if cfg.freeze_backbone else model.train()
    net.train()


def _prepare(
    model: nn.Module, train_images: torch.Tensor, train_labels: torch.Tensor | npt.ArrayLike,
    val_images: torch.Tensor | None, val_labels: torch.Tensor | npt.ArrayLike | None, cfg: TrainCfg,
    stochastic_aug: StochasticAug | None,
) -> tuple[TrainingInputs, torch.Tensor, torch.Tensor | None, torch.device]:
    """Device, threads, labels and the loop's inputs; an empty validation split means no early stopping."""
    device = resolve_device(cfg.device)
    if cfg.num_threads > 0:
        torch.set_num_threads(cfg.num_threads)
    torch.backends.cudnn.benchmark = device.type == "cuda"
    y_train = _as_labels(train_labels, device)
    y_val = None if val_labels is None else _as_labels(val_labels, device)
    if val_images is None or y_val is None or len(y_val) == 0:
        val_images, y_val = None, None  # no validation: no early stopping, the last epoch is kept
    inp = training_inputs(model, torch.as_tensor(train_images),
                          None if val_images is None else torch.as_tensor(val_images), cfg, stochastic_aug, device)
    return inp, y_train, y_val, device


def fit(
    model: nn.Module,
    train_images: torch.Tensor,
    train_labels: torch.Tensor | npt.ArrayLike,
    val_images: torch.Tensor | None,
    val_labels: torch.Tensor | npt.ArrayLike | None,
    cfg: TrainCfg,
    *,
    out_dir: Path | None = None,
    progress: bool = True,
    stochastic_aug: StochasticAug | None = None,
) -> FitResult:
    """Train ``model`` (built by :func:`gliograde.models.create_model`) with early stopping on validation loss.

    Args:
        train_images: (N, C, H, W) uint8, already augmented by the caller.
        train_labels: (N,) int class indices.
        val_images, val_labels: the inner validation split of the *training* patients (None: no
            early stopping, the last epoch is kept).
        cfg: optimiser, schedule, epochs, patience, seed, device.
        out_dir: checkpoint folder; a checkpoint already there is resumed.
        stochastic_aug: optional ``uint8 batch -> uint8 batch`` applied to each training batch; if it
            has ``reset(seed)`` (like :class:`gliograde.augment.policy.StochasticSVHN`) it is reseeded per epoch.

    Returns:
        :class:`FitResult`; the model holds the best epoch's weights.
    """
    inp, y_train, y_val, device = _prepare(model, train_images, train_labels, val_images, val_labels, cfg,
                                           stochastic_aug)
    optimizer = make_optimizer(inp.net, cfg)
    use_scaler = cfg.amp and device.type == "cuda" and not torch.cuda.is_bf16_supported()
    scaler = torch.amp.GradScaler(device.type, enabled=use_scaler)
    state = ckpt.new_train_state(cfg, len(y_train), 0 if y_val is None else len(y_val))
    best_sd: dict[str, torch.Tensor] | None = None
    if out_dir is not None and ckpt.checkpoint_exists(out_dir):
        state, best_sd = ckpt.load_checkpoint(out_dir, inp.net, optimizer, scaler, state)
        logger.info("resuming %s after epoch %d", out_dir, state["epoch"])
    epochs = range(state["epoch"], cfg.epochs) if not state["finished"] else range(0)
    # the epochs' progress line: shown when this training is the whole command (train), not inside a CV unit,
    # whose run shows one line over its units
    with task_progress(len(epochs), "epochs", unit="epoch", enabled=progress, leave=False) as bar:
        for epoch in epochs:
            t0 = time.perf_counter()
            _reseed(cfg, epoch, inp.generator, stochastic_aug)
            for group in optimizer.param_groups:
                group["lr"] = lr_at(epoch, cfg)
            _set_train_mode(model, inp.net, cfg)
            tr_loss, tr_acc = train_one_epoch(inp.net, inp.train_x, y_train, optimizer, cfg,
                                              prepare=inp.prepare_train, generator=inp.generator, scaler=scaler)
            va_loss, va_acc = _validate(inp, y_val, cfg)
            row = {"epoch": epoch + 1, "train_loss": tr_loss, "train_acc": tr_acc, "val_loss": va_loss,
                   "val_acc": va_acc, "lr": lr_at(epoch, cfg), "seconds": time.perf_counter() - t0}
            if _record_epoch(state, row, cfg, has_val=y_val is not None):
                best_sd = {k: v.detach().clone() for k, v in inp.net.state_dict().items()}
            # DEBUG: per-epoch detail only with -v (history.csv keeps every epoch)
            logger.debug("epoch %d: train loss %.4f acc %.3f | val loss %.4f acc %.3f (%.1fs)", epoch + 1,
                         tr_loss, tr_acc, va_loss, va_acc, row["seconds"])
            if out_dir is not None:
                ckpt.save_checkpoint(out_dir, inp.net, optimizer, scaler, state, best_sd)
            bar.update()
            if state["finished"]:
                break
    if best_sd is not None:
        inp.net.load_state_dict(best_sd)
    model.eval()
    return FitResult(history=state["history"], best_epoch=state["best_epoch"], stopped_epoch=state["epoch"],
                     model=model)


def _as_labels(labels: torch.Tensor | npt.ArrayLike, device: torch.device) -> torch.Tensor:
    """(N,) class indices as an int64 tensor on ``device`` (a tensor may already be there: the resident path)."""
    if isinstance(labels, torch.Tensor):
        return labels.to(device=device, dtype=torch.long)
    return torch.as_tensor(np.asarray(labels), dtype=torch.long, device=device)


def _reseed(cfg: TrainCfg, epoch: int, gen: torch.Generator, stochastic_aug: StochasticAug | None) -> None:
    """Make every draw of ``epoch`` a pure function of (seed, epoch), so a resumed run is bit-exact."""
    seed = cfg.seed * 1_000_003 + epoch
    torch.manual_seed(seed)  # dropout etc.
    gen.manual_seed(seed)  # batch order
    reset = getattr(stochastic_aug, "reset", None)
    if callable(reset):  # e.g. augment.StochasticSVHN: restart its stream per epoch
        reset(seed)


def _validate(inp: TrainingInputs, y_val: torch.Tensor | None, cfg: TrainCfg) -> tuple[float, float]:
    """Validation (loss, accuracy), or (nan, nan) without a validation split."""
    if inp.val_x is None or y_val is None:
        return math.nan, math.nan
    loss, acc, _ = _evaluate(inp.net, inp.val_x, y_val, cfg, inp.prepare_eval)
    return loss, acc


def _record_epoch(state: ckpt.TrainState, row: dict[str, float], cfg: TrainCfg, *, has_val: bool) -> bool:
    """Append ``row`` to ``state``, update best epoch / patience / finished; True when the epoch is the new best."""
    state["history"].append(row)
    state["epoch"] = int(row["epoch"])
    improved = not has_val or row["val_loss"] < state["best_val_loss"]
    if improved:
        state["best_epoch"], state["bad_epochs"] = state["epoch"], 0
        state["best_val_loss"] = row["val_loss"] if has_val else math.inf
    else:
        state["bad_epochs"] += 1
    state["finished"] = state["epoch"] >= cfg.epochs or 0 < cfg.patience <= state["bad_epochs"]
    return improved

