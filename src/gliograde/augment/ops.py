"""The deterministic AutoAugment-SVHN ops: policy table, magnitudes, and :class:`AugTransform`.

Every op runs through ``torchvision.transforms.v2.functional`` with torchvision's 10-bin magnitude
mapping. Geometric ops use nearest interpolation (torchvision's AutoAugment default) and fill 0; each
one is turned once per (op, magnitude, H, W) into a gather index by warping an index image with the
very same torchvision call, so a batch is warped with one ``index_select`` and a mask is warped
identically (bit-identical to calling ``F.affine``/``F.rotate`` on the uint8 image; tested).
:mod:`gliograde.augment.policy` builds the study's 57 transforms from these ops and expands training sets.

    >>> AugTransform(ops=(("ShearX", 4), ("Invert", 3))).name
    'ShearX[+4]+Invert[3]'
    >>> round(magnitude("Rotate", 9, -1, (32, 32)), 1)
    -30.0
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch
from torchvision.transforms import AutoAugment as _AutoAugmentV1
from torchvision.transforms import AutoAugmentPolicy, InterpolationMode, v2
from torchvision.transforms.v2 import functional as F

from gliograde.errors import InputError, MaskMismatchError

#: A chain of (op name, magnitude bin 0..9 or None); () is the identity.
OpChain = tuple[tuple[str, int | None], ...]
#: torchvision's SVHN policy: 25 sub-policies ((op, probability, magnitude bin or None), (...)).
SVHN_POLICY: tuple[tuple[tuple[str, float, int | None], ...], ...] = tuple(
    tuple((str(op), float(p), None if b is None else int(b)) for op, p, b in sub)
    for sub in _AutoAugmentV1(AutoAugmentPolicy.SVHN).policies
)

#: Ops whose magnitude does not change the pixels (torchvision stores None for them).
MAGNITUDE_FREE = frozenset({"Invert", "Equalize", "AutoContrast"})
#: Ops that move pixels; applied to the mask too (nearest) when ``roi_only``.
GEOMETRIC = frozenset({"ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate"})

#: The nominal magnitude bins that the AutoAugment paper (Cubuk et al., CVPR 2019, SVHN policy table)
#: prints for Invert / Equalize / AutoContrast, per sub-policy (None where the op has a real bin).
#: torchvision drops them because they have no effect; the study's (op, magnitude) dedupe counted
#: them, which is where 56 (not 45) comes from. They only name transforms; pixels never depend on them.
PAPER_NOMINAL_BINS: tuple[tuple[int | None, int | None], ...] = (
    (None, 3), (None, 5), (5, None), (3, 3), (1, None),
    (None, 3), (None, 5), (None, None), (6, 1), (3, None),
    (None, None), (None, 4), (5, None), (4, 7), (None, None),
    (5, None), (None, None), (4, None), (None, None), (None, 5),
    (None, None), (None, 8), (None, None), (None, 3), (None, 5),
)

# torchvision's 10-bin mapping: op -> (fn(bins, H, W) -> (bins,) tensor of magnitudes, signed).
_SPACE: dict[str, tuple[Callable[[int, int, int], torch.Tensor], bool]] = v2.AutoAugment._AUGMENTATION_SPACE
_NEAREST = InterpolationMode.NEAREST
# Magnitude-free ops ignore ``m`` (they are called with 0.0); the others get torchvision's magnitude.
_ColourOp = Callable[[torch.Tensor, float], torch.Tensor]
_COLOUR_OPS: dict[str, _ColourOp] = {
    "Brightness": lambda x, m: F.adjust_brightness(x, brightness_factor=1.0 + m),
    "Color": lambda x, m: F.adjust_saturation(x, saturation_factor=1.0 + m),  # no-op on 1 channel
    "Contrast": lambda x, m: F.adjust_contrast(x, contrast_factor=1.0 + m),
    "Sharpness": lambda x, m: F.adjust_sharpness(x, sharpness_factor=1.0 + m),
    "Posterize": lambda x, m: F.posterize(x, bits=int(m)),
    "Solarize": lambda x, m: F.solarize(x, threshold=255 * m),
    "AutoContrast": lambda x, m: F.autocontrast(x),
    "Equalize": lambda x, m: F.equalize(x),
    "Invert": lambda x, m: F.invert(x),
}


def magnitude(op: str, bin_: int | None, sign: int, size: tuple[int, int]) -> float | None:
    """torchvision's magnitude for ``op`` at ``bin_`` (0..9) on an (H, W) image, signed if the op is.

    Returns None for the magnitude-free ops. Translate values are in pixels, Rotate in degrees,
    Shear the tangent, Solarize the threshold as a fraction of 255, Contrast etc. the factor minus 1.
    """
    if op in MAGNITUDE_FREE or bin_ is None:
        return None
    fn, signed = _SPACE[op]
    value = float(fn(10, size[0], size[1])[bin_])
    return value * sign if signed else value


def _warp(img: torch.Tensor, op: str, m: float, fill: float) -> torch.Tensor:
    """The geometric op exactly as torchvision's AutoAugment calls it (nearest, constant fill)."""
    out: torch.Tensor
    if op == "Rotate":
        out = F.rotate(img, angle=m, interpolation=_NEAREST, fill=fill)
        return out
    shear = {"ShearX": [math.degrees(math.atan(m)), 0.0], "ShearY": [0.0, math.degrees(math.atan(m))]}
    translate = {"TranslateX": [int(m), 0], "TranslateY": [0, int(m)]}
    center = [0, 0] if op in shear else None
    out = F.affine(img, angle=0.0, translate=translate.get(op, [0, 0]), scale=1.0,
                   shear=shear.get(op, [0.0, 0.0]), interpolation=_NEAREST, fill=fill, center=center)
    return out


@lru_cache(maxsize=512)
def _gather_index(op: str, m: float, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Source pixel of each output pixel (flat, int64) and the flat pixels that get the fill 0."""
    if h * w > 2**24:  # float32 holds every pixel index exactly only up to 2**24
        raise InputError(f"augment: {h}x{w} images are too large for the gather warp; resize below 4096x4096")
    idx = torch.arange(h * w, dtype=torch.float32).reshape(1, 1, h, w)
    warped = _warp(idx, op, m, fill=-1.0).reshape(-1)
    return warped.clamp(min=0).round().long(), torch.nonzero(warped < 0).reshape(-1)


def _geometric(x: torch.Tensor, op: str, m: float) -> torch.Tensor:
    """Warp (..., H, W) uint8/bool by one geometric op, background filled with 0."""
    h, w = x.shape[-2:]
    src, outside = _gather_index(op, m, h, w)
    flat = x.reshape(*x.shape[:-2], h * w).index_select(-1, src)
    return flat.index_fill_(-1, outside, 0).reshape(x.shape)


def _colour(x: torch.Tensor, op: str, m: float | None) -> torch.Tensor:
    """Colour op on (N, C, H, W) uint8; C not in {1, 3} is processed one channel at a time."""
    fn, mag = _COLOUR_OPS[op], 0.0 if m is None else m  # m is None only for the magnitude-free ops
    n, c, h, w = x.shape
    if c in (1, 3):
        return fn(x, mag)
    return fn(x.reshape(n * c, 1, h, w), mag).reshape(n, c, h, w)


@dataclass(frozen=True)
class AugTransform:
    """One deterministic transform: a chain of (op name, magnitude bin or None); () is the identity.

    Attributes:
        ops: e.g. (("ShearX", 4), ("Invert", 3)); bins index torchvision's 10-bin mapping.
        sign: +1 or -1, applied to torchvision's signed ops (ShearX/Y, TranslateX/Y, Rotate, Contrast, ...).
    """

    ops: OpChain = ()
    sign: int = 1

    def __post_init__(self) -> None:
        bad = [(op, b) for op, b in self.ops if op not in _SPACE
               or (op not in MAGNITUDE_FREE and not (isinstance(b, int) and 0 <= b <= 9))]
        if bad or self.sign not in (1, -1):
            raise ValueError(f"bad AugTransform ops {bad or self.ops}, sign {self.sign}: ops must be among "
                             f"{sorted(_SPACE)} with a bin 0..9 (None allowed for {sorted(MAGNITUDE_FREE)}), "
                             "sign +1 or -1")

    @property
    def name(self) -> str:
        """Readable name, e.g. ``ShearX[+4]+Invert[3]``; ``identity`` for ()."""
        parts = []
        for op, b in self.ops:
            s = ("+" if self.sign > 0 else "-") if _SPACE[op][1] and op not in MAGNITUDE_FREE else ""
            parts.append(op if b is None else f"{op}[{s}{b}]")
        return "+".join(parts) or "identity"

    def describe(self, size: tuple[int, int] = (227, 227)) -> dict[str, Any]:
        """Name, ops, bins, torchvision magnitudes at ``size`` (H, W) and sign, for tables and JSON."""
        return {
            "name": self.name,
            "ops": [op for op, _ in self.ops],
            "bins": [b for _, b in self.ops],
            "magnitudes": [magnitude(op, b, self.sign, size) for op, b in self.ops],
            "sign": "positive" if self.sign > 0 else "negative",
        }

    def apply(
        self, images: torch.Tensor, masks: torch.Tensor | None = None, *, roi_only: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Apply to a batch; the mask follows every geometric op (nearest).

        Args:
            images: (N, C, H, W) uint8.
            masks: (N, H, W) bool or None; required when ``roi_only``.
            roi_only: zero the background before the first op and after every op.

        Returns:
            (images (N, C, H, W) uint8, masks (N, H, W) bool or None).
        """
        if roi_only and masks is None:
            raise MaskMismatchError("roi_only needs the ROI masks; pass masks or set roi_only=False")
        x = images.masked_fill(~masks[:, None], 0) if roi_only and masks is not None else images
        return self.run_zeroed(x, masks, roi_only)

    def run_zeroed(
        self, x: torch.Tensor, mk: torch.Tensor | None, roi_only: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """:meth:`apply` on images whose background is already zeroed when ``roi_only`` (same shapes)."""
        size = (x.shape[-2], x.shape[-1])
        for op, b in self.ops:
            m = magnitude(op, b, self.sign, size)
            if op in GEOMETRIC:
                assert m is not None  # checked in __post_init__: geometric ops carry a bin
                # a nearest warp with fill 0 of a masked image is the masked warp: no re-zeroing needed
                x = _geometric(x, op, m)
                mk = None if mk is None else _geometric(mk, op, m)
            else:
                y = _colour(x, op, m)
                if roi_only and mk is not None and y is not x:  # ops that return their input changed nothing
                    y = y.masked_fill_(~mk[:, None], 0)
                x = y
        return x, mk

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) uint8 -> (N, C, H, W) uint8 (the study's behaviour: whole image)."""
        return self.apply(images)[0]


def check_batch(images: torch.Tensor, masks: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Validate a batch: images (N, C, H, W) uint8 and masks (N, H, W) (made bool) or None.

    Raises:
        InputError: images of another dtype or rank.
        MaskMismatchError: masks whose shape does not fit the images.
    """
    images = torch.as_tensor(images)
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise InputError(f"augment: images must be (N, C, H, W) uint8, got {tuple(images.shape)} {images.dtype}")
    if masks is not None:
        masks = torch.as_tensor(masks)
        if masks.shape != (images.shape[0], *images.shape[2:]):
            raise MaskMismatchError(f"augment: masks {tuple(masks.shape)} do not fit images "
                                    f"{tuple(images.shape)}; expected (N, H, W) bool")
        masks = masks.bool()
    return images, masks
