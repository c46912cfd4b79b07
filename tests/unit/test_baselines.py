"""Handcrafted baseline: radiomics features in the ROI, classical classifiers, sklearn contract."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import disk_slice
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from gliograde.baselines import (
    HandcraftedBaseline,
    RadiomicsFeatures,
    RoiSamples,
    extract_features,
    make_classifier,
    pyradiomics_available,
)
from gliograde.baselines.features import discretise
from gliograde.errors import InputError, MaskMismatchError

needs_pyradiomics = pytest.mark.skipif(not pyradiomics_available(),
                                       reason="PyRadiomics not installed (pip install 'gliograde[radiomics]')")
BACKENDS = ["skimage", pytest.param("pyradiomics", marks=needs_pyradiomics)]


def golden_slice() -> tuple[np.ndarray, np.ndarray]:
    """Fixed 24x24 uint8 noise with a disk ROI whose right half is brighter."""
    rng = np.random.default_rng(42)
    yy, xx = np.mgrid[:24, :24]
    mask = (yy - 11) ** 2 + (xx - 12) ** 2 <= 49
    img = (rng.integers(60, 140, (24, 24)) + 60 * mask * (xx > 12)).astype(np.uint8)
    return img, mask


def disks(levels: list[int], n_per: int, size: int = 32, seed: int = 0) -> tuple[RoiSamples, np.ndarray]:
    """n_per disks per class; class k's tumour is brightened by levels[k]."""
    images, masks, y = [], [], []
    for k, shift in enumerate(levels):
        for i in range(n_per):
            img, mask = disk_slice(size, radius=6 + i % 4, seed=seed + 100 * k + i)
            img = np.clip(img.astype(int) + shift * mask, 0, 255).astype(np.uint8)
            images.append(img[None])
            masks.append(mask)
            y.append(k)
    return RoiSamples(np.stack(images), np.stack(masks)), np.array(y)


def hand_glcm_contrast(levels: np.ndarray, mask: np.ndarray) -> float:
    """Mean over the 4 angles of the mean (i - j)^2 over all ROI pixel pairs (symmetric GLCM)."""
    per_angle = []
    for dr, dc in [(0, 1), (1, 0), (1, 1), (1, -1)]:
        diffs = [(levels[r, c] - levels[r + dr, c + dc]) ** 2
                 for r in range(mask.shape[0]) for c in range(mask.shape[1])
                 if 0 <= r + dr < mask.shape[0] and 0 <= c + dc < mask.shape[1]
                 and mask[r, c] and mask[r + dr, c + dc]]
        per_angle.append(np.mean(diffs))
    return float(np.mean(per_angle))


@pytest.mark.parametrize("backend", BACKENDS)
def test_golden_values_against_hand_computation(backend: str) -> None:
    img, mask = golden_slice()
    X, names = extract_features(img[None, None], mask[None], backend=backend, bin_width=8)
    f = dict(zip(names, X[0], strict=False))
    v = img[mask].astype(float)
    levels = np.zeros(img.shape, np.int64)
    levels[mask] = np.floor((v - (v.min() - v.min() % 8)) / 8) + 1
    p = np.bincount(levels[mask])[1:] / v.size
    p = p[p > 0]
    assert f["c0_firstorder_Mean"] == pytest.approx(v.mean(), rel=1e-12)
    assert f["c0_firstorder_Variance"] == pytest.approx(v.var(), rel=1e-12)
    assert f["c0_firstorder_Entropy"] == pytest.approx(-np.sum(p * np.log2(p)), rel=1e-9)
    assert f["c0_shape2D_PixelSurface"] == mask.sum() == 149
    assert f["c0_glcm_Contrast"] == pytest.approx(hand_glcm_contrast(levels, mask), rel=1e-9)


@pytest.mark.parametrize("backend", BACKENDS)
def test_golden_regression_values(backend: str) -> None:
    """Frozen values (PyRadiomics 3.0.1 and the skimage backend agreed on all of them)."""
    img, mask = golden_slice()
    X, names = extract_features(img[None, None], mask[None], backend=backend, bin_width=8)
    f = dict(zip(names, X[0], strict=False))
    golden = {"c0_firstorder_Mean": 126.03355704697987, "c0_glcm_Contrast": 20.2274684270953,
              "c0_glcm_Correlation": 0.47304394226336266, "c0_glrlm_RunPercentage": 0.9312080536912751,
              "c0_glszm_ZonePercentage": 0.7449664429530202,
              "c0_glszm_SmallAreaEmphasis": 0.8330166901595473}
    for name, value in golden.items():
        assert f[name] == pytest.approx(value, rel=1e-9), name


@needs_pyradiomics
def test_skimage_backend_matches_pyradiomics_on_shared_features() -> None:
    img, mask = disk_slice(48, 10, seed=3)
    a, na = extract_features(img[None, None], mask[None], backend="pyradiomics")
    b, nb = extract_features(img[None, None], mask[None], backend="skimage")
    ref = dict(zip(na, a[0], strict=False))
    # perimeter-based shape features differ by definition (mesh vs pixel-edge perimeter)
    shared = [n for n in nb if n in ref and not any(s in n for s in ("Perimeter", "Sphericity",
                                                                      "MaximumDiameter"))]
    assert len(shared) >= 40
    np.testing.assert_allclose([dict(zip(nb, b[0], strict=False))[n] for n in shared], [ref[n] for n in shared],
                               rtol=1e-8)


@pytest.mark.parametrize("backend", BACKENDS)
def test_features_finite_deterministic_and_named_per_channel(backend: str) -> None:
    samples, _ = disks([0, 60], n_per=2)
    images = np.concatenate([samples.images, 255 - samples.images], axis=1)  # 2 channels
    X1, names = extract_features(images, samples.masks, backend=backend, channels=[1, 0])
    X2, _ = extract_features(images, samples.masks, backend=backend, channels=[1, 0])
    assert X1.shape == (4, len(names)) and X1.dtype == np.float64
    assert np.isfinite(X1).all()
    np.testing.assert_array_equal(X1, X2)
    assert names[0].startswith("c1_") and names[-1].startswith("c0_")
    assert len(names) == len(set(names))


@pytest.mark.parametrize("backend", BACKENDS)
def test_features_ignore_pixels_outside_roi(backend: str) -> None:
    img, mask = golden_slice()
    other = img.copy()
    other[~mask] = 255 - other[~mask]
    a, _ = extract_features(img[None, None], mask[None], backend=backend)
    b, _ = extract_features(other[None, None], mask[None], backend=backend)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("pixels", "message"), [([], "label not present"),
                                                 ([(5, 5)], "ROI too small"),
                                                 ([(5, 5), (5, 6), (5, 7)], "ROI too small")])
def test_bad_roi_raises_clear_error(backend: str, pixels: list[tuple[int, int]], message: str) -> None:
    img, _ = disk_slice(16, 4)
    mask = np.zeros((16, 16), bool)
    for r, c in pixels:
        mask[r, c] = True
    with pytest.raises(MaskMismatchError, match=f"sample 0: {message}"):
        extract_features(img[None, None], mask[None], backend=backend)


def test_bad_inputs_raise() -> None:
    img, mask = disk_slice(16, 4)
    with pytest.raises(InputError, match="uint8"):
        extract_features(img[None, None].astype(np.float32), mask[None])
    with pytest.raises(MaskMismatchError, match="bool"):
        extract_features(img[None, None], mask[None].astype(np.uint8))
    with pytest.raises(InputError, match="out of range"):
        extract_features(img[None, None], mask[None], channels=[1])
    with pytest.raises(ValueError, match="unknown feature classes"):
        extract_features(img[None, None], mask[None], feature_classes=("glcm", "ngtdm"))


def test_discretise_follows_pyradiomics_bin_edges() -> None:
    np.testing.assert_array_equal(discretise(np.array([13.0, 15.0, 16.0, 31.0, 32.0]), 8),
                                  [1, 1, 2, 3, 4])


def test_roi_samples_indexing() -> None:
    samples, _ = disks([0, 50], n_per=3)
    image, mask = samples[4]
    assert image.shape == (1, 32, 32) and mask.shape == (32, 32)
    sub = samples[np.array([0, 5])]
    assert isinstance(sub, RoiSamples) and len(sub) == 2
    np.testing.assert_array_equal(sub.images[1], samples.images[5])
    with pytest.raises(MaskMismatchError):
        RoiSamples(samples.images, samples.masks[:, :16])


def test_transformer_sklearn_contract_and_feature_names() -> None:
    samples, _ = disks([0, 50], n_per=2)
    t = RadiomicsFeatures(backend="skimage", bin_width=4, feature_classes=("firstorder", "shape2D"))
    assert clone(t).get_params() == t.get_params()
    X = t.fit(samples).transform(list(zip(samples.images, samples.masks, strict=False)))
    names = t.get_feature_names_out()
    assert X.shape == (4, len(names)) and t.backend_ == "skimage"
    assert all(n.startswith(("c0_firstorder_", "c0_shape2D_")) for n in names)


def test_baseline_get_params_round_trip() -> None:
    est = HandcraftedBaseline(classifier="mlp", backend="skimage", bin_width=4, select_k=5,
                              channels=(0,), random_state=3)
    params = est.get_params()
    assert params["classifier"] == "mlp" and params["select_k"] == 5 and params["random_state"] == 3
    assert clone(est).get_params() == params
    assert HandcraftedBaseline(**params).get_params() == params


@pytest.mark.parametrize("kind", ["logreg", "rbf_svm", "mlp"])
def test_cross_val_predict_separates_bright_from_dark(kind: str) -> None:
    samples, y = disks([0, 70], n_per=10)
    est = HandcraftedBaseline(classifier=kind, backend="skimage",
                              feature_classes=("firstorder", "glcm", "shape2D"))
    cv = StratifiedKFold(4, shuffle=True, random_state=0)
    proba = cross_val_predict(est, samples, y, cv=cv, method="predict_proba")
    assert proba.shape == (20, 2)
    np.testing.assert_allclose(proba.sum(1), 1.0)
    assert roc_auc_score(y, proba[:, 1]) >= 0.95


def test_cross_val_predict_three_classes() -> None:
    samples, y = disks([0, 45, 90], n_per=8)
    est = HandcraftedBaseline(classifier="logreg", backend="skimage",
                              feature_classes=("firstorder",), select_k=5)
    proba = cross_val_predict(est, samples, y, cv=StratifiedKFold(4, shuffle=True, random_state=0),
                              method="predict_proba")
    assert proba.shape == (24, 3)
    assert (proba.argmax(1) == y).mean() >= 0.9


def test_precomputed_features_give_identical_predictions() -> None:
    samples, y = disks([0, 60], n_per=6)
    est = HandcraftedBaseline(classifier="rbf_svm", backend="skimage", bin_width=8)
    X, _ = extract_features(samples.images, samples.masks, backend="skimage", bin_width=8)
    from_images = clone(est).fit(samples, y).predict_proba(samples)
    from_features = clone(est).fit(X, y)
    np.testing.assert_array_equal(from_images, from_features.predict_proba(X))
    with pytest.raises(InputError, match="precomputed"):
        from_features.predict_proba(samples)
    with pytest.raises(InputError, match="features"):
        from_features.predict_proba(X[:, :5])


def test_fit_rejects_single_class() -> None:
    samples, y = disks([0], n_per=4)
    with pytest.raises(InputError, match=">= 2 classes"):
        HandcraftedBaseline(backend="skimage").fit(samples, y)


@pytest.mark.parametrize("kind", ["logreg", "logreg_l1", "svm", "rbf_svm", "mlp"])
def test_make_classifier_variants(kind: str) -> None:
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 15)
    X = rng.normal(size=(30, 8)) + y[:, None] * np.r_[2.0, np.zeros(7)]
    X[:, 3] = 1.0          # constant: dropped, no warning from SelectKBest/scaler
    X[::7, 5] = np.nan     # undefined feature: imputed with the training median
    model = make_classifier(kind, 0, select_k=3, tune=True).fit(X, y)
    assert model.named_steps["select"].get_support().sum() == 3
    assert model.named_steps["select"].get_support()[0]  # the informative column is kept
    assert roc_auc_score(y, model.predict_proba(X)[:, 1]) >= 0.9
    with pytest.raises(ValueError, match="kind"):
        make_classifier("tree")  # type: ignore[arg-type]
