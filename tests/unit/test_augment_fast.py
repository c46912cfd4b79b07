"""The fast expansion (numpy kernels on CPU, torch kernels on other devices) gives torchvision's bytes."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.transforms.v2 import functional as F

from gliograde.augment import ops
from gliograde.augment.policy import AugTransform, build_transforms, expand, expand_training
from gliograde.config import AugmentCfg


@pytest.fixture(params=["numpy", "torch"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with the CPU (numpy) kernels and with the device (torch) kernels, both on CPU."""
    if request.param == "torch":
        monkeypatch.setattr(ops, "_numpy_path", lambda x: False)
    return str(request.param)


def _images(c: int = 1, n: int = 6, size: int = 23, seed: int = 0) -> torch.Tensor:
    """Random images plus the awkward ones: constant, all 255, two values, mostly the maximum."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (max(n, 5), c, size, size)).astype(np.uint8)
    x[1] = 7
    x[2] = 255
    x[3] = np.where(rng.random((c, size, size)) < 0.5, 0, 200)
    x[4] = np.where(rng.random((c, size, size)) < 0.99, 255, 3)
    return torch.from_numpy(x[:n].copy()) if n < 5 else torch.from_numpy(x)


@pytest.mark.parametrize("c", [1, 3])
def test_colour_kernels_match_torchvision(path: str, c: int) -> None:
    x = _images(c)
    assert torch.equal(ops._colour(x, "Equalize", None), F.equalize(x)), path
    assert torch.equal(ops._colour(x, "AutoContrast", None), F.autocontrast(x))
    assert torch.equal(ops._colour(x, "Invert", None), F.invert(x))
    for m in np.linspace(0.0, 1.0, 10):
        assert torch.equal(ops._colour(x, "Solarize", float(m)), F.solarize(x, threshold=255 * float(m))), m
    for bits in (1, 4, 8):
        assert torch.equal(ops._colour(x, "Posterize", float(bits)), F.posterize(x, bits=bits))
    for m in (-0.9, -0.3, 0.0, 0.5, 0.9):
        assert torch.equal(ops._colour(x, "Brightness", m), F.adjust_brightness(x, brightness_factor=1 + m))
        assert torch.equal(ops._colour(x, "Contrast", m), F.adjust_contrast(x, contrast_factor=1 + m)), m


def test_contrast_falls_back_to_torchvision_where_its_table_may_round_differently(
        path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """An image whose vectorised and scalar tables disagree gets torchvision's own call: forced here."""
    x = _images(1)
    tables = ops._contrast_luts

    def disagree(x: torch.Tensor, factor: float) -> tuple[torch.Tensor, torch.Tensor]:
        luts, exact = tables(x, factor)
        luts[::2] = 0  # wrong tables, flagged as not exact: they must not be used
        exact[::2] = False
        return luts, exact

    monkeypatch.setattr(ops, "_contrast_luts", disagree)
    assert torch.equal(ops._colour(x, "Contrast", 0.6), F.adjust_contrast(x, contrast_factor=1.6)), path


def test_kernels_write_into_a_strided_slot(path: str) -> None:
    """Ops write straight into ``out[:, t]`` of an (N, T, C, H, W) expansion: same bytes as a new tensor."""
    x = _images(3, size=19)
    out = torch.zeros(len(x), 4, 3, 19, 19, dtype=torch.uint8)
    for op, m in (("Equalize", None), ("AutoContrast", None), ("Invert", None), ("Solarize", 0.4),
                  ("Contrast", 0.5), ("Posterize", 4.0)):
        assert torch.equal(ops._colour(x, op, m, out[:, 2]), ops._colour(x, op, m)), op
        assert torch.equal(out[:, 2], ops._colour(x, op, m)), op
    for op in sorted(ops.GEOMETRIC):
        m = ops.magnitude(op, 6, -1, (19, 19))
        assert m is not None
        ops._geometric(x, op, m, out[:, 1])
        assert torch.equal(out[:, 1], ops._warp(x, op, m, fill=0.0)), op
    assert not out[:, [0, 3]].any()  # the neighbouring slots are untouched


@pytest.mark.parametrize("op", sorted(ops.GEOMETRIC))
def test_geometric_kernels_match_torchvision(path: str, op: str) -> None:
    x = _images(3, size=31)
    for b in (0, 4, 9):
        for sign in (1, -1):
            m = ops.magnitude(op, b, sign, (31, 31))
            assert m is not None
            assert torch.equal(ops._geometric(x, op, m), ops._warp(x, op, m, fill=0.0)), (op, b, sign)


@pytest.mark.parametrize("c", [1, 3])
def test_pixel_major_gathers_give_torchvision_bytes(c: int) -> None:
    """A batch of PIXEL_MAJOR_MIN or more images is gathered pixel-major, through transposes in several blocks
    (the planes here are larger than one block); images and bool masks give torchvision's warp."""
    n, size = ops.PIXEL_MAJOR_MIN + 1, 67
    assert size * size > ops._BLOCK  # at least two blocks per transpose
    x = _images(c, n=n, size=size, seed=11)
    masks = torch.from_numpy(np.random.default_rng(2).random((n, size, size)) < 0.5)
    cols = ops.pixel_major(x)
    assert cols is not None and cols.shape == (c, size * size + 1, n)
    for op in sorted(ops.GEOMETRIC):
        for b, sign in ((2, 1), (7, -1), (9, 1)):
            m = ops.magnitude(op, b, sign, (size, size))
            assert m is not None
            want = ops._warp(x, op, m, fill=0.0)
            assert torch.equal(ops._geometric(x, op, m), want), (op, b, sign)
            assert torch.equal(ops._geometric(x, op, m, cols=cols), want), (op, b, sign)
            assert torch.equal(ops._geometric(masks, op, m), ops._warp(masks[:, None].to(torch.uint8), op, m,
                                                                         fill=0.0)[:, 0].bool()), (op, b, sign)


@pytest.mark.parametrize(("c", "roi_only"), [(1, True), (3, False)])
def test_a_large_chunk_expands_as_the_device_kernels_do(monkeypatch: pytest.MonkeyPatch, c: int,
                                                         roi_only: bool) -> None:
    """Chunks of PIXEL_MAJOR_MIN or more images (pixel-major gathers, one source transpose per chunk) give the
    bytes of the device kernels, which gather plane by plane with torch."""
    n = ops.PIXEL_MAJOR_MIN + 2
    x = _images(c, n=n, size=66, seed=c + 20)
    masks = torch.from_numpy(np.random.default_rng(3).random((n, 66, 66)) < 0.6)
    ts = build_transforms()
    cpu = expand(x, masks, ts, roi_only=roi_only)
    monkeypatch.setattr(ops, "_numpy_path", lambda t: False)
    assert torch.equal(expand(x, masks, ts, roi_only=roi_only), cpu)


def test_warp_plan_uses_runs_for_shifts_and_a_gather_for_rotations() -> None:
    ty = ops._warp_plan("TranslateY", float(ops.magnitude("TranslateY", 5, 1, (40, 40)) or 0), 40, 40)
    rot = ops._warp_plan("Rotate", float(ops.magnitude("Rotate", 5, 1, (40, 40)) or 0), 40, 40)
    assert ty.runs is not None and len(ty.runs) == 1  # a vertical shift is one contiguous copy
    assert rot.runs is None


@pytest.mark.parametrize(("c", "roi_only"), [(1, False), (1, True), (3, False), (4, True)])
def test_device_kernels_give_the_cpu_bytes(monkeypatch: pytest.MonkeyPatch, c: int, roi_only: bool) -> None:
    x = _images(c, n=5, size=29, seed=c)[[0, 3, 4]]
    masks = torch.from_numpy(np.random.default_rng(1).random((3, 29, 29)) < 0.6)  # random ROIs
    ts = build_transforms()
    cpu = expand(x, masks, ts, roi_only=roi_only, chunk_size=2)
    monkeypatch.setattr(ops, "_numpy_path", lambda t: False)
    assert torch.equal(expand(x, masks, ts, roi_only=roi_only, chunk_size=2), cpu)


@pytest.mark.parametrize("c", [1, 3])
def test_expansion_equals_torchvision_per_image(c: int) -> None:
    """The benchmark's claim (same images as torchvision's AutoAugment ops, image by image) on a small cohort."""
    from torchvision.transforms import v2

    x = _images(c, n=3, size=41, seed=5)
    aa = v2.AutoAugment(v2.AutoAugmentPolicy.SVHN, fill=0)
    ts = build_transforms()
    out = expand(x, None, ts, chunk_size=2)
    for i in range(len(x)):
        for k, t in enumerate(ts):
            ref = x[i:i + 1]
            for op, b in t.ops:
                m = ops.magnitude(op, b, t.sign, (41, 41)) or 0.0
                ref = aa._apply_image_or_video_transform(ref, op, m, interpolation=aa.interpolation, fill=aa._fill)
            assert torch.equal(out[i * len(ts) + k], ref[0]), t.name


def test_threaded_chunks_give_the_same_bytes() -> None:
    """On CPU the chunks run in torch's number of threads; the expansion does not depend on it."""
    x = _images(1, n=5, size=21, seed=3)
    ts = build_transforms()
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = expand(x, None, ts, chunk_size=2)
        torch.set_num_threads(2)
        assert torch.equal(expand(x, None, ts, chunk_size=2), one)
    finally:
        torch.set_num_threads(before)


def test_expand_training_on_a_device_keeps_everything_there() -> None:
    x = _images(1, n=4)
    out, labels, source = expand_training(x, None, np.array([0, 1, 0, 1]), [0, 2], AugmentCfg(subset=3),
                                          device="cpu")
    assert out.device.type == labels.device.type == "cpu"
    assert out.shape[0] == labels.shape[0] == len(source) == 2 * 4
    assert torch.equal(out[4], AugTransform()(x[2:3])[0])


@pytest.mark.gpu
def test_cuda_expansion_gives_the_cpu_bytes() -> None:
    x = _images(3, n=4, size=64)
    masks = torch.from_numpy(np.random.default_rng(2).random((4, 64, 64)) < 0.6)
    ts = build_transforms()
    cpu = expand(x, masks, ts, roi_only=True)
    gpu = expand(x.cuda(), masks.cuda(), ts, roi_only=True)
    assert gpu.device.type == "cuda"
    assert torch.equal(gpu.cpu(), cpu)
