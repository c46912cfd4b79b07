"""Grad-CAM evidence maps (pytorch-grad-cam) and a small overlay helper; no plotting library here.

>>> # heat = grad_cam(model, get_submodule(model, model.spec.cam_layer), x)   # (B, H, W) float32 in [0, 1]
>>> # rgb = overlay(crop_uint8, heat[0])                                      # (H, W, 3) uint8
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import numpy.typing as npt
import torch
from PIL import Image
from torch import nn


def grad_cam(model: nn.Module, layer: nn.Module, x: torch.Tensor,
             targets: list[int] | None = None) -> npt.NDArray[np.float32]:
    """Grad-CAM heatmaps of ``model`` for input ``x`` at ``layer``.

    Args:
        model: classifier returning logits (B, K); put in eval mode by the caller.
        layer: target layer (the last spatial feature map, ``ModelSpec.cam_layer``).
        x: (B, C, H, W) float input, already normalised.
        targets: class index per image; None = the predicted class.

    Returns:
        (B, H, W) float32 in [0, 1], upsampled to the input size (all-zero where the map is flat).
    """
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    tgt = None if targets is None else [ClassifierOutputTarget(int(t)) for t in targets]
    with _grad_from(model, layer), GradCAM(model=model, target_layers=[layer]) as cam:
        heat = cam(input_tensor=x, targets=tgt)
    return np.nan_to_num(np.asarray(heat, dtype=np.float32)).clip(0.0, 1.0)


@contextmanager
def _grad_from(model: nn.Module, layer: nn.Module) -> Iterator[None]:
    """Let autograd start at ``layer``: parameters before it stop requiring gradients for the call.

    Grad-CAM needs d(logit)/d(layer output) only; without this, backward runs through the whole
    backbone (about 3x the cost of the forward pass). The maps are identical. A layer without
    parameters (e.g. a ReLU) cannot start the graph, so then every parameter keeps its gradient.
    """
    params = list(model.parameters())
    before = [p.requires_grad for p in params]
    own = list(layer.parameters())
    if own:
        keep = {id(p) for p in own}
        after = False
        for name, module in model.named_modules():
            after = after or module is layer
            if after:
                keep.update(id(p) for p in module.parameters(recurse=False))
        for p in params:
            p.requires_grad_(id(p) in keep)
    try:
        yield
    finally:
        for p, flag in zip(params, before, strict=True):
            p.requires_grad_(flag)


def resize_heat(heat: npt.NDArray[np.float32], size: int) -> npt.NDArray[np.float32]:
    """(h, w) float heatmap -> (size, size) float32 (bilinear)."""
    if heat.shape == (size, size):
        return heat.astype(np.float32)
    return np.asarray(Image.fromarray(heat.astype(np.float32), mode="F").resize((size, size), Image.Resampling.BILINEAR),
                      dtype=np.float32)


def heat_inside(heat: npt.NDArray[np.float32], mask: npt.NDArray[np.bool_]) -> float:
    """Share of the heat mass that lies inside ``mask``: heat (H, W) >= 0, mask (H, W) bool, same shape.

    Returns NaN when the map is all zero.

    >>> heat_inside(np.array([[1.0, 0.0], [0.0, 1.0]], np.float32), np.eye(2, dtype=bool))
    1.0
    """
    h = resize_heat(heat, mask.shape[0]) if heat.shape != mask.shape else heat
    total = float(h.sum())
    return float("nan") if total <= 0 else float(h[mask].sum()) / total


def overlay(image: npt.NDArray[np.uint8], heat: npt.NDArray[np.float32], alpha: float = 0.45) -> npt.NDArray[np.uint8]:
    """Blend a Grad-CAM heatmap (jet colour map) over a preprocessed crop.

    Args:
        image: (H, W) grey or (H, W, C) uint8 crop; multi-channel crops show their last channel
            (the contrast-enhanced T1 when it is listed last).
        heat: (h, w) float in [0, 1]; resized to (H, W).
        alpha: weight of the heatmap in the blend.

    Returns:
        (H, W, 3) uint8 RGB.
    """
    from pytorch_grad_cam.utils.image import show_cam_on_image

    grey = image if image.ndim == 2 else image[..., -1]
    rgb = np.repeat(grey[..., None].astype(np.float32) / 255.0, 3, axis=-1)
    h = resize_heat(heat, grey.shape[0]) if heat.shape != grey.shape else heat
    return show_cam_on_image(rgb, h.clip(0, 1), use_rgb=True, image_weight=1.0 - alpha)
