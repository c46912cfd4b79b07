"""Which features moved a radiomics prediction, and the picture that shows them (no bundle type here).

There is no class-activation map for a radiomics model: the evidence is the ROI (outlined in ``overlay.png``)
and the top contributing features, measured by occlusion: the change in the predicted grade's probability
when one selected feature is set to the training patients' mean (0 after the Pipeline's standardisation),
the others unchanged.

>>> name_sequence("c1_glcm_Contrast", ("flair", "t1ce")), name_sequence("roi_sem_solidity", ("t1ce",))
('t1ce', 'ROI outline')
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageOps

from gliograde.bundles.base import FAR_Z
from gliograde.explain import ROI_COLOUR, draw_outline, label, to_display

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from gliograde.bundles.base import CasePrediction

#: How many features the JSON and the overlay list.
TOP_FEATURES = 5
METHOD = "feature occlusion (set to the training mean)"
NOTE = ("a radiomics model has no class-activation map: overlay.png shows the ROI whose features were "
        "measured and lists the features that moved the predicted grade's probability most "
        "(contribution = probability minus that with the feature at the training mean). unlike_training: a "
        f"selected feature lies more than {FAR_Z:g} training SDs from the training mean (another scanner, "
        "protocol or preprocessing?): treat the probabilities with extra caution")


def contributions(pipeline: Pipeline, x: npt.NDArray[np.float64], names: tuple[str, ...], target: int,
                  top: int = TOP_FEATURES) -> tuple[list[dict[str, Any]], float]:
    """Occlusion contributions of the selected features to the probability of column ``target``.

    Args:
        pipeline: a radiomics bundle's Pipeline (``fuse`` -> ``model`` = impute, drop constant, scale,
            [select], clf).
        x: (1, F) float64 features; names: the F names; target: probability column explained.

    Returns:
        Up to ``top`` dicts {feature, value (raw), z (standardised against training), contribution
        (probability of ``target`` minus that with the feature at the training mean)}, largest |contribution| first,
        and the largest |z| over all selected features.
    """
    inner = pipeline.named_steps["model"]
    pre, clf = inner[:-1], inner[-1]
    z = np.asarray(pre.transform(pipeline.named_steps["fuse"].transform(x)), dtype=np.float64)
    kept = [str(n) for n in pre.get_feature_names_out(np.asarray(names[: pipeline.named_steps["fuse"].n_features_in_]))]
    base = float(clf.predict_proba(z)[0, target])
    occluded = np.repeat(z, z.shape[1], axis=0)
    np.fill_diagonal(occluded, 0.0)  # row j: feature j at the training mean
    delta = base - clf.predict_proba(occluded)[:, target]
    col = {n: i for i, n in enumerate(names)}
    order = np.argsort(-np.abs(delta), kind="stable")[:top]
    return [{"feature": kept[j], "value": float(x[0, col[kept[j]]]), "z": round(float(z[0, j]), 3),
             "contribution": round(float(delta[j]), 4)} for j in order], float(np.abs(z).max(initial=0.0))


def name_sequence(feature: str, channels: tuple[str, ...]) -> str:
    """What a feature was measured on: ``c1_...`` channel 1's sequence, ``roi_sem_...`` the outline,
    ``enh_sem_...`` the T1c - T1 subtraction."""
    head = feature.split("_", 1)[0]
    return channels[int(head[1:])] if head[1:].isdigit() else {"roi": "ROI outline", "enh": "t1ce - t1"}.get(head, head)


def radiomics_panel(pred: CasePrediction, title: str, side: int = 256) -> npt.NDArray[np.uint8]:
    """(a) the slice with the ROI outline, (b) the model's crop with the ROI outline, then the top features.

    Returns:
        (side + 36 + 14 * n_features, 2 * side, 3) uint8 RGB.
    """
    if pred.slice_image is None or pred.slice_mask is None or pred.crop is None or pred.mask is None:
        raise ValueError(f"{pred.case}: radiomics_panel needs the prediction's slice and crop (status {pred.status})")
    left = draw_outline(np.repeat(to_display(pred.slice_image)[..., None], 3, axis=-1), pred.slice_mask)
    right = draw_outline(np.repeat(to_display(pred.crop)[..., None], 3, axis=-1), pred.mask)
    feats = pred.features or []
    canvas = Image.new("RGB", (2 * side, side + 36 + 14 * len(feats)))
    for i, a in enumerate((left, right)):
        canvas.paste(ImageOps.pad(Image.fromarray(a), (side, side), Image.Resampling.BILINEAR), (i * side, 20))
    draw = ImageDraw.Draw(canvas)
    label(draw, (4, 4), title, (255, 255, 255))
    label(draw, (4, side + 22), "a: slice, ROI outline", ROI_COLOUR)
    label(draw, (side + 4, side + 22), "b: model input (features measured in the ROI)", ROI_COLOUR)
    for k, f in enumerate(feats):
        colour = (255, 120, 80) if f["contribution"] > 0 else (120, 170, 255)
        label(draw, (4, side + 36 + 14 * k),
              f"{f['contribution']:+.3f}  {f['sequence']}: {f['feature'].split('_', 1)[1]}  (z {f['z']:+.2f})", colour)
    return np.asarray(canvas, dtype=np.uint8)
