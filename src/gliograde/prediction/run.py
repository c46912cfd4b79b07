"""Grade new cases with a bundle: read, preprocess exactly as in training, predict, explain (LayerCAM evidence).

Cases are found by :mod:`gliograde.prediction.cases` (image + mask, TCGA-LGG slice folder, BraTS case folder,
NIfTI + mask, DICOM series, or a folder of cases). A ``radiomics`` bundle (the ``recommended`` preset)
is graded by :mod:`gliograde.prediction.radiomics`: PyRadiomics features of the same preprocessed crop, and
the top contributing features as evidence instead of a class-activation map.

PHI: outputs name a case ``case-<sha256(name)[:10]>`` unless ``keep_ids``; no DICOM header field is read
(the readers only take pixels and geometry), and error messages have the case name and path replaced.
Timings exclude the one-time warm-up (:func:`warm_up`); the evidence map is explained in :mod:`gliograde.explain`.

>>> # from gliograde.bundles.cnn import load_bundle
>>> # preds = predict(load_bundle(Path("runs/m")), [Path("new/Brats18_X")], out=Path("preds"))
>>> # preds[0].grade, preds[0].probabilities -> 4, {2: 0.05, 3: 0.15, 4: 0.80}
"""
from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from gliograde.bundles.cnn import Bundle
from gliograde.bundles.radiomics import RadiomicsBundle
from gliograde.data.layouts import CaseSource
from gliograde.errors import GliogradeError, InputError
from gliograde.prediction.cases import (
    CaseInput,
    assign_aliases,
    case_alias,
    find_cases,
    scrub,
)

AnyBundle = Bundle | RadiomicsBundle

__all__ = ["CaseInput", "CasePrediction", "case_alias", "check_channels", "find_cases", "predict", "predict_case",
           "warm_up", "write_summary"]

logger = logging.getLogger(__name__)

PREDICTION_JSON = "prediction.json"
OVERLAY_PNG = "overlay.png"
SUMMARY_CSV = "summary.csv"
TIMINGS_JSON = "timings.json"


@dataclass
class CasePrediction:
    """The result for one case.

    Attributes:
        case: the name used in outputs (hash alias unless ``keep_ids``).
        status: ``ok`` or ``error``.
        grade: predicted WHO grade (None on error).
        probabilities: {grade: probability}, sums to 1.
        slice_index: representative slice used (index in the volume / series / slice stack).
        overlay: Grad-CAM overlay PNG (None when ``cam`` is off or nothing was written).
        heat_in_roi: share of the Grad-CAM heat inside the tumour mask, in [0, 1].
        timings_ms: read, preprocess, inference (forward [+ evidence]), total (ms, warm-up excluded).
        message: the error, one line, PHI-scrubbed.
        crop: (S, S) or (S, S, C) uint8 preprocessed crop; mask: (S, S) bool; heat: (h, w) float32 in [0, 1].
        slice_image: (H, W) or (H, W, C) representative slice as read; slice_mask: (H, W) bool.
        display_masked: overlay.png shows the evidence inside the ROI only.
        features: radiomics bundles: the top contributing features (see :mod:`gliograde.prediction.radiomics`);
            feature_z_max: the largest |z| of the selected features against the training patients.
    """

    case: str
    status: str = "ok"
    grade: int | None = None
    probabilities: dict[int, float] = field(default_factory=dict)
    slice_index: int | None = None
    overlay: Path | None = None
    heat_in_roi: float | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    message: str = ""
    crop: npt.NDArray[np.uint8] | None = field(default=None, repr=False)
    mask: npt.NDArray[np.bool_] | None = field(default=None, repr=False)
    heat: npt.NDArray[np.float32] | None = field(default=None, repr=False)
    slice_image: npt.NDArray[np.generic] | None = field(default=None, repr=False)
    slice_mask: npt.NDArray[np.bool_] | None = field(default=None, repr=False)
    display_masked: bool = True
    features: list[dict[str, Any]] | None = None
    feature_z_max: float | None = None


def _to_batch(crop: npt.NDArray[np.uint8]) -> torch.Tensor:
    """(S, S) or (S, S, C) uint8 -> (1, C, S, S) uint8 tensor."""
    arr = crop[None] if crop.ndim == 2 else np.moveaxis(crop, -1, 0)
    return torch.from_numpy(np.ascontiguousarray(arr))[None]


def check_channels(bundle: AnyBundle, source: CaseSource) -> None:
    """Fail early, with the fix, when a case cannot give the sequences the bundle was trained on.

    Volumes are checked by file name, a single volume or DICOM series counts as one channel, a slice
    image by its PNG header (grey = 1 channel, colour = the 3 TCGA-LGG channels). Nothing is decoded.

    Raises:
        InputError: names the case, the sequences it has, those the bundle needs and what to do.
    """
    need = tuple(bundle.ingest.channels)
    fix = ("add the missing sequence(s), or predict with a bundle trained on what the case has "
           "(`gliograde ingest DATA --out C --channels ...`, then `gliograde train C`)")
    if source.kind == "volume" and set(source.images) != {"image"}:
        have = sorted(source.images)
        missing = [c for c in need if c not in source.images]
        if missing:
            key, some = next(iter(source.images.items()))
            expected = some.name.replace(f"_{key}.", f"_{missing[0]}.")
            raise InputError(f"{some.parent}: case has sequences {have} but the model was trained on {'+'.join(need)} "
                             f"(no {expected}); {fix}")
        return
    n_have = 1
    where: Path | None = source.images.get("image") or source.images.get("series")
    if source.kind == "slices" and source.slices:
        from PIL import Image

        where = next(iter(source.slices.values()))[0]
        try:
            with Image.open(where) as im:
                n_have = 1 if len(im.getbands()) == 1 else 3
        except OSError:
            return  # unreadable: the reader reports it with its own message
    if len(need) > n_have:
        raise InputError(f"{where}: {n_have} channel(s) per slice but the model was trained on {len(need)} "
                         f"({'+'.join(need)}); {fix}")


def warm_up(bundle: AnyBundle, cam: bool = True) -> float:
    """Run the model (and the evidence map) once on a blank input; returns the milliseconds it took.

    The first call pays one-time costs (lazy imports, memory allocation, kernel selection) that would
    otherwise inflate the first case's timings; :func:`predict` calls this before timing any case.
    """
    if isinstance(bundle, RadiomicsBundle):
        from gliograde.prediction.radiomics import warm_up_radiomics

        return warm_up_radiomics(bundle)
    from gliograde.training.engine import normalise_batch

    t0 = time.perf_counter()
    s = bundle.ingest.preprocess.size
    x = normalise_batch(torch.zeros(1, bundle.in_chans, s, s, dtype=torch.uint8), bundle.spec, bundle.input_size)
    _infer(bundle, x, cam)
    return (time.perf_counter() - t0) * 1e3


def _infer(bundle: Bundle, x: torch.Tensor,
           cam: bool) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float32] | None]:
    """(probabilities (K,) float64, evidence map (h, w) float32 for the predicted class or None)."""
    if not cam:
        with torch.inference_mode():
            return bundle.model(x).float().softmax(1)[0].double().numpy(), None
    from gliograde.explain import evidence_and_logits, evidence_layers

    layers = [bundle.model.get_submodule(n) for n in evidence_layers(bundle.model, bundle.meta["backbone"])]
    heat, logits = evidence_and_logits(bundle.model, layers, x)  # targets None = the predicted class
    return logits.float().softmax(1)[0].double().numpy(), heat[0]


def predict_case(bundle: AnyBundle, source: CaseSource, *, cam: bool = True,
                 slice_index: int | None = None) -> CasePrediction:
    """Read, preprocess, classify and explain one case (no file written).

    A :class:`~gliograde.bundles.radiomics.RadiomicsBundle` goes to
    :func:`gliograde.prediction.radiomics.predict_radiomics_case` (``cam`` then means: list the top features).

    ``timings_ms`` has ``read`` (files and slice choice), ``preprocess`` (crop, resize, normalise),
    ``inference`` (the forward pass; with ``cam``, the same pass also gives the evidence map, plus its
    backward and the heat share) and ``total``; call :func:`warm_up` once first for steady-state numbers.

    Raises:
        GliogradeError: unreadable files, empty mask, wrong channels for this bundle.
    """
    from gliograde.data.ingest import load_case
    from gliograde.explain import heat_inside
    from gliograde.preprocess import Preprocess
    from gliograde.training.engine import normalise_batch

    t0 = time.perf_counter()
    check_channels(bundle, source)
    if isinstance(bundle, RadiomicsBundle):
        from gliograde.prediction.radiomics import predict_radiomics_case

        return predict_radiomics_case(bundle, source, slice_index=slice_index, explain=cam)
    cfg = dataclasses.replace(bundle.ingest, slices=1, slice_index=slice_index)
    raw = load_case(source, cfg)[0][0]
    t1 = time.perf_counter()
    crop, mask = Preprocess(cfg=cfg.preprocess)(raw.image, raw.mask)
    x8 = _to_batch(crop)
    if x8.shape[1] != bundle.in_chans:
        raise InputError(f"{raw.source_image}: {x8.shape[1]} channel(s) after preprocessing but the model was "
                         f"trained on {bundle.in_chans} ({'+'.join(bundle.ingest.channels)}); give that modality")
    x = normalise_batch(x8, bundle.spec, bundle.input_size)
    t2 = time.perf_counter()
    probs, heat = _infer(bundle, x, cam)
    share = heat_inside(heat, mask) if heat is not None else None
    t3 = time.perf_counter()
    pred = int(np.argmax(probs))
    ms = {"read": t1 - t0, "preprocess": t2 - t1, "inference": t3 - t2, "total": t3 - t0}
    return CasePrediction(case=source.patient_id, grade=bundle.classes[pred],
                          probabilities={g: float(p) for g, p in zip(bundle.classes, probs, strict=True)},
                          slice_index=int(raw.index), heat_in_roi=share,
                          timings_ms={k: round(v * 1e3, 2) for k, v in ms.items()}, crop=crop, mask=mask, heat=heat,
                          slice_image=raw.image, slice_mask=raw.mask)


def _evidence_doc(bundle: AnyBundle, pred: CasePrediction) -> dict[str, Any] | None:
    from gliograde.explain import DEFAULT_METHOD, evidence_layers

    if isinstance(bundle, RadiomicsBundle):
        from gliograde.prediction.radiomics import evidence_doc

        return evidence_doc(bundle, pred)

    if pred.heat is None or pred.mask is None:
        return None
    return {"method": DEFAULT_METHOD, "library": "pytorch-grad-cam",
            "layers": evidence_layers(bundle.model, bundle.meta["backbone"]), "target_grade": pred.grade,
            "heat_in_roi": pred.heat_in_roi, "roi_share_of_crop": round(float(pred.mask.mean()), 4),
            "display": "masked to ROI" if pred.display_masked else "whole crop",
            "note": "heat_in_roi is measured on the unmasked map. Pixels outside the ROI are constant zero in the "
                    "model input (no image information), so overlay.png shows heat inside the ROI only unless "
                    "--show-all-heat"}


def _overlay(bundle: AnyBundle, pred: CasePrediction, path: Path) -> Path | None:
    """Write overlay.png (CNN: evidence map; radiomics: ROI + top features); None when there is nothing to show."""
    from PIL import Image

    from gliograde.explain import evidence_panel

    probs = "  ".join(f"G{g} {p:.2f}" for g, p in pred.probabilities.items())
    if isinstance(bundle, RadiomicsBundle) and pred.features:
        from gliograde.prediction.radiomics import radiomics_panel

        panel = radiomics_panel(pred, f"grade {pred.grade}   {probs}   slice {pred.slice_index}   radiomics")
    elif (pred.heat is not None and pred.crop is not None and pred.mask is not None
          and pred.slice_image is not None and pred.slice_mask is not None):
        title = f"grade {pred.grade}   {probs}   slice {pred.slice_index}   heat in ROI {pred.heat_in_roi or 0:.2f}"
        panel = evidence_panel(pred.slice_image, pred.slice_mask, pred.crop, pred.mask, pred.heat, title,
                               mask_heat=pred.display_masked)
    else:
        return None
    Image.fromarray(panel).save(path)
    return path


def _model_doc(bundle: AnyBundle) -> dict[str, Any]:
    if isinstance(bundle, RadiomicsBundle):
        return {"kind": bundle.kind, "classifier": bundle.meta.get("selection", {}).get("chosen"),
                "n_features": len(bundle.feature_names), "classes": list(bundle.classes),
                "channels": list(bundle.ingest.channels), "crop_size": bundle.ingest.preprocess.size}
    return {"kind": "cnn", "backbone": bundle.meta["backbone"], "classes": list(bundle.classes),
            "input_size": bundle.input_size, "channels": list(bundle.ingest.channels)}


def _write_case(bundle: AnyBundle, pred: CasePrediction, folder: Path) -> None:
    from gliograde import __version__

    folder.mkdir(parents=True, exist_ok=True)
    pred.overlay = _overlay(bundle, pred, folder / OVERLAY_PNG)
    doc = {
        "case": pred.case, "status": pred.status, "grade": pred.grade,
        "probabilities": {str(g): p for g, p in pred.probabilities.items()},
        "slice_index": pred.slice_index, "overlay": str(pred.overlay) if pred.overlay else None,
        "heat_in_roi": pred.heat_in_roi, "evidence": _evidence_doc(bundle, pred), "model": _model_doc(bundle),
        "bundle_fingerprint": bundle.fingerprint, "timings_ms": pred.timings_ms, "gliograde": __version__,
        "intended_use": "research only; not a medical device",
    }
    (folder / PREDICTION_JSON).write_text(json.dumps(doc, indent=2))


def predict(bundle: AnyBundle, cases: list[Path] | list[CaseInput], out: Path | None = None, cam: bool = True,
            keep_ids: bool = False, *, slice_index: int | None = None, mask: Path | None = None,
            mask_heat: bool = True) -> list[CasePrediction]:
    """Grade every case; a bad case gives an ``error`` result and the others go on.

    Args:
        bundle: from :func:`gliograde.bundles.cnn.load_any_bundle` (a CNN or a radiomics bundle).
        cases: CASE paths (see the module docstring) or already found :class:`CaseInput` s.
        out: folder for ``<case>/prediction.json``, ``<case>/overlay.png``, ``summary.csv`` and
            ``timings.json`` (one-time warm-up and per-stage medians); None = write nothing.
        cam: compute the evidence map (see :mod:`gliograde.explain`).
        keep_ids: name cases by their folder/file name instead of a hash.
        slice_index: fixed slice instead of the largest tumour cross-section.
        mask: mask for a single image/volume file case.
        mask_heat: show evidence inside the ROI only in overlay.png (``heat_in_roi`` is always unmasked).

    Returns:
        One :class:`CasePrediction` per case, in input order.
    """
    given: list[Path | CaseInput] = list(cases)
    found = ([c for c in given if isinstance(c, CaseInput)] if given and isinstance(given[0], CaseInput)
             else find_cases([Path(c) for c in given if not isinstance(c, CaseInput)], mask)[0])
    assign_aliases(found, keep_ids)
    warm_ms = warm_up(bundle, cam) if any(c.source is not None for c in found) else 0.0
    logger.info("warm-up %.0f ms (one-time; not in the per-case timings)", warm_ms)
    results = []
    for ci in found:
        res = _predict_one(bundle, ci, cam, keep_ids, slice_index)
        res.display_masked = mask_heat
        if out is not None and res.status == "ok":
            _write_case(bundle, res, Path(out) / res.case)
        results.append(res)
    if out is not None:
        write_summary(results, bundle.classes, Path(out) / SUMMARY_CSV)
        _write_timings(results, warm_ms, Path(out) / TIMINGS_JSON)
        _write_run(bundle, found, Path(out), keep_ids, {"cam": cam, "slice_index": slice_index,
                                                        "mask_heat": mask_heat})
    return results


def _write_run(bundle: AnyBundle, found: list[CaseInput], out: Path, keep_ids: bool, options: dict[str, Any]) -> None:
    """``config.yaml`` + ``run.json``: the bundle and options, and the sha256 of every case file under the case's
    alias (``case-<hash>/<k>`` unless ``keep_ids``), so no patient name or path reaches them."""
    from gliograde.prediction.cases import case_files
    from gliograde.runinfo import fingerprint_named, write_run_info

    named: dict[str, Path] = {}
    for ci in found:
        for k, f in enumerate(case_files(ci.source) if ci.source is not None else []):
            named[f"{ci.alias}/{f.name if keep_ids else f'{k:04d}'}"] = f
    config = {"bundle": str(bundle.path), "bundle_sha256": bundle.fingerprint, "keep_ids": keep_ids,
              "cases": [ci.alias for ci in found], **options}
    argv = None if keep_ids else "withheld: case paths can name patients (--keep-ids records them)"
    write_run_info(out, command="predict", config=config, seed=None, fingerprint=fingerprint_named(named), argv=argv)


def _write_timings(results: list[CasePrediction], warm_ms: float, path: Path) -> None:
    ok = [r.timings_ms for r in results if r.status == "ok"]
    median = {k: round(float(np.median([t[k] for t in ok])), 2) for k in ok[0]} if ok else {}
    doc = {"warmup_ms": round(warm_ms, 2), "cases_ok": len(ok), "median_case_ms": median,
           "threads": torch.get_num_threads(), "note": "per-case timings exclude the one-time warm-up"}
    path.write_text(json.dumps(doc, indent=2))


def _predict_one(bundle: AnyBundle, ci: CaseInput, cam: bool, keep_ids: bool,
                 slice_index: int | None) -> CasePrediction:
    if ci.error is not None or ci.source is None:
        msg = scrub(ci.error or "unrecognised case", ci, keep_ids)
        return CasePrediction(case=ci.alias, status="error", message=msg)
    try:
        res = predict_case(bundle, ci.source, cam=cam, slice_index=slice_index)
    except (GliogradeError, OSError, ValueError) as err:  # recorded per case, never skipped silently
        logger.warning("%s: %s", ci.alias, scrub(str(err), ci, keep_ids))
        return CasePrediction(case=ci.alias, status="error", message=scrub(str(err), ci, keep_ids))
    res.case = ci.alias
    logger.debug("%s: grade %s (p=%.3f), slice %s", res.case, res.grade, max(res.probabilities.values()),
                res.slice_index)
    return res


def write_summary(results: list[CasePrediction], classes: tuple[int, ...], path: Path) -> Path:
    """One row per case: case, status, grade, p_<grade>..., slice_index, heat_in_roi, overlay, message."""
    import pandas as pd

    rows: list[dict[str, Any]] = []
    for r in results:
        row: dict[str, Any] = {"case": r.case, "status": r.status, "grade": r.grade}
        row.update({f"p_{g}": r.probabilities.get(g) for g in classes})
        row.update({"slice_index": r.slice_index, "heat_in_roi": r.heat_in_roi,
                    "overlay": str(r.overlay) if r.overlay else "", "message": r.message})
        rows.append(row)
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, index=False)
    return path
