"""How separable are the synthetic grades? Handcrafted features + logistic regression, and the Bayes ceiling.

This measures the cohort, it is not a grading model: a few radiological features of the largest tumour
slice (size, shape, FLAIR/T1 signal, enhancement, necrosis, margin sharpness), scaled by the patient's
own normal-appearing tissue, fed to a cross-validated logistic regression (one slice per patient, so every
fold is split by patient). :func:`oracle_auc` gives the ceiling for *any* model: every grade-dependent
appearance parameter is a function of one latent severity, so the posterior given that severity is the
best possible score.

>>> import numpy as np
>>> img = np.full((64, 64, 3), 100, np.uint8); mask = np.zeros((64, 64), bool); mask[20:40, 20:40] = True
>>> handcrafted_features(img, mask).shape
(20,)
"""
from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image
from scipy import ndimage
from scipy.stats import norm

from gliograde.errors import MaskMismatchError
from gliograde.synth.cohort import patient_rng
from gliograde.synth.tumour import GRADES, SEVERITY_MEAN, draw_tumour, severity_sd

FEATURE_NAMES = (
    "log_area", "eccentricity", "solidity", "compactness",
    "t1_mean", "flair_mean", "t1ce_mean", "t1_sd", "flair_sd", "t1ce_sd",
    "t1ce_p90", "t1ce_p10", "flair_p10",
    "enhancing_frac", "necrotic_frac", "t1ce_minus_t1", "flair_margin_grad", "flair_ring_ratio",
    "t1ce_max_region", "oedema_frac",
)


def handcrafted_features(image: npt.NDArray[np.uint8], mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
    """Radiological features of one tumour slice.

    Args:
        image: (H, W, 3) uint8, channels [pre-contrast T1, FLAIR, post-contrast T1].
        mask: (H, W) bool FLAIR abnormality, non-empty.

    Returns:
        (20,) float64 features in :data:`FEATURE_NAMES` order; intensities are relative to the median of the
        normal-appearing tissue in a ring around the tumour (removes site scaling).

    Raises:
        MaskMismatchError: empty mask or shapes that do not match.
    """
    from skimage.measure import regionprops  # skimage submodules are slow to import

    if mask.shape != image.shape[:2] or not mask.any():
        raise MaskMismatchError(f"mask {mask.shape} (sum {int(mask.sum())}) does not fit image {image.shape}; "
                                "give a non-empty (H, W) mask for an (H, W, 3) image")
    ring = ndimage.binary_dilation(mask, iterations=12) & ~ndimage.binary_dilation(mask, iterations=3)
    ring &= image[..., 0] > 20  # skip background and bone
    ref = np.array([np.median(image[..., c][ring]) if ring.any() else 1.0 for c in range(3)]) + 1.0
    x = image[mask].astype(np.float64) / ref  # (n, 3) relative to normal tissue
    t1, flair, t1ce = x[:, 0], x[:, 1], x[:, 2]
    props = regionprops(mask.astype(np.uint8))[0]
    enhancing = t1ce > 1.3
    necrotic = t1ce < 0.55
    enhancing_map = (image[..., 2] / ref[2] > 1.3) & mask
    label, n = ndimage.label(enhancing_map)
    largest = np.bincount(label.ravel())[1:].max() / mask.sum() if n else 0.0
    edge = mask & ~ndimage.binary_erosion(mask)
    grad = ndimage.gaussian_gradient_magnitude(image[..., 1].astype(np.float64), 1.0)[edge].mean() / ref[1]
    inner = ndimage.binary_erosion(mask, iterations=4)
    ring_ratio = float(np.median(image[..., 1][mask & ~inner]) / ref[1] / (np.median(flair) + 1e-6))
    core = ndimage.binary_fill_holes(enhancing_map | ((image[..., 2] / ref[2] < 0.55) & mask))
    return np.array([
        np.log(mask.sum()), props.eccentricity, props.solidity, 4 * np.pi * mask.sum() / props.perimeter**2,
        t1.mean(), flair.mean(), t1ce.mean(), t1.std(), flair.std(), t1ce.std(),
        np.percentile(t1ce, 90), np.percentile(t1ce, 10), np.percentile(flair, 10),
        enhancing.mean(), necrotic.mean(), (t1ce - t1).mean(), grad, ring_ratio,
        largest, 1 - core.sum() / mask.sum(),
    ], dtype=np.float64)


def cohort_features(root: Path) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], list[str]]:
    """Features of the largest tumour slice of every patient of a PNG-layout cohort (``labels.csv``).

    Returns:
        (X (N, 20) float64, grades (N,) int64, patient ids).
    """
    rows = list(csv.DictReader(open(Path(root) / "labels.csv", newline="")))
    feats, grades = [], []
    for r in rows:
        stem = Path(root) / r["folder"] / f"{r['folder']}_{r['largest_tumour_slice']}"
        image = np.asarray(Image.open(f"{stem}.png"))
        mask = np.asarray(Image.open(f"{stem}_mask.png")) > 127
        feats.append(handcrafted_features(image, mask))
        grades.append(int(r["who_grade"]))
    return np.stack(feats), np.array(grades, dtype=np.int64), [r["patient_id"] for r in rows]


def grade_separability(
    features: npt.NDArray[np.float64], grades: npt.NDArray[np.int64], *, seed: int = 0, n_splits: int = 5
) -> dict[str, float]:
    """Cross-validated logistic regression on handcrafted features (one row per patient).

    Returns:
        {"macro_auc": one-vs-rest macro AUC, "auc_2v3", "auc_3v4", "auc_2v4": pairwise AUCs of the
        out-of-fold probabilities, "accuracy"}.
    """
    from sklearn.linear_model import LogisticRegression  # sklearn is slow to import: only for the check
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=2000))
    cv = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    proba = cross_val_predict(model, features, grades, cv=cv, method="predict_proba")
    return _auc_summary(grades, proba) | {"accuracy": float((np.array([2, 3, 4])[proba.argmax(1)] == grades).mean())}


def _auc_summary(grades: npt.NDArray[np.int64], proba: npt.NDArray[np.float64]) -> dict[str, float]:
    from sklearn.metrics import roc_auc_score  # sklearn is slow to import: only for the check

    out = {"macro_auc": float(roc_auc_score(grades, proba, multi_class="ovr", average="macro"))}
    for a, b in ((2, 3), (3, 4), (2, 4)):
        keep = np.isin(grades, (a, b))
        # score for the higher grade: P(b) / (P(a) + P(b)) from the 3-class posterior
        score = proba[keep, b - 2] / (proba[keep, a - 2] + proba[keep, b - 2] + 1e-12)
        out[f"auc_{a}v{b}"] = float(roc_auc_score(grades[keep] == b, score))
    return out


def oracle_auc(counts: Sequence[int], seed: int, difficulty: float) -> dict[str, float]:
    """AUCs of the Bayes posterior given each patient's latent severity: the ceiling for any model.

    Redraws the severities exactly as :func:`gliograde.synth.cohort.make_patient` does (first draw of
    each patient's generator), with flat grade priors.
    """
    sev, grades = [], []
    for g, n in zip(GRADES, counts, strict=False):
        for i in range(n):
            sev.append(draw_tumour(g, patient_rng(seed, g, i), difficulty).severity)
            grades.append(g)
    s = np.array(sev)[:, None]
    mu = np.array([SEVERITY_MEAN[g] for g in GRADES])[None]
    like = norm.pdf(s, mu, severity_sd(difficulty))
    proba = like / like.sum(1, keepdims=True)
    return _auc_summary(np.array(grades, dtype=np.int64), proba)
