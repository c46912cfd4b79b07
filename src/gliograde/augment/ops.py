"""The deterministic AutoAugment-SVHN ops: policy table, magnitudes, and :class:`AugTransform`.

Every op is defined by ``torchvision.transforms.v2.functional`` with torchvision's 10-bin magnitude
mapping, and is run in a faster form that gives the same bytes (tested against torchvision):

* geometric ops (nearest interpolation, torchvision's AutoAugment default, fill 0) are turned once per
  (op, magnitude, H, W) into a gather index by warping an index image with the very same torchvision call;
  a batch is then warped with one gather (``numpy.take`` on CPU, ``index_select`` elsewhere), or with a few
  slice copies when the index is a handful of contiguous runs (translations, ShearX), and a mask is warped
  identically;
* elementwise colour ops (Invert, Solarize, Posterize, Brightness) become a 256-entry lookup table computed by
  torchvision itself on the values 0..255, applied as ``bitwise_not`` / a threshold when it has that form;
* Equalize and AutoContrast build torchvision's per-channel lookup tables with the same integer / float32
  arithmetic and apply them; the other ops (Contrast, Color, Sharpness) call torchvision on the whole batch.

Hand-written because torchvision has no batched op-table form, and its per-op kernels spend most of their
time in int64 index tensors (``index_select`` along the last axis, Equalize's ``scatter_add``).
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

import numpy as np
import numpy.typing as npt
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


@lru_cache(maxsize=1024)  # called for every op of every chunk; torchvision's mapping builds a tensor each time
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


def _numpy_path(x: torch.Tensor) -> bool:
    """CPU tensors take numpy's and OpenCV's kernels (faster there); others torch's, which give the same bytes
    on CPU too (the tests run both on CPU)."""
    return x.device.type == "cpu"


def _cv2() -> Any:
    """OpenCV (a dependency through grad-cam), imported on first use: its import takes 0.2 s."""
    import cv2  # function-level: `import gliograde.augment` (CLI start-up) stays fast; only CPU kernels need it

    return cv2


def _rows(x: torch.Tensor, write: bool = False) -> npt.NDArray[Any]:
    """(N, [C,] H, W) as (N, C, H*W) numpy (an expansion slot, ``out[:, t]``, is strided per image, so it cannot
    be flattened to rows; its H and W can be merged). A copy if the planes are not stored row by row, unless the
    caller writes into it (``write``; the kernels only write tensors they or the expansion allocated)."""
    a = x.numpy()
    v = a.reshape(a.shape[0], -1, a.shape[-2] * a.shape[-1])
    if write and not np.may_share_memory(v, a):
        raise ValueError("augment: cannot write into (H, W) planes that are not stored row by row")
    return v


def _result(x: torch.Tensor, out: torch.Tensor | None) -> tuple[torch.Tensor, npt.NDArray[Any]]:
    """The tensor a CPU kernel writes (``out``, or a new one shaped like ``x``) and its (N, C, H*W) view."""
    dst = torch.empty_like(x, memory_format=torch.contiguous_format) if out is None else out
    return dst, _rows(dst, write=True)


def _store(y: torch.Tensor, out: torch.Tensor | None) -> torch.Tensor:
    """``y``, or ``out`` holding a copy of it when one is given (numpy on CPU: torch's copy into a strided slot
    is 20x slower there, and far worse when its threads wait for a busy core)."""
    if out is None:
        return y
    if _numpy_path(out):
        np.copyto(_rows(out, write=True), _rows(y))
        return out
    return out.copy_(y)


def _zero_outside(y: torch.Tensor, mk: torch.Tensor) -> torch.Tensor:
    """Zero (N, C, H, W) ``y`` in place where the (N, H, W) bool mask is False (numpy on CPU, as in
    :func:`_store`)."""
    if not _numpy_path(y):
        return y.masked_fill_(~mk[:, None], 0)
    d = _rows(y, write=True)
    np.multiply(d, _rows(mk), out=d)
    return y


@dataclass(frozen=True)
class _WarpPlan:
    """How to run one geometric op: a gather from the flat image with one zero pixel appended.

    Attributes:
        src: (H*W,) int64 source pixel of each output pixel; H*W (the appended zero) where the fill goes.
        src_np: the same as a numpy array (CPU path).
        runs: (output start, source start, length) of contiguous runs when there are few (None: gather).
        gaps: (output start, length) of the fill between the runs (with ``runs``).
    """

    src: torch.Tensor
    src_np: npt.NDArray[np.int64]
    runs: tuple[tuple[int, int, int], ...] | None
    gaps: tuple[tuple[int, int], ...] = ()


@lru_cache(maxsize=512)
def _warp_plan(op: str, m: float, h: int, w: int) -> _WarpPlan:
    src, outside = _gather_index(op, m, h, w)
    src = src.clone()
    src[outside] = h * w
    a = src.numpy()
    inside = a < h * w
    # a run continues where this pixel and the previous one are both inside and the source steps by 1
    cont = np.zeros(len(a), dtype=bool)
    cont[1:] = inside[1:] & inside[:-1] & (a[1:] == a[:-1] + 1)
    starts = np.flatnonzero(inside & ~cont)
    if len(starts) > 2 * h:  # slice copies beat a gather only when each one moves a whole row or more
        return _WarpPlan(src, a, None)
    ends = np.flatnonzero(inside & ~np.r_[cont[1:], False]) + 1  # one past each run's last pixel
    runs = tuple(zip(starts.tolist(), a[starts].tolist(), (ends - starts).tolist(), strict=True))
    gap_starts, gap_ends = np.r_[0, ends], np.r_[starts, len(a)]  # the fill lies before, between, after runs
    keep = gap_ends > gap_starts
    gaps = tuple(zip(gap_starts[keep].tolist(), (gap_ends - gap_starts)[keep].tolist(), strict=True))
    return _WarpPlan(src, a, runs, gaps)


@lru_cache(maxsize=512)
def _src_on(op: str, m: float, h: int, w: int, device: str) -> torch.Tensor:
    """The plan's gather index, copied to ``device`` once (per-batch augmentation reuses it)."""
    return _warp_plan(op, m, h, w).src.to(device)


def _geometric(x: torch.Tensor, op: str, m: float, out: torch.Tensor | None = None,
               cols: npt.NDArray[np.uint8] | None = None) -> torch.Tensor:
    """Warp (N, [C,] H, W) uint8/bool by one geometric op, background filled with 0, into ``out`` (same shape)
    or a new tensor; returns it. ``cols``: ``x`` already in :func:`pixel_major` form (CPU)."""
    h, w = x.shape[-2:]
    plan = _warp_plan(op, m, h, w)
    if not _numpy_path(x):  # batched gather on the device (the GPU-resident path)
        flat = x.reshape(-1, h * w)
        padded = torch.cat([flat, flat.new_zeros(flat.shape[0], 1)], dim=1)
        return _store(padded.index_select(1, _src_on(op, m, h, w, str(x.device))).reshape(x.shape), out)
    a = _rows(x)
    dst, d = _result(x, out)
    if plan.runs is not None and (len(plan.runs) <= FEW_RUNS or a.shape[0] < PIXEL_MAJOR_MIN):
        for o, s, n in plan.runs:  # a few slice copies over the whole batch, and zeros between them
            d[:, :, o:o + n] = a[:, :, s:s + n]
        for o, n in plan.gaps:
            d[:, :, o:o + n] = 0
        return dst
    _gather(a, plan.src_np, d, cols)
    return dst


#: From this many images in a batch, :func:`_gather` works pixel-major; up to ``FEW_RUNS`` contiguous runs
#: (a translation along the rows is one), slice copies beat it.
PIXEL_MAJOR_MIN, FEW_RUNS = 8, 16


def pixel_major(x: torch.Tensor) -> npt.NDArray[np.uint8] | None:
    """(N, C, H, W) uint8/bool on the CPU as (C, H*W + 1, N) uint8: one row per pixel, one byte per image, and a
    last row of zeros (the fill), i.e. what :func:`_gather` gathers from; None below ``PIXEL_MAJOR_MIN`` images
    or off the CPU. Made once for the source of an expansion's chunk, which every geometric first op reads."""
    if not _numpy_path(x) or x.shape[0] < PIXEL_MAJOR_MIN:
        return None
    return _pixel_major_rows(_rows(x))


def _pixel_major_rows(a: npt.NDArray[Any]) -> npt.NDArray[np.uint8]:
    """:func:`pixel_major` of an (N, C, H*W) view."""
    n, c, p = a.shape
    cols = np.empty((c, p + 1, n), dtype=np.uint8)
    cols[:, p] = 0
    for ch in range(c):
        _transpose(a[:, ch].view(np.uint8), cols[ch, :p])
    return cols


def _gather(a: npt.NDArray[Any], src: npt.NDArray[np.int64], d: npt.NDArray[Any],
            cols: npt.NDArray[np.uint8] | None = None) -> None:
    """``d[i, c] = concat(a[i, c], [0])[src]`` for (N, C, H*W) views of uint8 or bool planes (``cols``: ``a`` in
    :func:`pixel_major` form, when already made).

    A gather reads one byte per 8-byte index, so its cost is per index, not per byte. From ``PIXEL_MAJOR_MIN``
    images on, the batch is gathered pixel-major (one index moves N bytes: 0.6 ms instead of 8 ms for 117 planes
    at 227 px) and transposed back into ``d`` by OpenCV's blocked transpose (about 1 ms; as much again to make
    ``cols``). Fewer images are gathered plane by plane. Both give the same bytes (tested)."""
    n, c, p = a.shape
    if n < PIXEL_MAJOR_MIN:
        plane = np.zeros(p + 1, dtype=a.dtype)  # one plane plus the fill pixel, reused: it stays in cache
        for i in range(n):
            for ch in range(c):
                plane[:-1] = a[i, ch]
                plane.take(src, out=d[i, ch], mode="wrap")  # every index is valid: skip the checks
        return
    if cols is None:
        cols = _pixel_major_rows(a)
    gathered = np.empty((p, n), dtype=np.uint8)
    for ch in range(c):
        cols[ch].take(src, axis=0, out=gathered, mode="wrap")
        _transpose(gathered, d[:, ch].view(np.uint8))


def _transpose(src: npt.NDArray[np.uint8], dst: npt.NDArray[np.uint8]) -> None:
    """``dst[...] = src.T`` for 2-D uint8 views whose rows are contiguous, by OpenCV (numpy's strided copy is 7x
    slower), in blocks of ``_BLOCK`` pixels along the long side: a block of 117 images fits the L2 cache, and
    writing a slot's 117 rows whole is 2.6x slower (measured). Copied in where OpenCV could not write in place."""
    cv2, rows = _cv2(), src.shape[0] >= src.shape[1]
    for j in range(0, max(src.shape), _BLOCK):
        s, d = (src[j:j + _BLOCK], dst[:, j:j + _BLOCK]) if rows else (src[:, j:j + _BLOCK], dst[j:j + _BLOCK])
        written = cv2.transpose(s, dst=d)
        if not np.may_share_memory(written, d):
            np.copyto(d, written)


_BLOCK = 4096


def _lut_planes(a: npt.NDArray[np.uint8], tables: npt.NDArray[np.uint8], d: npt.NDArray[np.uint8]) -> None:
    """d[i, c] = tables[k][a[i, c]] (k = i*C + c), or one table (256,) for all, for (N, C, H*W) views.

    OpenCV's ``LUT``: 4-6x faster than ``numpy.take`` on uint8 (which first converts the values to int64)."""
    cv2 = _cv2()
    for i in range(a.shape[0]):
        for c in range(a.shape[1]):
            t = tables if tables.ndim == 1 else tables[i * a.shape[1] + c]
            cv2.LUT(a[i, c], t, dst=d[i, c])  # writes in place: dst has the source's shape and dtype


#: Colour ops that map each value on its own, so a 256-entry table computed by torchvision is exact.
_ELEMENTWISE = frozenset({"Invert", "Solarize", "Posterize", "Brightness"})
_VALUES = np.arange(256, dtype=np.uint8)


@lru_cache(maxsize=256)
def _lut(op: str, m: float) -> tuple[str, int, npt.NDArray[np.uint8]]:
    """(form, threshold, table): torchvision's op on 0..255; form identity, invert, threshold or table."""
    table = _COLOUR_OPS[op](torch.from_numpy(_VALUES).view(1, 1, 1, 256), m).reshape(256).numpy()
    flipped = 255 - _VALUES
    if np.array_equal(table, _VALUES):
        return "identity", 0, table
    if np.array_equal(table, flipped):
        return "invert", 0, table
    k = int(np.argmax(table != _VALUES))  # first changed value: a threshold if everything above it flips
    if np.array_equal(table[:k], _VALUES[:k]) and np.array_equal(table[k:], flipped[k:]):
        return "threshold", k, table
    return "table", 0, table


def _apply_lut(x: torch.Tensor, op: str, m: float, out: torch.Tensor | None) -> torch.Tensor:
    form, k, table = _lut(op, m)
    if form == "identity":
        return _store(x, out)
    if not _numpy_path(x):
        if form == "invert":
            return _store(x.bitwise_not(), out)
        if form == "threshold":
            return _store(torch.where(x >= k, x.bitwise_not(), x), out)
        return _store(torch.from_numpy(table).to(x.device)[x.long()], out)
    dst, d = _result(x, out)
    a = _rows(x)
    if form == "invert":
        np.bitwise_not(a, out=d)
    elif form == "threshold":  # flip the values >= k: an xor with 255 there, plane by plane (2x faster than a LUT)
        flip = np.empty(a.shape[-1], dtype=np.uint8)
        for i in range(a.shape[0]):
            for c in range(a.shape[1]):
                np.greater_equal(a[i, c], k, out=flip.view(np.bool_))
                np.bitwise_xor(a[i, c], np.negative(flip, out=flip), out=d[i, c])
    else:
        _lut_planes(a, table, d)
    return dst


@lru_cache(maxsize=8)
def _lanes(pixels: int) -> npt.NDArray[np.uint8]:
    """0, 1, 0, 1, ... for ``pixels`` pixels: the parity channel of :func:`_equalize_luts`' histograms."""
    lanes = (np.arange(pixels) % 2).astype(np.uint8)
    lanes.setflags(write=False)
    return lanes


def _equalize_luts(x: torch.Tensor) -> torch.Tensor:
    """torchvision's ``equalize_image`` tables, one per channel of each image of (N, C, H, W) uint8:
    (N*C, 256) uint8 (identity where torchvision leaves the channel unchanged). Same integer arithmetic as
    torchvision (PIL's scheme)."""
    n, c, h, w = x.shape
    rows, pixels = n * c, h * w
    if _numpy_path(x):  # OpenCV's histogram of each uint8 plane (float32 counts: exact below 2**24)
        cv2, a, lanes = _cv2(), _rows(x), _lanes(pixels)
        # A joint histogram of (value, pixel index mod 2), summed over the parity: neighbouring pixels of the
        # same value (a masked image's zero background) then count into two bins, not one, which spares the
        # CPU's wait on the previous increment of the same bin (1.4x faster on masked images; same counts).
        counts = [cv2.calcHist([a[i, j], lanes], [0, 1], None, [256, 2], [0, 256, 0, 2])
                  for i in range(n) for j in range(c)]
        hist = torch.from_numpy(np.stack(counts).astype(np.int64).sum(axis=2))
    else:
        offsets = (torch.arange(rows, device=x.device) * 256).view(-1, 1)
        flat = x.reshape(rows, pixels).long()
        hist = torch.bincount((flat + offsets).view(-1), minlength=rows * 256).view(rows, 256)
    cum = hist.cumsum(dim=1)
    top = cum.argmax(dim=1, keepdim=True)  # the largest value present
    step = (pixels - hist.gather(1, top)).div(255, rounding_mode="floor")
    lut = (cum[:, :-1] + step // 2).div(step.clamp(min=1), rounding_mode="floor").clamp(0, 255)
    lut = torch.cat([lut.new_zeros(rows, 1), lut], dim=1).to(torch.uint8)
    identity = torch.arange(256, device=x.device, dtype=torch.uint8).expand(rows, 256)
    return torch.where(step != 0, lut, identity)


def _autocontrast_luts(x: torch.Tensor) -> torch.Tensor:
    """torchvision's ``autocontrast_image`` as one table per channel of (N, C, H, W) uint8: (N*C, 256) uint8.

    The same float32 operations as torchvision on the values 0..255 with each channel's minimum and maximum (one
    IEEE operation each, so no kernel path can round differently): looking a pixel up gives torchvision's byte."""
    minimum = x.amin(dim=(-2, -1)).reshape(-1, 1).to(torch.float32)
    maximum = x.amax(dim=(-2, -1)).reshape(-1, 1).to(torch.float32)
    eq_idxs = maximum == minimum
    inv_scale = maximum.sub_(minimum).mul_(1.0 / 255)
    minimum[eq_idxs] = 0.0
    inv_scale[eq_idxs] = 1.0
    values = torch.arange(256, dtype=torch.float32, device=x.device).expand(minimum.shape[0], 256)
    return values.sub(minimum).div_(inv_scale).clamp_(0, 255).to(torch.uint8)


def _contrast_luts(x: torch.Tensor, factor: float) -> tuple[torch.Tensor, torch.Tensor]:
    """torchvision's ``adjust_contrast_image`` as one table per image of (N, C, H, W) uint8, on the CPU:
    ((N, 256) uint8, (N,) bool: whether the table is exact).

    torchvision blends ``x * factor + mean * (1 - factor)`` in float32 with each image's mean. The mean here is
    torchvision's: a float32 sum of integers below 2**24 is exact in any order, then the same division. The blend
    is torch's ``add_`` with ``alpha``, which on CPU may round differently in its vectorised body (a fused
    multiply-add) and its scalar tail; the table is made both ways (contiguous, and strided so that only the
    scalar loop runs) and is exact for an image where both agree: then no pixel can depend on where it lies."""
    grey = x if x.shape[1] == 1 else F.rgb_to_grayscale(x)  # uint8 grey = torchvision's floor of the float grey
    mean = torch.mean(grey.to(torch.float32), dim=(-3, -2, -1)).cpu().view(-1, 1)
    scaled = torch.from_numpy(_VALUES).expand(len(mean), 256).mul(factor)
    vector = scaled.clone().add_(mean, alpha=1.0 - factor).clamp_(0, 255).to(torch.uint8)  # as torchvision
    strided = torch.empty(len(mean), 256, 2)[..., 0]
    scalar = strided.copy_(scaled).add_(mean, alpha=1.0 - factor).clamp_(0, 255).to(torch.uint8)
    return vector, (vector == scalar).all(dim=1)


def _contrast(x: torch.Tensor, m: float, out: torch.Tensor | None) -> torch.Tensor:
    """Contrast on (N, C, H, W) uint8 (C in {1, 3}) through per-image tables; torchvision's own call for an image
    whose table is not exact (see :func:`_contrast_luts`)."""
    n, c = x.shape[:2]
    luts, exact = _contrast_luts(x, 1.0 + m)
    luts = luts.to(x.device).repeat_interleave(c, dim=0)  # one table per plane
    y = _per_row_lut(x, luts, out)
    for i in torch.nonzero(~exact).view(-1).tolist():
        y[i] = _COLOUR_OPS["Contrast"](x[i:i + 1], m)[0]
    return y


def _per_row_lut(x: torch.Tensor, luts: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """Look each channel of each image of (N, C, H, W) uint8 up in its own table (N*C, 256) uint8."""
    if not _numpy_path(x):
        n, c, h, w = x.shape
        return _store(luts.gather(1, x.reshape(n * c, h * w).long()).reshape(x.shape), out)
    dst, d = _result(x, out)
    _lut_planes(_rows(x), luts.numpy(), d)
    return dst


def _colour(x: torch.Tensor, op: str, m: float | None, out: torch.Tensor | None = None) -> torch.Tensor:
    """Colour op on (N, C, H, W) uint8 into ``out`` (same shape) or a new tensor; C not in {1, 3} is processed
    one channel at a time.

    Without ``out`` it may return ``x`` itself when the op changes nothing (e.g. Solarize at threshold 255).
    """
    mag = 0.0 if m is None else m  # m is None only for the magnitude-free ops
    if op in _ELEMENTWISE:
        return _apply_lut(x, op, mag, out)
    if op == "Equalize":
        return _per_row_lut(x, _equalize_luts(x), out)
    if op == "AutoContrast":
        return _per_row_lut(x, _autocontrast_luts(x), out)
    n, c, h, w = x.shape
    if c not in (1, 3):  # torchvision takes 1 or 3 channels: the others as grey images, one per channel
        y = _colour(x.reshape(n * c, 1, h, w), op, m)
        return _store(y.reshape(n, c, h, w), out)
    if op == "Contrast":
        return _contrast(x, mag, out)
    return _store(_COLOUR_OPS[op](x, mag), out)


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
        self, x: torch.Tensor, mk: torch.Tensor | None, roi_only: bool, out: torch.Tensor | None = None,
        cols: npt.NDArray[np.uint8] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """:meth:`apply` on images whose background is already zeroed when ``roi_only`` (same shapes); the last
        op writes into ``out`` when given (an expansion slot: no temporary image and no copy). ``cols``: ``x`` in
        :func:`pixel_major` form, for a geometric first op (an expansion makes it once per chunk)."""
        size = (x.shape[-2], x.shape[-1])
        if not self.ops:
            return _store(x, out), mk
        for k, (op, b) in enumerate(self.ops):
            m = magnitude(op, b, self.sign, size)
            dst = out if k == len(self.ops) - 1 else None
            if op in GEOMETRIC:
                assert m is not None  # checked in __post_init__: geometric ops carry a bin
                # a nearest warp with fill 0 of a masked image is the masked warp: no re-zeroing needed
                x = _geometric(x, op, m, dst, cols if k == 0 else None)
                mk = None if mk is None else _geometric(mk, op, m)
            else:
                y = _colour(x, op, m, dst)
                if roi_only and mk is not None and y is not x:  # ops that return their input changed nothing
                    y = _zero_outside(y, mk)
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
