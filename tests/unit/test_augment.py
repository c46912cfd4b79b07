"""AutoAugment-SVHN expansion: counts, determinism, background, shapes, ordering, leakage guard."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import disk_slice
from torchvision.transforms import v2

from gliograde.augment.policy import (
    GEOMETRIC,
    SVHN_POLICY,
    AugTransform,
    StochasticSVHN,
    build_transforms,
    expand,
    expand_training,
    magnitude,
)
from gliograde.config import AugmentCfg
from gliograde.errors import InputError, MaskMismatchError
from gliograde.report.montage import montage


def _batch(n: int = 3, c: int = 1, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    imgs, masks = zip(*(disk_slice(size, radius=size // 4, seed=s) for s in range(n)), strict=False)
    x = torch.from_numpy(np.stack(imgs))[:, None].repeat(1, c, 1, 1)
    if c > 1:  # make channels differ so a channel mix-up would show
        x = x // torch.arange(1, c + 1, dtype=torch.uint8)[None, :, None, None]
    return x.contiguous(), torch.from_numpy(np.stack(masks))


def test_policy_is_torchvisions_svhn_table() -> None:
    ref = v2.AutoAugment(v2.AutoAugmentPolicy.SVHN)._policies
    assert len(SVHN_POLICY) == 25
    assert [tuple(tuple(op) for op in sub) for sub in ref] == list(SVHN_POLICY)


@pytest.mark.parametrize(("dedupe", "n"), [("identity", 57), ("effect", 46)])
def test_counts(dedupe: str, n: int) -> None:
    ts = build_transforms(AugmentCfg(dedupe=dedupe))  # type: ignore[arg-type]
    assert len(ts) == n
    assert len({t.ops for t in ts}) == n  # no duplicates left
    assert ts[0].ops == () and ts[0].name == "identity"
    assert sum(len(t.ops) == 2 for t in ts) == (24 if dedupe == "identity" else 21)


def test_effect_mode_is_identity_mode_without_nominal_bins() -> None:
    free = {"Invert", "Equalize", "AutoContrast"}
    strip = {tuple((op, None if op in free else b) for op, b in t.ops) for t in build_transforms()}
    assert strip == {t.ops for t in build_transforms(AugmentCfg(dedupe="effect"))}


@pytest.mark.parametrize("c", [1, 3])
def test_ops_match_torchvision_autoaugment_bit_for_bit(c: int) -> None:
    x, _ = _batch(2, c, 29)
    aa = v2.AutoAugment(v2.AutoAugmentPolicy.SVHN, fill=0)
    for sign in ("positive", "negative"):
        for t in build_transforms(AugmentCfg(sign=sign))[1:]:  # type: ignore[arg-type]
            ref = x
            for op, b in t.ops:
                m = magnitude(op, b, t.sign, (29, 29)) or 0.0
                ref = aa._apply_image_or_video_transform(ref, op, m, interpolation=aa.interpolation, fill=aa._fill)
            assert torch.equal(t(x), ref), t.name


@pytest.mark.parametrize("c", [1, 2, 3, 4])
def test_dtype_shape_preserved_and_deterministic(c: int) -> None:
    x, m = _batch(2, c)
    ts = build_transforms()
    a = expand(x, m, ts, chunk_size=1)
    b = expand(x, m, ts, chunk_size=5)
    assert a.dtype == torch.uint8 and a.shape == (2 * 57, c, 32, 32)
    assert torch.equal(a, b)
    assert torch.equal(a[0], x[0]) and torch.equal(a[57], x[1])  # identity first, equal to the input
    assert torch.equal(x, _batch(2, c)[0])  # input untouched


def test_multichannel_is_per_channel() -> None:
    x, _ = _batch(2, 4)
    t = AugTransform(ops=(("ShearX", 4), ("Contrast", 3)))
    per = torch.cat([t(x[:, k:k + 1]) for k in range(4)], dim=1)
    assert torch.equal(t(x), per)


def test_expand_is_image_major() -> None:
    x, _ = _batch(3)
    ts = build_transforms(AugmentCfg(subset=5))
    out = expand(x, None, ts)
    for i in range(3):
        for k, t in enumerate(ts):
            assert torch.equal(out[i * len(ts) + k], t(x[i:i + 1])[0])


def test_signs_and_geometry() -> None:
    x, _ = _batch(1)
    pos = AugTransform(ops=(("Rotate", 3),), sign=1)
    neg = AugTransform(ops=(("Rotate", 3),), sign=-1)
    assert not torch.equal(pos(x), neg(x))
    assert magnitude("Rotate", 3, -1, (32, 32)) == pytest.approx(-10.0)
    assert magnitude("Invert", 3, -1, (32, 32)) is None
    assert pos.name == "Rotate[+3]" and neg.name == "Rotate[-3]"
    assert [t.sign for t in build_transforms(AugmentCfg(sign="negative"))] == [-1] * 57
    line = torch.zeros(1, 1, 9, 9, dtype=torch.uint8)
    line[..., 4] = 200  # a vertical line; documented directions for the positive sign:
    assert AugTransform(ops=(("TranslateX", 3),))(line)[0, 0, :, 5].eq(200).all()  # int(1/3*150/331*9)=1 right
    sheared = AugTransform(ops=(("ShearX", 9),))(line)[0, 0]
    assert sheared[0, 4] == 200 and sheared[8, 1] == 200  # top row stays, bottom moves left


def test_roi_only_keeps_background_zero() -> None:
    x, m = _batch(2)
    x = x.masked_fill(~m[:, None], 0) + 0  # already-masked input, as ingest writes it
    ts = build_transforms()
    plain = expand(x, m, ts)
    before = x.clone()
    roi = expand(x, m, ts, roi_only=True)
    assert torch.equal(x, before)  # in-place masking never reaches the caller's tensor
    assert torch.equal(roi[0], x[0])
    invert = next(k for k, t in enumerate(ts) if t.ops == (("Invert", 3),))
    assert (plain[invert][~m[0][None]] == 255).all()  # study default: whole image inverted
    for k, t in enumerate(ts):
        mk = m[:1]
        for op, b in t.ops:  # the mask follows the geometric ops
            if op in GEOMETRIC:
                mk = AugTransform(ops=((op, b),)).apply(mk[:, None].to(torch.uint8))[0][:, 0].bool()
        assert (roi[k][~mk] == 0).all(), t.name


def test_roi_only_needs_masks() -> None:
    x, m = _batch(1)
    with pytest.raises(MaskMismatchError):
        expand(x, None, build_transforms(), roi_only=True)
    with pytest.raises(MaskMismatchError):
        expand(x, m[:, :5], build_transforms())


def test_subset_keeps_identity_first() -> None:
    ts = build_transforms(AugmentCfg(subset=8))
    assert len(ts) == 9 and ts[0].ops == ()
    assert len(build_transforms(AugmentCfg(subset=0))) == 1
    full = build_transforms()
    assert ts[1] == full[1] and ts[-1] == full[-1]
    with pytest.raises(InputError):
        build_transforms(AugmentCfg(subset=57))


def test_expand_training_never_leaks() -> None:
    x, m = _batch(6)
    labels = np.array([0, 1, 2, 0, 1, 2])
    train, test = np.array([4, 0, 2]), np.array([1, 3, 5])
    cfg = AugmentCfg(subset=4)
    imgs, labs, src = expand_training(x, m, labels, train, cfg, test_idx=test)
    assert imgs.shape == (3 * 5, 1, 32, 32) and labs.dtype == torch.int64
    assert set(src.tolist()) == {0, 2, 4} and not set(src.tolist()) & set(test.tolist())
    assert np.array_equal(labs.numpy(), labels[src])
    for row, s in enumerate(src):
        assert torch.equal(imgs[row], build_transforms(cfg)[row % 5](x[s:s + 1])[0])


@pytest.mark.parametrize("bad", [np.array([0, 0, 1]), np.array([0, 6]), np.array([-1]), np.array([]),
                                 np.array([True, False, True, False, True, False]), np.array([0.0, 1.0])])
def test_expand_training_refuses_bad_indices(bad: np.ndarray) -> None:
    x, m = _batch(6)
    with pytest.raises(InputError):
        expand_training(x, m, np.zeros(6, dtype=np.int64), bad, AugmentCfg())


def test_expand_training_refuses_overlap_with_test() -> None:
    x, m = _batch(4)
    with pytest.raises(InputError, match="both train_idx and test_idx"):
        expand_training(x, m, np.zeros(4, dtype=np.int64), [0, 1], AugmentCfg(), test_idx=[1, 2])


@pytest.mark.parametrize("mode", ["stochastic", "none"])
def test_non_fixed_modes_return_training_rows_once(mode: str) -> None:
    x, m = _batch(4)
    imgs, _, src = expand_training(x, m, np.arange(4), [3, 1], AugmentCfg(mode=mode))  # type: ignore[arg-type]
    assert src.tolist() == [3, 1] and torch.equal(imgs, x[[3, 1]])


@pytest.mark.parametrize("c", [1, 3, 2])
def test_stochastic_is_seeded(c: int, seed: int) -> None:
    x, _ = _batch(4, c)
    state = torch.random.get_rng_state()
    a, b = StochasticSVHN(seed=seed), StochasticSVHN(seed=seed)
    first = [a(x) for _ in range(3)]
    assert all(torch.equal(p, b(x)) for p in first)
    assert torch.equal(torch.random.get_rng_state(), state)  # the global RNG is left alone
    assert not all(torch.equal(first[0], p) for p in first[1:])  # a new draw per call
    assert first[0].dtype == torch.uint8 and first[0].shape == x.shape
    a.reset()
    assert torch.equal(a(x), first[0])


def test_montage_writes_png(tmp_path) -> None:  # type: ignore[no-untyped-def]
    x, m = _batch(1)
    out = montage(x[0], build_transforms(AugmentCfg(subset=3)), tmp_path / "m.png", masks=m[0], roi_only=True)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("ops", [(("ShearX", None),), (("Rotate", 10),), (("Blur", 1),)])
def test_bad_transform_is_refused(ops: tuple) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError, match="bad AugTransform"):
        AugTransform(ops=ops)
