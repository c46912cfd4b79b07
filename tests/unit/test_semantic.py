"""Semantic ROI features: known shapes and intensities give the values their definitions say, and the feature
families join in one order everywhere. A bundle trained with them predicts the same columns:
tests/integration/test_train_radiomics_cli.py."""
from __future__ import annotations

import numpy as np
import pytest

from gliograde.baselines.feature_sets import check_families, feature_matrix
from gliograde.baselines.semantic import CENTRE, UNIT, feature_names, semantic_features
from gliograde.errors import InputError, MaskMismatchError


def _disk(size: int = 64, r: float = 20.0) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    return (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < r ** 2


def _named(X: np.ndarray, names: list[str]) -> dict[str, float]:
    return dict(zip(names, X[0].tolist(), strict=True))


def test_shape_features_of_a_disk_and_a_square() -> None:
    disk, square = _disk(), np.zeros((64, 64), bool)
    square[10:40, 10:40] = True
    img = np.full((2, 1, 64, 64), 128, np.uint8)
    X, names = semantic_features(img, np.stack([disk, square]), [1000, 900])
    d, s = _named(X[:1], names), _named(X[1:], names)
    assert d["roi_sem_solidity"] > 0.97 and d["roi_sem_eccentricity"] < 0.1
    assert d["roi_sem_compactness"] == pytest.approx(1.0, abs=0.12)
    assert d["roi_sem_radial_cv"] < 0.03 and d["roi_sem_n_components"] == 1
    assert s["roi_sem_extent"] == pytest.approx(1.0) and s["roi_sem_compactness"] > d["roi_sem_compactness"] + 0.1
    assert d["roi_sem_log_area"] == pytest.approx(np.log1p(1000))
    assert s["roi_sem_log_area"] == pytest.approx(np.log1p(900))


def test_intensity_features_are_in_reference_units() -> None:
    """With robust scaling one IQR of the reference tissue is UNIT grey levels around CENTRE."""
    mask = np.zeros((32, 32), bool)
    mask[8:24, 8:24] = True
    img = np.full((1, 2, 32, 32), CENTRE, np.uint8)
    img[0, 0][mask] = CENTRE + 3 * UNIT  # channel 0: the whole ROI 3 IQR above the reference: "bright"
    img[0, 1, 8:16, 8:24] = CENTRE - 3 * UNIT  # channel 1: half the ROI 3 IQR below: "dark"
    f = _named(*semantic_features(img, mask[None], [256]))
    assert f["c0_sem_mean"] == pytest.approx(3.0) and f["c0_sem_frac_bright"] == 1.0 and f["c0_sem_std"] == 0.0
    assert f["c1_sem_median"] == pytest.approx(-1.5) and f["c1_sem_frac_dark"] == 0.5 and f["c1_sem_frac_bright"] == 0
    assert f["c1_sem_iqr"] == pytest.approx(3.0)


def test_bad_input_is_refused() -> None:
    img = np.zeros((1, 1, 16, 16), np.uint8)
    with pytest.raises(MaskMismatchError, match="empty ROI"):
        semantic_features(img, np.zeros((1, 16, 16), bool), [0])
    with pytest.raises(MaskMismatchError, match="need images"):
        semantic_features(img, np.ones((1, 8, 8), bool), [1])
    with pytest.raises(InputError, match="each once"):
        check_families(["semantic", "semantic"])
    with pytest.raises(InputError, match="one or more of"):
        check_families(["texture"])


def test_families_join_in_the_order_given() -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(60, 200, size=(3, 2, 40, 40), dtype=np.uint8)
    masks = np.stack([_disk(40, r) for r in (8, 12, 15)])
    areas = masks.sum((1, 2))
    sem, sem_names = semantic_features(img, masks, areas)
    X, names = feature_matrix(img, masks, areas, ("semantic", "radiomics"), backend="skimage")
    assert names[: len(sem_names)] == sem_names == feature_names(2) and len(set(names)) == len(names)
    np.testing.assert_array_equal(X[:, : sem.shape[1]], sem)
    assert any(n.startswith("c1_glcm_") for n in names)


def test_enhancement_needs_t1_and_t1ce_and_measures_the_subtraction() -> None:
    mask = np.zeros((32, 32), bool)
    mask[8:24, 8:24] = True
    img = np.full((1, 3, 32, 32), CENTRE, np.uint8)  # t1, flair, t1ce all at the reference
    img[0, 2, 8:12, 8:24] = CENTRE + 2 * UNIT  # a quarter of the ROI enhances by 2 units on t1ce
    X, names = semantic_features(img, mask[None], [256], ("t1", "flair", "t1ce"))
    f = _named(X, names)
    assert f["enh_sem_frac1"] == pytest.approx(0.25) and f["enh_sem_mean"] == pytest.approx(0.5)
    assert names == feature_names(3, enhancement=True)
    assert not any(n.startswith("enh_") for n in semantic_features(img[:, 1:], mask[None], [256], ("flair", "t1ce"))[1])
    Xe, ne = feature_matrix(img, mask[None], [256], ["enhancement"], channels=("t1", "flair", "t1ce"))
    assert ne == ["enh_sem_frac1", "enh_sem_mean", "enh_sem_p90"] and Xe[0, 0] == pytest.approx(0.25)
    with pytest.raises(InputError, match="needs the t1 and t1ce channels"):
        feature_matrix(img[:, 1:], mask[None], [256], ["enhancement"], channels=("flair", "t1ce"))
    with pytest.raises(MaskMismatchError, match="channel names"):
        semantic_features(img, mask[None], [256], ("flair", "t1ce"))
