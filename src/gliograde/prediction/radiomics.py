"""Grade one case with a ``radiomics`` bundle, and say which features moved the prediction.

The case is read and preprocessed exactly as at training (the bundle's ``IngestCfg``: channels,
intensity scaling, ROI crop, size), its PyRadiomics features are computed with the bundle's backend
and bin width, and the fitted Pipeline gives the probabilities. There is no class-activation map:
the evidence is the ROI (outlined in ``overlay.png``) and the top contributing features, measured by
occlusion: the change in the predicted grade's probability when one selected feature is set to the
training patients' mean (0 after the Pipeline's standardisation), the others unchanged.

>>> # from gliograde.bundles.cnn import load_any_bundle
>>> # pred = predict_radiomics_case(load_any_bundle(Path("runs/model")), source)
>>> # pred.grade, pred.features[0]  -> 3, {"feature": "c1_glcm_Contrast", "value": ..., "z": 1.4, "contribution": 0.12}
"""
from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from gliograde.bundles.radiomics import RadiomicsBundle
from gliograde.errors import InputError

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from gliograde.data.layouts import CaseSource
    from gliograde.prediction.run import CasePrediction

#: How many features the JSON and the overlay list.
TOP_FEATURES = 5
#: A selected feature this many training SDs from the training mean marks the case as unlike the training data.
FAR_Z = 4.0
METHOD = "feature occlusion (set to the training mean)"


def case_features(bundle: RadiomicsBundle, crop: npt.NDArray[np.uint8], mask: npt.NDArray[np.bool_],
                  area_px: float) -> npt.NDArray[np.float64]:
    """(1, F) features of one preprocessed crop, in the bundle's column order.

    Args:
        crop: (S, S) or (S, S, C) uint8 preprocessed crop; mask: (S, S) bool ROI.
        area_px: tumour pixels on the native slice (the ``semantic`` family's size).

    Raises:
        InputError: the features computed do not match the bundle's (other channels or backend).
    """
    from gliograde.baselines.feature_sets import feature_matrix

    image = crop[None, None] if crop.ndim == 2 else np.moveaxis(crop, -1, 0)[None]
    X, names = feature_matrix(np.ascontiguousarray(image), mask[None], [area_px],
                              bundle.meta.get("feature_families", ["radiomics"]), bin_width=bundle.bin_width,
                              backend=bundle.meta.get("feature_backend", "auto"), channels=bundle.ingest.channels)
    if tuple(names) != bundle.feature_names:
        raise InputError(f"case gives {len(names)} features ({image.shape[1]} channel(s)) but the model was trained on "
                         f"{len(bundle.feature_names)} ({'+'.join(bundle.ingest.channels)}); give those sequences")
    return X


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


def predict_radiomics_case(bundle: RadiomicsBundle, source: CaseSource, *, slice_index: int | None = None,
                           explain: bool = True) -> CasePrediction:
    """Read, preprocess, compute features, classify (and explain) one case; nothing is written.

    ``timings_ms``: ``read`` (files, slice choice), ``preprocess`` (crop + features), ``inference``
    (probabilities + occlusion contributions), ``total``.

    Raises:
        GliogradeError: unreadable files, empty mask, missing sequences.
    """
    from gliograde.data.ingest import load_case
    from gliograde.prediction.run import CasePrediction
    from gliograde.preprocess import Preprocess

    t0 = time.perf_counter()
    cfg = dataclasses.replace(bundle.ingest, slices=1, slice_index=slice_index)
    raw = load_case(source, cfg)[0][0]
    t1 = time.perf_counter()
    crop, mask = Preprocess(cfg=cfg.preprocess)(raw.image, raw.mask)
    x = case_features(bundle, crop, mask, float(raw.mask.sum()))
    t2 = time.perf_counter()
    proba = np.zeros(len(bundle.classes))
    cols = np.asarray(bundle.pipeline.classes_, dtype=int)
    proba[cols] = bundle.pipeline.predict_proba(x)[0]
    pred = int(np.argmax(proba))
    feats, z_max = ([], None) if not explain else contributions(bundle.pipeline, x, bundle.feature_names,
                                                                int(np.flatnonzero(cols == pred)[0]))
    for f in feats:  # "c1_glcm_Contrast" -> channel 1's sequence; "roi_sem_..." the outline; "enh_sem_..." T1c - T1
        head = f["feature"].split("_", 1)[0]
        f["sequence"] = (bundle.ingest.channels[int(head[1:])] if head[1:].isdigit()
                         else {"roi": "ROI outline", "enh": "t1ce - t1"}.get(head, head))
    t3 = time.perf_counter()
    ms = {"read": t1 - t0, "preprocess": t2 - t1, "inference": t3 - t2, "total": t3 - t0}
    return CasePrediction(case=source.patient_id, grade=bundle.classes[pred],
                          probabilities={g: float(p) for g, p in zip(bundle.classes, proba, strict=True)},
                          slice_index=int(raw.index), timings_ms={k: round(v * 1e3, 2) for k, v in ms.items()},
                          crop=crop, mask=mask, slice_image=raw.image, slice_mask=raw.mask, features=feats,
                          feature_z_max=z_max)


def evidence_doc(bundle: RadiomicsBundle, pred: CasePrediction) -> dict[str, Any] | None:
    """The JSON ``evidence`` block of a radiomics prediction (None when it was not explained)."""
    if not pred.features or pred.mask is None:
        return None
    return {"method": METHOD, "library": "scikit-learn (bundle Pipeline)", "target_grade": pred.grade,
            "top_features": pred.features, "roi_share_of_crop": round(float(pred.mask.mean()), 4),
            "chosen_model": bundle.meta.get("selection", {}).get("chosen"),
            "max_abs_z": None if pred.feature_z_max is None else round(pred.feature_z_max, 2),
            "unlike_training": bool(pred.feature_z_max is not None and pred.feature_z_max > FAR_Z),
            "display": "ROI outline and top features",
            "note": "a radiomics model has no class-activation map: overlay.png shows the ROI whose features were "
                    "measured and lists the features that moved the predicted grade's probability most "
                    "(contribution = probability minus that with the feature at the training mean). unlike_training: a "
                    f"selected feature lies more than {FAR_Z:g} training SDs from the training mean (another scanner, "
                    "protocol or preprocessing?): treat the probabilities with extra caution"}


def radiomics_panel(pred: CasePrediction, title: str, side: int = 256) -> npt.NDArray[np.uint8]:
    """(a) the slice with the ROI outline, (b) the model's crop with the ROI outline, then the top features.

    Returns:
        (side + 36 + 14 * n_features, 2 * side, 3) uint8 RGB.
    """
    from PIL import Image, ImageDraw, ImageOps

    from gliograde.explain import ROI_COLOUR, draw_outline, to_display

    if pred.slice_image is None or pred.slice_mask is None or pred.crop is None or pred.mask is None:
        raise ValueError(f"{pred.case}: radiomics_panel needs the prediction's slice and crop (status {pred.status})")
    left = draw_outline(np.repeat(to_display(pred.slice_image)[..., None], 3, axis=-1), pred.slice_mask)
    right = draw_outline(np.repeat(to_display(pred.crop)[..., None], 3, axis=-1), pred.mask)
    feats = pred.features or []
    canvas = Image.new("RGB", (2 * side, side + 36 + 14 * len(feats)))
    for i, a in enumerate((left, right)):
        canvas.paste(ImageOps.pad(Image.fromarray(a), (side, side), Image.Resampling.BILINEAR), (i * side, 20))
    draw = ImageDraw.Draw(canvas)
    draw.text((4, 4), title, fill=(255, 255, 255))
    draw.text((4, side + 22), "a: slice, ROI outline", fill=ROI_COLOUR)
    draw.text((side + 4, side + 22), "b: model input (features measured in the ROI)", fill=ROI_COLOUR)
    for k, f in enumerate(feats):
        colour = (255, 120, 80) if f["contribution"] > 0 else (120, 170, 255)
        draw.text((4, side + 36 + 14 * k),
                  f"{f['contribution']:+.3f}  {f['sequence']}: {f['feature'].split('_', 1)[1]}  (z {f['z']:+.2f})",
                  fill=colour)
    return np.asarray(canvas, dtype=np.uint8)


def warm_up_radiomics(bundle: RadiomicsBundle) -> float:
    """Compute features and probabilities once on a synthetic disk; returns the milliseconds it took."""
    s = bundle.ingest.preprocess.size
    yy, xx = np.mgrid[:s, :s]
    mask = (yy - s / 2) ** 2 + (xx - s / 2) ** 2 < (s / 3) ** 2
    rng = np.random.default_rng(0)
    chans = len(bundle.ingest.channels)
    crop = rng.integers(0, 256, size=(s, s) if chans == 1 else (s, s, chans), dtype=np.uint8)
    t0 = time.perf_counter()
    x = case_features(bundle, crop, mask, float(mask.sum()))
    bundle.pipeline.predict_proba(x)
    return (time.perf_counter() - t0) * 1e3
