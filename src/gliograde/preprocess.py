"""The study's preprocessing as small pure functions, composed by :class:`Preprocess`.

Order (same at training and prediction time, like torchvision presets):
    1. ``to_uint8``   8-bit scaling per channel (percentile window, z-score or median/IQR), with statistics
                      computed on a ``reference_region`` (slice, brain, ROI, brain outside the ROI, ring);
                      this happens before masking, while the patient's normal tissue is still visible;
    2. ``apply_roi``  pixels outside the outline (plus an optional ``rim``) set to 0, as in the study;
    3. ``crop_box``   crop to the ROI bounding box plus a margin, padded to a square (shape is a grade cue:
                      stretching an elongated tumour into a square would change it);
    4. ``resize``     to the model's input side (227 for the study's AlexNet), image bilinear, mask nearest;
    5. ``grey_to_rgb`` happens on the batch (:func:`gliograde.training.engine.normalise_batch`): the cache stays small.

>>> import numpy as np
>>> img = np.zeros((32, 32), np.uint16); img[8:24, 8:24] = 1000
>>> mask = img > 0
>>> out, m = Preprocess(cfg=PreprocessCfg(size=16, margin=0))(img, mask)
>>> out.shape, out.dtype, bool(m.all())
((16, 16), dtype('uint8'), True)
"""
from __future__ import annotations

from typing import Any, TypeVar, overload

import numpy as np
import numpy.typing as npt
from PIL import Image
from scipy import ndimage

from gliograde.config import PreprocessCfg
from gliograde.errors import MaskMismatchError

Box = tuple[int, int, int, int]  # row0, row1, col0, col1 (half-open)
#: Grey levels per IQR of the reference tissue in ``robust`` scaling (+-4 IQR fit in 0..255).
ROBUST_SCALE = 32.0
REGIONS = ("slice", "brain", "roi", "brain_outside_roi", "ring")
_DEFAULT_CFG = PreprocessCfg()
_ScalarT = TypeVar("_ScalarT", bound=np.generic)


def to_uint8(
    image: npt.NDArray[np.generic],
    *,
    region: npt.NDArray[np.bool_] | None = None,
    window: tuple[float, float] = (0.5, 99.5),
    method: str = "percentile",
) -> npt.NDArray[np.uint8]:
    """Scale one channel to uint8 [0, 255].

    Args:
        image: (H, W) of any real dtype (8/16-bit, float).
        region: (H, W) bool, pixels the statistics are computed on; None or empty = all pixels.
        window: ``percentile``: low/high percentiles mapped to 0/255. Ignored for ``zscore``.
        method: ``percentile``, ``zscore`` (mean ± 3 SD mapped to 0..255) or ``robust``
            (``(x - median) / IQR * 32 + 128``: the region's median maps to 128, its IQR spans 32 grey levels).

    Returns:
        (H, W) uint8. A constant region maps to 0 (no division by zero).

    >>> to_uint8(np.array([[0.0, 10.0, 20.0, 30.0, 40.0]]), method="robust").tolist()
    [[96, 112, 128, 144, 160]]
    """
    x = np.asarray(image, dtype=np.float64)
    vals = x[region] if region is not None and region.any() else x.ravel()
    if method == "robust":
        q1, med, q3 = (float(q) for q in np.percentile(vals, (25, 50, 75)))
        if q3 <= q1:
            return np.zeros(x.shape, np.uint8)
        return np.clip(np.rint((x - med) / (q3 - q1) * ROBUST_SCALE + 128.0), 0, 255).astype(np.uint8)
    if method == "percentile":
        lo, hi = (float(q) for q in np.percentile(vals, window))
    elif method == "zscore":
        mu, sd = float(vals.mean()), float(vals.std())
        lo, hi = mu - 3 * sd, mu + 3 * sd
    else:
        raise ValueError(f"unknown intensity method {method!r}; use 'percentile', 'zscore' or 'robust'")
    if hi <= lo:
        return np.zeros(x.shape, np.uint8)
    return np.clip(np.rint((x - lo) * (255.0 / (hi - lo))), 0, 255).astype(np.uint8)


def reference_region(
    channel: npt.NDArray[np.generic],
    roi: npt.NDArray[np.bool_],
    region: str = "brain",
    *,
    ring_width: int = 10,
) -> npt.NDArray[np.bool_] | None:
    """Pixels whose intensities set the 8-bit scaling of one channel.

    Args:
        channel: (H, W) raw intensities; 0 = background (outside the head / skull-stripped).
        roi: (H, W) bool tumour (+ rim) mask.
        region: ``slice`` (None: every pixel), ``brain`` (non-zero pixels), ``roi``, ``brain_outside_roi``
            (non-zero pixels outside ``roi``: the patient's normal tissue, a per-scan reference that
            removes scanner gain without looking at the tumour) or ``ring`` (non-zero pixels within
            ``ring_width`` of ``roi``, outside it).

    Returns:
        (H, W) bool, or None for ``slice``. An empty reference (tumour fills the brain) falls back to
        the brain, then to the whole slice (None), so scaling never divides by zero silently.

    >>> ch = np.array([[0, 5, 5, 9]]); roi = np.array([[False, False, False, True]])
    >>> reference_region(ch, roi, "brain_outside_roi").tolist()
    [[False, True, True, False]]
    """
    if region not in REGIONS:
        raise ValueError(f"unknown intensity region {region!r}; choose one of {REGIONS}")
    if region == "slice":
        return None
    if region == "roi":
        return roi
    brain: npt.NDArray[np.bool_] = np.asarray(channel) != 0
    if region == "brain":
        return brain
    ref = brain & ~roi
    if region == "ring":
        ref &= dilate(roi, ring_width)
    if ref.any():
        return ref
    return brain if brain.any() else None


def dilate(mask: npt.NDArray[np.bool_], rim: int) -> npt.NDArray[np.bool_]:
    """Grow a mask by ``rim`` pixels (disk-shaped), to keep context around the outline."""
    if rim <= 0:
        return mask
    yy, xx = np.mgrid[-rim : rim + 1, -rim : rim + 1]
    return np.asarray(ndimage.binary_dilation(mask, structure=(yy**2 + xx**2) <= rim**2), dtype=np.bool_)


def apply_roi(image: npt.NDArray[np.uint8], mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.uint8]:
    """Set pixels outside ``mask`` to 0. image: (H, W) or (H, W, C); mask: (H, W) bool."""
    if mask.shape != image.shape[:2]:
        raise MaskMismatchError(f"mask shape {mask.shape} != image shape {image.shape[:2]}")
    m = mask if image.ndim == 2 else mask[..., None]
    return np.where(m, image, 0).astype(image.dtype)


def crop_box(mask: npt.NDArray[np.bool_], margin: int = 4, square: bool = True) -> Box:
    """Bounding box of ``mask`` plus ``margin``; widened to a square when ``square`` (may exceed the image)."""
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        raise MaskMismatchError("empty mask: no ROI pixel to crop around")
    r0, r1 = int(rows.min()) - margin, int(rows.max()) + 1 + margin
    c0, c1 = int(cols.min()) - margin, int(cols.max()) + 1 + margin
    if square:
        side = max(r1 - r0, c1 - c0)
        r0 -= (side - (r1 - r0)) // 2
        c0 -= (side - (c1 - c0)) // 2
        r1, c1 = r0 + side, c0 + side
    return r0, r1, c0, c1


def crop(image: npt.NDArray[_ScalarT], box: Box) -> npt.NDArray[_ScalarT]:
    """Crop ``image`` to ``box``, zero-padding where the box leaves the image."""
    r0, r1, c0, c1 = box
    h, w = image.shape[:2]
    pad = ((max(0, -r0), max(0, r1 - h)), (max(0, -c0), max(0, c1 - w))) + ((0, 0),) * (image.ndim - 2)
    padded = np.pad(image, pad)
    r0, c0 = r0 + pad[0][0], c0 + pad[1][0]
    return padded[r0 : r0 + (r1 - box[0]), c0 : c0 + (c1 - box[2])]


@overload
def resize(image: npt.NDArray[np.bool_], size: int, *, mode: str = ...) -> npt.NDArray[np.bool_]: ...
@overload
def resize(image: npt.NDArray[np.uint8], size: int, *, mode: str = ...) -> npt.NDArray[np.uint8]: ...
@overload
def resize(image: npt.NDArray[np.generic], size: int, *, mode: str = ...) -> npt.NDArray[Any]: ...


def resize(image: npt.NDArray[np.generic], size: int, *, mode: str = "bilinear") -> npt.NDArray[Any]:
    """Resize an (H, W) or (H, W, C) uint8/bool array to (size, size[, C]); ``nearest`` for masks."""
    resample = Image.Resampling.NEAREST if mode == "nearest" else Image.Resampling.BILINEAR
    if image.dtype == bool:
        out = np.asarray(Image.fromarray(image.astype(np.uint8) * 255).resize((size, size), resample))
        return out > 127
    if image.ndim == 3:
        return np.stack([resize(image[..., c], size, mode=mode) for c in range(image.shape[2])], axis=-1)
    return np.asarray(Image.fromarray(image).resize((size, size), resample))


def grey_to_rgb(image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """(H, W) grey to (H, W, 3) by repetition, for ImageNet models; (H, W, 3) passes through."""
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    if image.ndim != 2:
        raise ValueError(f"expected (H, W) or (H, W, 3), got {image.shape}")
    return np.repeat(image[..., None], 3, axis=-1)


class Preprocess:
    """Raw slice + ROI mask -> square uint8 tumour crop + its mask.

    Args:
        cfg: the preprocessing options (window, intensity, region, rim, margin, square, size).

    Call with image (H, W) or (H, W, C) of any real dtype and mask (H, W) bool; returns
    ((size, size) or (size, size, C) uint8 in [0, 255], (size, size) bool).
    """

    def __init__(self, *, cfg: PreprocessCfg = _DEFAULT_CFG) -> None:
        self.cfg = cfg

    def __call__(
        self, image: npt.NDArray[np.generic], mask: npt.NDArray[np.bool_]
    ) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_]]:
        cfg = self.cfg
        if mask.shape != image.shape[:2]:
            raise MaskMismatchError(f"mask shape {mask.shape} != image shape {image.shape[:2]}")
        roi = dilate(mask.astype(bool), cfg.rim)
        chans = [image] if image.ndim == 2 else [image[..., c] for c in range(image.shape[2])]
        scaled = [to_uint8(ch, region=self._region(ch, roi), window=cfg.window, method=cfg.intensity)
                  for ch in chans]
        img8 = scaled[0] if image.ndim == 2 else np.stack(scaled, axis=-1)
        box = crop_box(roi, cfg.margin, cfg.square)
        out_mask = resize(crop(roi, box), cfg.size, mode="nearest")
        out = resize(crop(apply_roi(img8, roi), box), cfg.size, mode="bilinear")
        return apply_roi(out, out_mask), out_mask

    def _region(self, channel: npt.NDArray[np.generic], roi: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_] | None:
        return reference_region(channel, roi, self.cfg.region, ring_width=self.cfg.ring_width)

    def __repr__(self) -> str:
        c = self.cfg
        return (f"Preprocess(intensity={c.intensity!r}, window={c.window}, region={c.region!r}, rim={c.rim}, "
                f"margin={c.margin}, square={c.square}, size={c.size})")
