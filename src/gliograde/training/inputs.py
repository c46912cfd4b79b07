"""What the training loop feeds the network: normalised uint8 batches, or cached backbone features.

:func:`normalise_batch` turns a uint8 batch into the model's float input; :func:`image_prepare`
wraps it (with optional per-batch augmentation) as the ``prepare`` callable the loop calls on each
batch; :func:`training_inputs` decides whether the whole model trains on images or, with a frozen
backbone and no per-batch augmentation, only the head trains on features computed once
(:func:`backbone_features`). All are re-exported by :mod:`gliograde.training.engine`.

    >>> from gliograde.models import ModelSpec
    >>> spec = ModelSpec("m", 4, (0.5,) * 3, (0.5,) * 3, "fc", "l")
    >>> normalise_batch(torch.zeros(2, 1, 8, 8, dtype=torch.uint8), spec, 4).shape
    torch.Size([2, 3, 4, 4])
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from gliograde.config import TrainCfg
from gliograde.models import ModelSpec, get_submodule, model_spec
from gliograde.training.device import maybe_compile, resident

#: ``uint8 batch (B, C, H, W) -> uint8 batch`` applied to each training batch (e.g. StochasticSVHN).
StochasticAug = Callable[[torch.Tensor], torch.Tensor]
#: One batch of the loop's inputs -> the trained network's float input, on its device.
Prepare = Callable[[torch.Tensor], torch.Tensor]


def normalise_batch(x_uint8: torch.Tensor, spec: ModelSpec, size: int) -> torch.Tensor:
    """uint8 images to the model's float input.

    Args:
        x_uint8: (B, C, H, W) uint8 in [0, 255]. C == 1 (grey) is repeated to 3 channels; C == 3
            passes through; any other C is kept (the model must be built with ``in_chans=C``) and
            normalised with the channel-averaged mean/std.
        spec: gives mean/std.
        size: output side; resized (bilinear, antialiased) when H or W differs.

    Returns:
        (B, C', size, size) float32, channels_last, ``(x / 255 - mean) / std``.

    Raises:
        ValueError: ``x_uint8`` is not a 4-D uint8 tensor.
    """
    if x_uint8.ndim != 4 or x_uint8.dtype != torch.uint8:
        raise ValueError(f"expected (B, C, H, W) uint8, got {tuple(x_uint8.shape)} {x_uint8.dtype}")
    x = x_uint8.float().div_(255.0)
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    c = x.shape[1]
    mean, std = torch.tensor(spec.mean), torch.tensor(spec.std)
    if c == 1:
        x = x.expand(-1, 3, -1, -1)
    elif c != 3:
        mean, std = mean.mean().expand(c), std.mean().expand(c)
    mean, std = mean.to(x.device).view(1, -1, 1, 1), std.to(x.device).view(1, -1, 1, 1)
    return ((x - mean) / std).contiguous(memory_format=torch.channels_last)


def image_prepare(spec: ModelSpec, size: int, device: torch.device, aug: StochasticAug | None = None) -> Prepare:
    """``prepare`` for uint8 image batches: optional ``aug``, then :func:`normalise_batch` on ``device``.

    ``aug`` runs on the CPU, unless it has a true ``on_device`` attribute (like
    :class:`gliograde.augment.policy.BatchedSVHN`): then it runs where the batch is, after moving it to ``device``.
    """
    on_device = bool(getattr(aug, "on_device", False))

    def prepare(batch: torch.Tensor) -> torch.Tensor:
        if aug is not None and not on_device:
            batch = aug(batch.cpu())
        batch = batch.to(device, non_blocking=True)
        if aug is not None and on_device:
            batch = aug(batch)
        return normalise_batch(batch, spec, size)

    return prepare


@torch.inference_mode()
def backbone_features(model: nn.Module, images_uint8: torch.Tensor, spec: ModelSpec, size: int,
                      batch_size: int, device: torch.device) -> torch.Tensor:
    """The head's input for every image: (N, D) float32, computed once in eval mode.

    Args:
        model: a :func:`gliograde.models.create_model` network whose head is ``spec.classifier``.
        images_uint8: (N, C, H, W) uint8.
    """
    captured: list[torch.Tensor] = []
    head = get_submodule(model, spec.classifier)
    hook = head.register_forward_pre_hook(lambda _m, args: captured.append(args[0].float()))
    try:
        model.eval()
        prepare = image_prepare(spec, size, device)
        for batch in torch.split(images_uint8, batch_size):
            model(prepare(batch))
    finally:
        hook.remove()
    if captured:
        return torch.cat(captured)
    if not isinstance(head, nn.Linear):
        raise TypeError(f"{spec.name}.{spec.classifier} is {type(head).__name__}, expected nn.Linear")
    return torch.zeros(0, head.in_features, device=device)


@dataclass
class TrainingInputs:
    """What :func:`gliograde.training.engine.fit` trains, and on what.

    Attributes:
        net: the module whose parameters are optimised (the whole model, or its head).
        train_x: (N, C, H, W) uint8 images, or (N, D) float32 cached features.
        val_x: same for the validation rows, or None.
        prepare_train, prepare_eval: batch of ``train_x`` / ``val_x`` -> ``net``'s input.
        generator: CPU generator for the batch order (reseeded per epoch by the loop).
    """

    net: nn.Module
    train_x: torch.Tensor
    val_x: torch.Tensor | None
    prepare_train: Prepare
    prepare_eval: Prepare
    generator: torch.Generator


def training_inputs(model: nn.Module, train_x: torch.Tensor, val_x: torch.Tensor | None, cfg: TrainCfg,
                    stochastic_aug: StochasticAug | None, device: torch.device) -> TrainingInputs:
    """Choose what is trained and on what: the whole model on images, or the head on cached features.

    Moves ``model`` to ``device`` (channels_last) and, with ``cfg.freeze_backbone``, freezes every
    parameter outside the head.
    """
    spec = model_spec(model)
    size = cfg.image_size or spec.input_size
    model.to(device, memory_format=torch.channels_last)  # type: ignore[call-overload]  # stubs omit memory_format
    gen = torch.Generator()
    head = get_submodule(model, spec.classifier)
    if cfg.freeze_backbone:
        for p in model.parameters():
            p.requires_grad_(False)
        for p in head.parameters():
            p.requires_grad_(True)
    if cfg.freeze_backbone and stochastic_aug is None:
        # Features never change, so compute them once: every epoch then costs a linear layer.
        bs = max(cfg.batch_size, 64)
        feats = backbone_features(model, train_x, spec, size, bs, device)
        val_feats = backbone_features(model, val_x, spec, size, bs, device) if val_x is not None else None

        def to_dev(f: torch.Tensor) -> torch.Tensor:
            return f.to(device)

        return TrainingInputs(head, feats, val_feats, to_dev, to_dev, gen)
    if device.type == "cuda" or resident(cfg):  # the uint8 cohort is small; keep it on the GPU
        train_x = train_x.to(device)
        val_x = val_x.to(device) if val_x is not None else None
    maybe_compile(model, cfg)
    return TrainingInputs(model, train_x, val_x, image_prepare(spec, size, device, stochastic_aug),
                          image_prepare(spec, size, device), gen)
