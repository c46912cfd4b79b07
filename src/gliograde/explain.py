"""Class activation maps (pytorch-grad-cam) and the evidence picture a reader sees; no plotting library here.

Default evidence: LayerCAM (Jiang et al., IEEE TIP 2021) at a stride-16 layer where one is listed in
``EVIDENCE_LAYERS`` (EfficientNet-Lite0: ``blocks.4``, 8x8 at a 128 px input), else ``ModelSpec.cam_layer``.
Why: Grad-CAM at the last feature map (4x4 at 128 px) averages the gradient over the whole map, so its
heat is a coarse blob that upsampling smears over the constant background; on 11 real cases (docs/predict.md)
it put 37 % of the heat inside the tumour, which is what a flat map gives, against 83 % for LayerCAM at
``blocks.4``, whose element-wise positive gradients keep the map local.

>>> # heat = class_activation_map(model, evidence_layers(model, "efficientnet_lite0"), x)  # (B, H, W) in [0, 1]
>>> # png = evidence_panel(slice_img, slice_mask, crop, crop_mask, heat[0], "grade 3 ...")  # (h, w, 3) uint8
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageOps
from scipy.ndimage import binary_erosion

if TYPE_CHECKING:
    import torch
    from torch import nn

CamMethod = Literal["gradcam", "gradcam++", "layercam"]
#: Backbone -> layers for evidence maps, measured on real cases (docs/predict.md); others use ``spec.cam_layer``.
EVIDENCE_LAYERS: dict[str, tuple[str, ...]] = {"efficientnet_lite0": ("blocks.4",)}
DEFAULT_METHOD: CamMethod = "layercam"
ROI_COLOUR = (0, 255, 0)


def evidence_layers(model: nn.Module, backbone: str) -> list[str]:
    """Dotted names of the evidence layers of ``model``: ``EVIDENCE_LAYERS[backbone]`` or ``model.spec.cam_layer``."""
    from gliograde.models import model_spec  # imports torch: on first use, so the drawing helpers load without it

    return list(EVIDENCE_LAYERS.get(backbone, (model_spec(model).cam_layer,)))


def class_activation_map(model: nn.Module, layers: Sequence[nn.Module] | nn.Module, x: torch.Tensor,
                         targets: list[int] | None = None,
                         method: CamMethod = DEFAULT_METHOD) -> npt.NDArray[np.float32]:
    """Class activation maps of ``model`` for input ``x`` (pytorch-grad-cam).

    Args:
        model: classifier returning logits (B, K); put in eval mode by the caller.
        layers: target layer(s), each returning a tensor; with several, the library averages their maps.
        x: (B, C, H, W) float input, already normalised.
        targets: class index per image; None = the predicted class.
        method: ``gradcam``, ``gradcam++`` or ``layercam``.

    Returns:
        (B, H, W) float32 in [0, 1], upsampled to the input size (all-zero where the map is flat).
    """
    return evidence_and_logits(model, layers, x, targets, method)[0]


def evidence_and_logits(model: nn.Module, layers: Sequence[nn.Module] | nn.Module, x: torch.Tensor,
                        targets: list[int] | None = None, method: CamMethod = DEFAULT_METHOD,
                        ) -> tuple[npt.NDArray[np.float32], torch.Tensor]:
    """:func:`class_activation_map` plus the logits (B, K) float of the same forward pass (one pass, not two)."""
    import pytorch_grad_cam as pgc  # heavy (torch): on first use
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    from torch import nn

    cls = {"gradcam": pgc.GradCAM, "gradcam++": pgc.GradCAMPlusPlus, "layercam": pgc.LayerCAM}[method]
    mods = [layers] if isinstance(layers, nn.Module) else list(layers)
    tgt = None if targets is None else [ClassifierOutputTarget(int(t)) for t in targets]
    with _grad_from(model, mods), cls(model=model, target_layers=mods) as cam:
        heat = cam(input_tensor=x, targets=tgt)
        logits = cam.outputs.detach()
    return np.nan_to_num(np.asarray(heat, dtype=np.float32)).clip(0.0, 1.0), logits


def grad_cam(model: nn.Module, layer: nn.Module, x: torch.Tensor,
             targets: list[int] | None = None) -> npt.NDArray[np.float32]:
    """Grad-CAM (Selvaraju et al. 2017) at one layer: :func:`class_activation_map` with ``method="gradcam"``."""
    return class_activation_map(model, [layer], x, targets, method="gradcam")


@contextmanager
def _grad_from(model: nn.Module, layers: list[nn.Module]) -> Iterator[None]:
    """Let autograd start at the earliest target layer's output, with no parameter gradients at all.

    A CAM needs d(logit)/d(layer output) only. Every parameter stops requiring gradients for the call
    and the earliest target layer's output becomes a fresh leaf that does (a forward hook registered
    before the library's own), so backward runs only from the logits down to that layer and computes
    no weight gradients; without this it runs through the whole backbone (about 3x the forward pass).
    The maps are identical (test).
    """
    params = list(model.parameters())
    before = [p.requires_grad for p in params]
    ids = {id(m) for m in layers}
    first = next(m for _, m in model.named_modules() if id(m) in ids)

    def leaf(_module: nn.Module, _inputs: object, output: torch.Tensor) -> torch.Tensor:
        return output.detach().requires_grad_(True)

    handle = first.register_forward_hook(leaf)
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        handle.remove()
        for p, flag in zip(params, before, strict=True):
            p.requires_grad_(flag)


def resize_heat(heat: npt.NDArray[np.float32], size: int) -> npt.NDArray[np.float32]:
    """(h, w) float heatmap -> (size, size) float32 (bilinear)."""
    if heat.shape == (size, size):
        return heat.astype(np.float32)
    img = Image.fromarray(heat.astype(np.float32), mode="F")
    return np.asarray(img.resize((size, size), Image.Resampling.BILINEAR), dtype=np.float32)


def heat_inside(heat: npt.NDArray[np.float32], mask: npt.NDArray[np.bool_]) -> float:
    """Share of the heat mass that lies inside ``mask``: heat (H, W) >= 0, mask (H, W) bool, same shape.

    Returns NaN when the map is all zero.

    >>> heat_inside(np.array([[1.0, 0.0], [0.0, 1.0]], np.float32), np.eye(2, dtype=bool))
    1.0
    """
    h = resize_heat(heat, mask.shape[0]) if heat.shape != mask.shape else heat
    total = float(h.sum())
    return float("nan") if total <= 0 else float(h[mask].sum()) / total


def overlay(image: npt.NDArray[np.uint8], heat: npt.NDArray[np.float32], alpha: float = 0.45,
            within: npt.NDArray[np.bool_] | None = None) -> npt.NDArray[np.uint8]:
    """Blend a heatmap (jet colour map) over a preprocessed crop.

    Args:
        image: (H, W) grey or (H, W, C) uint8 crop; multi-channel crops show their last channel
            (the contrast-enhanced T1 when it is listed last).
        heat: (h, w) float in [0, 1]; resized to (H, W).
        alpha: weight of the heatmap in the blend.
        within: (H, W) bool; when given, heat is shown only there (the grey image elsewhere).

    Returns:
        (H, W, 3) uint8 RGB.
    """
    from pytorch_grad_cam.utils.image import show_cam_on_image  # heavy (torch): on first use

    grey = image if image.ndim == 2 else image[..., -1]
    rgb = np.repeat(grey[..., None].astype(np.float32) / 255.0, 3, axis=-1)
    h = resize_heat(heat, grey.shape[0]) if heat.shape != grey.shape else heat
    out = show_cam_on_image(rgb, h.clip(0, 1), use_rgb=True, image_weight=1.0 - alpha)
    if within is not None:
        out = np.where(within[..., None], out, np.repeat(grey[..., None], 3, axis=-1))
    return np.asarray(out, dtype=np.uint8)


def to_display(image: npt.NDArray[np.generic]) -> npt.NDArray[np.uint8]:
    """(H, W) or (H, W, C) image of any dtype -> (H, W) uint8 for viewing: last channel, 0.5-99.5 % window."""
    grey = np.asarray(image if image.ndim == 2 else image[..., -1], dtype=np.float32)
    lo, hi = np.percentile(grey, (0.5, 99.5))
    return np.zeros(grey.shape, np.uint8) if hi <= lo else ((grey - lo) / (hi - lo) * 255).clip(0, 255).astype(np.uint8)


def draw_outline(rgb: npt.NDArray[np.uint8], mask: npt.NDArray[np.bool_],
                 colour: tuple[int, int, int] = ROI_COLOUR) -> npt.NDArray[np.uint8]:
    """(H, W, 3) uint8 with the 1-pixel inner boundary of ``mask`` (H, W) bool painted in ``colour``."""
    edge = mask & ~binary_erosion(mask, border_value=0)
    out = rgb.copy()
    out[edge] = colour
    return out


def evidence_panel(image: npt.NDArray[np.generic], mask: npt.NDArray[np.bool_], crop: npt.NDArray[np.uint8],
                   crop_mask: npt.NDArray[np.bool_], heat: npt.NDArray[np.float32], title: str, *,
                   side: int = 256, mask_heat: bool = True) -> npt.NDArray[np.uint8]:
    """The picture for a reader: (a) the slice with the ROI outline, (b) the model's crop with the heat.

    Args:
        image: (H, W) or (H, W, C) representative slice as read (any dtype); mask: (H, W) bool ROI.
        crop: (S, S) or (S, S, C) uint8 preprocessed crop; crop_mask: (S, S) bool.
        heat: (h, w) float32 in [0, 1].
        title: one line drawn above the panels (grade and probabilities).
        side: each panel's side in pixels.
        mask_heat: show heat inside the ROI only (pixels outside it are constant in the model input).

    Returns:
        (side + 36, 2 * side, 3) uint8 RGB: a 20 px title strip, the panels, a 16 px caption strip.
    """
    grey = to_display(image)
    left = draw_outline(np.repeat(grey[..., None], 3, axis=-1), mask)
    right = draw_outline(overlay(crop, heat, within=crop_mask if mask_heat else None), crop_mask)
    canvas = Image.new("RGB", (2 * side, side + 36))
    for i, a in enumerate((left, right)):  # pad, not stretch: a non-square slice keeps its aspect ratio
        canvas.paste(ImageOps.pad(Image.fromarray(a), (side, side), Image.Resampling.BILINEAR), (i * side, 20))
    draw = ImageDraw.Draw(canvas)
    label(draw, (4, 4), title, (255, 255, 255))
    label(draw, (4, side + 22), "a: slice, ROI outline", ROI_COLOUR)
    shown = "inside ROI" if mask_heat else "whole crop"
    label(draw, (side + 4, side + 22), f"b: model input, evidence ({shown})", ROI_COLOUR)
    return np.asarray(canvas, dtype=np.uint8)


def label(draw: ImageDraw.ImageDraw, xy: tuple[int, int], text: str, fill: tuple[int, int, int]) -> None:
    """Text outlined in black, readable on any tile (bright, dark or heat-coloured)."""
    draw.text(xy, text, fill=fill, stroke_width=1, stroke_fill=(0, 0, 0))


def jet(values: npt.NDArray[np.float32]) -> npt.NDArray[np.uint8]:
    """(...) floats in [0, 1] -> (..., 3) uint8 RGB in the colour map :func:`overlay` blends (pytorch-grad-cam's:
    OpenCV's JET), so the colour bar shows exactly the colours of the map."""
    import cv2  # pytorch-grad-cam's own dependency: the same colour map it draws with

    grey = np.uint8(255) * np.clip(values, 0, 1)
    bgr = cv2.applyColorMap(np.ascontiguousarray(grey.astype(np.uint8)).reshape(-1, 1), cv2.COLORMAP_JET)
    return np.asarray(bgr[:, 0, ::-1].reshape(*values.shape, 3), dtype=np.uint8)


#: Line height of :func:`annotate`'s bands.
LINE = 14


def annotate(panel: npt.NDArray[np.uint8], lines: list[tuple[str, tuple[int, int, int]]], *, footer: str,
             colourbar: str | None = None) -> npt.NDArray[np.uint8]:
    """``panel`` with a band of ``lines`` above it (each in its colour) and a footer band below: a colour bar of
    the evidence map under the right half when ``colourbar`` (its caption), then ``footer`` (the research-use line).

    Returns:
        (LINE * len(lines) + panel height + footer band, panel width, 3) uint8 RGB.

    >>> annotate(np.zeros((10, 64, 3), np.uint8), [("grade 3", (255, 255, 255))], footer="research").shape
    (38, 64, 3)
    """
    h, w = panel.shape[:2]
    bar = 3 * LINE if colourbar else 0
    top = LINE * len(lines)
    canvas = Image.new("RGB", (w, top + h + bar + LINE), (24, 24, 24))
    canvas.paste(Image.fromarray(panel), (0, top))
    draw = ImageDraw.Draw(canvas)
    for k, (text, colour) in enumerate(lines):
        label(draw, (4, LINE * k + 1), text, colour)
    if colourbar:
        x0, x1, y = w // 2 + 8, w - 8, top + h + 2
        strip = jet(np.tile(np.linspace(0.0, 1.0, x1 - x0, dtype=np.float32), (LINE - 4, 1)))
        canvas.paste(Image.fromarray(strip), (x0, y))
        label(draw, (x0, y + LINE - 2), "0", (255, 255, 255))
        label(draw, (x1 - 6, y + LINE - 2), "1", (255, 255, 255))
        label(draw, (x0 + 14, y + LINE - 2), colourbar, (255, 255, 255))
        label(draw, (4, y + 2), "evidence colour scale:", (255, 255, 255))
    label(draw, (4, top + h + bar + 1), footer, (255, 220, 80))
    return np.asarray(canvas, dtype=np.uint8)
