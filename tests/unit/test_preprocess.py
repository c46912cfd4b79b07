from __future__ import annotations

import numpy as np
import pytest

from gliograde.config import PreprocessCfg
from gliograde.errors import MaskMismatchError
from gliograde.preprocess import (
    Preprocess,
    apply_roi,
    crop,
    crop_box,
    dilate,
    grey_to_rgb,
    resize,
    to_uint8,
)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.float32, np.float64])
def test_to_uint8_maps_window_to_full_range(dtype):
    x = np.linspace(0, 200, 101).astype(dtype).reshape(1, -1)
    out = to_uint8(x, window=(0, 100))
    assert out.dtype == np.uint8
    assert out.min() == 0 and out.max() == 255
    assert np.all(np.diff(out[0].astype(int)) >= 0)  # monotone


def test_to_uint8_percentile_clips_outliers_and_uses_region():
    x = np.full((20, 20), 100.0)
    x[0, 0] = 1e6  # one hot pixel must not squash the rest
    x[10:, :] = 200.0
    out = to_uint8(x, window=(1, 99))
    assert out[19, 19] == 255 and out[0, 1] == 0
    region = np.zeros_like(x, dtype=bool)
    region[10:, :] = True  # constant region -> zeros, no division by zero
    assert to_uint8(x, region=region).max() == 0


def test_to_uint8_zscore():
    x = np.random.default_rng(0).normal(50, 10, (64, 64))
    out = to_uint8(x, method="zscore")
    assert abs(int(np.median(out)) - 127) <= 3


def test_apply_roi_zeroes_outside(tiny_slice):
    img, mask = tiny_slice
    out = apply_roi(img, mask)
    assert (out[~mask] == 0).all() and (out[mask] == img[mask]).all()
    rgb = apply_roi(np.stack([img] * 3, -1), mask)
    assert rgb.shape == (32, 32, 3) and (rgb[~mask] == 0).all()
    with pytest.raises(MaskMismatchError, match="mask shape"):
        apply_roi(img, mask[:-1])


def test_crop_box_square_with_margin_and_padding():
    mask = np.zeros((20, 20), bool)
    mask[2:6, 0:12] = True  # 4 x 12 box at the edge
    box = crop_box(mask, margin=1, square=True)
    assert box[1] - box[0] == box[3] - box[2] == 14
    out = crop(np.ones((20, 20), np.uint8), box)
    assert out.shape == (14, 14)
    assert out[0, 0] == 0  # padded beyond the left edge
    with pytest.raises(MaskMismatchError, match="empty"):
        crop_box(np.zeros((5, 5), bool))


def test_resize_modes_keep_dtype():
    img = np.arange(64, dtype=np.uint8).reshape(8, 8)
    assert resize(img, 16).shape == (16, 16) and resize(img, 16).dtype == np.uint8
    m = resize(img > 30, 16, mode="nearest")
    assert m.dtype == bool and set(np.unique(m)) == {False, True}
    assert resize(np.zeros((8, 8, 3), np.uint8), 4).shape == (4, 4, 3)


def test_grey_to_rgb():
    g = np.arange(4, dtype=np.uint8).reshape(2, 2)
    rgb = grey_to_rgb(g)
    assert rgb.shape == (2, 2, 3) and (rgb[..., 2] == g).all()
    assert grey_to_rgb(rgb) is rgb


def test_dilate_grows_by_rim():
    m = np.zeros((11, 11), bool)
    m[5, 5] = True
    assert dilate(m, 0).sum() == 1
    assert dilate(m, 2).sum() == 13  # disk of radius 2


def test_preprocess_outputs_square_uint8_with_zero_background(tiny_slice):
    img, mask = tiny_slice
    out, m = Preprocess(cfg=PreprocessCfg(size=40))(img.astype(np.uint16) * 100, mask)
    assert out.shape == (40, 40) and out.dtype == np.uint8 and m.shape == (40, 40)
    assert (out[~m] == 0).all() and out[m].max() > 0
    again_img, again_mask = Preprocess(cfg=PreprocessCfg(size=40, margin=0))(out, m)
    assert again_mask.shape == (40, 40)  # re-preprocessing a processed crop keeps the geometry valid
    assert "size=40" in repr(Preprocess(cfg=PreprocessCfg(size=40)))


def test_preprocess_multichannel_scales_each_channel(tiny_slice):
    img, mask = tiny_slice
    stack = np.stack([img, img.astype(np.float32) * 1000, img], axis=-1)
    out, _ = Preprocess(cfg=PreprocessCfg(size=24))(stack, mask)
    assert out.shape == (24, 24, 3)
    np.testing.assert_array_equal(out[..., 0], out[..., 1])  # scale-free: same after robust scaling


def test_to_uint8_robust_maps_median_to_128_and_iqr_to_32_levels():
    x = np.array([[0.0, 10.0, 20.0, 30.0, 40.0]])
    assert to_uint8(x, method="robust").tolist() == [[96, 112, 128, 144, 160]]
    region = np.array([[False, False, True, True, True]])  # median 30, IQR 10
    assert to_uint8(x, region=region, method="robust").tolist() == [[32, 64, 96, 128, 160]]
    assert to_uint8(np.full((3, 3), 7.0), method="robust").max() == 0  # zero IQR: no division by zero


def test_reference_region_each_choice():
    from gliograde.preprocess import reference_region

    ch = np.zeros((9, 9))
    ch[1:8, 1:8] = 5.0  # brain
    roi = np.zeros((9, 9), bool)
    roi[4, 4] = True
    assert reference_region(ch, roi, "slice") is None
    assert (reference_region(ch, roi, "roi") == roi).all()
    assert reference_region(ch, roi, "brain").sum() == 49
    outside = reference_region(ch, roi, "brain_outside_roi")
    assert outside.sum() == 48 and not outside[4, 4]
    ring = reference_region(ch, roi, "ring", ring_width=1)
    assert ring.sum() == 4 and not ring[4, 4] and ring[3, 4]  # the disk of radius 1 minus the centre
    full = np.ones((9, 9), bool)  # tumour fills the brain: fall back to the brain
    assert reference_region(ch, full, "brain_outside_roi").sum() == 49
    with pytest.raises(ValueError, match="region"):
        reference_region(ch, roi, "skull")


@pytest.mark.parametrize("region", ["brain_outside_roi", "ring", "brain"])
def test_robust_brain_scaling_removes_scanner_gain_and_offset(tiny_slice, region):
    img, mask = tiny_slice
    raw = img.astype(np.float64) + 1.0  # background stays 0 below
    raw[:2] = 0
    cfg = PreprocessCfg(size=24, intensity="robust", region=region, ring_width=3)
    a, ma = Preprocess(cfg=cfg)(raw, mask)
    b, mb = Preprocess(cfg=cfg)(raw * 7.5, mask)  # another site's gain
    assert (ma == mb).all()
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
    # the tumour is scaled against tissue outside it: brighter normal tissue darkens the tumour
    brighter = raw.copy()
    brighter[(raw > 0) & ~mask] *= 2
    c, _ = Preprocess(cfg=PreprocessCfg(size=24, intensity="robust", region="brain_outside_roi"))(brighter, mask)
    d, _ = Preprocess(cfg=PreprocessCfg(size=24, intensity="robust", region="brain_outside_roi"))(raw, mask)
    assert c[ma].mean() < d[ma].mean()
